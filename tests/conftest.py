"""Shared test fixtures: where the real benchmark samples live, and the repo root."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REALDATA = Path(os.environ.get("HEADPOSE_REALDATA", REPO.parent / "shared" / "realdata"))


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The ../shared/realdata folder; tests using it skip cleanly when it is absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"real benchmark samples not found at {REALDATA} (set HEADPOSE_REALDATA)")
    return REALDATA


#: the rendered training set shared by the training tests (real CC0 heads, clean preset).
RENDERED_N = 512
RENDERED_OVERRIDES = ("output.width=128", "output.height=128", "heads.pool_size=40", "pose.preset=paper")


@pytest.fixture(scope="session")
def rendered_set(tmp_path_factory) -> Path:
    """A folder of ``RENDERED_N`` rendered samples (shards + manifest), made once per test session.

    128x128 crops of real heads, ``clean`` preset (no blur/noise/occlusion), the
    coarse-to-fine paper's pose ranges, seed 0. Indices 0..383 are meant for
    training and 384..511 for validation (``train.data.synth_shards`` reads them).
    """
    from synth.config import load_config
    from synth.runner import render_run

    out = tmp_path_factory.mktemp("rendered") / "set"
    cfg = load_config(REPO / "pipeline.yaml", preset="clean", overrides=list(RENDERED_OVERRIDES))
    render_run(cfg, out, RENDERED_N, shard_size=128, workers=1, progress=False, log=lambda msg: None)
    return out
