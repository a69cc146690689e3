"""Where a fit runs: :func:`fit` trains in this process (:func:`train.engine.run_fit`) or, with
``num_workers > 0``, on Ray Train (``train fit --num-workers N``: multi-GPU / multi-node).

Each Ray Train worker runs :func:`train.engine.run_fit` with a
:class:`DistContext`: the model is wrapped in DistributedDataParallel
(``ray.train.torch.prepare_model``; gloo on CPU, NCCL on GPU), each worker
reads a disjoint stride of the same seeded epoch schedule
(``DistributedSampler`` without shuffling; the dataset's schedule already is
a seeded permutation), gradients are averaged, and rank 0 alone evaluates,
writes checkpoints, ``history.csv`` and the report into ``--out``. On a
cluster ``--out`` must therefore be a path every node can write (shared
storage); Ray's own run state goes to ``<out>/ray``. The per-worker batch is
the recipe's batch size, so the effective batch is ``num_workers`` times
larger (scale ``--lr`` if you want the single-process schedule).

``ray_address`` (or ``RAY_ADDRESS``) joins a running cluster; otherwise a
local Ray instance is started with ``num_workers`` CPUs (+ GPUs when asked).
A cluster with fewer CPUs (GPUs with ``use_gpu``) than ``num_workers`` is
refused before anything starts. Every node must run the same code (this package
and torch): Ray starts the workers with each node's own installation.

Per worker and epoch, the history (``history.csv``, the checkpoints) records
``worker{r}_node`` (the Ray node id of rank r), ``worker{r}_samples`` (items it
trained on), ``worker{r}_samples_per_s`` and ``worker{r}_positions`` (a digest
of the epoch positions its sampler gave it, ``positions_digest``), so a run
shows which node trained what and that every rank took part in every epoch once.

Node loss: Ray Train runs with no restarts, so a worker whose node is lost
fails the run; :func:`fit_on_ray` then raises :class:`WorkerLostError` (one line:
the lost node, the last complete epoch, and "rerun the same command", which
resumes from ``checkpoints/last.pt`` once the cluster has the workers' CPUs again).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from train.checkpoints import read_checkpoint
from train.engine import FitConfig, FitResult, check_run_folder, run_fit
from train.errors import FitError

#: seconds to wait, after a failed run, for Ray to mark a lost node dead (its health checks)
NODE_DEATH_WAIT_S = 30.0


class WorkerLostError(FitError):
    """A Ray Train worker's node left the cluster mid-run (exit code 1: rerun to resume)."""

    exit_code = 1


def fit(cfg: FitConfig, log: Callable[[str], None] | None = None) -> FitResult:
    """Train ``cfg.model`` (see :mod:`train.engine`): on Ray Train when ``cfg.num_workers > 0``, else here."""
    if cfg.num_workers > 0:
        return fit_on_ray(cfg, log)
    return run_fit(cfg, log)


def positions_digest(positions) -> str:
    """12 hex digits identifying a list of epoch positions (int64 bytes, SHA-1)."""
    import numpy as np

    return hashlib.sha1(np.asarray(list(positions), dtype=np.int64).tobytes()).hexdigest()[:12]


@dataclass
class DistContext:
    """What the engine needs from Ray Train inside one worker."""

    rank: int
    world_size: int
    device: torch.device
    node_id: str = ""
    _sampler: object = None

    def wrap_model(self, model):
        import ray.train.torch

        return ray.train.torch.prepare_model(model, parallel_strategy_kwargs={"find_unused_parameters": True})

    def sampler(self, dataset):
        self._sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=self.world_size, rank=self.rank,
                                                            shuffle=False, drop_last=False)
        return self._sampler

    def reduce_stats(self, stats: dict) -> dict:
        """Sum samples and seconds-weighted loss over workers (mean loss over every sample)."""
        import torch.distributed as tdist

        t = torch.tensor([stats["train_loss"] * stats["samples"], float(stats["samples"]), stats["seconds"]],
                         dtype=torch.float64)
        tdist.all_reduce(t)
        out = dict(stats)
        out["samples"] = int(t[1])
        out["train_loss"] = float(t[0] / max(t[1], 1))
        out["seconds"] = float(t[2] / self.world_size)
        out["samples_per_s"] = out["samples"] / out["seconds"] if out["seconds"] > 0 else float("nan")
        mine = {"node": self.node_id, "samples": int(stats["samples"]),
                "samples_per_s": stats["samples"] / stats["seconds"] if stats["seconds"] > 0 else float("nan"),
                "positions": positions_digest(iter(self._sampler)) if self._sampler is not None else ""}
        every: list = [None] * self.world_size
        tdist.all_gather_object(every, mine)
        for r, w in enumerate(every):
            out.update({f"worker{r}_{k}": v for k, v in w.items()})
        return out

    def report(self, row: dict) -> None:
        import ray.train

        ray.train.report({k: v for k, v in row.items() if isinstance(v, (int, float))})


def _worker_loop(config: dict) -> None:
    import ray.train
    import ray.train.torch

    try:  # relative --data/--val paths mean what they mean to the driver (shared storage: same path everywhere)
        os.chdir(config["cwd"])
    except OSError:
        pass  # absolute paths still work; a relative one then fails naming itself
    ctx = ray.train.get_context()
    dist = DistContext(ctx.get_world_rank(), ctx.get_world_size(), ray.train.torch.get_device(),
                       node_id=ray.get_runtime_context().get_node_id())
    run_fit(FitConfig(**config["fit"]), dist=dist)


def fit_on_ray(cfg: FitConfig, log: Callable[[str], None] | None = None) -> FitResult:
    """Run ``cfg`` on ``cfg.num_workers`` Ray Train workers; returns the engine's FitResult read back from ``out``."""
    try:
        import ray
        from ray.train import RunConfig, ScalingConfig
        from ray.train.torch import TorchTrainer
    except ImportError as exc:
        raise FitError(f"--num-workers needs Ray Train ({exc}); install it with: pip install 'ray[train]'") from exc

    out = Path(cfg.out).resolve()
    if not cfg.data:
        raise FitError("no training data: give at least one --data KIND:PATH[:WEIGHT]")
    cfg.check()
    check_run_folder(out)
    if cfg.use_gpu and not cfg.ray_address and not torch.cuda.is_available():
        raise FitError("--use-gpu asked for, but this machine has no GPU; drop --use-gpu or pass --ray-address of a GPU cluster")
    started_here = not ray.is_initialized()
    if started_here:
        address = cfg.ray_address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=True)
        else:
            ray.init(num_cpus=cfg.num_workers, num_gpus=torch.cuda.device_count() if cfg.use_gpu else 0,
                     include_dashboard=False, log_to_driver=True)
    try:
        _check_resources(ray, cfg, address=cfg.ray_address or os.environ.get("RAY_ADDRESS") or "local")
        nodes_before = _alive_nodes(ray)
    except FitError:
        if started_here:
            ray.shutdown()
        raise
    worker_cfg = dataclasses.replace(cfg, out=str(out), num_workers=0, device="auto" if cfg.use_gpu else "cpu")
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={"fit": dataclasses.asdict(worker_cfg), "cwd": os.getcwd()},
        scaling_config=ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu),
        run_config=RunConfig(name="fit", storage_path=str(out / "ray")),
    )
    try:
        trainer.fit()
    except Exception as exc:  # Ray wraps worker errors: one line naming the cause
        raise _failure(ray, exc, out, nodes_before) from None
    finally:
        if started_here:   # leave no Ray instance behind: a later ray.init in this process gets its own env
            ray.shutdown()
    state = read_checkpoint(out / "checkpoints" / "last.pt", {"best": dict, "history": list})
    best = state["best"]
    result = FitResult(out, int(best["epoch"]), float(best["score"]), list(state["history"]))
    return result


def _alive_nodes(ray) -> dict[str, str]:
    """Alive node id -> its address, as Ray lists them now."""
    return {n["NodeID"]: n.get("NodeManagerAddress", "?") for n in ray.nodes() if n.get("Alive")}


def _check_resources(ray, cfg, address: str) -> None:
    """Refuse a run the cluster cannot place (Ray Train would wait for the resources)."""
    total = ray.cluster_resources()
    kind = "GPU" if cfg.use_gpu else "CPU"
    have = int(total.get(kind, 0))
    if have < cfg.num_workers:
        raise FitError(f"the Ray cluster ({address}) has {have} {kind}s, --num-workers {cfg.num_workers} needs "
                       f"{cfg.num_workers} (one per worker); fix: start more nodes (`ray start --address ...`) or "
                       "lower --num-workers (a run folder may resume with another worker count)")


def _first_line(exc: BaseException) -> str:
    """The most telling line of a Ray Train failure: a worker's own error (its last traceback line)."""
    failures = getattr(exc, "worker_failures", None) or {}
    for rank, err in sorted(failures.items()):
        if "Actor" in type(err).__name__:  # the worker process is gone: Ray's text is about its RPCs
            return f"worker {rank}: {type(err).__name__}"
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        if lines:
            return f"worker {rank}: {lines[-1][:300]}"
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.startswith("Training failed")]
    return f"{type(exc).__name__}: {lines[-1][:300] if lines else ''}"


def _failure(ray, exc: BaseException, out: Path, nodes_before: dict[str, str]) -> FitError:
    """The FitError for a failed Ray Train run: WorkerLostError when a node that was alive at the start
    is gone (waiting up to NODE_DEATH_WAIT_S for Ray's health checks to notice)."""

    text = f"{exc!r} {exc}"
    died = any(w in text for w in ("ActorDiedError", "ActorUnavailableError", "died", "unavailable", "Socket closed",
                                   "Connection closed", "Connection reset", "NodeDied"))
    lost: dict[str, str] = {}
    deadline = time.monotonic() + (NODE_DEATH_WAIT_S if died else 0.0)
    while True:
        try:
            alive = _alive_nodes(ray)
        except Exception:  # noqa: BLE001 - the head itself is gone
            alive = {}
        lost = {k: v for k, v in nodes_before.items() if k not in alive}
        if lost or time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    try:
        done = len(read_checkpoint(out / "checkpoints" / "last.pt", {"history": list})["history"])
        resume = f"{done} epoch(s) complete in {out}/checkpoints/last.pt"
    except FitError:
        resume = "no epoch was complete yet"
    if lost:
        names = ", ".join(f"{k[:12]} ({v})" for k, v in sorted(lost.items()))
        return WorkerLostError(f"Ray Train lost node(s) {names} mid-run ({_first_line(exc)}); {resume}; fix: rerun the "
                               "same command once the cluster again has a CPU (a GPU with --use-gpu) per worker; it "
                               "resumes from there")
    return FitError(f"Ray Train run failed: {_first_line(exc)}; {resume}")
