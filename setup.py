"""Build hook for the compiled parts: the shards' vdelta undo (synth/_vdelta.c) and the sensor-noise
kernel (synth/_noise.c).

Metadata lives in pyproject.toml. Both extensions are optional: without a C compiler or Python's
headers the install still succeeds, and synth.shards / synth.effects use their numpy paths (the same
bytes; ~0.1 ms more per 256x256 rgb read, ~0.5 ms more per noisy 256x256 sample).
"""
from setuptools import Extension, setup

FLAGS = ["-O3", "-std=c99"]

setup(ext_modules=[Extension("synth._vdelta", ["synth/_vdelta.c"], optional=True, extra_compile_args=FLAGS),
                   Extension("synth._noise", ["synth/_noise.c"], optional=True, extra_compile_args=FLAGS)])
