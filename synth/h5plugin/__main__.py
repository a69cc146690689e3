"""``python -m synth.h5plugin``: print the folder to put on HDF5_PLUGIN_PATH (exit 1 when the filter was not built)."""
import sys

from synth.h5plugin import PLUGIN_PATH, library

if library() is None:
    print(f"synth.h5plugin: the synth-vdelta filter library is not built in {PLUGIN_PATH}; fix: rerun `bash setup.sh` "
          "(or `pip install -e .` with a C compiler)", file=sys.stderr)
    sys.exit(1)
print(PLUGIN_PATH)
