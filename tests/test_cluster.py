"""A real two-node Ray cluster on this machine: `synth render --address` and `train fit --ray-address`.

The cluster is two `ray start` processes (a head and a second node, one CPU each, own temp dirs and
ports: ``synth.local_cluster.LocalCluster``); the drivers are the real command lines in subprocesses.
"Losing a node" is a SIGKILL of that node's raylet mid-run; "losing the driver" a SIGKILL of the
command. Every process the cluster started is stopped at the end of the module, even on failure.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, check_folder
from synth.local_cluster import LocalCluster
from synth.shards import read_manifest

pytestmark = pytest.mark.slow

#: the render every test compares with: real MakeHuman heads, tiny frames (see the module doc of tests/)
RENDER_SETS = ["heads.pool_size=2", "output.width=64", "output.height=64"]
N, SHARD = 1600, 40


def _render_cmd(out: Path, workers: int, address: str | None = None, n: int = N, seed: int = 0) -> list[str]:
    cmd = [sys.executable, "-m", "synth.cli", "render", "--n", str(n), "--shard-size", str(SHARD),
           "--out", str(out), "--workers", str(workers), "--no-progress", "--seed", str(seed)]
    for s in RENDER_SETS:
        cmd += ["--set", s]
    return cmd + (["--address", address] if address else [])


def _env(extra: dict | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    env.pop("RAY_ADDRESS", None)
    return dict(env, **(extra or {}))


def shard_content(folder: Path) -> dict[str, str]:
    """shard file -> SHA-256 of every dataset's decoded bytes and every attribute but ``created``."""
    import h5py

    out = {}
    for rec in read_manifest(folder)["shards"]:
        h = hashlib.sha256()
        with h5py.File(folder / rec["file"], "r") as f:
            for k in sorted(f.attrs):
                if k != "created":
                    h.update(f"{k}={f.attrs[k]!r};".encode())

            def visit(name, obj, h=h):
                if isinstance(obj, h5py.Dataset):
                    data = obj[...]
                    h.update(name.encode() + (b"\0".join(v if isinstance(v, bytes) else str(v).encode() for v in data)
                                              if data.dtype.kind == "O" else data.tobytes()))

            f.visititems(visit)
        out[rec["file"]] = h.hexdigest()
    return out


class Command:
    """A command line running in the background, its stdout and stderr going to files (no pipe to fill)."""

    def __init__(self, cmd: list[str], env: dict, logs: Path, new_session: bool = False):
        logs.mkdir(parents=True, exist_ok=True)
        self.stdout, self.stderr = logs / "stdout.txt", logs / "stderr.txt"
        with open(self.stdout, "w") as o, open(self.stderr, "w") as e:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=o, stderr=e, start_new_session=new_session)

    def wait_for(self, what: str, check, timeout: float = 240.0):
        """Poll ``check()`` until truthy; fail if the command ends first or ``timeout`` s pass."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = check()
            if got:
                return got
            if self.proc.poll() is not None:
                pytest.fail(f"the command ended (exit {self.proc.returncode}) before {what}:\n"
                            f"{self.stderr.read_text()[-3000:]}")
            time.sleep(0.1)
        pytest.fail(f"no {what} after {timeout:.0f} s")

    def finish(self, timeout: float) -> tuple[int, str, str]:
        """Wait for the end (kill it after ``timeout`` s); (exit code, stdout, stderr)."""
        try:
            self.proc.wait(timeout=timeout)
        finally:
            self.kill()
        return self.proc.returncode, self.stdout.read_text(), self.stderr.read_text()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _listed(out: Path, node_id: str | None = None) -> int:
    try:
        m = read_manifest(out) if (out / "manifest.json").is_file() else None
    except Exception:  # noqa: BLE001 - being replaced right now
        return 0
    shards = m["shards"] if m else []
    return sum(1 for r in shards if node_id is None or r.get("node_id") == node_id)


@pytest.fixture(scope="module")
def cluster():
    c = LocalCluster(cpus=1)
    try:
        c.add_node()
        c.add_node()
        yield c
    finally:
        c.stop()


def two_nodes(c: LocalCluster):
    """(head, second node), starting a fresh second node when an earlier test killed the last one."""
    if c.raylet_pid(c.nodes[-1]) is None:
        c.add_node()
    return c.nodes[0], c.nodes[-1]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The run rendered in one process (``--workers 1``): what every cluster run must reproduce."""
    out = tmp_path_factory.mktemp("ref") / "w1"
    done = subprocess.run(_render_cmd(out, 1), cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    check_folder(out, N)
    return out


def test_render_on_two_nodes_matches_one_worker(cluster, reference, tmp_path):
    head, second = two_nodes(cluster)
    out = tmp_path / "c2"
    done = subprocess.run(_render_cmd(out, 2, cluster.address), cwd=REPO, env=cluster.env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    m = check_folder(out, N)
    assert {r["node_id"] for r in m["shards"]} == {head.node_id, second.node_id}   # both nodes rendered
    assert all(r["retried"] == [] for r in m["shards"])
    assert shard_content(out) == shard_content(reference)                        # same bytes as one worker


def test_render_with_more_workers_than_cpus_finishes_on_those_that_start(cluster, tmp_path):
    """A third worker finds no free CPU: it never gets a shard, and the run does not wait for it."""
    two_nodes(cluster)
    out = tmp_path / "w3"
    done = subprocess.run(_render_cmd(out, 3, cluster.address, n=200), cwd=REPO, env=cluster.env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len({r["node_id"] for r in check_folder(out, 200)["shards"]}) <= 2


def test_render_finishes_on_the_head_when_a_node_is_lost(cluster, reference, tmp_path):
    head, second = two_nodes(cluster)
    out = tmp_path / "lost"
    run = Command(_render_cmd(out, 2, cluster.address), cluster.env, tmp_path / "logs")
    try:
        run.wait_for("2 shards from the second node", lambda: _listed(out, second.node_id) >= 2)
        before = _listed(out)
        cluster.kill_node(second)
        rc, _, stderr = run.finish(timeout=600)
    finally:
        run.kill()
    assert rc == 0, stderr[-3000:]
    assert before < N // SHARD, "the run ended before the node was killed"
    assert "worker died on node " + second.node_id[:12] in stderr
    m = check_folder(out, N)                                          # every index once, no temporary file
    retried = [r for r in m["shards"] if r["retried"]]
    assert retried and all(f"on node {second.node_id[:12]}" in r["retried"][0] for r in retried), retried
    assert all(r["node_id"] == head.node_id for r in retried)        # redone on the node left
    assert shard_content(out) == shard_content(reference)


def test_render_resumes_after_the_driver_is_killed(cluster, reference, tmp_path):
    head, second = two_nodes(cluster)
    out = tmp_path / "resume"
    cmd = _render_cmd(out, 2, cluster.address)
    run = Command(cmd, cluster.env, tmp_path / "logs", new_session=True)
    try:
        run.wait_for("3 listed shards", lambda: _listed(out) >= 3)
        os.killpg(run.proc.pid, signal.SIGKILL)
    finally:
        run.kill()
    partial = read_manifest(out)
    assert not partial["complete"] and len(partial["shards"]) < N // SHARD
    done = subprocess.run(cmd, cwd=REPO, env=cluster.env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    kept = int(done.stdout.split(" rendered now, ")[1].split(" already there")[0])
    assert kept >= len(partial["shards"])                              # resumed, not started over
    m = check_folder(out, N)
    assert {r["node_id"] for r in m["shards"] if not r.get("adopted")} <= {head.node_id, second.node_id}
    assert shard_content(out) == shard_content(reference)


# --- training ---------------------------------------------------------------------------------------

EPOCH = 64


def _fit_cmd(data: Path, val: Path, out: Path, address: str, epochs: int) -> list[str]:
    return [sys.executable, "-m", "train.cli", "fit", "--model", "ssrnet_md", "--data", f"synth:{data}",
            "--val", f"synth:{val}", "--out", str(out), "--epochs", str(epochs), "--epoch-size", str(EPOCH),
            "--batch-size", "16", "--val-limit", "32", "--num-workers", "2", "--ray-address", address]


def _history(out: Path) -> list[dict]:
    path = out / "history.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def val_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("val") / "v"
    done = subprocess.run(_render_cmd(out, 1, n=64, seed=1), cwd=REPO, env=_env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _check_epochs(rows: list[dict], epochs: int) -> None:
    """One row per epoch; per epoch both ranks trained once, on their own half of the epoch's positions."""
    from train.distributed import positions_digest

    assert [int(r["epoch"]) for r in rows] == list(range(epochs))
    for r in rows:
        assert int(r["samples"]) == EPOCH
        for rank in (0, 1):
            assert int(r[f"worker{rank}_samples"]) == EPOCH // 2
            assert r[f"worker{rank}_positions"] == positions_digest(range(rank, EPOCH, 2))


def test_train_on_two_nodes(cluster, reference, val_set, tmp_path):
    head, second = two_nodes(cluster)
    out = tmp_path / "fit"
    done = subprocess.run(_fit_cmd(reference, val_set, out, cluster.address, 2), cwd=REPO, env=cluster.env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = _history(out)
    _check_epochs(rows, 2)
    for r in rows:
        assert {r["worker0_node"], r["worker1_node"]} == {head.node_id, second.node_id}
    assert json.loads(done.stdout)["best_epoch"] >= 1


def test_train_refuses_more_workers_than_the_cluster_has_cpus(cluster, reference, val_set, tmp_path):
    two_nodes(cluster)
    cmd = _fit_cmd(reference, val_set, tmp_path / "fit3", cluster.address, 1)
    cmd[cmd.index("--num-workers") + 1] = "3"
    done = subprocess.run(cmd, cwd=REPO, env=cluster.env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith(
        "train fit: error: the Ray cluster (127.0.0.1:") and "has 2 CPUs, --num-workers 3 needs 3" in done.stderr


def test_train_fails_clearly_on_node_loss_and_resumes(cluster, reference, val_set, tmp_path):
    head, second = two_nodes(cluster)
    out = tmp_path / "fit-lost"
    epochs = 12
    cmd = _fit_cmd(reference, val_set, out, cluster.address, epochs)
    run = Command(cmd, cluster.env, tmp_path / "logs")
    try:
        run.wait_for("2 trained epochs", lambda: len(_history(out)) >= 2, timeout=300)
        cluster.kill_node(second)
        rc, _, stderr = run.finish(timeout=300)
    finally:
        run.kill()
    last = stderr.strip().splitlines()[-1]
    assert rc == 1, stderr[-3000:]
    assert last.startswith("train fit: error: Ray Train lost node(s) " + second.node_id[:12]), last
    assert "rerun the same command" in last
    before = _history(out)
    assert 2 <= len(before) < epochs
    third = cluster.add_node()                                         # the cluster gets its CPUs back
    again = subprocess.run(cmd, cwd=REPO, env=cluster.env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    rows = _history(out)
    _check_epochs(rows, epochs)                                        # every epoch once, none lost or repeated
    assert rows[:len(before)] == before                                # resumed: the epochs before stand as they were
    for r in rows[len(before):]:
        assert {r["worker0_node"], r["worker1_node"]} == {head.node_id, third.node_id}
