"""A real multi-node Ray cluster on one machine, started with the ``ray`` CLI.

For the cluster tests and benchmarks, and for trying the cluster path before renting nodes::

    with LocalCluster(root="/tmp/rc") as c:      # nothing started yet
        c.add_node()                             # `ray start --head ...`
        c.add_node()                             # `ray start --address HEAD ...`
        subprocess.run(["synth", "render", "--address", c.address, ...], env=c.env)
        c.kill_node(c.nodes[1])                  # SIGKILL that node's raylet and its workers
    # every process the cluster started is gone, even after an exception

Each node is a separate ``ray start`` with its own ``--temp-dir`` (under ``root``), its own
ports (probed free) and ``cpus`` CPUs, advertised as 127.0.0.1 (Ray still binds its servers on
every interface). Ray 2.60 turns on token authentication for ``ray start --head``: the cluster
gets a fresh random token, passed to its nodes and, through :attr:`LocalCluster.env`, to drivers
(``RAY_AUTH_MODE=token``, ``RAY_AUTH_TOKEN``), so it neither reads nor writes ``~/.ray/auth_token``
and nobody without the token can use it.

Clean-up without ``ray stop`` (which stops every Ray process of the user on the machine, other
people's clusters included): every process started for the cluster -- ``ray start``'s daemons, the
raylets' workers, and drivers run with :attr:`env` -- inherits a marker environment variable
unique to this cluster; :meth:`stop` sends SIGTERM, then SIGKILL, to exactly the processes whose
environment holds it (read from ``/proc``, so Linux only), and removes the temporary folders. A
watchdog process does the same if the process that made the cluster dies without calling it.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: environment variable carrying the cluster's marker (see the module doc)
MARKER_VAR = "HEADPOSE_LOCAL_CLUSTER"
#: ports probed for each node's worker range
WORKER_PORTS = 40


class ClusterError(RuntimeError):
    """A node that would not start (the message holds the end of ``ray start``'s output)."""


@dataclass
class Node:
    """One started node: its ``--temp-dir``, node-manager port and Ray node id (hex)."""

    index: int
    temp_dir: Path
    node_manager_port: int
    node_id: str = ""


def _free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free right now on 127.0.0.1 (the OS picks them)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def _free_range(width: int) -> int:
    """First port of ``width`` consecutive ports that are free now (in 20000-59999)."""
    rng = secrets.SystemRandom()
    for _ in range(200):
        base = rng.randrange(20000, 60000 - width)
        try:
            socks = []
            for p in range(base, base + width):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise ClusterError(f"no {width} consecutive free ports found for Ray workers")


def marked_pids(marker: str) -> list[int]:
    """Pids of the processes whose environment holds ``MARKER_VAR=marker`` (this process excluded)."""
    needle = f"{MARKER_VAR}={marker}".encode()
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        if needle in env:
            out.append(int(name))
    return out


def _parent_pid(pid: int) -> int:
    """The parent of ``pid`` (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])   # the name in (...) may hold spaces
    except (OSError, IndexError, ValueError):
        return 0


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


class LocalCluster:
    """A Ray cluster of nodes on this machine (see the module doc).

    root: folder for the nodes' temp dirs (a new one under /tmp when None; kept short because Ray's
    socket paths live there). cpus: CPUs each node advertises. object_store_mb: each node's object
    store, MB. pythonpath: prepended to the nodes' PYTHONPATH, so that their workers import this
    checkout (default: the folder holding ``synth``). ray_bin: the ``ray`` CLI (default: next to
    this Python).
    """

    def __init__(self, root: str | Path | None = None, cpus: int = 1, object_store_mb: int = 100,
                 pythonpath: str | None = None, ray_bin: str | None = None):
        self._own_root = root is None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="rc-", dir="/tmp"))
        self.cpus, self.object_store_mb = int(cpus), int(object_store_mb)
        self.ray_bin = ray_bin or str(Path(sys.executable).with_name("ray"))
        self.marker = secrets.token_hex(8)
        repo = pythonpath or str(Path(__file__).resolve().parents[1])
        pypath = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH", "")) if p)
        #: environment of the nodes, and for drivers (synth render / train fit) joining the cluster
        self.env = dict(os.environ, PYTHONPATH=pypath, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32),
                        RAY_USAGE_STATS_ENABLED="0", **{MARKER_VAR: self.marker})
        self.env.pop("RAY_ADDRESS", None)
        self.nodes: list[Node] = []
        self.address = ""  # "127.0.0.1:PORT" of the head, once started
        # stops the cluster if this process dies without stop() (SIGKILL, a crash): it carries the marker too
        watch = [sys.executable, "-m", "synth.local_cluster", "--watch", str(os.getpid()), self.marker,
                 str(self.root) if self._own_root else ""]
        self._watchdog = subprocess.Popen(watch, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, start_new_session=True)

    # -------------------------------------------------------------- nodes
    def add_node(self, timeout: float = 120.0) -> Node:
        """Start one more node (the first is the head); returns it once its raylet runs (with its node id)."""
        idx = len(self.nodes)
        temp = self.root / f"n{idx}"
        temp.mkdir(parents=True, exist_ok=True)
        base = _free_range(WORKER_PORTS)
        ports = _free_ports(9)
        while any(base <= p < base + WORKER_PORTS for p in ports):
            ports = _free_ports(9)
        cmd = [self.ray_bin, "start", "--num-cpus", str(self.cpus), "--num-gpus", "0",
               "--node-ip-address", "127.0.0.1", "--temp-dir", str(temp),
               "--object-store-memory", str(self.object_store_mb * 1024 * 1024),
               "--node-manager-port", str(ports[0]), "--object-manager-port", str(ports[1]),
               "--dashboard-agent-listen-port", str(ports[2]), "--dashboard-agent-grpc-port", str(ports[3]),
               "--runtime-env-agent-port", str(ports[4]), "--metrics-export-port", str(ports[5]),
               "--min-worker-port", str(base), "--max-worker-port", str(base + WORKER_PORTS - 1),
               "--disable-usage-stats"]
        if idx == 0:
            cmd += ["--head", "--port", str(ports[6]), "--ray-client-server-port", str(ports[7]),
                    "--include-dashboard", "false", "--dashboard-port", str(ports[8])]
        else:
            cmd += ["--address", self.address]
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-8:]
            raise ClusterError(f"`ray start` for node {idx} failed (exit {proc.returncode}):\n  " + "\n  ".join(tail))
        node = Node(idx, temp, ports[0])
        if idx == 0:
            self.address = f"127.0.0.1:{ports[6]}"
        self.nodes.append(node)
        deadline = time.time() + timeout
        while time.time() < deadline:
            pid = self.raylet_pid(node)
            if pid is not None:
                node.node_id = next((a.split("=", 1)[1] for a in _cmdline(pid) if a.startswith("--node_id=")), "")
                if node.node_id:
                    return node
            time.sleep(0.2)
        raise ClusterError(f"node {idx}: no raylet with --node_manager_port={node.node_manager_port} after {timeout:.0f} s")

    def raylet_pid(self, node: Node) -> int | None:
        """The pid of ``node``'s raylet (None when it is not running)."""
        flag = f"--node_manager_port={node.node_manager_port}"
        for pid in marked_pids(self.marker):
            args = _cmdline(pid)
            if args and Path(args[0]).name == "raylet" and flag in args:
                return pid
        return None

    def kill_node(self, node: Node, sig: int = signal.SIGKILL) -> int:
        """Send ``sig`` to ``node``'s raylet and every process under it -- its workers and agents -- at once,
        as when the machine is lost; returns the raylet's pid.

        The raylet alone is not enough: a worker whose raylet died goes on running its task and can return
        the result straight to the driver, so a short run may finish as if nothing were lost."""
        pid = self.raylet_pid(node)
        if pid is None:
            raise ClusterError(f"node {node.index} has no running raylet")
        children: dict[int, list[int]] = {}
        for p in marked_pids(self.marker):
            children.setdefault(_parent_pid(p), []).append(p)
        doomed, todo = [], [pid]
        while todo:
            p = todo.pop()
            doomed.append(p)
            todo.extend(children.get(p, []))
        for p in doomed:
            try:
                os.kill(p, sig)
            except OSError:   # already gone
                pass
        return pid

    # -------------------------------------------------------------- teardown
    def pids(self) -> list[int]:
        """Every live process started for this cluster (nodes, workers, drivers run with :attr:`env`)."""
        return marked_pids(self.marker)

    def stop(self, grace: float = 5.0) -> None:
        """Stop every process of the cluster (SIGTERM, then SIGKILL after ``grace`` s); remove its folders."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0), (signal.SIGKILL, 10.0)):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            deadline = time.time() + wait
            while time.time() < deadline and self.pids():
                time.sleep(0.1)
        self._watchdog.poll()  # reap it (it was killed with the rest)
        left = self.pids()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
        if left:
            raise ClusterError(f"processes of the local cluster still alive after SIGKILL: {left}")

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _watch(parent: int, marker: str, root: str) -> None:
    """Wait for ``parent`` to end, then SIGKILL every process carrying ``marker`` and remove ``root`` (if given)."""
    while True:
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            break
        except PermissionError:
            pass
        time.sleep(1.0)
    for _ in range(3):
        for pid in marked_pids(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(1.0)
    if root:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--watch":
        _watch(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        sys.exit("usage: python -m synth.local_cluster --watch PARENT_PID MARKER ROOT (started by LocalCluster)")
