"""bench/preset_ratio.py runs end to end and prints a ratio that follows from the CPU times it prints."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import REPO


@pytest.mark.slow
def test_preset_ratio_prints_the_interleaved_and_run_ratios():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([sys.executable, "bench/preset_ratio.py", "--n", "4", "--warm", "2", "--block", "2",
                           "--pool", "2", "--size", "64", "--runs", "1", "--run-n", "8", "--shard-size", "4"],
                          check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    m = re.search(r"faces ([\d.]+) ms, default ([\d.]+) ms a sample; throughput ratio ([\d.]+) "
                  r"\(per block of 2: ([\d.]+), ([\d.]+)\)", done.stdout)
    assert m, done.stdout
    faces_ms, default_ms, ratio = (float(m.group(k)) for k in (1, 2, 3))
    assert faces_ms > 0 and default_ms > 0
    assert ratio == pytest.approx(default_ms / faces_ms, abs=0.002)
    assert re.search(r"run round 1: faces \d+, default \d+ samples/s steady with 2 workers; ratio [\d.]+", done.stdout)
    assert "a ratio of 0.563" in done.stdout
