"""synth render: shards + manifest, resume after SIGKILL, refusals, disk errors, determinism across workers."""
from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import check_folder
from synth.config import load_config
from synth.runner import RunError, render_run
from synth.shards import ShardError, ShardWriter, open_dataset, read_manifest

REPO = Path(__file__).resolve().parents[1]
MAKER = "synth.runner:sphere_sample_maker"
SMALL = ["heads.pool_size=3", "output.width=48", "output.height=48"]


def cfg(*extra):
    return load_config(None, overrides=SMALL + list(extra))


def run(out, n=20, shard_size=6, workers=1, **kw):
    return render_run(cfg(*kw.pop("extra", ())), out, n, shard_size=shard_size, workers=workers, maker=MAKER,
                      progress=False, log=lambda m: None, **kw)


def test_render_and_rerun_is_a_no_op(tmp_path):
    res = run(tmp_path / "a")
    assert res.rendered_shards == 4 and res.manifest["n_shards"] == 4
    check_folder(tmp_path / "a", 20)
    m = read_manifest(tmp_path / "a")
    assert m["shards"][-1]["start"] == 18 and m["shards"][-1]["stop"] == 20
    assert m["config"]["heads"]["pool_size"] == 3 and "moderngl" in m["renderer"]
    assert all(r["node_id"] is None and r["host"] and r["retried"] == [] for r in m["shards"])  # rendered here
    again = run(tmp_path / "a")
    assert again.rendered_shards == 0 and again.skipped_shards == 4


def test_one_shard_left_renders_in_process_without_ray(tmp_path, monkeypatch):
    """Ray start-up (~8 s here) buys nothing for a single shard; a resume with one shard left renders it here
    too. (The Ray path itself is run by the determinism and worker-death tests.)"""
    from synth import runner

    def no_ray(*a, **k):
        raise AssertionError("Ray started for a single shard")

    monkeypatch.setattr(runner, "run_on_ray", no_ray)
    run(tmp_path / "a", n=5, shard_size=6, workers=2)
    check_folder(tmp_path / "a", 5)
    run(tmp_path / "b", n=12, shard_size=6, workers=1)
    (tmp_path / "b" / "shard-00001.h5").unlink()
    assert run(tmp_path / "b", n=12, shard_size=6, workers=2).rendered_shards == 1
    check_folder(tmp_path / "b", 12)


def test_resume_after_lost_and_corrupt_shards(tmp_path):
    out = tmp_path / "a"
    run(out)
    ref = open_dataset(out)[7]
    (out / "shard-00001.h5").unlink()                      # lost
    (out / "shard-00002.h5").write_bytes(b"junk")          # corrupt (size differs)
    (out / "shard-00003.h5.tmp-deadbeef").write_bytes(b"stale")
    res = run(out)
    assert res.rendered_shards == 2
    check_folder(out, 20)
    assert list(out.glob("shard-00002.h5.corrupt-*"))      # set aside, not deleted
    again = open_dataset(out)[7]
    assert np.array_equal(again["rgb"], ref["rgb"]) and again["params"] == ref["params"]


def test_refuses_other_config_and_other_plan(tmp_path):
    out = tmp_path / "a"
    run(out, n=6)
    with pytest.raises(RunError, match=r"another config.*lighting\.ambient.*fix: render into a new --out"):
        run(out, n=6, extra=("lighting.ambient=[0.3, 0.4]",))
    with pytest.raises(RunError, match="--n 6 --shard-size 6"):
        run(out, n=12)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="not empty and has no manifest.json"):
        run(tmp_path / "b", n=6)
    assert (tmp_path / "b" / "notes.txt").read_text() == "mine"
    check_folder(out, 6)


def test_a_manifest_never_reaches_outside_its_folder(tmp_path):
    """Only plain shard-NNNNN.h5 names are accepted: an absolute or ../ entry is refused, naming the entry,
    before anything is opened, hashed or set aside."""
    import json

    out = tmp_path / "a"
    run(out, n=12)
    victim = tmp_path / "victim.h5"
    victim.write_bytes((out / "shard-00000.h5").read_bytes())
    good = (out / "manifest.json").read_text()
    for k, name in ((0, str(victim)), (1, "../victim.h5"), (0, "shard-00000.h5/../../victim.h5")):
        m = json.loads(good)
        m["shards"][k]["file"] = name
        (out / "manifest.json").write_text(json.dumps(m))
        with pytest.raises(RunError, match=rf"shards\[{k}\]\.file .*not a shard of this folder"):
            run(out, n=12, verify=True)
        with pytest.raises(ShardError, match=rf"shards\[{k}\]\.file"):
            open_dataset(out)
    assert victim.read_bytes() == (out / "shard-00000.h5").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "victim.h5"] and not list(out.glob("*.corrupt-*"))


def test_refuses_to_resume_a_run_with_the_old_head_frame(tmp_path):
    """Renders from before the 3DDFA frame tilt (manifests without head_frame_version) label
    pitch 10 deg differently: resuming one must not mix the two."""
    import json

    out = tmp_path / "a"
    run(out, n=12)
    m = json.loads((out / "manifest.json").read_text())
    from synth.heads.head_frame import HEAD_FRAME_VERSION

    assert m["head_frame_version"] == HEAD_FRAME_VERSION
    del m["head_frame_version"]
    m["shards"] = m["shards"][:1]
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(RunError, match="head-frame version 1.*fix: render into a new --out"):
        run(out, n=12)
    assert (out / "shard-00000.h5").exists()


def test_disk_full_keeps_what_was_written(tmp_path, monkeypatch):
    out = tmp_path / "a"
    real_open = ShardWriter._open
    calls = {"n": 0}

    def full(self, sample):
        calls["n"] += 1
        if calls["n"] >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(self, sample)

    monkeypatch.setattr(ShardWriter, "_open", full)
    with pytest.raises(RunError, match=r"No space left on device.*fix: free space.*2 complete shards"):
        run(out)
    m = read_manifest(out)
    assert [r["file"] for r in m["shards"]] == ["shard-00000.h5", "shard-00001.h5"]
    assert not [p for p in out.iterdir() if ".tmp-" in p.name]
    monkeypatch.setattr(ShardWriter, "_open", real_open)
    res = run(out)
    assert res.rendered_shards == 2
    check_folder(out, 20)


def test_read_only_folder(tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    os.chmod(out, 0o555)
    try:
        if os.access(out, os.W_OK) or os.geteuid() == 0:
            pytest.skip("running as root: chmod does not block writes (ENOSPC is simulated in "
                        "test_disk_full_keeps_what_was_written)")
        with pytest.raises(RunError, match="fix:"):
            run(out, n=6)
    finally:
        os.chmod(out, 0o755)


def test_failing_sample_is_reported_with_index_and_seed(tmp_path, monkeypatch):
    import synth.runner as runner

    real = runner.make_sample

    def flaky(maker, c, index):
        if index == 8:
            raise ValueError("bad head")
        return real(maker, c, index)

    monkeypatch.setattr(runner, "make_sample", flaky)
    with pytest.raises(RunError, match=r"sample index 8 \(seed 0\) failed: ValueError: bad head"):
        run(tmp_path / "a", retries=1)
    m = read_manifest(tmp_path / "a")
    assert len(m["shards"]) == 3 and not m["complete"]     # the other shards finished


def test_inspect_and_preview_cli(tmp_path):
    from synth.cli import main

    out = tmp_path / "a"
    run(out, n=12, extra=("depth.noise=true",))
    assert main(["inspect", str(out)]) == 0
    assert (out / "inspect" / "pose.png").is_file() and (out / "inspect" / "params.png").is_file()
    assert (out / "inspect" / "depth.png").is_file()
    assert main(["preview", str(out), "--n", "4", "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").is_file()
    from PIL import Image

    photos = tmp_path / "photos"   # renders beside real photos: as many photos, in the same grid, to the right
    photos.mkdir()
    for k, size in enumerate([(40, 30), (30, 50), (64, 64), (20, 20), (50, 40)]):
        Image.new("RGB", size, (200, 50 * k, 10)).save(photos / f"image{k:05d}.jpg")
    (photos / "image00000.mat").write_bytes(b"labels, not a photo")
    for name, beside in (("a.png", []), ("b.png", ["--beside", str(photos)])):
        assert main(["preview", str(out), "--n", "4", "--tile", "32", *beside, "--out", str(tmp_path / name)]) == 0
    with Image.open(tmp_path / "a.png") as alone, Image.open(tmp_path / "b.png") as both:
        assert both.size == (2 * alone.width + 8, alone.height) and alone.width == 2 * 32
        left, right = np.split(np.asarray(both.convert("RGB")), [alone.width + 8], axis=1)
        assert np.array_equal(left[:, :alone.width], np.asarray(alone.convert("RGB")))
        assert (right[..., 0] > 150).mean() > 0.2   # four of the five photos, fitted into the cells
    before = (out / "shard-00001.h5").read_bytes()
    (out / "shard-00001.h5").write_bytes(before[: len(before) // 3])   # truncated
    with pytest.raises(ShardError, match=r"shard-00001\.h5.*fix: rerun"):
        from synth.dataset_report import inspect_dataset
        inspect_dataset(out)
    assert main(["inspect", str(out)]) == 2   # a damaged shard is a bad input: one line, exit 2
    assert (out / "shard-00000.h5").is_file() and len((out / "shard-00001.h5").read_bytes()) == len(before) // 3


def _cli(out, n, shard_size, workers):
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "synth.cli", "render", "--n", str(n), "--shard-size", str(shard_size),
           "--out", str(out), "--workers", str(workers), "--maker", MAKER, "--no-progress"]
    for s in SMALL:
        cmd += ["--set", s]
    return cmd, env


def test_resume_after_sigkill(tmp_path):
    out = tmp_path / "run"
    cmd, env = _cli(out, 300, 5, 1)
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    try:
        while time.time() < deadline:
            m = read_manifest(out) if (out / "manifest.json").is_file() else None
            if m and len(m["shards"]) >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "render finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    partial = read_manifest(out)
    assert 2 <= len(partial["shards"]) < 60 and not partial["complete"]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    # The kill can land after a shard file is complete but before the manifest lists it: resume adopts it then.
    already = int(re.search(r"(\d+) already there", done.stdout).group(1))
    adopted = done.stderr.count("adopted complete shard")
    assert already == len(partial["shards"]) + adopted, (done.stdout, done.stderr)
    check_folder(out, 300)


@pytest.mark.slow
def test_workers_1_and_2_give_identical_bytes(tmp_path):
    a, b = tmp_path / "w1", tmp_path / "w2"
    run(a, n=24, shard_size=5, workers=1, extra=("depth.noise=true",))
    run(b, n=24, shard_size=5, workers=2, extra=("depth.noise=true",))
    da, db = open_dataset(a), open_dataset(b)
    assert len(da) == len(db) == 24
    for i in range(24):
        x, y = da[i], db[i]
        assert set(x) == set(y)
        for k in x:
            if k == "params":
                assert x[k] == y[k]
            else:
                assert np.array_equal(x[k], y[k], equal_nan=True) and x[k].tobytes() == y[k].tobytes(), (i, k)
    ma, mb = read_manifest(a), read_manifest(b)
    assert ma["config_hash"] == mb["config_hash"]
    check_folder(b, 24)


@pytest.mark.slow
def test_ray_worker_death_with_queued_shards_is_retried(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTH_TEST_CRASH_MARKER", str(tmp_path / "died"))
    logs = []
    res = render_run(cfg(), tmp_path / "run", 30, shard_size=6, workers=2, maker="tests.crash_maker:crash_once_maker",
                     progress=False, log=logs.append)
    assert (tmp_path / "died").is_file()
    assert sum("worker died" in m for m in logs) == 1, logs  # one replacement for the dead actor
    assert res.rendered_shards == 5
    check_folder(tmp_path / "run", 30)
    recs = {r["file"]: r for r in read_manifest(tmp_path / "run")["shards"]}
    retried = sorted(f for f, r in recs.items() if r["retried"])  # shard 1 and at most the other task on that actor
    assert "shard-00001.h5" in retried and len(retried) <= 2, retried
    assert "ActorDiedError" in recs["shard-00001.h5"]["retried"][0]
    assert all(r["node_id"] and r["host"] for r in recs.values())


def test_workers_must_run_the_drivers_code_version():
    from synth.ray_pool import same_code

    assert same_code("headpose-synth 0.1.0+gabc123", "headpose-synth 0.1.0+gabc123")
    assert same_code("headpose-synth 0.1.0+gabc123", "headpose-synth 0.1.0")     # an installed copy knows no commit
    assert not same_code("headpose-synth 0.1.0+gabc123", "headpose-synth 0.1.0+gdef456")
    assert not same_code("headpose-synth 0.1.0", "headpose-synth 0.2.0")


def test_ray_task_errors_are_reported_as_the_original_one_line():
    """A shard's retry note and failure line name the error the task raised, not Ray's coloured remote traceback."""
    from ray.exceptions import RayTaskError

    from synth.run_errors import attempt_note, describe_failure, task_error

    cause = ValueError("bad value\nsecond line")
    exc = RayTaskError("ShardWorker.render", "\x1b[36mray::ShardWorker.render()\x1b[39m\nTraceback ...", cause)
    assert task_error(exc) is cause and task_error(cause) is cause
    assert attempt_note(0, "abcdef0123456789", exc) == "attempt 1 on node abcdef012345: ValueError: bad value"
    entry = {"file": "shard-00001.h5", "start": 6, "stop": 12}
    assert describe_failure(entry, exc) == "shard-00001.h5 (indices 6..11): ValueError: bad value"
