"""A run folder: its ``manifest.json`` (read, checked, written atomically) and :class:`ShardDataset`,
every shard it lists as one indexable dataset (:func:`open_dataset`)."""
from __future__ import annotations

import json
import os
import uuid
from bisect import bisect_right
from pathlib import Path

import numpy as np

from synth.provenance import now_iso, sha256_file
from synth.shards.reader import ShardReader
from synth.shards.schema import (_FIX_RERENDER, MANIFEST_FORMAT, MANIFEST_NAME, READABLE_VERSIONS, SHARD_NAME,
                                 TMP_MARKER, ShardError)
from synth.shards.writer import _fsync_dir, removed_on_error


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
    with removed_on_error(tmp):
        with open(tmp, "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    _fsync_dir(p.parent)
    return p


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
