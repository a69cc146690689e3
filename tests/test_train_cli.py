"""`train fit` output: no validation score without --val, and epochs counted from 1 on resume too."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO
from synth.config import load_config
from synth.runner import render_run


def _fit(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "train.cli", "fit", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def test_fit_without_validation_reports_no_score_and_counts_epochs_from_one(tmp_path):
    cfg = load_config(None, overrides=["heads.pool_size=2", "output.width=64", "output.height=64"])
    render_run(cfg, tmp_path / "data", 16, shard_size=16, workers=1, maker="synth.runner:sphere_sample_maker",
               progress=False, log=lambda m: None)
    args = ("--model", "ssrnet_md", "--epochs", "2", "--batch-size", "8", "--data", f"synth:{tmp_path / 'data'}",
            "--out", str(tmp_path / "run"))
    r = _fit(*args)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["best_epoch"] == 2 and summary["best_val_mae"] is None and "report" not in summary
    assert "epoch 2/2" in r.stderr
    again = _fit(*args)                                   # finished: resumes after the last epoch, trains nothing
    assert again.returncode == 0, again.stderr
    assert "resuming after epoch 2" in again.stderr and "epoch 1/2" not in again.stderr
    assert json.loads(again.stdout) == summary
