"""Thin adapter from our HDF5 shards (``synth.shards``) to :class:`Sample`.

The schema lives in ``synth.shards`` alone; this module only relies on
``synth.shards.ShardReader(path)`` (one ``.h5`` file) and
``synth.shards.open_dataset(folder)`` (every shard of a run), both indexable
with ``__len__`` and ``__getitem__(i) -> dict`` holding ``rgb`` (H, W, 3)
uint8, ``depth`` (H, W) uint16 mm, ``mask``, ``rotation`` (3, 3), ``euler``
(3,) pitch/yaw/roll deg, ``translation`` (3,) mm, ``bbox`` (4,) x0,y0,x1,y1,
``landmarks`` (68, 2), ``K`` (3, 3). When the reader also offers
``sample(i, fields, params)`` (the real ones do), only rgb, depth and mask
are decoded and the per-sample params JSON is not parsed (~0.03 ms of a
~0.3-0.5 ms read here; a ``depth_noisy`` dataset is skipped too).
``synth.shards`` is imported lazily, so this module imports even where the
synthesis side is not installed.
"""
from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import numpy as np

from .errors import DatasetError
from .sample import Sample


def _shards_module():
    try:
        return importlib.import_module("synth.shards")
    except ImportError as exc:
        raise DatasetError(f"reading synthetic shards needs synth.shards, which failed to import: {exc}") from exc


#: pitch (deg) by which each older head-frame version's zero lies from the current one's
_FRAME_GAP_DEG = {1: 15, 2: 5}


def _warn_old_head_frame(path: Path, manifest: dict | None) -> None:
    """Warn when a run folder predates the current head frame (its pitch labels sit 5-15 deg off those
    of newer renders and of 300W-LP/AFLW2000; synth/heads/head_frame.py)."""
    if not isinstance(manifest, dict) or "config" not in manifest:
        return
    version = int(manifest.get("head_frame_version", 1))
    if version in _FRAME_GAP_DEG:
        warnings.warn(f"{path}: rendered with head-frame version {version}, whose pitch zero lies "
                      f"{_FRAME_GAP_DEG[version]} deg from 300W-LP/AFLW2000's and from newer renders'; fix: "
                      "re-render it before mixing or comparing with real data", stacklevel=3)


class SynthShardReader:
    """Indexable reader of one shard file (``*.h5``) or a run folder of shards.

    ``reader[i]`` -> Sample(image = rgb, depth (registered to the image),
    rotation, euler (as stored), bbox, landmarks (None when absent or all
    NaN), translation, K, source "synth", path ``FILE#i`` or ``FOLDER#i``).
    """

    source = "synth"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.exists():
            raise DatasetError(f"synthetic shard path {self.path} does not exist", self.path)
        mod = _shards_module()
        try:
            self._data = mod.open_dataset(self.path) if self.path.is_dir() else mod.ShardReader(self.path)
            if hasattr(self._data, "validate"):   # open every shard now: a damaged one stops a fit before it starts
                self._data.validate()
        except DatasetError:
            raise
        except Exception as exc:
            raise DatasetError(f"cannot open synthetic shards at {self.path}: {exc}", self.path) from exc
        if len(self._data) == 0:
            raise DatasetError(f"no samples in synthetic shards at {self.path}", self.path)
        _warn_old_head_frame(self.path, getattr(self._data, "manifest", None))
        # synth.shards readers offer sample(i, fields, params); stand-ins with only __getitem__ work too
        self._read = getattr(self._data, "sample", None)
        self._fields = ("rgb", "depth", "mask")

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, i: int) -> Sample:
        # only what a Sample holds: no params JSON, no depth_noisy (the shard reader's fast path)
        d = self._read(i, fields=self._fields, params=False) if self._read is not None else self._data[i]
        lm = d.get("landmarks")
        if lm is not None:
            lm = np.asarray(lm, dtype=np.float64)
            if lm.size == 0 or not np.isfinite(lm).any():
                lm = None
        depth = d.get("depth")
        return Sample(
            image=np.asarray(d["rgb"], dtype=np.uint8), rotation=d["rotation"], euler=d["euler"], bbox=d["bbox"],
            landmarks=lm, depth=None if depth is None else np.asarray(depth, dtype=np.uint16),
            translation=d.get("translation"), K=d.get("K"), source=self.source, path=f"{self.path}#{i}",
            meta={k: d[k] for k in ("mask", "seed", "identity") if k in d},
        )
