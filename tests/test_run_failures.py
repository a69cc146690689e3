"""synth render when things go wrong early or on Ray: no claim left behind, one clean line, no ghost actors.

The Ray cases run the real CLI with ``--workers 2`` (a local Ray of two actors, ~8 s to start here) and
the failing makers of ``tests/run_faults.py``.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synth.config import ConfigError, load_config
from synth.heads.bank import HeadBankError
from synth.runner import render_run
from synth.shards import read_manifest

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
SPHERES = "synth.runner:sphere_sample_maker"
TINY = ["heads.pool_size=2", "output.width=64", "output.height=64"]


def _run(out, maker=SPHERES, extra=(), **kw):
    cfg = load_config(None, overrides=TINY + list(extra))
    return render_run(cfg, out, 8, shard_size=4, workers=1, maker=maker, progress=False, log=lambda m: None, **kw)


def _cli(out, maker, *extra, n=24, shard_size=4, workers=2, **popen):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(TESTS)]))
    cmd = [sys.executable, "-m", "synth.cli", "render", "--n", str(n), "--shard-size", str(shard_size), "--out",
           str(out), "--workers", str(workers), "--maker", maker, "--no-progress", *extra]
    for s in TINY:
        cmd += ["--set", s]
    if popen:
        return subprocess.Popen(cmd, env=env, cwd=REPO, **popen)
    return subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_a_run_that_fails_before_its_first_shard_leaves_no_claim(tmp_path):
    """The failed run withdraws the manifest it wrote, so the corrected rerun is not refused as 'another
    config'; a manifest that never got a shard (a kill at start-up) does not block another config either."""
    out = tmp_path / "a"
    with pytest.raises(HeadBankError, match="broken.obj"):
        _run(out, maker="run_faults:bank_error_maker")
    assert not out.exists()
    out.mkdir()
    with pytest.raises(HeadBankError, match="broken.obj"):
        _run(out, maker="run_faults:bank_error_maker", extra=["lighting.ambient=[0.3,0.4]"])
    assert list(out.iterdir()) == []                       # the folder the user made stays, empty
    res = _run(out)                                        # the corrected rerun
    assert res.rendered_shards == 2 and read_manifest(out)["complete"]

    claimed = tmp_path / "b"                                # killed before its first shard: a bare claim
    _run(claimed)
    m = read_manifest(claimed)
    for p in claimed.glob("shard-*.h5"):
        p.unlink()
    m["shards"], m["complete"] = [], False
    (claimed / "manifest.json").write_text(json.dumps(m))
    res = _run(claimed, extra=["lighting.ambient=[0.3,0.4]"])
    assert res.rendered_shards == 2 and read_manifest(claimed)["config"]["lighting"]["ambient"] == [0.3, 0.4]
    with pytest.raises(Exception, match="another config"):  # a run with shards stays claimed
        _run(claimed)


def test_a_bad_user_mesh_folder_writes_nothing(tmp_path):
    empty = tmp_path / "meshes"
    empty.mkdir()
    with pytest.raises(HeadBankError, match="no manifest found"):
        _run(tmp_path / "a", extra=["heads.source=user", f"heads.user_folder={empty}"])
    with pytest.raises(ConfigError, match="heads.user_folder"):
        _run(tmp_path / "a", extra=["heads.source=user", f"heads.user_folder={tmp_path / 'nowhere'}"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meshes"]


def _one_clean_line(stderr: str) -> str:
    assert "Traceback" not in stderr and "\x1b[" not in stderr and "ray::" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("Token authentication")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_full_disk_on_ray_workers_is_the_original_error(tmp_path):
    out = tmp_path / "run"
    r = _cli(out, "run_faults:full_disk_maker")
    line = _one_clean_line(r.stderr)
    assert r.returncode == 2, r.stderr
    assert line.startswith(f"synth: cannot write {out}: No space left on device; fix: free space"), line
    # what finished stays listed; when no shard finished first (shards 0 and 1 run side by side), the claim
    # on the folder is withdrawn as for any run that fails before its first shard
    m = read_manifest(out) if (out / "manifest.json").exists() else {"shards": []}
    assert all(rec["stop"] <= 6 for rec in m["shards"]) and not list(out.glob("shard-0000[2-5].h5"))


def test_a_config_error_while_ray_actors_start_stops_the_run_at_once(tmp_path):
    out = tmp_path / "run"
    t0 = time.perf_counter()
    r = _cli(out, "run_faults:bank_error_maker")
    line = _one_clean_line(r.stderr)
    assert r.returncode == 2 and line == ("synth: head bank error: heads/broken.obj: cannot read the mesh "
                                          "(truncated); re-export it as OBJ/PLY/GLB."), r.stderr
    assert "retrying" not in r.stderr and "worker died" not in r.stderr
    assert not out.exists()                                # the claim is withdrawn: nothing written
    assert time.perf_counter() - t0 < 120


def test_killed_driver_leaves_no_ghost_actors_writing(tmp_path):
    """SIGKILL of the driver's process group (not the actors': Ray puts each in its own) ends the actors
    within DRIVER_POLL_S: nothing in --out changes afterwards (a ghost would go on growing its shard's
    temporary file, then rename it into place)."""
    out = tmp_path / "run"
    proc = _cli(out, SPHERES, n=40000, shard_size=4000, start_new_session=True, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)

    def files():
        return sorted((p.name, p.stat().st_size) for p in out.iterdir()) if out.is_dir() else []

    try:
        deadline = time.time() + 120
        while not any(".tmp-" in name and size > 100_000 for name, size in files()):   # actors are writing
            assert proc.poll() is None, "the render ended before it could be killed"
            assert time.time() < deadline, "no shard was being written within 120 s"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    time.sleep(0.5)
    first = files()
    time.sleep(3.0)
    assert files() == first
