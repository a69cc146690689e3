"""Shared test fixtures: where the real benchmark samples live, and the repo root."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

# before anything imports torch: see train/__init__.py (busy-waiting OpenMP threads collapse under load)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("HEADPOSE_REALDATA", REPO.parent / "shared" / "realdata"))


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The ../shared/realdata folder; tests using it skip cleanly when it is absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"real benchmark samples not found at {REALDATA} (set HEADPOSE_REALDATA)")
    return REALDATA



#: the rendered sets shared by the training tests (real CC0 heads, clean preset, 128x128 crops).
RENDERED_OVERRIDES = ("output.width=128", "output.height=128", "heads.pool_size=40", "pose.preset=paper")


@dataclass(frozen=True)
class RenderedSet:
    """Two run folders (shards + manifest): ``train`` (384 samples, seed 0) and ``val`` (128 samples, seed 1)."""

    train: Path
    val: Path


@pytest.fixture(scope="session")
def rendered_set(tmp_path_factory) -> RenderedSet:
    """Rendered once per test session: 128x128 crops of real heads, ``clean`` preset (no blur, noise
    or occlusion), the coarse-to-fine paper's pose ranges. Read with
    ``train.data.synth_shards.SynthShardReader(path)`` or the mix spec ``synth:PATH``.
    """
    from synth.config import load_config
    from synth.runner import render_run

    root = tmp_path_factory.mktemp("rendered")
    out = {}
    for name, n, seed in (("train", 384, 0), ("val", 128, 1)):
        cfg = load_config(REPO / "pipeline.yaml", preset="clean", overrides=[*RENDERED_OVERRIDES, f"seed={seed}"])
        out[name] = root / name
        render_run(cfg, out[name], n, shard_size=128, workers=1, progress=False, log=lambda msg: None)
    return RenderedSet(**out)


def check_folder(out: Path, n: int) -> dict:
    """A finished run folder: complete, checksums right, every index exactly once, no temporary files;
    returns the manifest (the runner and cluster tests share this check)."""
    import numpy as np

    from synth.shards import open_dataset, read_manifest

    m = read_manifest(out)
    assert m["complete"] and sum(r["count"] for r in m["shards"]) == n
    ds = open_dataset(out, require_complete=True)
    ds.validate(checksums=True)
    idx = np.concatenate([r.labels["index"] for r in ds.shards])
    ds.close()
    assert sorted(idx.tolist()) == list(range(n))          # every index exactly once
    assert not [p.name for p in out.iterdir() if ".tmp-" in p.name]
    return m
