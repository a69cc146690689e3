"""The Ray path of a render run: a pool of actors, each rendering one shard per task.

:func:`run_on_ray` is called by :func:`synth.runner.render_run` (module doc there) when more
than one worker or a cluster address is given. Each actor (``ShardWorker``) builds one SampleMaker
(head bank + renderer + GL context), answers ``ready()`` with its node id, host and code version,
and only then gets shard tasks, up to ``QUEUE_DEPTH`` at a time. Each finished shard's manifest
record names the node that rendered it (``node_id``, ``host``) and the attempts that failed before
(``retried``).

Node loss: the actors on a lost node fail their queued tasks (``RayActorError``); the driver
removes those shards' temporary files, queues the shards again and starts one replacement actor per
dead actor. A replacement that finds no free CPU (the lost node's CPUs are gone) never gets a
shard, so the run finishes on the nodes left and the waiting replacement is killed at the end. A
node that comes back (or a new one) picks up a waiting replacement. When no shard task is running
and no actor has started within ``ACTOR_START_TIMEOUT`` the run stops with a RunError naming the
cluster's CPUs (it never hangs waiting for a CPU).

Code versions: a sample's bytes depend on the code, so an actor whose ``synth`` differs from the
driver's (package version, and the git commit where both know theirs) stops the run, naming the node.

Errors: a configuration error (``synth.run_errors.CONFIG_ERRORS``: ConfigError, HeadBankError,
RunError) raised while an actor builds its SampleMaker is kept by the actor and raised by its
``ready()`` and every task, so the driver stops the run at once with the message ``--workers 1``
gives (no actor restarts, no retries). Any error from a task is unwrapped from Ray's RayTaskError
(``synth.run_errors.task_error``) before it is classified or reported: a full disk is "cannot write
DIR: No space left on device", without Ray's remote traceback and its colour codes.

Ghosts: an actor of a local Ray (no ``address``) watches its driver's process (pid and /proc start
time) and ends itself within ``DRIVER_POLL_S`` once the driver is gone (killed, or a zombie), so no
shard is written into ``out`` after its driver died. On a cluster the driver's pid means nothing on
the other nodes; Ray's own fate sharing ends a dead driver's actors there.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

from synth.run_errors import (CONFIG_ERRORS, DiskError, RunError, attempt_note, describe_failure, is_disk_error,
                              one_line, strip_ansi, task_error)
from synth.provenance import code_version
from synth.shards import TMP_MARKER

#: llvmpipe rasterizer threads per Ray actor unless LP_NUM_THREADS is set: "0" rasterizes in the
#: actor's own thread. N actors on N cores would otherwise oversubscribe them (2 workers at 256x256:
#: 237 vs 201 samples/s with 1 thread against llvmpipe's default in bench/render_speed.py), and the
#: hand-off to a rasterizer thread costs ~0.3 ms per frame over "0" (bench/render_throughput.py).
ACTOR_LP_THREADS = "0"
#: Shard tasks queued per Ray actor: 2 = the next shard starts while the driver records the last.
QUEUE_DEPTH = 2
#: seconds to wait for a Ray worker to start when no shard is being rendered (SampleMaker build included)
ACTOR_START_TIMEOUT = 600.0
#: Seconds between an actor's checks that its (local) driver process is still alive.
DRIVER_POLL_S = 0.1


# --- the driver watch (ghosts) ----------------------------------------------------------------

def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (/proc/PID/stat field 22): tells it from a later one with its pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def driver_alive(pid: int, start: str | None) -> bool:
    """True while process ``pid`` (started at ``start``, see :func:`process_start`) runs and is no zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    except (OSError, IndexError):   # no /proc: whether the pid exists at all
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
    return fields[0] != "Z" and (start is None or fields[19] == start)


def _exit_when_driver_dies(pid: int, start: str | None) -> None:
    """In a Ray actor: a daemon thread that ends this process once the driver process is gone."""
    def watch():
        while driver_alive(pid, start):
            time.sleep(DRIVER_POLL_S)
        os._exit(1)   # mid-shard: the temporary file stays, and the next run removes it

    threading.Thread(target=watch, name="driver-watch", daemon=True).start()


# --- the actor --------------------------------------------------------------------------------

def worker_class(local_worker):
    """The Ray actor class: wraps ``local_worker`` (``synth.runner._LocalWorker``), one per actor."""
    import ray

    @ray.remote(num_cpus=1, max_restarts=0)
    class ShardWorker:
        """Ray actor: builds the SampleMaker once, renders one shard per call.

        A configuration error while building it is kept and raised by ``ready()`` and every call (so
        the driver gets the error itself instead of a dead actor); ``driver``: (pid, start) of a driver
        on this machine to outlive by at most DRIVER_POLL_S, or None.
        """

        def __init__(self, maker_name, cfg, seed, driver=None):
            os.environ.setdefault("PYTHONUNBUFFERED", "1")
            if driver is not None:
                _exit_when_driver_dies(*driver)
            self.local, self.error = None, None
            try:
                self.local = local_worker(maker_name, cfg, seed)
            except CONFIG_ERRORS as exc:
                self.error = exc
                return
            self.local.node_id = ray.get_runtime_context().get_node_id()

        def ready(self):
            """(node id, host, code version) once the SampleMaker is built."""
            if self.error is not None:
                raise self.error
            return self.local.node_id, socket.gethostname(), code_version()

        def render(self, out, entry, provenance, compression):
            if self.error is not None:
                raise self.error
            return self.local.render(out, entry, provenance, compression)

    return ShardWorker


def remove_partial(out: Path, entry: dict) -> None:
    """Remove the temporary files of ``entry``'s shard (only while no worker is writing that shard)."""
    for p in Path(out).glob(f"{entry['file']}{TMP_MARKER}*"):
        try:
            p.unlink()
        except OSError:
            pass


def same_code(driver: str, worker: str) -> bool:
    """Whether a worker's ``code_version()`` matches the driver's: same package version, and the same
    commit where both know theirs (an installed copy knows none)."""
    dv, _, dc = driver.partition("+g")
    wv, _, wc = worker.partition("+g")
    return dv == wv and (not dc or not wc or dc == wc)


def _start_error(exc: BaseException) -> str:
    """One line for an actor that failed to start: the error its ``__init__`` raised (the last line of
    Ray's traceback text), else the first line of Ray's own error."""
    lines = [ln.strip() for ln in strip_ansi(str(exc)).splitlines() if ln.strip()]
    if getattr(exc, "_actor_init_failed", False) and lines:
        return lines[-1][:300]
    return f"{type(exc).__name__}: {lines[0][:300] if lines else ''}"


def _kill(ray, actor) -> None:
    try:
        ray.kill(actor)
    except Exception:  # noqa: BLE001 - best effort: the job's end removes it too
        pass


def run_on_ray(cfg, out, todo, provenance, maker, retries, compression, record, bar, state, log,
               workers, address, local_worker) -> int:
    """Render ``todo`` on a pool of Ray actors (see the module doc); returns the shards rendered.

    The arguments are :func:`synth.runner.render_run`'s; ``record(rec)`` lists a finished shard,
    ``local_worker`` is the in-process worker class each actor wraps.
    """
    import ray

    started_here = False
    lp_threads = os.environ.get("LP_NUM_THREADS", ACTOR_LP_THREADS)
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=True, configure_logging=False,
                     runtime_env={"env_vars": {"LP_NUM_THREADS": lp_threads}})
        else:
            # workers import synth from the same checkout as this driver (installed or not)
            root = str(Path(__file__).resolve().parents[1])
            pypath = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
            ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=True,
                     configure_logging=False, logging_level="ERROR",
                     runtime_env={"env_vars": {"PYTHONPATH": pypath, "LP_NUM_THREADS": lp_threads}})
        started_here = True
    starting: dict = {}  # ready() ref -> actor still building its SampleMaker (or waiting for a CPU)
    try:
        if address and workers <= 0:
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        workers = max(1, min(workers, len(todo)))
        Worker = worker_class(local_worker)
        # Shard tasks go only to actors that answered ready(): an actor that cannot be placed (its node
        # was lost and no other node has a free CPU) never holds shards. Each ready actor gets up to
        # QUEUE_DEPTH shard tasks at once (Ray runs an actor's calls in order), so it starts its next
        # shard the moment one finishes instead of idling through the driver's round trip (result ->
        # manifest write + fsync -> next submit).
        inflight: dict = {}  # ready actor -> shard tasks queued on it
        nodes: dict = {}     # actor -> its node id
        pending: dict = {}
        queue = [(e, 0, []) for e in todo]  # (entry, attempt, notes on the failed attempts)
        rendered = 0
        start_errors: list[str] = []
        # a driver on this machine is watched by its actors (module doc: ghosts); Ray ends a cluster's
        driver = None if address else (os.getpid(), process_start(os.getpid()))

        def start_worker():
            actor = Worker.remote(maker, cfg, cfg.seed, driver)
            starting[actor.ready.remote()] = actor

        def submit():
            while queue and inflight:
                actor = min(inflight, key=inflight.get)
                if inflight[actor] >= QUEUE_DEPTH:
                    return
                entry, attempt, notes = queue.pop(0)
                ref = actor.render.remote(str(out), entry, provenance, compression)
                pending[ref] = (actor, entry, attempt, notes)
                inflight[actor] += 1

        for _ in range(workers):
            start_worker()
        while pending or queue:
            # with no shard task running, a worker must start within ACTOR_START_TIMEOUT
            ready, _ = ray.wait(list(pending) + list(starting), num_returns=1,
                                timeout=None if pending else ACTOR_START_TIMEOUT)
            if not ready:
                cpus = ray.cluster_resources().get("CPU", 0)
                raise RunError(f"no Ray worker started within {ACTOR_START_TIMEOUT:.0f} s (the cluster has "
                               f"{cpus:g} CPUs, {ray.available_resources().get('CPU', 0):g} free; a worker needs "
                               "1); fix: add nodes or free CPUs, or lower --workers, then rerun the same command")
            ref = ready[0]
            if ref in starting:
                actor = starting.pop(ref)
                try:
                    node_id, host, version = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - its __init__ raised, or its node was lost
                    err = task_error(exc)
                    if isinstance(err, CONFIG_ERRORS):
                        raise err from None   # the message --workers 1 gives; another actor cannot help
                    start_errors.append(_start_error(exc))
                    if len(start_errors) > retries + workers:
                        raise RunError(f"Ray workers keep failing to start ({len(start_errors)} times): "
                                       f"{start_errors[-1]} (rerun the same command once that is fixed)") from None
                    log(f"a worker failed to start ({start_errors[-1]}); starting another")
                    start_worker()
                    continue
                if not same_code(provenance["code_version"], version):
                    raise RunError(f"node {node_id[:12]} ({host}) runs {version}, this driver "
                                   f"{provenance['code_version']}; a sample's bytes depend on the code, so every "
                                   "node must run the same version; fix: install the same headpose-synth on every "
                                   "node (and restart its `ray start`), then rerun the same command")
                inflight[actor], nodes[actor] = 0, node_id
                submit()
                continue
            actor, entry, attempt, notes = pending.pop(ref)
            if actor in inflight:
                inflight[actor] -= 1
            try:
                rec = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - classified below
                err = task_error(exc)
                if isinstance(err, CONFIG_ERRORS):
                    raise err from None   # the message --workers 1 gives; retrying cannot help
                disk = is_disk_error(err)
                if disk is not None:
                    raise DiskError(str(disk)) from None
                if "No space left" in str(err) or "Read-only file system" in str(err):
                    raise DiskError(f"cannot write {out}: {one_line(err)}") from None
                if isinstance(exc, ray.exceptions.RayActorError):
                    if actor in inflight:  # replace a dead actor once, however many queued tasks fail with it
                        log(f"{entry['file']}: worker died on node {str(nodes.get(actor))[:12]} "
                            f"({one_line(exc)}); starting a new one")
                        del inflight[actor]
                        _kill(ray, actor)  # "unavailable" may be a cut-off node: keep it from writing on
                        start_worker()
                    remove_partial(out, entry)  # a dead worker cannot remove its temporary file
                notes = notes + [attempt_note(attempt, nodes.get(actor), exc)]
                if attempt >= retries:
                    state["failures"].append(describe_failure(entry, exc))
                else:
                    log(f"{entry['file']}: attempt {attempt + 1} failed ({one_line(err)}); retrying")
                    queue.append((entry, attempt + 1, notes))
                submit()
                continue
            submit()  # keep the actors busy before the (fsynced) manifest write
            record(dict(rec, retried=notes))
            rendered += 1
            if bar is not None:
                bar.update(int(rec["count"]))
        return rendered
    finally:
        for actor in starting.values():  # replacements still waiting for a CPU
            _kill(ray, actor)
        if started_here:
            ray.shutdown()
