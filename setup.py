"""Build hook for the compiled parts: the shards' vdelta undo (synth/_vdelta.c), the sensor-noise
kernel (synth/_noise.c) and the shards' HDF5 filter plugin (synth/h5plugin/h5vdelta.c).

Metadata lives in pyproject.toml. All three are optional: without a C compiler or Python's headers
the install still succeeds, and synth.shards / synth.effects use their numpy paths (the same bytes;
~0.1 ms more per 256x256 rgb read, ~0.5 ms more per noisy 256x256 sample). The plugin is a plain
HDF5 filter library (no Python in it), built here so that it lands in synth/h5plugin/ where
``import synth.h5plugin`` registers it and HDF5_PLUGIN_PATH finds it (HDF5 loads lib*.so* files);
without it the shards are the same, but plain HDF5 readers here cannot decode rgb.
"""
from setuptools import Extension, setup

FLAGS = ["-O3", "-std=c99"]

setup(ext_modules=[Extension("synth._vdelta", ["synth/_vdelta.c"], optional=True, extra_compile_args=FLAGS),
                   Extension("synth._noise", ["synth/_noise.c"], optional=True, extra_compile_args=FLAGS),
                   Extension("synth.h5plugin.libh5vdelta", ["synth/h5plugin/h5vdelta.c"], optional=True,
                             extra_compile_args=FLAGS)])
