"""bench/gpu_check.py runs end to end: on a machine without a GPU its GPU parts say "skipped" and it exits 0."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO

PARTS = ("probe", "data", "raster", "pipeline", "agreement", "train", "raytrain", "cycles")


@pytest.mark.slow
def test_gpu_check_runs_its_cpu_parts_and_skips_the_gpu_ones(tmp_path):
    import torch

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([sys.executable, "bench/gpu_check.py", "--quick", "--models", "ssrnet_md", "--steps", "30",
                           "--json", str(tmp_path / "gc.json")], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for part in PARTS:
        assert f"[{part}] " in done.stdout, part
    if not torch.cuda.is_available():
        for part in ("train", "raytrain"):
            assert f"[{part}] skipped: no CUDA device" in done.stdout
        assert "[pipeline] skipped: no EGL GPU device" in done.stdout or "[pipeline] ok" in done.stdout
        assert "OSMesa, 1 process: " in done.stdout                      # the CPU parts ran
        assert "rgb frames byte-identical" in done.stdout
    assert (tmp_path / "gc.json").is_file()
