"""One training loop for every registered model, in the torchvision-references style.

``run_fit(FitConfig)`` builds the model (``train.models.create_model``), the mixed
training set and the validation sets from data specs (``train.inputs``),
the paper's optimiser and schedule (the model's ``Recipe`` with overrides),
then runs ``train_one_epoch`` / ``evaluate`` per epoch. The run folder
(``cfg.out``) gets:

* ``config.json``: the resolved FitConfig and recipe;
* ``history.csv``: one row per epoch (train loss, per-set validation MAE, LR,
  time, samples/s), and TensorBoard events under ``tb/``;
* ``checkpoints/last.pt`` after every epoch (model, optimizer, scheduler,
  epoch, history, torch RNG state) and ``checkpoints/best.pt`` when the mean
  MAE on the first validation set improves (or every epoch without one);
  tensors and plain values only, read back without unpickling any Python
  object (``train.checkpoints``);
* ``report.md`` with the final evaluation of ``best.pt`` and the curves.

Determinism: weights are initialised after ``torch.manual_seed(seed)``; the
training set draws item ``i`` of epoch ``e`` from ``(seed, e, i)`` alone
(``train.data.mixing``), the loader does not shuffle (the dataset's epoch
schedule is already a seeded permutation), and the torch RNG state (dropout)
is saved with each checkpoint. Rerunning the same command after a crash
resumes from ``last.pt`` and, on CPU with ``deterministic=True``, ends with
the same weights as an uninterrupted run. A different config in an existing
run folder is refused with the keys that differ.

Mixed precision: bf16 autocast on CUDA when ``amp`` (CPU runs in fp32).
Multi-GPU / multi-node: ``num_workers > 0`` runs the same loop on Ray Train
(``train.distributed``), one process per worker with DDP; ``train.distributed.fit``
is the entry point that picks this process or Ray Train. Checkpoint files and
``load_model`` are :mod:`train.checkpoints`'.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import sys
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from train.checkpoints import RESUME_KEYS, checkpoint_path, load_model, read_checkpoint, save_checkpoint
from train.errors import FitError
from train.inputs import DataOptions, EvalSet, build_eval_sets, build_train_set, collate, default_augment, model_input
from train.models import PoseModel, Recipe, create_model, get_recipe
from train.models.registry import value_fits

#: FitConfig fields that do not change the result: a resumed run may change them.
RUNTIME_FIELDS = ("out", "loader_workers", "device", "log_every", "progress", "num_workers", "use_gpu",
                  "ray_address", "val_limit")


@dataclass
class FitConfig:
    """Everything a training run depends on.

    model / model_cfg: registry name and keyword config (``create_model``).
    data: training spec entries ``KIND:PATH[:WEIGHT]``; val: evaluation entries
    (the first selects the best checkpoint). epochs, batch_size, lr, recipe:
    overrides of the model's recipe (``recipe`` takes any Recipe field).
    epoch_size: training items per epoch (default: all sources once).
    angle_limit: the |angle| filter for 300W-LP/AFLW2000/BIWI (None = off);
    biwi_split / aflw_split: a committed BIWI / AFLW2000-3D split name. seed; deterministic: torch
    deterministic algorithms. device: ``auto`` | ``cpu`` | ``cuda``; amp: bf16
    on CUDA. loader_workers: DataLoader processes. num_workers / use_gpu /
    ray_address: Ray Train (0 = this process). augment: training augmentation
    (real sources: flip + blur; synthetic sources: ``train.data.photo_augment.PhotoAugment``
    with the field overrides in ``photo_augment``; the resolved values go to config.json).
    val_limit: cap per validation set (per epoch; the final report uses all samples). init: a run
    folder (its ``last.pt``) or checkpoint file of the same model whose weights start the fit
    (fine-tuning; the optimiser and schedule start fresh); None = the model's own initialisation.
    """

    model: str
    data: list[str]
    out: str
    val: list[str] = field(default_factory=list)
    model_cfg: dict[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    recipe: dict[str, Any] = field(default_factory=dict)
    epoch_size: int | None = None
    angle_limit: float | None = 99.0
    biwi_split: str | None = None
    aflw_split: str | None = None
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    amp: bool = True
    loader_workers: int = 0
    num_workers: int = 0
    use_gpu: bool = False
    ray_address: str | None = None
    augment: bool = True
    photo_augment: dict[str, Any] = field(default_factory=dict)
    val_limit: int | None = None
    init: str | None = None
    log_every: int = 50
    progress: bool = True

    def resolved_recipe(self) -> Recipe:
        base = get_recipe(self.model)
        changes = dict(self.recipe)
        for name in ("epochs", "batch_size", "lr"):
            if getattr(self, name) is not None:
                changes[name] = getattr(self, name)
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(Recipe)})
        if unknown:
            raise FitError(f"unknown recipe field(s) {', '.join(unknown)}; known: "
                           f"{', '.join(f.name for f in dataclasses.fields(Recipe))}")
        hints = typing.get_type_hints(Recipe)
        declared = {f.name: f.type for f in dataclasses.fields(Recipe)}
        for k, v in changes.items():
            if not value_fits(v, hints[k]):
                flag = f"--{k.replace('_', '-')}" if k in ("epochs", "batch_size", "lr") else f"--recipe {k}=VALUE"
                raise FitError(f"recipe field {k}={v!r}: expected {declared[k]}; fix: {flag} of that type")
        for k in ("milestones", "betas"):
            if k in changes:
                changes[k] = tuple(changes[k])
        recipe = dataclasses.replace(base, **changes)
        for k in ("epochs", "batch_size", "step_size"):
            if getattr(recipe, k) < 1:
                raise FitError(f"recipe field {k}={getattr(recipe, k)}: fix: give at least 1")
        if not 0 < recipe.lr < math.inf:
            raise FitError(f"learning rate {recipe.lr}: fix: give --lr > 0")
        return recipe

    def check(self) -> None:
        """FitError naming the option when a count or limit is out of range (before anything is written)."""
        for name, low in (("seed", 0), ("epoch_size", 1), ("val_limit", 1), ("loader_workers", 0), ("num_workers", 0)):
            value = getattr(self, name)
            if value is not None and value < low:
                raise FitError(f"--{name.replace('_', '-')} {value}: fix: give at least {low}")
        self.resolved_recipe()


@dataclass
class FitResult:
    """What a finished fit returns: the run folder, best epoch and score, and the per-epoch history."""

    out: Path
    best_epoch: int
    best_score: float
    history: list[dict]
    final: list = field(default_factory=list)   # list[train.metrics.EvalResult] for best.pt on the val sets


# --- pieces -------------------------------------------------------------------------------------

def pick_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FitError("--device cuda asked for, but torch sees no GPU; use --device cpu or auto")
    return torch.device(name)


def build_optimizer(model: PoseModel, recipe: Recipe) -> torch.optim.Optimizer:
    groups = model.param_groups(recipe.lr)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(groups, lr=recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    raise FitError(f"unknown optimizer {recipe.optimizer!r}; use adam, adamw or sgd")


def build_scheduler(opt: torch.optim.Optimizer, recipe: Recipe):
    """A per-epoch LR schedule (stepped after each epoch)."""
    if recipe.schedule == "none":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    if recipe.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, recipe.step_size, recipe.gamma)
    if recipe.schedule == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(opt, list(recipe.milestones), recipe.gamma)
    if recipe.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(recipe.epochs, 1))
    raise FitError(f"unknown schedule {recipe.schedule!r}; use none, step, multistep or cosine")


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def autocast(device: torch.device, amp: bool):
    """bf16 autocast on CUDA when ``amp``; a no-op context elsewhere."""
    enabled = bool(amp and device.type == "cuda")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def make_loader(dataset, batch_size: int, workers: int, sampler=None, drop_last: bool = False):
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, sampler=sampler,
                                       num_workers=workers, collate_fn=collate, drop_last=drop_last,
                                       persistent_workers=False)


def unwrap(model) -> PoseModel:
    """The PoseModel inside a DDP wrapper (or the model itself)."""
    return model.module if hasattr(model, "module") else model


def train_one_epoch(model, loader, optimizer, device: torch.device, amp: bool, log: Callable[[str], None],
                    log_every: int = 50, epoch: int = 0) -> dict:
    """One pass over ``loader``; returns mean loss, the mean of each logged term, samples and seconds."""
    model.train()
    inner = unwrap(model)
    spec = inner.input_spec
    total, n_seen, sums, t0 = 0.0, 0, {}, time.perf_counter()
    for step, batch in enumerate(loader):
        batch = to_device(batch, device)
        x = model_input(batch, spec)
        with autocast(device, amp):
            outputs = model(x)
            loss, logs = inner.loss(outputs, batch)
        if not torch.isfinite(loss):
            raise FitError(f"non-finite loss {loss.item()} at epoch {epoch} step {step}; lower --lr or check the data")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n = x.shape[0]
        total += float(loss.detach()) * n
        n_seen += n
        for k, v in logs.items():
            sums[k] = sums.get(k, 0.0) + float(v) * n
        if log_every and (step + 1) % log_every == 0:
            log(f"epoch {epoch} step {step + 1}/{len(loader)} loss {total / n_seen:.4f}")
    dt = time.perf_counter() - t0
    out = {"train_loss": total / max(n_seen, 1), "samples": n_seen, "seconds": dt,
           "samples_per_s": n_seen / dt if dt > 0 else float("nan")}
    out.update({f"train_{k}": v / max(n_seen, 1) for k, v in sums.items()})
    return out


@torch.no_grad()
def predict_dataset(model, dataset, device: torch.device, batch_size: int = 64, workers: int = 0,
                    amp: bool = True, limit: int | None = None) -> dict[str, np.ndarray]:
    """Run ``model`` over ``dataset``: ``pred`` / ``true`` (N, 3) deg, ``coarse`` (N,) or None, ``paths``."""
    inner = unwrap(model)
    inner.eval()
    if limit is not None and limit < len(dataset):
        dataset = torch.utils.data.Subset(dataset, range(limit))
    preds, trues, coarse, paths = [], [], [], []
    for batch in make_loader(dataset, batch_size, workers):
        batch = to_device(batch, device)
        with autocast(device, amp):
            out = inner.predict(inner(model_input(batch, inner.input_spec)))
        preds.append(out["euler"].float().cpu().numpy())
        trues.append(batch["euler"].float().cpu().numpy())
        if "coarse" in out:
            coarse.append(out["coarse"].cpu().numpy())
        paths.extend(batch.get("path", []))
    return {"pred": np.concatenate(preds), "true": np.concatenate(trues),
            "coarse": np.concatenate(coarse) if coarse else None, "paths": paths}


def evaluate(model, eval_sets: list[EvalSet], device: torch.device, batch_size: int = 64, workers: int = 0,
             amp: bool = True, limit: int | None = None, runtime: bool = False) -> list:
    """Metrics (``train.metrics.EvalResult``) of ``model`` on each eval set; ``runtime`` adds ms/image at batch 1."""
    from train.metrics import evaluate as metrics_evaluate

    results = []
    for es in eval_sets:
        p = predict_dataset(model, es.dataset, device, batch_size, workers, amp, limit)
        ms = runtime_ms_per_image(model, es.dataset, device) if runtime else None
        results.append(metrics_evaluate(p["pred"], p["true"], pred_coarse=p["coarse"], runtime_ms=ms, name=es.name,
                                        meta={"kind": es.kind}))
    return results


@torch.no_grad()
def runtime_ms_per_image(model, dataset, device: torch.device, n: int = 20, warmup: int = 3) -> float:
    """Median ms per image at batch 1 (forward + decoding) over ``n`` images of ``dataset``."""
    inner = unwrap(model)
    inner.eval()
    spec = inner.input_spec
    xs = [model_input(collate([dataset[i % len(dataset)]]), spec).to(device) for i in range(min(n, len(dataset)) or 1)]
    times = []
    for i in range(warmup + len(xs)):
        x = xs[i % len(xs)]
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        inner.predict(inner(x))
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(times))


# --- the fit ------------------------------------------------------------------------------------

def _config_diff(saved: dict, cfg: FitConfig) -> list[str]:
    now = dataclasses.asdict(cfg)
    keys = sorted((set(saved) | set(now)) - set(RUNTIME_FIELDS))
    return [k for k in keys if json.dumps(saved.get(k), sort_keys=True, default=str)
            != json.dumps(now.get(k), sort_keys=True, default=str)]


def _history_row(epoch: int, train: dict, val: list, lr: float) -> dict:
    row = {"epoch": epoch, "train_loss": train["train_loss"], "lr": lr, "samples": train["samples"],
           "seconds": train["seconds"], "samples_per_s": train["samples_per_s"]}
    row.update({k: v for k, v in train.items() if k.startswith(("train_", "worker")) and k != "train_loss"})
    for j, r in enumerate(val):
        prefix = "val" if j == 0 else f"val{j}"
        row[f"{prefix}_mae"] = r.mae["mean"]
        for a in ("pitch", "yaw", "roll"):
            row[f"{prefix}_{a}"] = r.mae[a]
    return row


def _write_history(path: Path, history: list[dict]) -> None:
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(history)
    os.replace(tmp, path)


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is a dependency; a stripped install still trains
        return None
    return SummaryWriter(str(out / "tb"))


#: what `train fit` may have written into its run folder before config.json (a run stopped that early)
EARLY_RUN_ENTRIES = frozenset({"checkpoints", "tb", "ray", "history.csv"})


def check_run_folder(out: Path) -> None:
    """FitError unless ``out`` is new, empty, or a `train fit` run folder (``config.json`` with a ``fit``
    mapping, or only what a fit writes before it): a fit never writes into another folder's files."""
    if out.exists() and not out.is_dir():
        raise FitError(f"--out {out} is a file; fix: give a folder (a new one, or a `train fit` run folder to resume)")
    if not out.is_dir():
        return
    entries = sorted(p.name for p in out.iterdir())
    config = out / "config.json"
    if config.is_file():
        try:
            fit_cfg = json.loads(config.read_text()).get("fit")
        except (OSError, ValueError, AttributeError):
            fit_cfg = None
        if isinstance(fit_cfg, dict):
            return
        raise FitError(f"--out {out}: its config.json was not written by `train fit` (no 'fit' settings), so it is "
                       "not a run folder to resume; fix: choose a new or empty --out")
    if not set(entries) <= EARLY_RUN_ENTRIES:
        raise FitError(f"--out {out} is not empty and is not a `train fit` run folder (found "
                       f"{', '.join(entries[:5])}{' ...' if len(entries) > 5 else ''}); fix: choose a new or empty --out")


def prepare_run(cfg: FitConfig, log: Callable[[str], None]) -> dict | None:
    """Check the run folder: None for a new run, the last checkpoint dict to resume; refuse a different config."""
    out = Path(cfg.out)
    last = out / "checkpoints" / "last.pt"
    for stale in (out / "checkpoints").glob("*.pt.tmp-*") if (out / "checkpoints").is_dir() else ():
        stale.unlink()   # a checkpoint write cut short by a crash; the previous file is intact
    if not last.exists():
        if (out / "config.json").exists() and (out / "checkpoints").exists():
            log(f"{out}: no complete epoch yet, starting over")
        return None
    state = read_checkpoint(last, RESUME_KEYS)
    diff = _config_diff(state["config"], cfg)
    if diff:
        raise FitError(f"{out} holds a run with a different config ({', '.join(diff)} differ); "
                       f"use another --out, or delete {out} to start over")
    log(f"{out}: resuming after epoch {state['epoch'] + 1}")
    return state


def run_fit(cfg: FitConfig, log: Callable[[str], None] | None = None, dist=None) -> FitResult:
    """The training loop in this process; ``dist`` (``train.distributed.DistContext``) when under Ray Train."""
    rank0 = dist is None or dist.rank == 0
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if not rank0:
        log = lambda msg: None  # noqa: E731
    out = Path(cfg.out)
    if not cfg.data:
        raise FitError("no training data: give at least one --data KIND:PATH[:WEIGHT]")
    cfg.check()
    recipe = cfg.resolved_recipe()
    if dist is None:   # under Ray Train the driver checked it (before Ray wrote <out>/ray)
        check_run_folder(out)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
    device = dist.device if dist is not None else pick_device(cfg.device)
    resume = prepare_run(cfg, log)

    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    model = create_model(cfg.model, **cfg.model_cfg)
    if cfg.init and resume is None:
        _load_init_weights(model, cfg)
    spec = model.input_spec
    options = DataOptions(cfg.angle_limit, cfg.biwi_split, aflw_split=cfg.aflw_split)
    train_set = build_train_set(cfg.data, spec, cfg.seed, cfg.epoch_size, options,
                                augment=_augment(cfg), synth_augment=_synth_augment(cfg))
    val_sets = build_eval_sets(cfg.val, spec, options) if cfg.val else []
    # the first batch must fit the model: fail before any training with the expected input
    model.check_input(model_input(collate([train_set[0]]), spec))
    model.to(device)
    optimizer = build_optimizer(model, recipe)
    scheduler = build_scheduler(optimizer, recipe)
    history: list[dict] = []
    best = {"epoch": -1, "score": math.inf}
    start = 0
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        history, best, start = list(resume["history"]), dict(resume["best"]), int(resume["epoch"]) + 1
        torch.set_rng_state(resume["torch_rng"])
        if resume.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(resume["cuda_rng"])
    train_model = dist.wrap_model(model) if dist is not None else model
    sampler = dist.sampler(train_set) if dist is not None else None

    if rank0:
        out.mkdir(parents=True, exist_ok=True)
        synth_aug = _synth_augment(cfg)
        (out / "config.json").write_text(json.dumps({"fit": dataclasses.asdict(cfg), "recipe": dataclasses.asdict(recipe),
                                                     "input_spec": dataclasses.asdict(spec),
                                                     "augment": {"real": dataclasses.asdict(default_augment()) if cfg.augment else None,
                                                                 "synth": dataclasses.asdict(synth_aug) if synth_aug else None}},
                                         indent=2, default=str))
    tb = _tensorboard(out) if rank0 else None
    log(f"{cfg.model}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters; "
        f"{len(train_set)} training items/epoch ({train_set.composition()}), {recipe.epochs} epochs, "
        f"batch {recipe.batch_size}, {recipe.optimizer} lr {recipe.lr} ({recipe.schedule}), device {device}")
    for epoch in range(start, recipe.epochs):
        train_set.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        loader = make_loader(train_set, recipe.batch_size, cfg.loader_workers, sampler=sampler, drop_last=len(train_set) > recipe.batch_size)
        lr = optimizer.param_groups[0]["lr"]
        stats = train_one_epoch(train_model, loader, optimizer, device, cfg.amp, log, cfg.log_every if cfg.progress else 0, epoch)
        if dist is not None:
            stats = dist.reduce_stats(stats)
        scheduler.step()
        val = evaluate(model, val_sets, device, recipe.batch_size, cfg.loader_workers, cfg.amp, cfg.val_limit) if rank0 else []
        row = _history_row(epoch, stats, val, lr)
        history.append(row)
        score = row.get("val_mae", -float(epoch))   # without validation the latest epoch is the best
        msg = f"epoch {epoch + 1}/{recipe.epochs}: loss {row['train_loss']:.4f}, {row['samples_per_s']:.0f} samples/s"
        if val:
            msg += f", val MAE {row['val_mae']:.2f} deg (P {row['val_pitch']:.2f} Y {row['val_yaw']:.2f} R {row['val_roll']:.2f})"
        log(msg)
        if rank0:
            improved = score < best["score"]
            if improved:
                best = {"epoch": epoch, "score": float(score)}
            save_checkpoint(out / "checkpoints" / "last.pt", model, optimizer, scheduler, epoch, history, cfg, best)
            if improved:
                save_checkpoint(out / "checkpoints" / "best.pt", model, None, None, epoch, history, cfg, best)
            _write_history(out / "history.csv", history)
            if tb is not None:
                for k, v in row.items():
                    if k != "epoch" and isinstance(v, (int, float)):
                        tb.add_scalar(k, v, epoch)
                tb.flush()
        if dist is not None:
            dist.report(row)
    if tb is not None:
        tb.close()
    final = []
    if rank0 and val_sets:
        best_model = load_model(out, "best", device)
        final = evaluate(best_model, val_sets, device, recipe.batch_size, cfg.loader_workers, cfg.amp, runtime=True)
        write_run_report(out, final, cfg)
    return FitResult(out, best["epoch"], best["score"], history, final)


def _load_init_weights(model, cfg: FitConfig) -> None:
    """Start ``model`` from the weights of ``cfg.init`` (a run folder's ``last.pt`` or a checkpoint file)."""
    state = read_checkpoint(checkpoint_path(cfg.init, "last"))
    if state["model_name"] != cfg.model or state.get("model_cfg", {}) != cfg.model_cfg:
        raise FitError(f"--init {cfg.init} holds {state['model_name']} {state.get('model_cfg', {})}, not "
                       f"{cfg.model} {cfg.model_cfg}; fix: start from a run of the same model and options")
    model.load_state_dict(state["model"])


def _augment(cfg: FitConfig):
    return default_augment() if cfg.augment else None


def _synth_augment(cfg: FitConfig):
    """The synthetic sources' :class:`~train.data.photo_augment.PhotoAugment` (None with ``augment`` off)."""
    from train.data.photo_augment import PhotoAugment

    if not cfg.augment:
        return None
    try:
        return PhotoAugment.from_overrides(cfg.photo_augment)
    except (TypeError, ValueError) as exc:
        raise FitError(f"--augment: {exc}") from None


def write_run_report(out: Path, results: list, cfg: FitConfig, name: str = "report") -> Path:
    """``out/<name>.md`` (+ PNGs) with the evaluation and the training curves, and ``out/<name>.json``."""
    from train.report import write_eval_report, write_training_curves

    meta = {"model": cfg.model, "model_cfg": json.dumps(cfg.model_cfg), "data": ", ".join(cfg.data),
            "checkpoint": str(checkpoint_path(out, "best")), "command": " ".join(sys.argv)}
    if (out / "history.csv").exists():
        write_training_curves(out / "curves.png", out / "history.csv")
    (out / f"{name}.json").write_text(json.dumps([r.to_dict() for r in results], indent=2))
    return write_eval_report(out / f"{name}.md", results, f"{cfg.model} on {', '.join(r.name for r in results)}", meta)
