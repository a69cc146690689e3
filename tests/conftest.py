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
