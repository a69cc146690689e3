"""Model cost on CPU: parameters, training samples/s and inference ms/image for registered models.

    python bench/model_speed.py [--models a,b] [--iters 5] [--batch 16] [--threads N] [--device cpu]

For each model (default: every ``train.models.list_models()``), built with its
default config, at its ``input_spec`` size and channels:

- params: trainable / all parameters (millions) and float32 size in MB;
- train samples/s: forward + ``loss`` + backward + Adam step at ``--batch``
  (default 16) on a synthetic batch (random input; ``euler`` uniform in
  +-60 deg, ``rotation`` from those angles, ``bbox`` the whole input,
  ``landmarks`` NaN); the optimiser uses the model's ``param_groups``;
- infer ms/image: batch 1, eval mode, ``torch.no_grad``.

One warm-up iteration precedes each measurement (allocators, oneDNN kernels);
the figure is the median over ``--iters``. Only the ``PoseModel`` interface is
used, so new architectures are measured without changes here. Figures depend
on the machine and on whatever else runs on it; ``--threads`` fixes torch's
intra-op threads (default: torch's own choice).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from synth.pose import rotation_from_euler  # noqa: E402
from train.models import PoseModel, create_model, list_models  # noqa: E402


def synthetic_batch(model: PoseModel, n: int, gen: torch.Generator, device: torch.device) -> tuple[torch.Tensor, dict]:
    """A random network input (N, C, H, W) and the label dict ``loss`` expects (see ``train.models.base``)."""
    spec = model.input_spec
    W, H = spec.size
    x = torch.randn(n, spec.channels, H, W, generator=gen)
    euler = (torch.rand(n, 3, generator=gen) * 2 - 1) * 60.0
    rot = torch.as_tensor(np.stack([rotation_from_euler(*e) for e in euler.tolist()]), dtype=torch.float32)
    batch = {
        "image": x, "euler": euler, "rotation": rot,
        "bbox": torch.tensor([0.0, 0.0, W, H]).expand(n, 4).clone(),
        "landmarks": torch.full((n, 68, 2), float("nan")),
        "has_landmarks": torch.zeros(n, dtype=torch.bool),
    }
    if spec.modality == "depth":
        batch["depth"] = x
        batch["has_depth"] = torch.ones(n, dtype=torch.bool)
    return x.to(device), {k: v.to(device) for k, v in batch.items()}


def _timed(fn, iters: int, sync) -> float:
    """Median seconds of ``fn()`` over ``iters`` runs after one warm-up run."""
    fn()
    sync()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(name: str, batch_size: int, iters: int, device: torch.device) -> dict:
    """Parameter counts, training samples/s and inference ms/image of model ``name``."""
    torch.manual_seed(0)
    model = create_model(name).to(device)
    n_all = sum(p.numel() for p in model.parameters())
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    gen = torch.Generator().manual_seed(0)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    x, batch = synthetic_batch(model, batch_size, gen, device)
    opt = torch.optim.Adam(model.param_groups(1e-4))
    model.train()

    def train_step() -> None:
        loss, _ = model.loss(model(x), batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t_train = _timed(train_step, iters, sync)

    x1, _ = synthetic_batch(model, 1, gen, device)
    model.eval()

    def infer() -> None:
        with torch.no_grad():
            model.predict(model(x1))

    t_infer = _timed(infer, max(iters, 3), sync)
    W, H = model.input_spec.size
    return {"model": name, "input": f"{model.input_spec.channels}x{H}x{W}", "params_m": n_all / 1e6,
            "trainable_m": n_train / 1e6, "mb": n_all * 4 / 1e6,
            "train_sps": batch_size / t_train, "infer_ms": t_infer * 1e3}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="", help="comma-separated model names (default: all registered)")
    ap.add_argument("--iters", type=int, default=5, help="timed iterations per figure (median reported)")
    ap.add_argument("--batch", type=int, default=16, help="training batch size")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = ap.parse_args(argv)
    if args.iters < 1 or args.batch < 1:
        ap.error("--iters and --batch must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [m.strip() for m in args.models.split(",") if m.strip()] or list_models()
    known = set(list_models())
    unknown = [m for m in names if m not in known]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; registered: {', '.join(sorted(known))}")
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
          f"train batch {args.batch}, median of {args.iters}")
    head = f"{'model':<16} {'input':>11} {'params M':>9} {'train M':>8} {'MB f32':>8} {'train samples/s':>16} {'infer ms/img':>13}"
    print(head)
    print("-" * len(head))
    for name in names:
        try:
            r = measure(name, args.batch, args.iters, device)
        except Exception as e:  # noqa: BLE001 - one broken model must not hide the others' figures
            print(f"{name:<16} failed: {type(e).__name__}: {e}")
            continue
        print(f"{r['model']:<16} {r['input']:>11} {r['params_m']:>9.2f} {r['trainable_m']:>8.2f} {r['mb']:>8.1f} "
              f"{r['train_sps']:>16.1f} {r['infer_ms']:>13.1f}", flush=True)


if __name__ == "__main__":
    main()
