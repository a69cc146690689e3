"""Render a run into resumable HDF5 shards, in-process or on Ray.

``render_run(cfg, out, n, shard_size, workers, address)`` plans shards
(shard k = sample indices ``[k*S, min((k+1)*S, n))``), skips the shards the
folder's manifest already lists (after checking them), and renders the rest:

* ``workers`` 0 or 1, or one shard left to render, and no cluster: in this
  process, no Ray start-up (~8 s here; one shard has no second worker to use);
* otherwise a pool of Ray actors (:mod:`synth.ray_pool`), each building one
  SampleMaker (head bank + renderer + GL context) once, then rendering one
  shard per task, with up to ``QUEUE_DEPTH`` (2) tasks queued per actor so
  that it starts its next shard while the driver records the last one.
  Locally: ``ray.init(num_cpus=workers, include_dashboard=False)``.

Every shard record in the manifest also says where it was rendered (``node_id``:
the Ray node id, None in this process; ``host``) and which attempts failed
before (``retried``: one line each, with the node and the error; empty when
the first attempt succeeded). A shard adopted on resume (complete on disk but
not yet listed when the driver died) says ``adopted: true``, with no node.

Both paths call the same :func:`render_shard` -> ``maker.make`` code, so a
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
``out`` after its driver died and a rerun never races with the old run's actors
(:mod:`synth.ray_pool`). On a cluster, Ray's own fate sharing ends a dead
driver's actors.

Cluster: ``address="auto"`` / ``ray://host:10001`` (or ``RAY_ADDRESS``) joins an
existing Ray cluster; ``workers`` actors (default: the cluster's CPU count) are
spread over it and each writes its shards directly into ``out``, so ``out``
must be the same shared path (NFS, Lustre, ...) on every node; only the driver
writes the manifest. Run one driver per output folder. Every node must run the
same version of this package (checked: a different one stops the run). A lost
node's shards are rendered again on the nodes left (:mod:`synth.ray_pool`).

Tests swap the sample maker by name: ``maker="synth.runner:sphere_sample_maker"``
(procedural sphere heads, no head bank) -- a "module:function" string so Ray
workers can import it; the default is ``make_sample_maker``, the real
:class:`synth.pipeline.SampleMaker` (both factories live in :mod:`synth.pipeline`).
"""
from __future__ import annotations

import dataclasses
import errno
import importlib
import json
import os
import socket
import sys
import time
from pathlib import Path

from synth.config import SynthConfig, config_to_dict
# the --maker names synth.runner:make_sample_maker / :sphere_sample_maker (CLI help; a suite's config records
# its base maker by name); the factories live with the per-sample path
from synth.pipeline import make_sample_maker, sphere_sample_maker  # noqa: F401
from synth.progress import progress_bar
from synth.ray_pool import ACTOR_LP_THREADS, DRIVER_POLL_S, QUEUE_DEPTH, run_on_ray  # noqa: F401 - re-exported
from synth.run_errors import (CONFIG_ERRORS, DiskError, RunError, SampleError, ShardsFailed, attempt_note,
                              describe_failure)
from synth.run_folder import prepare_folder, withdraw_claim
from synth.provenance import code_version, now_iso
from synth.shards import DEFAULT_COMPRESSION, ShardWriter, write_manifest

DEFAULT_MAKER = "synth.runner:make_sample_maker"
DEFAULT_SHARD_SIZE = 1024
#: errno values that retrying cannot fix: stop the run and say so.
DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}


# --- sample makers ----------------------------------------------------------------------------

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
    """One stored sample: ``maker.make(index)`` (the whole per-sample path, ``synth.pipeline``).

    The shard loop's one call per sample, so tests can make a sample fail; ``cfg`` is the run's.
    """
    return maker.make(index)


def renderer_info(maker) -> tuple[str, str]:
    r = getattr(maker, "renderer", None)
    return str(getattr(r, "name", type(r).__name__)), str(getattr(r, "version", "unknown"))


# --- one shard --------------------------------------------------------------------------------

def render_shard(maker, cfg: SynthConfig, out: str | Path, entry: dict, provenance: dict,
                 compression: str = DEFAULT_COMPRESSION, sample_retries: int = 2, progress=None) -> dict:
    """Render ``entry`` (from :func:`synth.run_folder.plan_shards`) into ``out``; returns its manifest record.

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
        self.node_id: str | None = None  # the Ray node id when inside a Ray actor

    def render(self, out, entry, provenance, compression, progress=None):
        rec = render_shard(self.maker, self.cfg, out, entry, provenance, compression, progress=progress)
        return dict(rec, node_id=self.node_id, host=socket.gethostname())

    def close(self):
        close = getattr(self.maker, "close", None)
        if close:
            close()


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
    bar = progress_bar(n, done_samples, progress)

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
                rendered = run_on_ray(cfg, out, todo, provenance, maker, retries, compression, record, bar,
                                      state, log, workers, address, _LocalWorker)
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


def _run_local(cfg, out, todo, provenance, maker, retries, compression, record, bar, state, log) -> int:
    worker = _LocalWorker(maker, cfg, cfg.seed)
    rendered = 0
    try:
        for entry in todo:
            retried: list[str] = []
            for attempt in range(retries + 1):
                try:
                    rec = worker.render(out, entry, provenance, compression,
                                        progress=bar.update if bar is not None else None)
                    record(dict(rec, retried=retried))
                    rendered += 1
                    break
                except (DiskError, *CONFIG_ERRORS):
                    raise
                except Exception as exc:  # noqa: BLE001 - retried, then reported
                    if bar is not None:  # undo the partial shard's progress
                        bar.n = sum(int(r["count"]) for r in state["manifest"]["shards"])
                        bar.refresh()
                    if attempt == retries:
                        state["failures"].append(describe_failure(entry, exc))
                    else:
                        log(f"{entry['file']}: attempt {attempt + 1} failed ({type(exc).__name__}: {exc}); retrying")
                        retried.append(attempt_note(attempt, None, exc))
    finally:
        worker.close()
    return rendered
