"""``synth migrate DIR``: rewrite a run's older shards in the current schema, in place, shard by shard.

Schema 1-2 -> 3 (synth.shards, module doc): rgb's row delta, applied before the zstd filter and
marked only by the dataset attribute ``predictor = "vdelta"``, becomes the HDF5 filter
synth-vdelta (437) ahead of zstd. The pipeline [437, zstd] produces exactly the stored chunks, so
they are copied, not recompressed (a chunk whose zstd step was skipped keeps that flag). Every other
dataset is recreated with its own filters and its stored chunks copied unchanged (HDF5's object copy
cannot lower a dataset's layout version to the 1.10 file format of synth.shards.LIBVER), groups and
attributes too; the file attributes get ``schema_version`` = 3, ``mask_source`` (schema 1 always
stores the mask) and ``migrated_from`` = the old version.

Safety, per shard: the new file is written beside the old one (``*.migrating-<id>``), verified --
every sample's images, labels and params read through HDF5's own filter pipeline, as outside readers
will, equal to the old shard as this project's reader decodes it -- fsynced, then renamed over the
old one; the manifest's record (bytes, sha256, ``migrated_from``) follows at once. Interrupted runs
are resumed by running it again: migrated shards are skipped (one renamed before its record was
written is re-recorded), stale temporary files removed. Refused while temporary files of a
`synth render` are in the folder, or while another ``synth migrate`` holds it.
"""
from __future__ import annotations

import fcntl
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synth import h5plugin
from synth.provenance import sha256_file
from synth.shards import (LIBVER, MANIFEST_NAME, MASK_SOURCE_ATTR, MASK_STORED, PREDICTOR_ATTR, SCHEMA_VERSION,
                          TMP_MARKER, ZSTD_FILTER_ID, ShardError, ShardReader, move_into_place, read_manifest,
                          removed_on_error, vdelta_dcpl, write_manifest)

#: Marker of a migration's temporary files (not TMP_MARKER: `synth render` owns those).
MIGRATING_MARKER = ".migrating-"
#: File attribute of a migrated shard: the schema version it was written in.
MIGRATED_FROM_ATTR = "migrated_from"
#: Samples compared per batch while verifying.
_VERIFY_BATCH = 64


@dataclass
class MigrateResult:
    """What :func:`migrate_run` did: file names migrated now, already current, and re-recorded."""

    folder: Path
    migrated: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    rerecorded: list[str] = field(default_factory=list)
    bytes_before: int = 0
    bytes_after: int = 0
    seconds: float = 0.0


def _h5py():
    import h5py

    import hdf5plugin  # noqa: F401  (the zstd filter)

    return h5py


def shard_version(path: Path) -> tuple[int, bool]:
    """(schema_version, migrated) of a shard file, from its attributes only; ShardError when unreadable."""
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            return int(f.attrs.get("schema_version", -1)), MIGRATED_FROM_ATTR in f.attrs
    except FileNotFoundError:
        raise ShardError(f"{path}: listed in {MANIFEST_NAME} but missing; fix: rerun the same `synth render` "
                         "command to render it, then migrate") from None
    except OSError as exc:
        raise ShardError(f"{path}: cannot open as HDF5 ({exc}); fix: rerun the same `synth render` command to "
                         "re-render it, then migrate") from None


def _copy_chunks(src, dst, mask_shift: int = 0) -> None:
    """Copy every stored chunk of ``src`` into ``dst`` unchanged (filter masks shifted by ``mask_shift``)."""
    offsets = []
    src.id.chunk_iter(lambda info: offsets.append(info.chunk_offset))
    for offset in offsets:
        mask, data = src.id.read_direct_chunk(offset)
        dst.id.write_direct_chunk(offset, data, filter_mask=mask << mask_shift)
    if dst.id.get_num_chunks() != src.id.get_num_chunks():
        raise ShardError(f"{src.file.filename}: dataset {src.name!r}: {dst.id.get_num_chunks()} of "
                         f"{src.id.get_num_chunks()} chunks copied; fix: rerun `synth migrate`")


def _copy_dataset(src, group, name: str) -> None:
    """Recreate ``src`` in ``group``: same shape, type, chunks and filters; chunks copied unchanged."""
    if src.chunks is None:
        dst = group.create_dataset(name, data=src[()], dtype=src.dtype)
    else:
        dst = group.create_dataset(name, shape=src.shape, dtype=src.dtype, chunks=src.chunks, maxshape=src.maxshape,
                                   dcpl=src.id.get_create_plist())
        _copy_chunks(src, dst)
    for k, v in src.attrs.items():
        dst.attrs[k] = v


def _copy_tree(src, dst) -> None:
    """Copy the groups and datasets under ``src`` into ``dst`` (a schema 1-2 rgb as the row delta filter)."""
    h5py = _h5py()
    for name, obj in src.items():
        if isinstance(obj, h5py.Group):
            g = dst.create_group(name)
            for k, v in obj.attrs.items():
                g.attrs[k] = v
            _copy_tree(obj, g)
        elif PREDICTOR_ATTR in obj.attrs:
            _copy_predicted(obj, dst, name)
        else:
            _copy_dataset(obj, dst, name)


def _copy_predicted(src, dst_file, name: str) -> None:
    """Copy schema 1-2 dataset ``src`` (row delta outside the filters, then zstd) as [437, zstd], chunk bytes kept."""
    _h5py()  # fail here, naming the fix, when h5py is missing
    plist = src.id.get_create_plist()
    pipeline = [plist.get_filter(j) for j in range(plist.get_nfilters())]
    shape = tuple(src.shape[1:])
    if (src.attrs.get(PREDICTOR_ATTR) not in ("vdelta", b"vdelta") or src.dtype != np.uint8
            or src.chunks != (1,) + shape or [p[0] for p in pipeline] != [ZSTD_FILTER_ID]):
        raise ShardError(f"{src.file.filename}: dataset {name!r} has a layout this migration does not know "
                         f"(chunks {src.chunks}, filters {[p[0] for p in pipeline]}, dtype {src.dtype}); "
                         "fix: re-render the run with this code")
    dst = dst_file.create_dataset(name, shape=src.shape, dtype=src.dtype, chunks=src.chunks,
                                  dcpl=vdelta_dcpl(shape, src.dtype), compression=ZSTD_FILTER_ID,
                                  compression_opts=tuple(pipeline[0][2]))
    for k, v in src.attrs.items():
        if k != PREDICTOR_ATTR:
            dst.attrs[k] = v
    _copy_chunks(src, dst, mask_shift=1)  # the old pipeline's filter 0 (zstd) is the new pipeline's filter 1


def _same(a, b) -> bool:
    if isinstance(a, list):
        return a == b
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


def _verify(old: ShardReader, new_path: Path) -> None:
    """Every sample of ``new_path``, read through HDF5's filters, equals ``old`` as this project decodes it."""
    new = ShardReader(new_path, direct=False)  # HDF5's pipeline: the filter undoes the row delta
    try:
        problem = None
        if new.version != SCHEMA_VERSION or not new.portable or len(new) != len(old):
            problem = f"schema {new.version}, portable {new.portable}, {len(new)} samples"
        elif set(new.fields) != set(old.fields):
            problem = f"image fields {new.fields} vs {old.fields}"
        else:
            for a in range(0, len(old), _VERIFY_BATCH):
                idx = range(a, min(a + _VERIFY_BATCH, len(old)))
                want, got = old.read_batch(idx, params=True), new.read_batch(idx, params=True)
                bad = [k for k in want if k not in got or not _same(want[k], got[k])]
                if bad:
                    problem = f"{bad[0]} differs in samples {idx.start}..{idx.stop - 1}"
                    break
            cols_old, cols_new = old.columns(), new.columns()
            if problem is None and (set(cols_old) != set(cols_new)
                                    or not all(_same(cols_old[k], cols_new[k]) for k in cols_old)):
                problem = "params_columns differ"
        if problem is not None:
            raise ShardError(f"{old.path}: the migrated copy does not verify ({problem}); the shard was left as it "
                             "was; fix: report this, or re-render the run with this code")
    finally:
        new.close()


def migrate_shard(path: str | Path) -> dict | None:
    """Rewrite one shard file in the current schema (atomic, verified); None when it already is.

    Returns ``{"bytes", "sha256", "migrated_from"}`` of the new file.
    """
    path = Path(path)
    h5py = _h5py()
    if not h5plugin.available():
        raise ShardError(f"{path}: migrating needs the synth-vdelta HDF5 filter (id {h5plugin.VDELTA_FILTER_ID}) to "
                         "verify the result, and it is not built; fix: rerun `bash setup.sh` (or `pip install -e .` "
                         "with a C compiler)")
    old = ShardReader(path)
    try:
        if old.version == SCHEMA_VERSION:
            return None
        tmp = path.with_name(f"{path.name}{MIGRATING_MARKER}{uuid.uuid4().hex[:12]}")
        with removed_on_error(tmp):
            with h5py.File(path, "r") as src, h5py.File(tmp, "w", libver=LIBVER) as dst:
                _copy_tree(src, dst)
                attrs = {k: v for k, v in src.attrs.items() if k != "complete"}
                attrs.update(schema_version=SCHEMA_VERSION, **{MIGRATED_FROM_ATTR: old.version})
                if MASK_SOURCE_ATTR not in attrs:  # schema 1: the mask is always a dataset
                    attrs[MASK_SOURCE_ATTR] = MASK_STORED
                for k, v in attrs.items():
                    dst.attrs[k] = v
                dst.attrs["complete"] = True  # last, as the writer does
            _verify(old, tmp)
            old.close()
            rec = move_into_place(tmp, path)
        return {**rec, MIGRATED_FROM_ATTR: old.version}
    finally:
        old.close()


def _lock(folder: Path) -> int:
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ShardError(f"{folder}: another `synth migrate` is working on it; fix: wait for it to finish") from None
    except OSError:  # a filesystem without locks (some network mounts): run one migrate per folder by hand
        pass
    return fd


def migrate_run(folder: str | Path, log=print) -> MigrateResult:
    """Migrate every shard listed in ``folder``'s manifest to the current schema (see the module doc)."""
    folder = Path(folder)
    t0 = time.perf_counter()
    if not folder.is_dir():
        raise ShardError(f"{folder}: no such folder; fix: pass the --out folder of a `synth render` run")
    manifest = read_manifest(folder)
    if manifest is None:
        raise ShardError(f"{folder}: no {MANIFEST_NAME}; fix: pass the --out folder of a `synth render` run")
    lock = _lock(folder)
    try:
        busy = sorted(p.name for p in folder.iterdir() if TMP_MARKER in p.name)
        if busy:
            raise ShardError(f"{folder}: holds temporary files of a `synth render` ({', '.join(busy[:3])}): one is "
                             "writing into it or was killed; fix: let it finish, or rerun the same `synth render` "
                             "command (it finishes the run and removes them), then migrate")
        for p in folder.iterdir():
            if MIGRATING_MARKER in p.name:  # an interrupted migration's copy; the original is intact
                p.unlink()
                log(f"removed stale temporary file {p.name}")
        res = MigrateResult(folder)
        entries = sorted(manifest.get("shards", []), key=lambda e: e["start"])
        for e in entries:
            path = folder / e["file"]
            version, migrated = shard_version(path)
            if version == SCHEMA_VERSION:
                if migrated and MIGRATED_FROM_ATTR not in e:  # renamed into place, record not yet written
                    with ShardReader(path) as r:
                        e.update(bytes=path.stat().st_size, sha256=sha256_file(path),
                                 **{MIGRATED_FROM_ATTR: int(r.attrs[MIGRATED_FROM_ATTR])})
                    write_manifest(folder, manifest)
                    res.rerecorded.append(e["file"])
                    log(f"{e['file']}: migrated earlier, manifest record updated")
                else:
                    res.current.append(e["file"])
                continue
            before = path.stat().st_size
            rec = migrate_shard(path)
            e.update(rec)
            write_manifest(folder, manifest)
            res.migrated.append(e["file"])
            res.bytes_before += before
            res.bytes_after += rec["bytes"]
            log(f"{e['file']}: schema {version} -> {SCHEMA_VERSION}, verified ({before} -> {rec['bytes']} bytes)")
        if int(manifest.get("schema_version", -1)) != SCHEMA_VERSION:
            manifest["schema_version"] = SCHEMA_VERSION
            write_manifest(folder, manifest)
        res.seconds = time.perf_counter() - t0
        return res
    finally:
        os.close(lock)
