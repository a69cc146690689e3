"""Render a run into resumable HDF5 shards, in-process or on Ray.

``render_run(cfg, out, n, shard_size, workers, address)`` plans shards
(shard k = sample indices ``[k*S, min((k+1)*S, n))``), skips the shards the
folder's manifest already lists (after checking them), and renders the rest:

* ``workers`` 0 or 1, or one shard left to render, and no cluster: in this
  process, no Ray start-up (~8 s here; one shard has no second worker to use);
* otherwise a pool of Ray actors (``ShardWorker``), each building one
  SampleMaker (head bank + renderer + GL context) once, then rendering one
  shard per task, with up to ``QUEUE_DEPTH`` (2) tasks queued per actor so
  that it starts its next shard while the driver records the last one.
  Locally: ``ray.init(num_cpus=workers, include_dashboard=False)``.

Both paths call the same :func:`render_shard` -> :func:`make_sample` code, so a
sample's bytes depend only on (config, seed, index): ``--workers 1`` and
``--workers 2`` give identical labels and images.

Files: every shard is written as ``shard-00012.h5.tmp-<uuid>`` and renamed to
``shard-00012.h5`` only when complete (fsynced); ``manifest.json`` (written
atomically: temporary file + ``os.replace``) is updated by the driver after each
completed shard and lists shards, counts, index ranges, sha256, the config hash
and the resolved config. It is written before the first shard, so the folder
is claimed by its config from the start; a run that fails before its first
shard withdraws that claim (``synth.run_folder.withdraw_claim``), so the
corrected rerun is not refused.

Resume: rerunning the same command re-renders only what is missing
(``synth.run_folder.prepare_folder``: stale ``*.tmp-*`` files removed, listed
shards checked, bad ones set aside as ``*.corrupt-<time>``, a folder of another
config or plan refused, naming the keys that differ and the fix).

Failures: a failing sample is retried in place; a failing shard task is retried
``retries`` times (on a fresh actor if its actor died: one replacement per
dead actor, whose temporary files the driver removes); a sample that keeps
failing is reported with its index and seed, the other shards still finish,
and the run ends with :class:`ShardsFailed`. Disk errors (no space, read-only,
permission, quota) stop the run at once: what was written stays listed in the
manifest, the temporary file is removed. A configuration error (``ConfigError``,
``HeadBankError``, an unknown maker) stops the run at once with its own one-line
message, whether it comes up in this process or while a Ray actor starts; user
head meshes are loaded once in the driver before any actor starts. Errors from
Ray actors are reported as the original exception, without Ray's traceback text.

Ghosts: each actor of a local Ray watches its driver's process and exits within
``DRIVER_POLL_S`` when the driver is gone (killed), so no shard is written into
``out`` after its driver died and a rerun never races with the old run's actors.
On a cluster, Ray's own fate sharing ends a dead driver's actors.

Cluster: ``address="auto"`` / ``ray://host:10001`` (or ``RAY_ADDRESS``) joins an
existing Ray cluster; ``workers`` actors (default: the cluster's CPU count) are
spread over it and each writes its shards directly into ``out``, so ``out``
must be the same shared path (NFS, Lustre, ...) on every node; only the driver
writes the manifest. Run one driver per output folder.

Tests swap the sample maker by name: ``maker="synth.runner:sphere_sample_maker"``
(procedural sphere heads, no head bank) -- a "module:function" string so Ray
workers can import it; the default is :func:`make_sample_maker`, the real
:class:`synth.pipeline.SampleMaker`.
"""
from __future__ import annotations

import dataclasses
import errno
import importlib
import json
import os
import re
import sys
import threading
import time
from pathlib import Path

from synth.config import ConfigError, SynthConfig, config_to_dict
from synth.heads.bank import HeadBankError
from synth.run_folder import RunError, ShardsFailed, prepare_folder, withdraw_claim
from synth.shards import DEFAULT_COMPRESSION, TMP_MARKER, ShardWriter, code_version, now_iso, write_manifest

DEFAULT_MAKER = "synth.runner:make_sample_maker"
DEFAULT_SHARD_SIZE = 1024
#: errno values that retrying cannot fix: stop the run and say so.
DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}
#: Shard tasks queued per Ray actor: 2 = the next shard starts while the driver records the last.
QUEUE_DEPTH = 2
#: Seconds between an actor's checks that its (local) driver process is still alive.
DRIVER_POLL_S = 0.1
#: Errors that mean the run's configuration is wrong: raised as they are, never retried.
CONFIG_ERRORS = (ConfigError, HeadBankError, RunError)


class SampleError(Exception):
    """A sample that failed repeatedly: carries its index and seed."""

    def __init__(self, index: int, seed: int, error: str):
        super().__init__(f"sample index {index} (seed {seed}) failed: {error}")
        self.index, self.seed, self.error = index, seed, error

    def __reduce__(self):
        return (SampleError, (self.index, self.seed, self.error))


class DiskError(Exception):
    """Writing the output failed for a reason a retry cannot fix (full, read-only, ...)."""


# --- sample makers ----------------------------------------------------------------------------

def make_sample_maker(cfg: SynthConfig, seed: int):
    """The real per-process sample maker: head bank + renderer (built once per actor)."""
    from synth.pipeline import SampleMaker

    return SampleMaker(cfg, seed)


class SphereHeadBank:
    """A head bank of procedural sphere heads (synth.render.testmeshes), for tests and benchmarks."""

    def __init__(self, size: int):
        self.size = int(size)
        self._heads: dict = {}

    def __len__(self) -> int:
        return self.size

    def get(self, identity: int):
        from synth.render.testmeshes import sphere_head

        h = self._heads.get(identity)
        if h is None:
            h = self._heads[identity] = sphere_head(90.0, identity=int(identity))
        return h

    def describe(self) -> dict:
        return {"source": "synth.render.testmeshes.sphere_head", "pool_size": self.size}


def sphere_sample_maker(cfg: SynthConfig, seed: int):
    """A real SampleMaker (real renderer and effects) over sphere heads: no head-bank build."""
    from synth.pipeline import SampleMaker

    return SampleMaker(cfg, seed, head_bank=SphereHeadBank(cfg.heads.pool_size))


#: llvmpipe rasterizer threads per Ray actor unless LP_NUM_THREADS is set: "0" rasterizes in the
#: actor's own thread. N actors on N cores would otherwise oversubscribe them (2 workers at 256x256:
#: 237 vs 201 samples/s with 1 thread against llvmpipe's default in bench/render_speed.py), and the
#: hand-off to a rasterizer thread costs ~0.3 ms per frame over "0" (bench/render_throughput.py).
ACTOR_LP_THREADS = "0"


def resolve_maker(name: str):
    """Import a ``module:function`` sample-maker factory."""
    mod, _, fn = name.partition(":")
    try:
        return getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError, ValueError) as exc:
        raise RunError(f"--maker {name!r} is not importable ({exc}); fix: give module:function") from None


def preflight(cfg: SynthConfig, maker: str, load_meshes: bool = False) -> None:
    """Check in the driver, before anything is written, what would otherwise fail in every worker (RunError /
    HeadBankError / ConfigError naming the maker or file): the maker imports; with ``heads.source: user``,
    the mesh folder's manifest parses and lists existing files, and with ``load_meshes`` every mesh loads
    (asked for when Ray actors would each load them; in one process the worker's own load is the check)."""
    resolve_maker(maker)
    if cfg.heads.source != "user":
        return
    if load_meshes:
        from synth.pipeline import build_head_bank

        build_head_bank(cfg, cfg.seed)
    else:
        from synth.heads import build_head_bank

        build_head_bank("user", folder=cfg.heads.user_folder)


def make_sample(maker, cfg: SynthConfig, index: int) -> dict:
    """One stored sample: ``maker.make(index)`` plus the depth sensor model when configured."""
    from synth.depth import add_depth_noise

    return add_depth_noise(maker.make(index), cfg)


def renderer_info(maker) -> tuple[str, str]:
    r = getattr(maker, "renderer", None)
    return str(getattr(r, "name", type(r).__name__)), str(getattr(r, "version", "unknown"))


# --- one shard --------------------------------------------------------------------------------

def render_shard(maker, cfg: SynthConfig, out: str | Path, entry: dict, provenance: dict,
                 compression: str = DEFAULT_COMPRESSION, sample_retries: int = 2, progress=None) -> dict:
    """Render ``entry`` (from :func:`plan_shards`) into ``out``; returns its manifest record.

    Raises SampleError (a sample failed ``sample_retries + 1`` times) or DiskError.
    """
    name, version = renderer_info(maker)
    attrs = dict(provenance, renderer_name=name, renderer_version=version, created=now_iso(),
                 shard_index=entry["shard"], index_start=entry["start"], index_stop=entry["stop"])
    path = Path(out) / entry["file"]
    t0 = time.perf_counter()
    writer = ShardWriter(path, entry["count"], attrs, compression=compression)
    try:
        for index in range(entry["start"], entry["stop"]):
            for attempt in range(sample_retries + 1):
                try:
                    sample = make_sample(maker, cfg, index)
                    break
                except Exception as exc:  # noqa: BLE001 - retried, then reported with index and seed
                    if attempt == sample_retries:
                        raise SampleError(index, maker.seed, f"{type(exc).__name__}: {exc}") from exc
            writer.append(sample)
            if progress is not None:
                progress(1)
        rec = writer.close()
    except OSError as exc:
        writer.abort()
        if exc.errno in DISK_ERRNOS or "No space" in str(exc) or "Read-only" in str(exc):
            raise DiskError(f"cannot write {path.parent}: {exc.strerror or exc}") from exc
        raise
    except BaseException:
        writer.abort()
        raise
    return dict(entry, **rec, renderer=f"{name} ({version})", seconds=round(time.perf_counter() - t0, 3))


class _LocalWorker:
    """In-process worker: one maker, the same render_shard path as the Ray actor."""

    def __init__(self, maker_name: str, cfg: SynthConfig, seed: int):
        self.cfg = cfg
        self.maker = resolve_maker(maker_name)(cfg, seed)

    def render(self, out, entry, provenance, compression, progress=None):
        return render_shard(self.maker, self.cfg, out, entry, provenance, compression, progress=progress)

    def close(self):
        close = getattr(self.maker, "close", None)
        if close:
            close()


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (/proc/PID/stat field 22): tells it from a later one with its pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def driver_alive(pid: int, start: str | None) -> bool:
    """True while process ``pid`` (started at ``start``, see :func:`_process_start`) runs and is no zombie."""
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


def _ray_worker_class():
    import ray

    @ray.remote(num_cpus=1, max_restarts=0)
    class ShardWorker:
        """Ray actor: builds the SampleMaker once, renders one shard per call.

        A configuration error while building it is kept and raised by every call (so the driver
        gets the error itself instead of a dead actor); ``driver``: (pid, start) of a driver on this
        machine to outlive by at most DRIVER_POLL_S, or None.
        """

        def __init__(self, maker_name, cfg, seed, driver=None):
            os.environ.setdefault("PYTHONUNBUFFERED", "1")
            if driver is not None:
                _exit_when_driver_dies(*driver)
            self.local, self.error = None, None
            try:
                self.local = _LocalWorker(maker_name, cfg, seed)
            except CONFIG_ERRORS as exc:
                self.error = exc

        def ready(self):
            if self.error is not None:
                raise self.error
            return renderer_info(self.local.maker)

        def render(self, out, entry, provenance, compression):
            if self.error is not None:
                raise self.error
            return self.local.render(out, entry, provenance, compression)

    return ShardWorker


# --- the run ----------------------------------------------------------------------------------

@dataclasses.dataclass
class RunResult:
    out: Path
    n: int
    rendered_shards: int
    skipped_shards: int
    seconds: float
    samples_per_s: float
    manifest: dict


def render_run(cfg: SynthConfig, out: str | Path, n: int, shard_size: int = DEFAULT_SHARD_SIZE,
               workers: int = 1, address: str | None = None, maker: str = DEFAULT_MAKER,
               retries: int = 3, compression: str | None = None, verify: bool = False,
               progress: bool = True, log=None) -> RunResult:
    """Render (or resume) a run; see the module doc. Raises RunError with the fix on failure (ShardsFailed
    when shards kept failing), ConfigError / HeadBankError for a configuration that cannot render.

    compression: shard image compression (None = ``synth.shards.DEFAULT_COMPRESSION``).
    """
    compression = compression or DEFAULT_COMPRESSION
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    out = Path(out)
    t0 = time.perf_counter()
    if retries < 0:
        raise RunError(f"--retries {retries}: fix: give 0 or more")
    address = address or os.environ.get("RAY_ADDRESS") or None
    # before anything is written; with Ray in view, every user mesh once here rather than once per actor
    preflight(cfg, maker, load_meshes=bool(address) or workers > 1)
    prepared = prepare_folder(cfg, out, n, shard_size, verify=verify, log=log)
    try:
        return _render(cfg, out, n, prepared, workers, address, maker, retries, compression, progress, log, t0)
    except BaseException:
        if not prepared.manifest["shards"]:   # failed before its first shard: leave no claim on the folder
            withdraw_claim(out, prepared)
        raise


def _render(cfg, out, n, prepared, workers, address, maker, retries, compression, progress, log, t0) -> RunResult:
    manifest, todo = prepared.manifest, prepared.todo
    skipped = len(manifest["shards"])
    if skipped:
        log(f"{out}: {skipped} shards already complete, {len(todo)} to render")
    provenance = {"config_json": json.dumps(config_to_dict(cfg), sort_keys=True),
                  "config_hash": manifest["config_hash"], "code_version": code_version()}
    state = {"manifest": manifest, "failures": []}
    done_samples = sum(int(r["count"]) for r in manifest["shards"])
    bar = _progress_bar(n, done_samples, progress)

    def record(rec: dict) -> None:
        m = state["manifest"]
        m["shards"] = sorted([r for r in m["shards"] if r["file"] != rec["file"]] + [rec], key=lambda r: r["start"])
        m["complete"] = len(m["shards"]) == m["n_shards"]
        m.setdefault("renderer", rec.get("renderer"))
        try:
            write_manifest(out, m)
        except OSError as exc:
            raise DiskError(f"cannot write {out / 'manifest.json'}: {exc.strerror or exc}") from exc

    rendered = 0
    try:
        if todo:
            if address is None and (workers <= 1 or len(todo) == 1):
                rendered = _run_local(cfg, out, todo, provenance, maker, retries, compression, record, bar,
                                      state, log)
            else:
                rendered = _run_ray(cfg, out, todo, provenance, maker, retries, compression, record, bar,
                                    state, log, workers, address)
    except DiskError as exc:
        kept = len(state["manifest"]["shards"])
        raise RunError(f"{exc}; fix: free space / make {out} writable (or choose another --out), then rerun "
                       f"the same command to resume: the {kept} complete shards already written are kept and "
                       "listed in manifest.json") from None
    finally:
        if bar is not None:
            bar.close()
    if state["failures"]:
        lines = "\n  ".join(state["failures"])
        raise ShardsFailed(f"{out}: {len(state['failures'])} shard(s) failed after {retries} retries:\n  {lines}\n"
                       "fix: look at the sample(s) above (`synth sample --index I --render x.png` with the same "
                       "config), fix the cause, then rerun the same command: finished shards are kept")
    dt = time.perf_counter() - t0
    rendered_samples = sum(e["count"] for e in todo)
    return RunResult(out, n, rendered, skipped, dt, rendered_samples / max(dt, 1e-9), state["manifest"])


def _progress_bar(n: int, initial: int, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # a declared dependency, but never fail a render over a progress bar
        return _PlainProgress(n, initial)
    return tqdm(total=n, initial=initial, unit="sample", dynamic_ncols=True, smoothing=0.1,
                desc="render", file=sys.stderr)


class _PlainProgress:
    """Minimal stand-in for tqdm: a line to stderr at most every 5 s."""

    def __init__(self, total: int, initial: int):
        self.total, self.n, self._n0 = total, initial, initial
        self._t0 = self._last = time.perf_counter()

    def update(self, k: int = 1) -> None:
        self.n += k
        now = time.perf_counter()
        if now - self._last > 5 or self.n >= self.total:
            rate = (self.n - self._n0) / max(now - self._t0, 1e-9)
            eta = (self.total - self.n) / max(rate, 1e-9)
            print(f"render {self.n}/{self.total} samples, {rate:.1f} samples/s, ETA {eta:.0f} s",
                  file=sys.stderr, flush=True)
            self._last = now

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _one_line(exc: BaseException) -> str:
    """``Type: first line of the message``, without terminal colour codes (Ray colours its own text)."""
    text = _ANSI.sub("", str(exc)).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _task_error(exc: BaseException) -> BaseException:
    """The exception a Ray task raised, unwrapped from Ray's RayTaskError (whose text is the remote
    traceback); any other exception as it is."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def _describe_failure(entry: dict, exc: BaseException) -> str:
    cause = exc
    while cause is not None and not isinstance(cause, SampleError):
        cause = getattr(cause, "cause", None) or cause.__cause__
    if isinstance(cause, SampleError):
        return f"{entry['file']}: {_ANSI.sub('', str(cause))}"
    return f"{entry['file']} (indices {entry['start']}..{entry['stop'] - 1}): {_one_line(_task_error(exc))}"


def _is_disk_error(exc: BaseException) -> DiskError | None:
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, DiskError):
            return exc
        exc = getattr(exc, "cause", None) or exc.__cause__
        seen += 1
    return None


def _run_local(cfg, out, todo, provenance, maker, retries, compression, record, bar, state, log) -> int:
    worker = _LocalWorker(maker, cfg, cfg.seed)
    rendered = 0
    try:
        for entry in todo:
            for attempt in range(retries + 1):
                try:
                    rec = worker.render(out, entry, provenance, compression,
                                        progress=bar.update if bar is not None else None)
                    record(rec)
                    rendered += 1
                    break
                except (DiskError, *CONFIG_ERRORS):
                    raise
                except Exception as exc:  # noqa: BLE001 - retried, then reported
                    if bar is not None:  # undo the partial shard's progress
                        bar.n = sum(int(r["count"]) for r in state["manifest"]["shards"])
                        bar.refresh()
                    if attempt == retries:
                        state["failures"].append(_describe_failure(entry, exc))
                    else:
                        log(f"{entry['file']}: attempt {attempt + 1} failed ({type(exc).__name__}: {exc}); retrying")
    finally:
        worker.close()
    return rendered


def _remove_partial(out: Path, entry: dict) -> None:
    """Remove the temporary files of ``entry``'s shard (only while no worker is writing that shard)."""
    for p in Path(out).glob(f"{entry['file']}{TMP_MARKER}*"):
        try:
            p.unlink()
        except OSError:
            pass


def _run_ray(cfg, out, todo, provenance, maker, retries, compression, record, bar, state, log,
             workers, address) -> int:
    import ray

    started_here = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=True, configure_logging=False)
        else:
            # workers import synth from the same checkout as this driver (installed or not)
            root = str(Path(__file__).resolve().parents[1])
            pypath = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
            lp_threads = os.environ.get("LP_NUM_THREADS", ACTOR_LP_THREADS)
            ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=True,
                     configure_logging=False, logging_level="ERROR",
                     runtime_env={"env_vars": {"PYTHONPATH": pypath, "LP_NUM_THREADS": lp_threads}})
        started_here = True
    try:
        if address and workers <= 0:
            workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        workers = max(1, min(workers, len(todo)))
        Worker = _ray_worker_class()
        # env for workers: the output dir must be visible at the same path; cwd importable
        # Each actor gets up to QUEUE_DEPTH shard tasks at once (Ray runs an actor's calls in order), so
        # it starts its next shard the moment one finishes instead of idling through the driver's
        # round trip (result -> manifest write + fsync -> next submit).
        # a driver on this machine is watched by its actors (module doc: ghosts); Ray ends a cluster's
        driver = None if address else (os.getpid(), _process_start(os.getpid()))
        inflight = {Worker.remote(maker, cfg, cfg.seed, driver): 0 for _ in range(workers)}
        pending: dict = {}
        queue = [(e, 0) for e in todo]
        rendered = 0

        def submit():
            while queue and inflight:
                actor = min(inflight, key=inflight.get)
                if inflight[actor] >= QUEUE_DEPTH:
                    return
                entry, attempt = queue.pop(0)
                ref = actor.render.remote(str(out), entry, provenance, compression)
                pending[ref] = (actor, entry, attempt)
                inflight[actor] += 1

        submit()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            actor, entry, attempt = pending.pop(ref)
            if actor in inflight:
                inflight[actor] -= 1
            try:
                rec = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - classified below
                err = _task_error(exc)
                if isinstance(err, CONFIG_ERRORS):
                    raise err from None   # the message --workers 1 gives; retrying cannot help
                disk = _is_disk_error(err)
                if disk is not None:
                    raise DiskError(str(disk)) from None
                if "No space left" in str(err) or "Read-only file system" in str(err):
                    raise DiskError(f"cannot write {out}: {_one_line(err)}") from None
                if isinstance(exc, ray.exceptions.RayActorError):
                    _remove_partial(out, entry)  # a dead worker cannot remove its temporary file
                    if actor in inflight:  # replace a dead actor once, however many queued tasks fail with it
                        log(f"{entry['file']}: worker died ({_one_line(exc)}); starting a new one")
                        del inflight[actor]
                        inflight[Worker.remote(maker, cfg, cfg.seed, driver)] = 0
                if attempt >= retries:
                    state["failures"].append(_describe_failure(entry, exc))
                else:
                    log(f"{entry['file']}: attempt {attempt + 1} failed ({_one_line(err)}); retrying")
                    queue.append((entry, attempt + 1))
                submit()
                continue
            submit()  # keep the actors busy before the (fsynced) manifest write
            record(rec)
            rendered += 1
            if bar is not None:
                bar.update(int(rec["count"]))
        return rendered
    finally:
        if started_here:
            ray.shutdown()
