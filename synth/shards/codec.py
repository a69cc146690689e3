"""How image chunks are coded: the row delta (numpy, or the C kernel of synth/_vdelta.c), zstd, the
HDF5 filter pipeline that declares them.

Storage: per-sample chunks for the images (a random read decompresses exactly
one chunk), zstd level 1 on every image dataset, the row delta on rgb
(residual of each row from the row above, mod 256: rgb of the default
pipeline's mix shrinks from ~121 to ~81 KB per sample at 256x256); the other
images get no delta. ``ShardWriter(compression="gzip" | "lzf" | "none")``
store images without the delta through HDF5's built-in filters. Labels (~0.9 KB/sample) are uncompressed, in whole-shard
chunks, loaded once by the reader. The writer codes chunks itself and hands
them to HDF5 (``write_direct_chunk``) -- the bytes the declared pipeline would
produce; the reader lists every chunk's offset at open and decodes in process
(``os.preadv``, zstd, the delta undone by synth/_vdelta.c). The figures behind
these choices (codec survey, Blosc2, the filter) are in bench/README.md.
"""
from __future__ import annotations

import numpy as np

from synth.shards.schema import _FIX_PLUGIN, VDELTA_FILTER_ID, ShardError

try:  # the one-pass C undo of the vdelta predictor, built by `pip install -e .` (setup.py); optional
    from synth import _vdelta as _vdelta_kernel
except ImportError:
    _vdelta_kernel = None


def _h5py():
    import h5py

    return h5py


def _hdf5plugin(what: str):
    """Import hdf5plugin (registers the zstd filter with HDF5); ShardError naming the fix when missing."""
    try:
        import hdf5plugin
    except ImportError:
        raise ShardError(f"{what}: needs the hdf5plugin package for zstd compression; "
                         + _FIX_PLUGIN) from None
    return hdf5plugin


def _zstandard():
    """The ``zstandard`` module (direct chunk encode/decode), or None when it is not installed."""
    try:
        import zstandard
    except ImportError:
        return None
    return zstandard



def _try_hdf5plugin() -> None:
    try:
        import hdf5plugin  # noqa: F401  (registers the zstd filter with HDF5)
    except ImportError:
        pass


def vdelta_encode(a: np.ndarray, axis: int = 0) -> np.ndarray:
    """Vertical delta of uint8 images: row y minus row y-1, mod 256, along ``axis`` (lossless).

    Returns a new C-contiguous array of ``a``'s shape; one pass over the data.
    """
    a = np.asarray(a)
    d = np.empty(a.shape, a.dtype)
    src = np.moveaxis(a, axis, 0)
    dst = np.moveaxis(d, axis, 0)
    dst[:1] = src[:1]
    np.subtract(src[1:], src[:-1], out=dst[1:])
    return d


def vdelta_kernel() -> str:
    """Which code undoes the vdelta predictor here: ``"C"`` (synth/_vdelta.c, built at install) or ``"numpy"``."""
    return "C" if _vdelta_kernel is not None else "numpy"


def _kernel_fits(src: np.ndarray, out: np.ndarray) -> bool:
    """True when the C kernel can undo ``src`` into ``out`` along axis 0 (uint8, C-contiguous, apart)."""
    return (_vdelta_kernel is not None and src.dtype == np.uint8 and out.dtype == np.uint8
            and src.ndim >= 1 and src.shape == out.shape and src.flags.c_contiguous
            and out.flags.c_contiguous and out.flags.writeable and not np.may_share_memory(src, out))


def vdelta_decode(d: np.ndarray, axis: int = 0) -> np.ndarray:
    """Inverse of :func:`vdelta_encode`, in place: a prefix sum along ``axis`` mod 256. Returns ``d``.

    Decodes through :func:`vdelta_decoded` (one pass in C when the kernel is built,
    :func:`vdelta_kernel`, and ``axis`` is the contiguous array's first; else
    Hillis-Steele doubling in numpy: log2(H) whole-array adds, ~8x faster than
    ``np.add.accumulate`` along the row axis, ~8x slower than the kernel).
    """
    d[...] = vdelta_decoded(d, axis)
    return d


def _vdelta_decode_into(src: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """Undo vdelta along axis 0 of ``src`` into ``out`` (``src`` untouched; may be read-only).

    ``out`` and ``scratch``: distinct arrays of ``src``'s shape. The C kernel when
    it fits (~0.012 ms for 256x256x3 here); else the doubling prefix sum of
    :func:`vdelta_decode` (~0.09 ms), its buffers alternating so that the last of
    the ceil(log2(H)) passes lands in ``out``. Returns ``out``.
    """
    if _kernel_fits(src, out):
        _vdelta_kernel.undo(src, out, src.shape[0])
        return out
    n = src.shape[0]
    passes = (n - 1).bit_length()
    if passes == 0:
        out[...] = src
        return out
    bufs = (out, scratch) if passes % 2 else (scratch, out)
    cur, k, s = src, 0, 1
    while s < n:
        dst = bufs[k]
        np.add(cur[s:], cur[:-s], out=dst[s:])
        dst[:s] = cur[:s]
        cur, k, s = dst, 1 - k, 2 * s
    return out


def vdelta_decoded(d: np.ndarray, axis: int = 0) -> np.ndarray:
    """:func:`vdelta_decode` into new memory: ``d`` is not modified and may be read-only.

    Returns a fresh array of ``d``'s shape and dtype.
    """
    d = np.asarray(d)
    out, scratch = np.empty(d.shape, d.dtype), np.empty(d.shape, d.dtype)
    _vdelta_decode_into(np.moveaxis(d, axis, 0), np.moveaxis(out, axis, 0), np.moveaxis(scratch, axis, 0))
    return out


def vdelta_dcpl(shape: tuple[int, ...], dtype):
    """A dataset creation property list holding the row delta filter for per-sample images of ``shape``.

    ``shape``: one sample's (H, W[, C]); a row is W * C * itemsize bytes (``cd_values[0]``). Flagged
    optional, as h5py flags every plugin filter: HDF5 then creates the dataset even where the filter
    library is missing (the writer codes direct chunks itself); a read without it still fails.
    """
    h5py = _h5py()
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * np.dtype(dtype).itemsize
    dcpl.set_filter(VDELTA_FILTER_ID, h5py.h5z.FLAG_OPTIONAL, (row_bytes,))
    return dcpl
