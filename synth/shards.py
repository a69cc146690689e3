"""The HDF5 shard: schema (defined once), atomic writer, validating reader, run manifest.

A run folder (``synth render --out DIR``) holds ``shard-00000.h5``,
``shard-00001.h5``, ... and ``manifest.json``. Shard k holds the samples with
indices ``[k * S, min((k + 1) * S, n))``. A manifest lists plain ``shard-NNNNN.h5``
names only: any other entry (a path, ``..``) is refused on reading, so a manifest
from elsewhere never makes the reader or the runner open, hash or move an outside file.

Schema version 3 -- datasets, first axis = sample (N), H x W = output size:

=====================  ===========  ==========  =============================================
name                   shape        dtype       meaning
=====================  ===========  ==========  =============================================
rgb                    (N,H,W,3)    uint8       final image (after effects); HDF5 filters
                                                synth-vdelta (437) then zstd (32015), see below
depth                  (N,H,W)      uint16      planar z-depth, mm, 0 = no data
depth_noisy            (N,H,W)      uint16      optional: Kinect-like depth (synth.depth), 0 = hole
seg                    (N,H,W)      uint8       optional: part class per pixel (synth.heads.mesh.SEG_CLASSES)
mask                   (N,H,W)      uint8       head mask 0/1; stored only when some sample's mask
                                                is not ``depth > 0`` (attr ``mask_source``)
rotation               (N,3,3)      float32     head -> OpenCV camera rotation (canonical label)
euler                  (N,3)        float32     pitch, yaw, roll, degrees (synth.pose convention)
translation            (N,3)        float32     head centre, camera frame, mm
bbox                   (N,4)        float32     face box x0, y0, x1, y1, px
landmarks              (N,68,2)     float32     iBUG-68 projections, px (NaN where absent)
landmarks_visible      (N,68)       bool        landmark not self-occluded
K                      (N,3,3)      float32     intrinsics of the image
coarse_class           (N,)         int8        coarse-to-fine category (synth.pose.coarse_category)
identity               (N,)         int32       head identity in the run's pool
seed                   (N,)         uint64      the run's global seed
index                  (N,)         int64       sample index within the run
params                 (N,)         str (JSON)  every sampled parameter (SampleMaker params dict)
params_columns/<key>   (N,) / (N,k) float32     the numeric leaves of params as columns, e.g.
                                                ``light.intensity``, ``effects.noise_sigma``,
                                                ``light.direction`` (N,3); for fast histograms
=====================  ===========  ==========  =============================================

File attributes: ``schema_version``, ``format`` (= "headpose-synth-shard"),
``config_json`` (resolved config), ``config_hash``, ``code_version`` (package
version + git commit when known), ``renderer_name``, ``renderer_version``,
``created`` (UTC ISO time), ``shard_index``, ``index_start``, ``index_stop``,
``n_samples``, ``mask_source`` (version 2: ``"depth>0"`` = no mask dataset, the
reader returns ``depth > 0`` as uint8; ``"stored"``), ``migrated_from`` (only
on shards rewritten by ``synth migrate``: the schema they were written in)
and ``complete`` (set last, just before the file is closed and atomically
renamed from its temporary name).

Version 1 -> 2: the mask. The GL renderer's mask is ``z > 0`` and depth is
``rint(z)`` with z >= the 100 mm near plane, so mask == ``depth > 0`` by
construction; the writer checks it exactly per sample (~0.03 ms) and stores a
``mask`` dataset only when a sample differs (a renderer with its own mask
pass), back-filling the earlier samples from their depth. Saves ~0.7 KB and
one chunk decode per sample. Version 1 shards (mask always stored) are still
read; open_dataset accepts manifests of both versions.

Version 2 -> 3: every dataset decodes through the standard HDF5 filter
pipeline. Versions 1 and 2 applied rgb's row delta before a plain zstd filter
(32015) and marked it only by the dataset attribute ``predictor = "vdelta"``,
so any reader but this one got the residuals as if they were pixels. Version 3
declares the delta as an HDF5 filter of its own, ``synth-vdelta`` (id 437,
:mod:`synth.h5plugin`), ahead of zstd: the stored chunks are the same bytes,
and a reader without the filter fails ("required filter ... is not
registered") instead of decoding something else. Version 3 files are also
written in the HDF5 1.10 file format (:data:`LIBVER`), so tools built on
HDF5 1.10-1.14 open them too. This reader still reads versions 1 and 2;
``synth migrate DIR`` (:mod:`synth.migrate`) rewrites them as version 3,
copying the compressed chunks unchanged.

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

import datetime as _dt
import hashlib
import json
import os
import re
import threading
import uuid
from bisect import bisect_right
from pathlib import Path

import numpy as np

from synth import h5plugin as _h5plugin  # registers the synth-vdelta filter with h5py (when built)

try:  # the one-pass C undo of the vdelta predictor, built by `pip install -e .` (setup.py); optional
    from synth import _vdelta as _vdelta_kernel
except ImportError:
    _vdelta_kernel = None

SCHEMA_VERSION = 3
#: Shard / manifest schema versions this code reads (1: the mask is always stored; 1 and 2: rgb's row
#: delta is outside the HDF5 filter pipeline, see the module doc).
READABLE_VERSIONS = (1, 2, 3)
FORMAT = "headpose-synth-shard"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "headpose-synth-run"
SHARD_PATTERN = "shard-{:05d}.h5"
#: the only file names a manifest may list (SHARD_PATTERN's, in the manifest's own folder)
SHARD_NAME = re.compile(r"shard-[0-9]{5,}\.h5")
TMP_MARKER = ".tmp-"

#: Per-sample image datasets: name -> (dtype, trailing shape from (H, W), shuffle filter).
IMAGE_FIELDS = {
    "rgb": (np.uint8, lambda h, w: (h, w, 3), False),
    "depth": (np.uint16, lambda h, w: (h, w), True),
    "depth_noisy": (np.uint16, lambda h, w: (h, w), True),
    "mask": (np.uint8, lambda h, w: (h, w), False),
    "seg": (np.uint8, lambda h, w: (h, w), False),
}
#: Optional image datasets (present only when the config / backend produces them).
OPTIONAL_FIELDS = ("depth_noisy", "seg")
#: Per-sample label datasets: name -> (dtype, trailing shape).
LABEL_FIELDS = {
    "rotation": (np.float32, (3, 3)),
    "euler": (np.float32, (3,)),
    "translation": (np.float32, (3,)),
    "bbox": (np.float32, (4,)),
    "landmarks": (np.float32, (68, 2)),
    "landmarks_visible": (np.bool_, (68,)),
    "K": (np.float32, (3, 3)),
    "coarse_class": (np.int8, ()),
    "identity": (np.int32, ()),
    "seed": (np.uint64, ()),
    "index": (np.int64, ()),
}
#: Scalar label fields (returned as numpy scalars by the reader).
SCALAR_FIELDS = tuple(k for k, (_, shp) in LABEL_FIELDS.items() if shp == ())
PARAMS_FIELD = "params"
PARAMS_COLUMNS = "params_columns"
REQUIRED_ATTRS = ("schema_version", "format", "config_json", "config_hash", "code_version",
                  "renderer_name", "renderer_version", "created", "shard_index", "index_start",
                  "index_stop", "n_samples", "complete")
COMPRESSIONS = ("zstd", "gzip", "lzf", "none")
DEFAULT_COMPRESSION = "zstd"
DEFAULT_GZIP_LEVEL = 1
DEFAULT_ZSTD_LEVEL = 1
#: Schema 1-2 dataset attribute naming a predictor applied *outside* the HDF5 filters (absent = none);
#: version 3 writes none (its delta is filter VDELTA_FILTER_ID) but reads it in older shards.
PREDICTOR_ATTR = "predictor"
#: ``vdelta``: each row stores (row - row above) mod 256; the first row is stored as is.
PREDICTORS = ("vdelta",)
#: uint8 image datasets that get the row delta (filter VDELTA_FILTER_ID) under ``zstd`` compression;
#: a new uint8 image (say a part-segmentation ``seg``) joins by its name here and in IMAGE_FIELDS.
VDELTA_FIELDS = ("rgb",)
#: HDF5 filter id of the zstd filter (hdf5plugin.Zstd); its chunks are plain zstd frames with content size.
ZSTD_FILTER_ID = 32015
#: HDF5 filter id of synth-vdelta (synth/h5plugin): the row delta, undone by HDF5 itself on read.
VDELTA_FILTER_ID = _h5plugin.VDELTA_FILTER_ID
#: HDF5 file-format bounds of written shards: the newest formats HDF5 1.10 reads (chunk indexes as with
#: "latest" there). Schema 1-2 wrote libver="latest", which under HDF5 2.0 (h5py 3.16) gives layout
#: messages no HDF5 before 2.0 opens (h5dump 1.10 refused those shards); same size and speed here.
LIBVER = ("v110", "v110")
#: File attribute (schema 2) saying where ``mask`` comes from: MASK_STORED (a dataset) or MASK_FROM_DEPTH.
MASK_SOURCE_ATTR = "mask_source"
MASK_STORED = "stored"
MASK_FROM_DEPTH = "depth>0"
_FIX_PLUGIN = "fix: pip install hdf5plugin (it provides the zstd HDF5 filter, id 32015, these shards use)"
_FIX_VDELTA = (f"fix: rerun `bash setup.sh` (or `pip install -e .` with a C compiler) to build the synth-vdelta "
               f"filter (id {_h5plugin.VDELTA_FILTER_ID}, synth/h5plugin), or read with direct=True")

_FIX_RERENDER = ("fix: rerun the same `synth render` command to re-render it (a bad shard listed in the "
                 "manifest is set aside as *.corrupt-* and rendered again)")


class ShardError(Exception):
    """A shard or run folder that cannot be read; the message names the file and the fix."""


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


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


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


# --- provenance -------------------------------------------------------------------------------

def _git_commit(start: Path) -> str | None:
    """The checked-out commit, read from .git files (no git process); None when unknown."""
    for d in (start, *start.parents):
        git = d / ".git"
        if git.is_dir():
            try:
                head = (git / "HEAD").read_text().strip()
                if not head.startswith("ref:"):
                    return head[:40]
                ref = head.split(None, 1)[1]
                f = git / ref
                if f.is_file():
                    return f.read_text().strip()[:40]
                packed = git / "packed-refs"
                if packed.is_file():
                    for line in packed.read_text().splitlines():
                        if line.endswith(" " + ref):
                            return line.split()[0][:40]
            except OSError:
                return None
            return None
    return None


def code_version() -> str:
    """``headpose-synth <version>`` plus ``+g<commit>`` when a git checkout is found."""
    version = None
    try:
        from importlib.metadata import version as _v

        version = _v("headpose-synth")
    except Exception:
        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        if pyproject.is_file():
            for line in pyproject.read_text().splitlines():
                if line.strip().startswith("version"):
                    version = line.split("=", 1)[1].strip().strip('"')
                    break
    out = f"headpose-synth {version or 'unknown'}"
    commit = _git_commit(Path(__file__).resolve().parent)
    return out + (f"+g{commit[:12]}" if commit else "")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _numeric_leaves(params: dict, prefix: str = "", out: dict | None = None) -> dict:
    """Numeric leaves of a params dict as plain Python: key ``a.b`` -> float, or tuple of floats for a
    flat numeric list of 1..16 items (bools count as 0/1 scalars, not inside lists)."""
    out = {} if out is None else out
    for k, v in params.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            _numeric_leaves(v, key + ".", out)
        elif isinstance(v, (bool, int, float)):
            out[key] = float(v)
        elif (isinstance(v, (list, tuple)) and v and len(v) <= 16
              and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)):
            out[key] = tuple(float(x) for x in v)
    return out


def flatten_params(params: dict, prefix: str = "") -> dict[str, np.ndarray]:
    """Numeric leaves of a params dict: scalars and flat numeric lists, keyed ``a.b`` (float32)."""
    return {k: np.asarray(v, np.float32) if isinstance(v, tuple) else np.float32(v)
            for k, v in _numeric_leaves(params, prefix).items()}


def _params_columns(leaves: list[dict]) -> dict[str, np.ndarray]:
    """(n,) / (n, k) float32 columns of the keys (and shapes) of ``leaves[0]``; NaN rows where a
    sample lacks the key or has another shape."""
    cols = {}
    for key, v0 in (leaves[0].items() if leaves else ()):
        if isinstance(v0, tuple):
            nan = (float("nan"),) * len(v0)
            rows = [v if isinstance(v, tuple) and len(v) == len(v0) else nan for v in (d.get(key) for d in leaves)]
        else:
            rows = [v if isinstance(v, float) else float("nan") for v in (d.get(key) for d in leaves)]
        cols[key] = np.array(rows, np.float32)
    return cols


def sha256_file(path: str | Path, block: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


# --- writer -----------------------------------------------------------------------------------

class ShardWriter:
    """Writes one shard under a temporary name; :meth:`close` renames it into place.

    path: final shard path. n: number of samples it will hold. attrs: provenance
    attributes (see module doc; ``complete`` and ``n_samples`` are set here).
    The file is created on the first :meth:`append` (image size known then).
    :meth:`close` checks the count, sets ``complete``, fsyncs and renames
    atomically, returning ``{"file", "bytes", "sha256"}``; :meth:`abort` removes
    the temporary file. Use as a context manager: an exception aborts.

    Image chunks (one per sample and dataset): with ``compression="zstd"`` and
    the ``zstandard`` package, or ``"none"``, the writer encodes each chunk
    itself and hands the bytes to HDF5 (``write_direct_chunk``, ``direct=True``,
    the default when possible). The file is the one HDF5's filter pipeline
    would write (rgb: the row delta of filter 437, then a zstd frame with its
    content size, as filter 32015 expects) for ~0.05 ms of HDF5 time per sample
    instead of ~2.3 ms through high-level ``ds[i] = a`` writes; the filter
    library need not be built for that. ``gzip``/``lzf`` (or ``direct=False``)
    use h5py's pipeline (where the row delta is applied by the filter when it
    is built, and skipped -- flagged per chunk, still read right -- when not).
    The head mask is stored only when a sample's mask differs from ``depth >
    0`` (see the module doc, "mask").
    """

    def __init__(self, path: str | Path, n: int, attrs: dict, compression: str = DEFAULT_COMPRESSION,
                 gzip_level: int = DEFAULT_GZIP_LEVEL, zstd_level: int = DEFAULT_ZSTD_LEVEL,
                 direct: bool | None = None):
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, not {compression!r}")
        if compression == "zstd":
            _hdf5plugin(f"writing {path}")
        self._zstd = _zstandard() if compression == "zstd" else None
        can_direct = compression == "none" or self._zstd is not None
        if direct and not can_direct:
            raise ValueError(f"direct chunk writes need compression 'zstd' (with the zstandard package) or "
                             f"'none', not {compression!r}")
        self.direct = can_direct if direct is None else bool(direct)
        self.zstd_level = int(zstd_level)
        self.path = Path(path)
        self.tmp_path = self.path.with_name(f"{self.path.name}{TMP_MARKER}{uuid.uuid4().hex[:12]}")
        self.n = int(n)
        self.attrs = dict(attrs)
        self.compression = compression
        self.gzip_level = int(gzip_level)
        self._f = None
        self._i = 0
        self._hw: tuple[int, int] | None = None
        #: name -> (h5py dataset, dtype, per-sample shape, row delta filter declared)
        self._images: dict[str, tuple] = {}
        self._cz: dict = {}  # image dataset -> zstandard compressor (direct zstd writes)
        self._residual: dict[str, np.ndarray] = {}  # image dataset -> reused vdelta buffer
        self._labels: dict[str, np.ndarray] = {}
        self._params: list[str] = []
        self._leaves: list[dict] = []  # numeric params leaves per sample -> params_columns at close

    def _open(self, sample: dict) -> None:
        h5py = _h5py()
        rgb = np.asarray(sample["rgb"])
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"{self.path.name}: sample {sample.get('index')} rgb has shape {rgb.shape}, "
                             "expected (H, W, 3)")
        self._hw = rgb.shape[:2]
        self._f = h5py.File(self.tmp_path, "w", libver=LIBVER)
        for name in IMAGE_FIELDS:
            if name == "mask" or (name in OPTIONAL_FIELDS and name not in sample):
                continue  # the mask is created only when a sample needs it (_put_mask)
            self._create_image(name)
        for name, (dtype, shape) in LABEL_FIELDS.items():
            self._labels[name] = np.zeros((self.n,) + shape, dtype)

    def _create_image(self, name: str) -> None:
        dtype, shape_fn, shuffle = IMAGE_FIELDS[name]
        shape = shape_fn(*self._hw)
        kw = {}
        predicted = self.compression == "zstd" and name in VDELTA_FIELDS
        if self.compression == "zstd":
            kw = dict(compression=_hdf5plugin(f"writing {self.path}").Zstd(clevel=self.zstd_level))
            if predicted:  # the row delta first in the pipeline, zstd (appended by h5py) second
                kw["dcpl"] = vdelta_dcpl(shape, dtype)
        elif self.compression == "gzip":
            kw = dict(compression="gzip", compression_opts=self.gzip_level, shuffle=shuffle)
        elif self.compression == "lzf":
            kw = dict(compression="lzf", shuffle=shuffle)
        ds = self._f.create_dataset(name, shape=(self.n,) + shape, dtype=dtype, chunks=(1,) + shape, **kw)
        self._images[name] = (ds, np.dtype(dtype), shape, predicted)
        if self.direct and self.compression == "zstd":
            zstd = self._zstd
            if predicted and self.zstd_level == 1:
                # minimum match 7 instead of 6: the same size on vdelta residuals, ~5-15 % less time
                params = zstd.ZstdCompressionParameters.from_level(
                    1, source_size=int(np.prod(shape)) * np.dtype(dtype).itemsize, min_match=7,
                    write_content_size=True, write_checksum=True)
                self._cz[name] = zstd.ZstdCompressor(compression_params=params)
            else:
                self._cz[name] = zstd.ZstdCompressor(level=self.zstd_level, write_content_size=True,
                                                     write_checksum=True)

    def _put(self, name: str, i: int, value) -> None:
        """Write sample ``i`` of image dataset ``name`` (shape and dtype checked: direct chunks are raw bytes)."""
        ds, dtype, shape, predicted = self._images[name]
        arr = np.ascontiguousarray(value, dtype=dtype)
        if arr.shape != shape:
            raise ValueError(f"{self.path.name}: sample {i} of the shard has {name} of shape {arr.shape}, "
                             f"earlier samples {shape}; all samples of a run share one output size")
        if predicted and self.direct:  # through h5py's pipeline the filter codes it
            residual = self._residual.get(name)
            if residual is None:
                residual = self._residual[name] = np.empty(shape, dtype)
            residual[:1] = arr[:1]  # vdelta (as vdelta_encode) into a reused buffer: fresh ones cost page faults
            np.subtract(arr[1:], arr[:-1], out=residual[1:])
            arr = residual
        if self.direct:
            cz = self._cz.get(name)
            ds.id.write_direct_chunk((i,) + (0,) * len(shape), cz.compress(arr) if cz is not None else arr)
        else:
            ds[i] = arr

    def _put_mask(self, i: int, sample: dict) -> None:
        """Store the mask only once a sample's mask is not ``depth > 0`` (then back-fill earlier samples)."""
        mask = sample.get("mask")
        if "mask" not in self._images:
            if mask is None or mask_matches_depth(mask, sample["depth"]):
                return
            self._create_image("mask")
            depth = self._images["depth"][0]
            for j in range(i):  # earlier samples had mask == depth > 0; read their depth back
                self._put("mask", j, depth[j] > 0)
        self._put("mask", i, sample["depth"] > 0 if mask is None else mask)

    def append(self, sample: dict) -> None:
        """Add the next sample (a SampleMaker sample dict)."""
        if self._i >= self.n:
            raise ValueError(f"{self.path.name}: more than the {self.n} samples declared")
        if self._f is None:
            self._open(sample)
        i = self._i
        for name in self._images:
            if name == "mask":
                continue
            if name not in sample:
                raise ValueError(f"sample {sample.get('index')} lacks {name!r} that earlier samples had")
            self._put(name, i, sample[name])
        self._put_mask(i, sample)
        for name, arr in self._labels.items():
            arr[i] = sample[name]
        params = sample.get("params", {})
        self._params.append(json.dumps(params, sort_keys=True, separators=(",", ":")))
        self._leaves.append(_numeric_leaves(params))
        self._i += 1

    def close(self) -> dict:
        if self._f is None:
            raise ValueError(f"{self.path.name}: no samples written")
        if self._i != self.n:
            raise ValueError(f"{self.path.name}: {self._i} samples written, {self.n} declared")
        h5py = _h5py()
        f = self._f
        chunk_rows = max(1, min(self.n, 4096))
        for name, arr in self._labels.items():
            f.create_dataset(name, data=arr, chunks=(chunk_rows,) + arr.shape[1:] if arr.ndim else None)
        f.create_dataset(PARAMS_FIELD, data=np.array(self._params, dtype=object),
                         dtype=h5py.string_dtype("utf-8"))
        g = f.create_group(PARAMS_COLUMNS)
        for k, arr in _params_columns(self._leaves).items():
            g.create_dataset(k, data=arr)
        attrs = dict(self.attrs, schema_version=SCHEMA_VERSION, format=FORMAT, n_samples=self.n)
        attrs[MASK_SOURCE_ATTR] = MASK_STORED if "mask" in self._images else MASK_FROM_DEPTH
        for k, v in attrs.items():
            f.attrs[k] = v
        f.attrs["complete"] = True
        f.flush()
        f.close()
        self._f = None
        self._images = {}
        # one pass over the file: sha256 while reading it back (page cache), then fsync + rename
        digest = sha256_file(self.tmp_path)
        fd = os.open(self.tmp_path, os.O_RDONLY)
        try:
            os.fsync(fd)
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        os.replace(self.tmp_path, self.path)
        _fsync_dir(self.path.parent)
        return {"file": self.path.name, "bytes": int(size), "sha256": digest}

    def abort(self) -> None:
        """Close and remove the temporary file (never touches the final path)."""
        try:
            if self._f is not None:
                self._f.close()
        except Exception:
            pass
        self._f = None
        self._images = {}
        try:
            self.tmp_path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()


def mask_matches_depth(mask, depth) -> bool:
    """True when ``mask`` (H, W) bool/uint8 equals ``depth > 0`` exactly (values 0/1, same shape)."""
    mask, depth = np.asarray(mask), np.asarray(depth)
    return mask.shape == depth.shape and np.array_equal(mask, depth > 0)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_shard(path: str | Path, samples: list[dict], attrs: dict, **kw) -> dict:
    """Write a list of samples as one shard (atomic); returns the writer's record."""
    with ShardWriter(path, len(samples), attrs, **kw) as w:
        for s in samples:
            w.append(s)
        return w.close()


# --- reader -----------------------------------------------------------------------------------

class ShardReader:
    """Read one shard: ``len(r)``, ``r[i]`` -> sample dict, ``r.read_batch(idx)`` -> stacked arrays.

    Validates on open: readable HDF5, ``format``, ``schema_version`` (1, 2 or 3),
    ``complete``, the sample count and every image chunk's presence; any
    failure raises :class:`ShardError` naming the file and the fix. Labels are
    loaded into memory at open; images are read per access. The file handles
    are reopened after a fork (safe with DataLoader worker processes) and the
    decoder is per thread.

    Image reads (``direct=True``, the default): the byte offset and size of
    every image chunk are listed once at open (``chunk_iter``); a read is then
    one ``os.pread`` plus zstd decoding (``zstandard``) per dataset, with no
    HDF5 call; rgb's row delta (filter 437, or the ``predictor`` attribute of
    schema 1-2) is undone here too. Datasets with other filters (gzip, lzf), or
    without the ``zstandard`` package, are read through HDF5 with cached
    low-level handles (then filter 437 must be available: synth.h5plugin).

    ``r[i]`` keys: rgb (H,W,3) uint8, depth (H,W) uint16, [depth_noisy (H,W)
    uint16], mask (H,W) uint8 0/1 (stored, or ``depth > 0`` for v2 shards
    without a mask dataset), rotation (3,3), euler (3,) pitch/yaw/roll deg,
    translation (3,) mm, bbox (4,) x0,y0,x1,y1, landmarks (68,2), K (3,3) --
    float32; landmarks_visible (68,) bool; coarse_class, identity, seed, index
    (numpy scalars); params (dict, parsed JSON). :meth:`sample` reads a subset.
    """

    def __init__(self, path: str | Path, direct: bool = True):
        self.path = Path(path)
        self._f = None
        self._pid = None
        self._io = None
        self._fd = None
        self._fd_pid = None
        self._local = threading.local()
        f = self._file()
        try:
            attrs = dict(f.attrs)
            fmt = attrs.get("format")
            if fmt != FORMAT:
                raise ShardError(f"{self.path}: not a head-pose synth shard (format={fmt!r}); "
                                 "fix: point the reader at a folder written by `synth render`")
            version = int(attrs.get("schema_version", -1))
            if version not in READABLE_VERSIONS:
                raise ShardError(f"{self.path}: schema version {version}, this code reads "
                                 f"{' and '.join(map(str, READABLE_VERSIONS))}; fix: read it with the code "
                                 f"version recorded in its code_version attribute ({attrs.get('code_version')!r}) "
                                 "or re-render it")
            missing = [a for a in REQUIRED_ATTRS if a not in attrs]
            if missing or not bool(attrs.get("complete")):
                raise ShardError(f"{self.path}: incomplete shard (missing {missing or ['complete']}); "
                                 + _FIX_RERENDER)
            self.version = version
            self.n = int(attrs["n_samples"])
            self.attrs = attrs
            #: image datasets stored in the file
            self.image_fields = tuple(k for k in IMAGE_FIELDS if k in f)
            source = _text(attrs.get(MASK_SOURCE_ATTR, MASK_STORED))
            self.mask_from_depth = "mask" not in f
            if self.mask_from_depth and (version < 2 or source != MASK_FROM_DEPTH):
                raise ShardError(f"{self.path}: no 'mask' dataset and no {MASK_SOURCE_ATTR}={MASK_FROM_DEPTH!r} "
                                 "attribute; " + _FIX_RERENDER)
            #: image fields a sample returns (stored ones plus a derived mask)
            self.fields = tuple(k for k in IMAGE_FIELDS if k in self.image_fields
                                or (k == "mask" and self.mask_from_depth))
            self.labels = {k: f[k][()] for k in LABEL_FIELDS}
            self._params_raw = f[PARAMS_FIELD][()]
            counts = {k: len(f[k]) for k in self.image_fields}
            counts.update({k: len(v) for k, v in self.labels.items()})
            counts[PARAMS_FIELD] = len(self._params_raw)
            bad = {k: c for k, c in counts.items() if c != self.n}
            if bad or "rgb" not in self.image_fields or "depth" not in self.image_fields:
                raise ShardError(f"{self.path}: dataset lengths {bad or 'rgb/depth missing'} disagree with "
                                 f"n_samples={self.n}; " + _FIX_RERENDER)
            self.shape = tuple(f["rgb"].shape[1:3])
            self._shapes = {k: tuple(IMAGE_FIELDS[k][1](*self.shape)) for k in IMAGE_FIELDS}
            self.predictors = {}
            for k in self.image_fields:
                pred = f[k].attrs.get(PREDICTOR_ATTR)
                if pred is not None:
                    pred = _text(pred)
                    if pred not in PREDICTORS:
                        raise ShardError(f"{self.path}: dataset {k!r} uses predictor {pred!r} unknown to this "
                                         "code; fix: read it with the code version recorded in its code_version "
                                         f"attribute ({attrs.get('code_version')!r}) or re-render it")
                    self.predictors[k] = pred
            self._chunks = self._chunk_tables(f, direct)
            #: per image dataset: the reader undoes the row delta after its read path (direct chunks
            #: holding residuals; or, through HDF5, a schema 1-2 delta outside the filter pipeline)
            self._undo = {k: self._chunks[k][6] if k in self._chunks else k in self.predictors
                          for k in self.image_fields}
            self._check_filters(f)
        except ShardError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise ShardError(f"{self.path}: corrupt shard ({type(exc).__name__}: {exc}); " + _FIX_RERENDER) from None

    @property
    def portable(self) -> bool:
        """True when every dataset decodes to its values through the HDF5 filters alone (schema 3, or an
        older shard without the row delta); False for schema 1-2 rgb coded outside them (synth migrate)."""
        return not self.predictors

    def _check_filters(self, f) -> None:
        """ShardError naming the fix when an image dataset's HDF5 filter is unavailable here.

        The row delta (filter 437) is needed only for datasets read through HDF5: direct reads undo it here.
        """
        h5z = _h5py().h5z
        for k in self.image_fields:
            plist = f[k].id.get_create_plist()
            for j in range(plist.get_nfilters()):
                fid, _, _, fname = plist.get_filter(j)
                if fid == VDELTA_FILTER_ID and k in self._chunks:
                    continue
                if not h5z.filter_avail(fid):
                    name = fname.decode(errors="replace") if isinstance(fname, bytes) else str(fname)
                    raise ShardError(f"{self.path}: dataset {k!r} is compressed with HDF5 filter {fid} "
                                     f"({name or 'unknown'}), which is not available here; "
                                     + (_FIX_VDELTA if fid == VDELTA_FILTER_ID else _FIX_PLUGIN))

    def _chunk_tables(self, f, direct: bool) -> dict:
        """Per image dataset read directly: (byte offsets (n,), sizes (n,), codec, dtype, shape, nbytes,
        residual: the decoded chunk is the row delta, to be undone).

        Direct reads take chunks with no filter, zstd alone, or the row delta (437, rows of one
        image row: W * C bytes of uint8) then zstd; anything else is read through HDF5.

        Raises ShardError when a sample's chunk was never written (HDF5 would
        silently return zeros for it).
        """
        zstd = _zstandard()
        out = {}
        for k in self.image_fields:
            ds = f[k]
            shape = tuple(ds.shape[1:])
            offsets = np.full(self.n, -1, np.int64)
            sizes = np.zeros(self.n, np.int64)
            skipped = []

            def visit(info, offsets=offsets, sizes=sizes, skipped=skipped):
                j = info.chunk_offset[0]
                offsets[j], sizes[j] = info.byte_offset, info.size
                if info.filter_mask:
                    skipped.append(j)

            try:
                ds.id.chunk_iter(visit)
            except (AttributeError, NotImplementedError):  # HDF5 < 1.12.3 / h5py < 3.8: read through HDF5
                return {}
            if ds.chunks != (1,) + shape:
                continue
            absent = int((offsets < 0).sum())
            if absent:
                raise ShardError(f"{self.path}: dataset {k!r} lacks {absent} of its {self.n} sample chunks "
                                 "(written in part); " + _FIX_RERENDER)
            plist = ds.id.get_create_plist()
            pipeline = [plist.get_filter(j)[:3] for j in range(plist.get_nfilters())]
            filters = [fid for fid, _, _ in pipeline]
            if not direct or skipped or ds.dtype.byteorder == ">":
                continue
            residual = k in self.predictors
            if filters[:1] == [VDELTA_FILTER_ID]:  # schema 3: the row delta is the pipeline's first filter
                row_bytes = int(np.prod(shape[1:])) * ds.dtype.itemsize
                if ds.dtype.itemsize != 1 or residual or tuple(pipeline[0][2][:1]) != (row_bytes,):
                    continue
                filters, residual = filters[1:], True
            if not filters:
                codec = "none"
            elif filters == [ZSTD_FILTER_ID] and zstd is not None:
                codec = "zstd"
            else:
                continue
            # plain lists: indexing them gives ints without numpy scalar conversions (per-read overhead)
            out[k] = (offsets.tolist(), sizes.tolist(), codec, ds.dtype, shape,
                      int(np.prod(shape)) * ds.dtype.itemsize, residual)
        return out

    def _file(self):
        if self._f is None or self._pid != os.getpid():
            h5py = _h5py()
            _try_hdf5plugin()
            try:
                self._f = h5py.File(self.path, "r")
            except FileNotFoundError:
                raise ShardError(f"{self.path}: shard file not found; fix: rerun the same `synth render` "
                                 "command to render the missing shards") from None
            except Exception as exc:
                raise ShardError(f"{self.path}: cannot open as HDF5 (truncated or corrupt: {exc}); "
                                 + _FIX_RERENDER) from None
            self._pid = os.getpid()
            self._io = None
        return self._f

    def _raw_fd(self) -> int:
        """This process's plain file descriptor for direct chunk reads (reopened after a fork)."""
        if self._fd is None or self._fd_pid != os.getpid():
            try:
                self._fd = os.open(self.path, os.O_RDONLY)
            except OSError as exc:
                raise ShardError(f"{self.path}: cannot open ({exc.strerror or exc}); fix: rerun the same "
                                 "`synth render` command to render the missing shards") from None
            self._fd_pid = os.getpid()
        return self._fd

    def _thread_state(self):
        """Per-thread decoder and reusable buffers (fresh ones per read cost ~2x the decoding here)."""
        st = self._local
        if not hasattr(st, "zstd"):
            st.zstd = _zstandard().ZstdDecompressor() if _zstandard() is not None else None
            st.packed = bytearray(0)   # compressed chunk bytes
            st.scratch = {}            # dataset -> (residual buffer, ping-pong buffer)
        return st

    def _scratch(self, k: str, shape: tuple, dtype) -> tuple[np.ndarray, np.ndarray]:
        st = self._thread_state()
        bufs = st.scratch.get(k)
        if bufs is None:
            bufs = st.scratch[k] = (np.empty(shape, dtype), np.empty(shape, dtype))
        return bufs

    def _images_io(self):
        """Per image dataset: (name, low-level dataset id, file space, memory space, shape, dtype, predictor).

        Cached per open file: a single-sample read then costs one hyperslab selection plus one
        H5Dread per dataset, without h5py's high-level indexing (~3x less overhead per call).
        """
        f = self._file()
        if self._io is None:
            h5s = _h5py().h5s
            io = {}
            for k in self.image_fields:
                ds = f[k]
                shape = tuple(ds.shape[1:])
                io[k] = (k, ds.id, ds.id.get_space(), h5s.create_simple(shape), shape, ds.dtype,
                         self.predictors.get(k))
            self._io = io
        return self._io

    def _read_raw(self, k: str, i: int, out: np.ndarray) -> np.ndarray:
        """Sample ``i`` of stored image dataset ``k`` as stored (predictor not undone), into ``out``.

        Direct path: ``os.preadv`` of the chunk into a reused buffer, zstd-decoded
        straight into ``out`` (the frame's size and checksum are checked).
        """
        table = self._chunks.get(k)
        if table is None:
            _, dsid, fspace, mspace, shape, _, _ = self._images_io()[k]
            fspace.select_hyperslab((i,) + (0,) * len(shape), (1,) + shape)
            dsid.read(mspace, fspace, out)
            return out
        offsets, _, codec, _, _, nbytes, _ = table
        fd = self._fd if self._fd_pid == os.getpid() else self._raw_fd()
        if codec == "none":
            got = os.preadv(fd, [out], offsets[i])
            if got != nbytes:
                raise ValueError(f"chunk of {k!r} cut short ({got} of {nbytes} bytes)")
            return out
        packed = self._packed(k, i, fd)
        target = memoryview(out).cast("B")
        with self._thread_state().zstd.stream_reader(packed) as reader:
            n = reader.readinto(target)
            while 0 < n < nbytes:  # one call fills it in practice
                got = reader.readinto(target[n:])
                if not got:
                    break
                n += got
            extra = reader.read(1)  # reaches the frame end: verifies its checksum
        if n != nbytes or extra:
            raise ValueError(f"chunk of {k!r} decodes to {n if not extra else 'more than'} bytes, expected {nbytes}")
        return out

    def _packed(self, k: str, i: int, fd: int) -> memoryview:
        """The stored (compressed) bytes of sample ``i``'s chunk of ``k``, in a reused per-thread buffer."""
        offsets, sizes = self._chunks[k][:2]
        st = self._thread_state()
        size = int(sizes[i])
        if len(st.packed) < size:
            st.packed = bytearray(max(size, 2 * len(st.packed)))
        packed = memoryview(st.packed)[:size]
        got = os.preadv(fd, [packed], offsets[i])
        if got != size:
            raise ValueError(f"chunk of {k!r} cut short ({got} of {size} bytes)")
        return packed

    def _read_residual(self, k: str, i: int) -> np.ndarray:
        """Sample ``i`` of predicted dataset ``k`` as stored (predictor not undone), read-only.

        Direct zstd path: one-shot decoding of the frame (its content size and checksum
        checked by zstd), ~10 % faster than streaming into a reused buffer for a
        256x256 rgb; the predictor's decode only reads it.
        """
        table = self._chunks.get(k)
        if table is None or table[2] != "zstd":
            residual, _ = self._scratch(k, self._shapes[k], IMAGE_FIELDS[k][0])
            return self._read_raw(k, i, residual)
        nbytes = table[5]
        fd = self._fd if self._fd_pid == os.getpid() else self._raw_fd()
        raw = self._thread_state().zstd.decompress(self._packed(k, i, fd))
        if len(raw) != nbytes:
            raise ValueError(f"chunk of {k!r} decodes to {len(raw)} bytes, expected {nbytes}")
        return np.frombuffer(raw, IMAGE_FIELDS[k][0]).reshape(self._shapes[k])

    def _read_image(self, k: str, i: int) -> np.ndarray:
        """Sample ``i`` of stored image dataset ``k``, decoded, as a fresh writable array."""
        shape, dtype = self._shapes[k], IMAGE_FIELDS[k][0]
        out = np.empty(shape, dtype)
        if self._undo[k]:  # the row delta, the only predictor
            return _vdelta_decode_into(self._read_residual(k, i), out, self._scratch(k, shape, dtype)[1])
        return self._read_raw(k, i, out)

    @property
    def index_range(self) -> tuple[int, int]:
        return int(self.attrs["index_start"]), int(self.attrs["index_stop"])

    @property
    def config(self) -> dict:
        return json.loads(self.attrs["config_json"])

    def __len__(self) -> int:
        return self.n

    def _norm(self, i: int) -> int:
        i = int(i)
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(f"sample {i} out of range for {self.path.name} ({self.n} samples)")
        return i

    def params(self, i: int) -> dict:
        raw = self._params_raw[self._norm(i)]
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)

    def _check_fields(self, fields) -> tuple[str, ...]:
        if fields is None:
            return self.fields
        unknown = [k for k in fields if k not in self.fields]
        if unknown:
            raise KeyError(f"{self.path.name} has no image dataset {unknown[0]!r} (it has {', '.join(self.fields)})")
        return tuple(fields)

    def sample(self, i: int, fields: tuple[str, ...] | None = None, params: bool = True) -> dict:
        """Sample ``i``: the image ``fields`` (default: all, see the class doc), every label, and
        ``params`` (parsed JSON, ~10-20 us) when ``params``."""
        i = self._norm(i)
        fields = self._check_fields(fields)
        out = {}
        try:
            for k in fields:
                if k == "mask" and self.mask_from_depth:
                    depth = out["depth"] if "depth" in out else self._read_image("depth", i)
                    out[k] = (depth > 0).view(np.uint8)
                else:
                    out[k] = self._read_image(k, i)
        except Exception as exc:
            raise ShardError(f"{self.path}: cannot read sample {i} ({type(exc).__name__}: {exc}); "
                             + _FIX_RERENDER) from None
        for k, v in self.labels.items():
            out[k] = v[i]
        if params:
            out["params"] = self.params(i)
        return out

    def __getitem__(self, i: int) -> dict:
        return self.sample(i)

    def read_batch(self, indices, fields: tuple[str, ...] | None = None, params: bool = False) -> dict:
        """Stacked arrays for ``indices`` (a slice, a range or a list of ints) in the given order.

        Each image field arrives as one (len(indices), ...) array, decoded sample
        by sample into it (the predictor undone while each sample is in cache).
        ``fields`` limits the image fields read (a derived mask reads depth);
        ``params=True`` adds a list of params dicts.
        """
        if isinstance(indices, slice):
            idx = np.arange(self.n)[indices]
        else:
            idx = np.asarray(list(indices) if isinstance(indices, range) else indices, dtype=np.int64)
        idx = np.where(idx < 0, idx + self.n, idx)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n):
            raise IndexError(f"indices out of range for {self.path.name} ({self.n} samples)")
        fields = self._check_fields(fields)
        out = {}
        try:
            for k in fields:
                if k == "mask" and self.mask_from_depth:
                    continue
                shape = self._shape_of(k)
                arr = np.empty((idx.size,) + shape, IMAGE_FIELDS[k][0])
                vdelta = self._undo[k]
                if k in self._chunks or idx.size == 0 or not np.all(np.diff(idx) == 1):
                    scratch = self._scratch(k, shape, arr.dtype)[1] if vdelta else None
                    for j, i in enumerate(idx):
                        if vdelta:  # per sample, while it is in cache (a whole-batch pass is memory-bound)
                            _vdelta_decode_into(self._read_residual(k, int(i)), arr[j], scratch)
                        else:
                            self._read_raw(k, int(i), arr[j])
                else:  # contiguous through HDF5: one hyperslab read
                    _, dsid, fspace, _, shape, _, _ = self._images_io()[k]
                    fspace.select_hyperslab((int(idx[0]),) + (0,) * len(shape), (idx.size,) + shape)
                    dsid.read(_h5py().h5s.create_simple(arr.shape), fspace, arr)
                    if vdelta:
                        for a in arr:
                            vdelta_decode(a, axis=0)
                out[k] = arr
            if "mask" in fields and self.mask_from_depth:
                depth = out["depth"] if "depth" in out else self.read_batch(idx, fields=("depth",))["depth"]
                out["mask"] = (depth > 0).view(np.uint8)
        except Exception as exc:
            raise ShardError(f"{self.path}: cannot read samples ({type(exc).__name__}: {exc}); "
                             + _FIX_RERENDER) from None
        out = {k: out[k] for k in fields}
        for k, v in self.labels.items():
            out[k] = v[idx]
        if params:
            out["params"] = [self.params(int(i)) for i in idx]
        return out

    def _shape_of(self, k: str) -> tuple[int, ...]:
        return self._shapes[k]

    def columns(self) -> dict[str, np.ndarray]:
        """The params_columns group as arrays (NaN where a sample lacked the key)."""
        f = self._file()
        g = f.get(PARAMS_COLUMNS)
        return {k: g[k][()] for k in g} if g is not None else {}

    def describe(self) -> dict:
        """Schema of the file: dataset -> (shape, dtype, chunks, compression, shuffle).

        ``compression``: h5py's name for a built-in filter, else the HDF5 filter pipeline in order,
        e.g. ``"synth-vdelta(437) > zstd(32015)"``; a schema 1-2 row delta outside it is named too.
        """
        f = self._file()
        out = {}
        names = {VDELTA_FILTER_ID: "synth-vdelta", ZSTD_FILTER_ID: "zstd"}

        def visit(name, obj):
            if hasattr(obj, "dtype"):
                comp = obj.compression
                if comp not in ("gzip", "lzf", "szip") and obj.chunks:  # h5py calls plugin filters "unknown"
                    plist = obj.id.get_create_plist()
                    ids = [plist.get_filter(j)[0] for j in range(plist.get_nfilters())]
                    comp = " > ".join(f"{names.get(i, 'filter')}({i})" for i in ids) or None
                if name in self.predictors:
                    comp = f"{comp}, {self.predictors[name]} applied outside the filters (not portable)"
                out[name] = {"shape": list(obj.shape), "dtype": str(obj.dtype),
                             "chunks": list(obj.chunks) if obj.chunks else None,
                             "compression": comp, "shuffle": bool(obj.shuffle)}
        f.visititems(visit)
        if self.mask_from_depth:  # not stored: computed from depth on read
            out["mask"] = {"shape": [self.n, *self.shape], "dtype": "uint8", "chunks": None,
                           "compression": f"none, derived as {MASK_FROM_DEPTH} on read", "shuffle": False}
        return out

    def close(self) -> None:
        if self._f is not None:
            try:
                self._f.close()
            except Exception:
                pass
        self._f = None
        self._io = None
        if self._fd is not None and self._fd_pid == os.getpid():
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = None
        self._fd_pid = None

    def __getstate__(self):
        d = dict(self.__dict__)
        d.update(_f=None, _pid=None, _io=None, _fd=None, _fd_pid=None, _local=None)
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self._local = threading.local()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- manifest ---------------------------------------------------------------------------------

def manifest_path(folder: str | Path) -> Path:
    return Path(folder) / MANIFEST_NAME


def read_manifest(folder: str | Path) -> dict | None:
    """The run's manifest, or None when the folder has none; ShardError when it is unreadable."""
    p = manifest_path(folder)
    if not p.is_file():
        return None
    try:
        m = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise ShardError(f"{p}: unreadable manifest ({exc}); fix: restore it, or move the folder aside and "
                         "render into a new --out") from None
    if not isinstance(m, dict) or m.get("format") != MANIFEST_FORMAT:
        raise ShardError(f"{p}: not a synth run manifest; fix: use a folder written by `synth render`")
    _check_shard_entries(p, m)
    return m


def _check_shard_entries(p: Path, m: dict) -> None:
    """ShardError naming the entry unless every listed shard is a plain ``shard-NNNNN.h5`` of the manifest's own
    folder with whole-number counts: a manifest never makes a reader or the runner touch another file."""
    shards = m.get("shards", [])
    if not isinstance(shards, list):
        raise ShardError(f"{p}: 'shards' is not a list; fix: restore the manifest `synth render` wrote, or render "
                         "into a new --out")
    for k, e in enumerate(shards):
        name = e.get("file") if isinstance(e, dict) else None
        if not isinstance(name, str) or not SHARD_NAME.fullmatch(name):
            raise ShardError(f"{p}: shards[{k}].file {name!r} is not a shard of this folder (shard-NNNNN.h5); "
                             "refused, nothing read or moved; fix: restore the manifest `synth render` wrote, or "
                             "render into a new --out")
        bad = [key for key in ("start", "stop", "count") if type(e.get(key)) is not int or e[key] < 0]
        if bad:
            raise ShardError(f"{p}: shards[{k}].{bad[0]} is {e.get(bad[0])!r}, not a whole number >= 0; fix: "
                             "restore the manifest `synth render` wrote, or render into a new --out")


def write_manifest(folder: str | Path, manifest: dict) -> Path:
    """Write manifest.json atomically (temporary file + fsync + os.replace)."""
    p = manifest_path(folder)
    tmp = p.with_name(f"{p.name}{TMP_MARKER}{uuid.uuid4().hex[:12]}")
    manifest = dict(manifest, updated=now_iso())
    try:
        with open(tmp, "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    _fsync_dir(p.parent)
    return p


# --- dataset over a run folder ----------------------------------------------------------------

class ShardDataset:
    """All shards listed in a run's manifest as one indexable dataset.

    ``len(ds)``, ``ds[i]`` (global position i, in manifest order = sample index
    order), ``ds.read_batch(positions)``, ``ds.shards`` (ShardReader list),
    ``ds.manifest``. Shards are opened (and validated) lazily on first use;
    :meth:`validate` opens them all.
    """

    def __init__(self, folder: str | Path, manifest: dict):
        self.folder = Path(folder)
        self.manifest = manifest
        self.entries = sorted(manifest.get("shards", []), key=lambda e: e["start"])
        self._readers: dict[int, ShardReader] = {}
        self.offsets = np.cumsum([0] + [int(e["count"]) for e in self.entries])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def reader(self, k: int) -> ShardReader:
        r = self._readers.get(k)
        if r is None:
            e = self.entries[k]
            r = ShardReader(self.folder / e["file"])
            if len(r) != int(e["count"]) or r.index_range != (int(e["start"]), int(e["stop"])):
                raise ShardError(f"{r.path}: holds {len(r)} samples {r.index_range}, the manifest says "
                                 f"{e['count']} ({e['start']}, {e['stop']}); " + _FIX_RERENDER)
            self._readers[k] = r
        return r

    @property
    def shards(self) -> list[ShardReader]:
        return [self.reader(k) for k in range(len(self.entries))]

    def validate(self, checksums: bool = False) -> None:
        """Open every shard (and compare sha256 with the manifest when ``checksums``)."""
        for k, e in enumerate(self.entries):
            self.reader(k)
            if checksums and e.get("sha256") and sha256_file(self.folder / e["file"]) != e["sha256"]:
                raise ShardError(f"{self.folder / e['file']}: sha256 differs from the manifest; " + _FIX_RERENDER)

    def locate(self, i: int) -> tuple[int, int]:
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"sample {i} out of range ({len(self)} samples)")
        k = bisect_right(self.offsets, i) - 1
        return k, i - int(self.offsets[k])

    def __getitem__(self, i: int) -> dict:
        k, j = self.locate(i)
        return self.reader(k)[j]

    def sample(self, i: int, fields: tuple[str, ...] | None = None, params: bool = True) -> dict:
        """Global position ``i`` through :meth:`ShardReader.sample` (a subset of image fields, params optional)."""
        k, j = self.locate(i)
        return self.reader(k).sample(j, fields=fields, params=params)

    def read_batch(self, positions, **kw) -> dict:
        """Stacked arrays for global positions (grouped by shard, returned in the given order)."""
        pos = np.asarray(list(positions), dtype=np.int64)
        loc = [self.locate(p) for p in pos]
        parts, order = [], []
        for k in sorted({k for k, _ in loc}):
            sel = [n for n, (kk, _) in enumerate(loc) if kk == k]
            parts.append(self.reader(k).read_batch([loc[n][1] for n in sel], **kw))
            order.extend(sel)
        out = {}
        inv = np.argsort(np.asarray(order))
        for key in parts[0]:
            if key == "params":
                flat = [p for part in parts for p in part[key]]
                out[key] = [flat[n] for n in inv]
            else:
                out[key] = np.concatenate([p[key] for p in parts])[inv]
        return out

    def close(self) -> None:
        for r in self._readers.values():
            r.close()


def open_dataset(folder: str | Path, require_complete: bool = False) -> ShardDataset:
    """Open a run folder through its manifest.json (only the shards listed there).

    require_complete: raise when the run has not finished (manifest ``complete``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ShardError(f"{folder}: no such folder; fix: pass the --out folder of a `synth render` run")
    m = read_manifest(folder)
    if m is None:
        raise ShardError(f"{folder}: no {MANIFEST_NAME}; fix: pass the --out folder of a `synth render` run")
    if int(m.get("schema_version", -1)) not in READABLE_VERSIONS:
        raise ShardError(f"{manifest_path(folder)}: schema version {m.get('schema_version')}, this code reads "
                         f"{' and '.join(map(str, READABLE_VERSIONS))}; fix: use the code version recorded in the "
                         "manifest or re-render")
    if require_complete and not m.get("complete"):
        done = sum(int(e["count"]) for e in m.get("shards", []))
        raise ShardError(f"{folder}: the run is incomplete ({done} of {m.get('n')} samples); "
                         "fix: rerun the same `synth render` command to finish it")
    return ShardDataset(folder, m)
