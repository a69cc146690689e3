"""Build hook for the one compiled part: the shards' vdelta undo kernel (synth/_vdelta.c).

Metadata lives in pyproject.toml. The extension is optional: without a C compiler or Python's
headers the install still succeeds and synth.shards undoes the predictor in numpy (~0.1 ms more
per 256x256 rgb read).
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("synth._vdelta", ["synth/_vdelta.c"], optional=True,
                             extra_compile_args=["-O3", "-std=c99"])])
