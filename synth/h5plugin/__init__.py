"""The shards' HDF5 filter ``synth-vdelta`` (id 437): a row delta that HDF5 itself undoes on read.

``import synth.h5plugin`` registers the filter with h5py's HDF5 (``import synth.shards`` does it
too), so ``h5py.File(shard)["rgb"][i]`` decodes the true pixels. Programs that never import
``synth`` (h5dump, HDFView, other languages, a notebook) load the same library from a folder
named in ``HDF5_PLUGIN_PATH``: :data:`PLUGIN_PATH` (``python -m synth.h5plugin`` prints it), or
one where they built ``h5vdelta.c`` by hand (its header says how; it needs no HDF5 headers).

The filter: chunk rows of ``cd_values[0]`` bytes; writing replaces each row but the first with
(row - row above) mod 256, reading takes the prefix sum back. The chunk keeps its size. Id 437
lies in the range HDF5 sets aside for private filters (256-511; 305 and 307 there are taken
by the registered LZO and BZIP2 filters); a reader that lacks it fails with "required filter
... is not registered" instead of returning the coded bytes. The library is built by
``pip install -e .`` (setup.py, optional like the other C parts): without it the writer
still writes the same files (it codes chunks itself) and the project's reader still decodes
them (it undoes the delta itself), but plain HDF5 readers in this environment cannot.
"""
from __future__ import annotations

import ctypes
from pathlib import Path

#: HDF5 filter id of synth-vdelta (private range 256-511, see the module doc).
VDELTA_FILTER_ID = 437
#: The folder holding the plugin library (``libh5vdelta*.so``); give it to HDF5_PLUGIN_PATH.
PLUGIN_PATH = Path(__file__).resolve().parent

_state: dict = {}


def library() -> Path | None:
    """The built plugin library in :data:`PLUGIN_PATH`, or None when it was not built."""
    found = sorted(PLUGIN_PATH.glob("libh5vdelta*.so")) + sorted(PLUGIN_PATH.glob("libh5vdelta*.dylib"))
    return found[0] if found else None


def register() -> bool:
    """Register synth-vdelta with h5py's HDF5 (once per process); False when the library is missing or does
    not load (``_state["error"]`` says why).

    Safe to call again: after the first call it only reports the outcome.
    """
    if "ok" not in _state:
        lib = library()
        ok = False
        if lib is not None:
            import h5py

            try:
                clib = ctypes.CDLL(str(lib))
                clib.H5PLget_plugin_info.restype = ctypes.c_void_p
                ok = bool(h5py.h5z.register_filter(clib.H5PLget_plugin_info()))
                _state["clib"] = clib  # keep it loaded: HDF5 holds pointers into it
            except (OSError, AttributeError, RuntimeError, ValueError) as exc:  # a stale or foreign build
                _state["error"] = f"{lib.name}: {exc}"
        _state["ok"] = ok
    return _state["ok"]


def available() -> bool:
    """True when h5py's HDF5 can apply synth-vdelta (registered here, or found on HDF5_PLUGIN_PATH)."""
    import h5py

    return register() or bool(h5py.h5z.filter_avail(VDELTA_FILTER_ID))


register()
