"""The sim-to-real protocol: do our renders teach a network real faces, alone and beside scarce real data?

    .venv/bin/python bench/sim2real.py                      # the fixed protocol (~30 min on a 2-core CPU)
    .venv/bin/python bench/sim2real.py --parts synth        # synthetic-only part (ablations)
    .venv/bin/python bench/sim2real.py --shards DIR --aflw PATH --work runs/s2r-x --set KEY=VALUE ...

Fixed protocol (every default below; change one and say so when you compare):

1. **render** ``--n 30000`` samples of ``--preset faces`` with ``--seed 0`` into ``WORK/shards``
   (``--shards DIR`` uses an existing run folder instead; an existing ``WORK/shards`` resumes);
2. **synth**: ``--model fsanet_var`` (one FSA-Net branch, 64x64; see README "Sim-to-real") trained on
   the renders only, ``--epochs 10`` x ``--epoch-size 25000`` items, batch 64, Adam lr 1e-3 with a
   cosine schedule, the training side's default synthetic augmentation; the error on the real folder
   (``--aflw``, the AFLW2000-3D dev half, |angle| <= 99) is measured after every epoch;
3. **real**: the same model trained on ``dev-train`` only (the committed split
   ``aflw2000_dev_500_seed0``: 500 of the 1000 dev images), ``--real-epochs 60`` x 500 items,
   batch ``--real-batch-size 16`` (a few hundred images need the small batch's many steps);
4. **mixed**: the synth model fine-tuned on renders + ``dev-train`` mixed at ``--mix-real-weight``
   (real share of the items), ``--mix-epochs 6`` x ``--mix-epoch-size 5000`` items, batch 16,
   lr 3e-4 cosine.

Parts 3 and 4 and the synth model are scored on ``dev-test`` (the split's other 500 images);
the synth model also on the whole folder. Printed and written to ``WORK/sim2real.json``: per-angle
MAE, mean error (bias), criterion III rows, the per-epoch curve, the last and the best epoch
(best = picked on the test images themselves, an upper bound; *last* is the protocol's number),
the (0, 0, 0) and training-mean predictors, the wall time of each step and the exact commands.
Trained runs stay in ``WORK/run`` (synth), ``WORK/real`` and ``WORK/mixed``; rerunning resumes.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PARTS = ("synth", "real", "mixed")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--aflw", default=str(REPO.parent / "shared" / "realdata" / "aflw2000-dev"),
                    help="AFLW2000-3D layout folder (imageNNNNN.jpg + .mat) to test on")
    ap.add_argument("--work", default="runs/sim2real", help="output folder (shards, runs, sim2real.json)")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma list of {', '.join(PARTS)}")
    ap.add_argument("--shards", help="an existing synthetic run folder (skips rendering)")
    ap.add_argument("--n", type=int, default=30000, help="samples to render when --shards is not given")
    ap.add_argument("--preset", default="faces", help="pipeline.yaml preset for the render")
    ap.add_argument("--set", action="append", default=[], help="render config override key=value (repeatable)")
    ap.add_argument("--render-workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="fsanet_var")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--epoch-size", type=int, default=25000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--augment", action="append", default=[],
                    help="synthetic augmentation override key=value (train.data.photo_augment.PhotoAugment)")
    ap.add_argument("--no-augment", action="store_true", help="no training augmentation at all")
    ap.add_argument("--split", default="aflw2000_dev_500_seed0", help="committed dev-train / dev-test split")
    ap.add_argument("--real-epochs", type=int, default=60)
    ap.add_argument("--real-batch-size", type=int, default=16, help="batch of the real-only and mixed parts")
    ap.add_argument("--mix-real-weight", type=float, default=0.5)
    ap.add_argument("--mix-epochs", type=int, default=6)
    ap.add_argument("--mix-epoch-size", type=int, default=5000)
    ap.add_argument("--mix-lr", type=float, default=3e-4)
    return ap.parse_args(argv)


def _kv(items: list[str]) -> dict:
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"sim2real: {item!r} must look like key=value")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _fit_command(cfg) -> str:
    """The `train fit` command line equivalent to a FitConfig (printed so others can rerun a part)."""
    parts = [".venv/bin/train", "fit", "--model", cfg.model]
    for d in cfg.data:
        parts += ["--data", d]
    for v in cfg.val:
        parts += ["--val", v]
    parts += ["--out", cfg.out, "--epochs", str(cfg.epochs), "--batch-size", str(cfg.batch_size), "--lr", str(cfg.lr),
              "--seed", str(cfg.seed), "--device", "cpu"]
    if cfg.epoch_size:
        parts += ["--epoch-size", str(cfg.epoch_size)]
    for k, v in cfg.recipe.items():
        parts += ["--recipe", f"{k}={v}"]
    for k, v in cfg.photo_augment.items():
        parts += ["--augment", f"{k}={json.dumps(v)}"]
    if not cfg.augment:
        parts.append("--no-augment")
    if cfg.aflw_split:
        parts += ["--aflw-split", cfg.aflw_split]
    if cfg.init:
        parts += ["--init", cfg.init]
    return shlex.join(parts)


def _scores(model, entries: list[str], split: str | None) -> list:
    import torch

    from train.engine import evaluate
    from train.inputs import DataOptions, build_eval_sets

    sets = build_eval_sets(entries, model.input_spec, DataOptions(aflw_split=split))
    return evaluate(model, sets, torch.device("cpu"))


def _row(name: str, mae, me=None) -> str:
    line = f"{name:46s} {mae[0]:7.2f} {mae[1]:7.2f} {mae[2]:7.2f} {np.mean(mae):7.2f}"
    if me is not None:
        line += f"   bias {me[0]:+6.2f} {me[1]:+6.2f} {me[2]:+6.2f}"
    return line


def _result_dict(res) -> dict:
    return {"n": res.n, "mae": res.mae.to_dict(), "mae_mean": res.mae_mean, "me": res.me.to_dict(),
            "criterion3": res.criterion3.to_dict()}


def _curve(history: list[dict]) -> list[dict]:
    return [{"epoch": int(r["epoch"]) + 1, "train_loss": float(r["train_loss"]),
             "real_mae": float(r["val_mae"]) if "val_mae" in r else None,
             "real_pitch": r.get("val_pitch"), "real_yaw": r.get("val_yaw"), "real_roll": r.get("val_roll")}
            for r in history]


def _print_criterion3(res) -> None:
    c3 = res.criterion3
    ranges = "  ".join(f"{int(lo):>2d}-{int(hi):<3d}" for lo, hi in c3.ranges)
    print(f"  criterion III (MAE per true |angle| range, deg)   {ranges}")
    for a, name in enumerate(("pitch", "yaw", "roll")):
        vals = "  ".join("   -  " if m is None else f"{m:6.2f}" for m in c3.mae[a])
        counts = "/".join(str(c) for c in c3.counts[a])
        print(f"    {name:5s} {vals}   (n {counts})")


def _train(cfg, timings: dict, key: str) -> object:
    from train.distributed import fit

    t = time.perf_counter()
    result = fit(cfg)
    timings[key] = time.perf_counter() - t
    return result


def _evaluate_run(run: Path, entries: list[str], split: str | None) -> dict:
    """{which: [EvalResult per entry]} for a run's last and best checkpoints."""
    from train.checkpoints import load_model

    return {which: _scores(load_model(run, which), entries, split) for which in ("last", "best")}


def main(argv=None) -> int:
    args = parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    bad = sorted(set(parts) - set(PARTS))
    if bad:
        print(f"sim2real: unknown part(s) {', '.join(bad)}; use {', '.join(PARTS)}", file=sys.stderr)
        return 2
    aflw = Path(args.aflw)
    if not aflw.is_dir() or not any(aflw.glob("image*.mat")):
        print(f"sim2real: AFLW2000-3D folder {aflw} not found or empty; pass --aflw PATH (imageNNNNN.jpg + .mat)",
              file=sys.stderr)
        return 2
    from synth.config import load_config
    from synth.runner import render_run
    from train.data.aflw import AFLW2000Reader
    from train.data.photo_augment import PhotoAugment
    from train.data.protocols import filtered_indices, split_names
    from train.data.synth_shards import SynthShardReader
    from train.engine import FitConfig
    from train.metrics import mae

    PhotoAugment.from_overrides(_kv(args.augment))  # a bad --augment fails here, before any work
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    commands: dict[str, str] = {}
    out: dict = {"protocol": {k: v for k, v in vars(args).items()}, "aflw": str(aflw)}

    # 1. renders
    shards = Path(args.shards) if args.shards else work / "shards"
    if not args.shards and ("synth" in parts or "mixed" in parts):
        overrides = [*args.set, f"seed={args.seed}"]
        cfg = load_config(REPO / "pipeline.yaml", preset=args.preset, overrides=overrides)
        commands["render"] = shlex.join([".venv/bin/synth", "render", "--preset", args.preset, "--n", str(args.n),
                                         "--out", str(shards), "--workers", str(args.render_workers), "--seed",
                                         str(args.seed), *[a for s in args.set for a in ("--set", s)]])
        t = time.perf_counter()
        render_run(cfg, shards, args.n, workers=args.render_workers)
        timings["render"] = time.perf_counter() - t

    full = f"aflw2000:{aflw}"
    # the constant predictors, on the whole folder and on dev-test
    test_names = set(split_names(args.split, "aflw2000", "test"))
    reader = AFLW2000Reader(aflw)
    keep = filtered_indices(reader)
    true = np.array([reader.label(i)["euler"] for i in keep])
    in_test = np.array([reader.names[i] in test_names for i in keep])
    zero = np.zeros_like(true)
    out["constant"] = {"zero_all": mae(zero, true).tolist(), "zero_test": mae(zero[in_test], true[in_test]).tolist()}
    if "synth" in parts or "mixed" in parts:
        sr = SynthShardReader(shards)
        idx = np.linspace(0, len(sr) - 1, min(len(sr), 5000)).astype(int)
        train_mean = np.mean([sr[int(i)].euler for i in idx], axis=0)
        out["constant"]["train_mean"] = train_mean.tolist()
        out["constant"]["train_mean_all"] = mae(np.repeat(train_mean[None], len(true), 0), true).tolist()
        out["renders"] = {"folder": str(shards), "n": len(sr)}
    augment = _kv(args.augment)
    common = dict(model=args.model, batch_size=args.batch_size, seed=args.seed, device="cpu", log_every=0,
                  augment=not args.no_augment, photo_augment=augment)

    # 2. synthetic only
    if "synth" in parts:
        cfg = FitConfig(data=[f"synth:{shards}"], val=[full], out=str(work / "run"), epochs=args.epochs,
                        epoch_size=args.epoch_size, lr=args.lr, recipe={"schedule": "cosine"}, **common)
        commands["synth"] = _fit_command(cfg)
        result = _train(cfg, timings, "train_synth")
        t = time.perf_counter()
        scores = _evaluate_run(result.out, [full], None)
        test_scores = _evaluate_run(result.out, [full], args.split)
        timings["eval_synth"] = time.perf_counter() - t
        out["synth"] = {"curve": _curve(result.history), "best_epoch": result.best_epoch + 1,
                        **{f"{w}_all": _result_dict(scores[w][0]) for w in scores},
                        **{f"{w}_test": _result_dict(test_scores[w][0]) for w in test_scores}}
        out["synth"]["_last_all"] = scores["last"][0]
    # 3. real only (dev-train)
    if "real" in parts:
        cfg = FitConfig(data=[full], val=[full], out=str(work / "real"), epochs=args.real_epochs,
                        lr=args.lr, recipe={"schedule": "cosine"}, aflw_split=args.split,
                        **{**common, "batch_size": args.real_batch_size})
        commands["real"] = _fit_command(cfg)
        result = _train(cfg, timings, "train_real")
        scores = _evaluate_run(result.out, [full], args.split)
        out["real"] = {"curve": _curve(result.history), "best_epoch": result.best_epoch + 1,
                       **{f"{w}_test": _result_dict(scores[w][0]) for w in scores}}
    # 4. mixed: the synth model fine-tuned on renders + dev-train
    if "mixed" in parts:
        w = float(args.mix_real_weight)
        cfg = FitConfig(data=[f"synth:{shards}:{1 - w:g}", f"{full}:{w:g}"], val=[full], out=str(work / "mixed"),
                        epochs=args.mix_epochs, epoch_size=args.mix_epoch_size, lr=args.mix_lr,
                        recipe={"schedule": "cosine"}, aflw_split=args.split,
                        init=str(work / "run") if "synth" in parts or (work / "run").is_dir() else None,
                        **{**common, "batch_size": args.real_batch_size})
        commands["mixed"] = _fit_command(cfg)
        result = _train(cfg, timings, "train_mixed")
        scores = _evaluate_run(result.out, [full], args.split)
        out["mixed"] = {"curve": _curve(result.history), "best_epoch": result.best_epoch + 1, "real_weight": w,
                        "init": cfg.init, **{f"{k}_test": _result_dict(scores[k][0]) for k in scores}}
    out["seconds"] = timings
    out["commands"] = commands

    # report
    print(f"\nsim2real protocol: model {args.model}, renders {shards}, real {aflw} (|angle| <= 99: {len(true)} faces,"
          f" dev-test {int(in_test.sum())})")
    print(f"{'':46s} {'pitch':>7s} {'yaw':>7s} {'roll':>7s} {'mean':>7s}")
    print(_row("predict (0, 0, 0), all", out["constant"]["zero_all"]))
    if "train_mean_all" in out["constant"]:
        print(_row("predict the renders' mean, all", out["constant"]["train_mean_all"]))
    if "synth" in out:
        s = out["synth"]
        last = s.pop("_last_all")
        for k, label in (("last_all", "synthetic only, last, all"), ("best_all", f"synthetic only, best (ep {s['best_epoch']}), all")):
            print(_row(label, list(s[k]["mae"].values()), list(s[k]["me"].values())))
        _print_criterion3(last)
        print("  real-data MAE per epoch: " + " ".join(f"{c['real_mae']:.2f}" for c in s["curve"]))
    print(_row("predict (0, 0, 0), dev-test", out["constant"]["zero_test"]))
    for part, label in (("synth", "synthetic only"), ("real", "real only (dev-train)"), ("mixed", "mixed (renders + dev-train)")):
        if part in out:
            r = out[part]["last_test"]
            print(_row(f"{label}, last, dev-test", list(r["mae"].values()), list(r["me"].values())))
    if "real" in out and "mixed" in out:
        a, b = out["real"]["last_test"]["mae_mean"], out["mixed"]["last_test"]["mae_mean"]
        out["mixed_gain"] = 1 - b / a
        print(f"mixed vs real only on dev-test: {100 * (1 - b / a):+.1f} % mean MAE")
    print("wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()) + f" (total {sum(timings.values()) / 60:.1f} min)")
    for k, c in commands.items():
        print(f"  {k}: {c}")
    (work / "sim2real.json").write_text(json.dumps(out, indent=2, default=str))
    print(f"wrote {work / 'sim2real.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
