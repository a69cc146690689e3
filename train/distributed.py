"""Multi-GPU / multi-node training: the engine's loop on Ray Train (``train fit --num-workers N``).

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
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch


@dataclass
class DistContext:
    """What the engine needs from Ray Train inside one worker."""

    rank: int
    world_size: int
    device: torch.device

    def wrap_model(self, model):
        import ray.train.torch

        return ray.train.torch.prepare_model(model, parallel_strategy_kwargs={"find_unused_parameters": True})

    def sampler(self, dataset):
        return torch.utils.data.DistributedSampler(dataset, num_replicas=self.world_size, rank=self.rank,
                                                   shuffle=False, drop_last=False)

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
        return out

    def report(self, row: dict) -> None:
        import ray.train

        ray.train.report({k: v for k, v in row.items() if isinstance(v, (int, float))})


def _worker_loop(config: dict) -> None:
    import ray.train
    import ray.train.torch

    from train.engine import FitConfig, run_fit

    ctx = ray.train.get_context()
    dist = DistContext(ctx.get_world_rank(), ctx.get_world_size(), ray.train.torch.get_device())
    run_fit(FitConfig(**config["fit"]), dist=dist)


def fit_on_ray(cfg, log: Callable[[str], None] | None = None):
    """Run ``cfg`` on ``cfg.num_workers`` Ray Train workers; returns the engine's FitResult read back from ``out``."""
    try:
        import ray
        from ray.train import RunConfig, ScalingConfig
        from ray.train.torch import TorchTrainer
    except ImportError as exc:
        from train.engine import FitError

        raise FitError(f"--num-workers needs Ray Train ({exc}); install it with: pip install 'ray[train]'") from exc
    from train.engine import FitError, FitResult, check_run_folder, read_checkpoint

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
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=cfg.num_workers, num_gpus=torch.cuda.device_count() if cfg.use_gpu else 0,
                     include_dashboard=False, log_to_driver=True)
    worker_cfg = dataclasses.replace(cfg, out=str(out), num_workers=0, device="auto" if cfg.use_gpu else "cpu")
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={"fit": dataclasses.asdict(worker_cfg)},
        scaling_config=ScalingConfig(num_workers=cfg.num_workers, use_gpu=cfg.use_gpu),
        run_config=RunConfig(name="fit", storage_path=str(out / "ray")),
    )
    try:
        trainer.fit()
    except Exception as exc:  # Ray wraps worker errors; surface the first line of the cause
        raise FitError(f"Ray Train run failed: {exc}") from exc
    finally:
        if started_here:   # leave no Ray instance behind: a later ray.init in this process gets its own env
            ray.shutdown()
    state = read_checkpoint(out / "checkpoints" / "last.pt", {"best": dict, "history": list})
    best = state["best"]
    result = FitResult(out, int(best["epoch"]), float(best["score"]), list(state["history"]))
    return result
