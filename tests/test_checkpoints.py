"""Checkpoints are read without unpickling any Python object: a crafted .pt is refused and runs nothing."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO
from train.checkpoints import RESUME_KEYS, load_model, read_checkpoint, write_checkpoint
from train.errors import CheckpointError
from train.models import create_model

MODEL = "ssrnet_md"


class _RunsCode:
    """Pickles as a call of os.system: what a crafted checkpoint from a stranger could hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _state(**extra) -> dict:
    model = create_model(MODEL)
    return {"format": 1, "model_name": MODEL, "model_cfg": {}, "model": model.state_dict(), **extra}


def _train(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "train.cli", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_a_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "PWNED"
    evil = tmp_path / "best.pt"
    torch.save(_state(extra=_RunsCode(marker)), evil)
    before = evil.read_bytes()
    with pytest.raises(CheckpointError, match=r"best\.pt refers to the Python object posix\.system.*refused"):
        read_checkpoint(evil)
    with pytest.raises(CheckpointError, match="posix.system"):
        load_model(evil)
    # the real CLI: eval, and a fit resuming from a crafted last.pt (its run folder is otherwise genuine)
    r = _train("eval", str(evil), "--data", f"synth:{tmp_path}")
    assert r.returncode == 2 and str(evil) in r.stderr and "posix.system" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text('{"fit": {}}')
    torch.save(_state(extra=_RunsCode(marker), **{k: None for k in RESUME_KEYS}), run / "checkpoints" / "last.pt")
    r = _train("fit", "--model", MODEL, "--data", f"synth:{tmp_path / 'data'}", "--out", str(run))
    assert r.returncode == 2 and "last.pt refers to the Python object posix.system" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert not marker.exists(), "loading the checkpoint ran its code"
    assert evil.read_bytes() == before and sorted(p.name for p in run.rglob("*")) == ["checkpoints", "config.json",
                                                                                      "last.pt"]


def test_written_checkpoints_hold_only_tensors_and_plain_values(tmp_path):
    path = tmp_path / "last.pt"
    state = _state(epoch=np.int64(2), history=[{"val_mae": np.float64(3.5), "samples": np.int32(7)}],
                   best={"epoch": 2, "score": np.float32(3.5)}, rng=np.random.default_rng(0).integers(0, 9, 4))
    write_checkpoint(path, state)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
    got = read_checkpoint(path)
    assert type(got["epoch"]) is int and type(got["history"][0]["val_mae"]) is float
    assert type(got["history"][0]["samples"]) is int and isinstance(got["rng"], torch.Tensor)
    assert not list(tmp_path.glob("*.tmp-*"))
    with pytest.raises(CheckpointError, match="object"):
        write_checkpoint(tmp_path / "x.pt", _state(bad=np.array([object()], dtype=object)))
    assert not (tmp_path / "x.pt").exists() and not list(tmp_path.glob("*.tmp-*"))


def test_earlier_checkpoints_with_numpy_numbers_still_load(tmp_path):
    """Histories of earlier versions could hold numpy scalars, pickled as numpy objects: numeric ones are read
    (as Python numbers and tensors); an object array, which could hold anything, is refused."""
    old = tmp_path / "old.pt"
    torch.save(_state(history=[{"val_mae": np.float64(2.5)}], rng=np.random.get_state()), old)
    got = read_checkpoint(old)
    assert got["history"][0]["val_mae"] == 2.5 and isinstance(got["rng"][1], torch.Tensor)
    assert type(load_model(old)).__name__ == "SSRNetMD"
    torch.save(_state(junk=np.array([1, "a"], dtype=object)), tmp_path / "obj.pt")
    with pytest.raises(CheckpointError, match="ObjectDType"):
        read_checkpoint(tmp_path / "obj.pt")


def test_missing_keys_truncation_and_wrong_weights_name_the_file(tmp_path):
    state = _state()
    del state["model_name"]
    torch.save(state, tmp_path / "a.pt")
    with pytest.raises(CheckpointError, match=r"a\.pt lacks 'model_name'"):
        load_model(tmp_path / "a.pt")
    state["config"] = {"model": MODEL, "model_cfg": {}}      # early versions kept the name in the config only
    torch.save(state, tmp_path / "b.pt")
    assert load_model(tmp_path / "b.pt").model_name == MODEL
    good = tmp_path / "c.pt"
    torch.save(_state(), good)
    (tmp_path / "d.pt").write_bytes(good.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"d\.pt cannot be read .*truncated"):
        read_checkpoint(tmp_path / "d.pt")
    torch.save(_state(model_name="hopenet_r18"), tmp_path / "e.pt")
    with pytest.raises(CheckpointError, match=r"e\.pt: its weights do not fit model 'hopenet_r18'"):
        load_model(tmp_path / "e.pt")
    torch.save(_state(model_cfg={"stage_bins": "abc"}), tmp_path / "f.pt")
    with pytest.raises(CheckpointError, match=r"f\.pt: model 'ssrnet_md' option stage_bins='abc'"):
        load_model(tmp_path / "f.pt")
    with pytest.raises(CheckpointError, match=r"nowhere\.pt not found"):
        load_model(tmp_path / "nowhere.pt")
    with pytest.raises(CheckpointError, match=r"resuming|lacks 'optimizer'"):
        read_checkpoint(good, RESUME_KEYS)
