"""Reading a shard: :class:`ShardReader` validates the file on open and decodes samples and batches."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from synth.shards.codec import _h5py, _try_hdf5plugin, _vdelta_decode_into, _zstandard, vdelta_decode
from synth.shards.schema import (_FIX_PLUGIN, _FIX_RERENDER, _FIX_VDELTA, FORMAT, IMAGE_FIELDS, LABEL_FIELDS,
                                 MASK_FROM_DEPTH, MASK_SOURCE_ATTR, MASK_STORED, PARAMS_COLUMNS, PARAMS_FIELD,
                                 PREDICTOR_ATTR, PREDICTORS, READABLE_VERSIONS, REQUIRED_ATTRS, VDELTA_FILTER_ID,
                                 ZSTD_FILTER_ID, ShardError)


def _text(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


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
