"""Sim-to-real benchmark: train on our renders only, test on real AFLW2000-3D faces.

    .venv/bin/python bench/sim2real.py --n 20000 --epochs 10 \\
        --aflw ../shared/realdata/aflw2000-dev --work runs/sim2real

1. renders ``--n`` samples with ``--preset`` into ``WORK/shards`` (or uses
   ``--shards DIR``; an existing folder resumes),
2. trains ``--model`` (default FSA-Net) on them for the budget
   ``--epochs x --epoch-size`` on CPU (``WORK/run``; rerun resumes),
3. evaluates the best checkpoint on the AFLW2000-3D folder with the
   |angle| <= 99 filter and prints per-angle MAE next to the
   training-mean predictor's, plus the wall time of each step.

This answers one question: do our renders teach anything about real faces?
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shards", help="existing synthetic run folder (skips rendering)")
    ap.add_argument("--n", type=int, default=20000, help="samples to render when --shards is not given")
    ap.add_argument("--preset", default="wide", help="pipeline.yaml preset for the render")
    ap.add_argument("--set", action="append", default=[], help="render config override key=value")
    ap.add_argument("--render-workers", type=int, default=2)
    ap.add_argument("--model", default="fsanet")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--epoch-size", type=int, default=None, help="training items per epoch (default: all renders)")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the model's recipe")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--aflw", default=str(REPO.parent / "shared" / "realdata" / "aflw2000-dev"))
    ap.add_argument("--work", default="runs/sim2real")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from synth.config import load_config
    from synth.runner import render_run
    from train.data.synth_shards import SynthShardReader
    from train.engine import FitConfig, evaluate, fit, load_model
    from train.inputs import DataOptions, build_eval_sets
    from train.metrics import mae

    work = Path(args.work)
    aflw = Path(args.aflw)
    if not aflw.is_dir():
        print(f"AFLW2000-3D folder {aflw} not found; pass --aflw PATH (image*.jpg + image*.mat)", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    shards = Path(args.shards) if args.shards else work / "shards"
    if not args.shards:
        cfg = load_config(REPO / "pipeline.yaml", preset=args.preset, overrides=[*args.set, f"seed={args.seed}"])
        render_run(cfg, shards, args.n, workers=args.render_workers)
    t_render = time.perf_counter() - t0

    t1 = time.perf_counter()
    fit_cfg = FitConfig(model=args.model, data=[f"synth:{shards}"], out=str(work / "run"), epochs=args.epochs,
                        epoch_size=args.epoch_size, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                        device="cpu", log_every=0)
    result = fit(fit_cfg)
    t_train = time.perf_counter() - t1

    t2 = time.perf_counter()
    model = load_model(result.out, "last")
    import torch

    sets = build_eval_sets([f"aflw2000:{aflw}"], model.input_spec, DataOptions())
    res = evaluate(model, sets, torch.device("cpu"))[0]
    t_eval = time.perf_counter() - t2

    reader = SynthShardReader(shards)
    idx = np.linspace(0, len(reader) - 1, min(len(reader), 5000)).astype(int)
    train_mean = np.mean([reader[int(i)].euler for i in idx], axis=0)
    true = np.array([sets[0].dataset.reader[i].euler for i in range(len(sets[0].dataset))])
    trivial = mae(np.repeat(train_mean[None], len(true), 0), true)

    seen = sum(int(r["samples"]) for r in result.history)
    print(f"\nsim2real: {args.model} trained on {len(reader)} renders ({shards}), {args.epochs} epochs, "
          f"{seen} training samples seen; tested on {res.n} AFLW2000-3D faces ({aflw}, |angle| <= 99)")
    print(f"{'':24s} {'pitch':>7s} {'yaw':>7s} {'roll':>7s} {'mean':>7s}")
    print(f"{'trained on renders':24s} {res.mae['pitch']:7.2f} {res.mae['yaw']:7.2f} {res.mae['roll']:7.2f} {res.mae['mean']:7.2f}")
    print(f"{'  its mean error (bias)':24s} {res.me['pitch']:7.2f} {res.me['yaw']:7.2f} {res.me['roll']:7.2f}")
    print(f"{'training-mean predictor':24s} {trivial[0]:7.2f} {trivial[1]:7.2f} {trivial[2]:7.2f} {trivial.mean():7.2f}")
    print(f"wall time: render {t_render:.0f} s, train {t_train:.0f} s, eval {t_eval:.0f} s")
    (work / "sim2real.json").write_text(json.dumps({"model": args.model, "renders": len(reader), "epochs": args.epochs,
                                                    "samples_seen": seen, "aflw": str(aflw), "result": res.to_dict(),
                                                    "trivial_mae": trivial.tolist(),
                                                    "seconds": {"render": t_render, "train": t_train, "eval": t_eval}},
                                                   indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
