"""``train``: fit, evaluate, distil, export and demo the head-pose models.

    train models                                   registered models, their inputs and papers
    train fit --model fsanet --data synth:datasets/synth/wide-v1:0.7 --data 300wlp:datasets/300W_LP:0.3 \\
              --val aflw2000:datasets/AFLW2000 --out runs/fsanet-mix
    train eval runs/fsanet-mix --data biwi:datasets/BIWI --report runs/fsanet-mix/biwi.md
    train eval runs/fsanet-mix --suite datasets/robust/illum-angle
    train eval runs/fsanet-mix --data biwi:datasets/BIWI --corrupt occlusion --repeats 5
    train distill --teachers runs/t-r101,runs/t-botnet101,runs/t-res2net101 --student ehpnet_r18 \\
              --data 300wlp:datasets/300W_LP --val aflw2000:datasets/AFLW2000 --out runs/ehpnet-kd
    train export runs/fsanet-mix --onnx fsanet.onnx
    train demo runs/fsanet-mix --input face.jpg --out face-pose.jpg

Errors (bad model name, missing data path, an input the model cannot take,
a run folder from another config) end with one message naming the problem
and the fix, and exit code 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml


def _kv(items: list[str] | None, what: str) -> dict:
    from train.errors import FitError

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise FitError(f"{what} {item!r} must look like key=value")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise FitError(f"{what} {key.strip()}: cannot parse {value!r} ({str(exc).splitlines()[0]})") from None
    return out


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-filter", action="store_true", help="keep samples with |angle| > 99 deg in 300W-LP/AFLW2000/BIWI")
    p.add_argument("--biwi-split", default=None, help="committed BIWI split (e.g. biwi_16_8_seed0): train videos for fit, test videos for eval")
    p.add_argument("--aflw-split", default=None,
                   help="committed AFLW2000-3D image split (e.g. aflw2000_dev_500_seed0): train images for fit, test images for eval")


def _add_fit_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", action="append", required=True, help="training source KIND:PATH[:WEIGHT] (repeat to mix)")
    p.add_argument("--val", action="append", default=[], help="validation set KIND:PATH (repeat; the first picks the best checkpoint)")
    p.add_argument("--out", required=True, help="run folder (rerun the same command to resume)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--recipe", action="append", help="override a recipe field, e.g. --recipe schedule=cosine")
    p.add_argument("--epoch-size", type=int, help="training items per epoch (default: every source once)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--deterministic", action="store_true", help="torch deterministic algorithms (exact resume on CPU)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--no-amp", action="store_true", help="no bf16 autocast on GPU")
    p.add_argument("--no-augment", action="store_true", help="no training augmentation at all")
    p.add_argument("--augment", action="append", default=[],
                   help="synthetic-source augmentation field key=value (train.data.photo_augment.PhotoAugment), e.g. gray_p=0")
    p.add_argument("--loader-workers", type=int, default=0, help="DataLoader processes")
    p.add_argument("--val-limit", type=int, help="validation samples per set and epoch (the final report uses all)")
    p.add_argument("--num-workers", type=int, default=0, help="Ray Train workers (0 = train in this process)")
    p.add_argument("--use-gpu", action="store_true", help="one GPU per Ray Train worker")
    p.add_argument("--ray-address", default=None, help="join a Ray cluster (else RAY_ADDRESS or a local instance)")
    p.add_argument("--init", default=None, help="start from the weights of this run folder (its last.pt) or .pt file (fine-tuning)")
    _add_data_options(p)


def _fit_config(args, model: str, model_cfg: dict):
    from train.engine import FitConfig

    return FitConfig(model=model, data=args.data, out=args.out, val=args.val, model_cfg=model_cfg,
                     epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, recipe=_kv(args.recipe, "--recipe"),
                     epoch_size=args.epoch_size, angle_limit=None if args.no_filter else 99.0,
                     biwi_split=args.biwi_split, aflw_split=args.aflw_split, seed=args.seed, deterministic=args.deterministic, device=args.device,
                     amp=not args.no_amp, loader_workers=args.loader_workers, num_workers=args.num_workers,
                     use_gpu=args.use_gpu, ray_address=args.ray_address, augment=not args.no_augment,
                     photo_augment=_kv(args.augment, "--augment"),
                     val_limit=args.val_limit, init=args.init)


def cmd_models(args) -> int:
    from train.models import create_model, list_models
    from train.models.registry import get_entry

    for name in list_models():
        entry = get_entry(name)
        spec = create_model(name).input_spec if args.verbose else None
        line = f"{name:24s} {entry.paper}"
        if spec is not None:
            line += f"  [{spec.size[0]}x{spec.size[1]} {spec.modality}, crop {spec.crop}]"
        print(line)
    return 0


def cmd_fit(args) -> int:
    from train.distributed import fit

    cfg = _fit_config(args, args.model, _kv(args.model_arg, "--model-arg"))
    res = fit(cfg)
    print(json.dumps(_fit_summary(res, cfg, report=True), indent=2))
    return 0


def _fit_summary(res, cfg, report: bool = False) -> dict:
    """What `train fit` / `train distill` print: the best epoch counted from 1, its validation MAE (null
    without --val: the best checkpoint is then the last epoch's) and the report."""
    out = {"out": str(res.out), "best_epoch": res.best_epoch + 1, "best_val_mae": res.best_score if cfg.val else None}
    if report and cfg.val:
        out["report"] = str(Path(res.out) / "report.md")
    return out


def cmd_distill(args) -> int:
    from train.distributed import fit

    from train.errors import FitError

    teachers = [t for t in args.teachers.split(",") if t]
    if not teachers:
        raise FitError("--teachers needs at least one run folder")
    model_cfg = {"student": args.student, "teachers": teachers, **_kv(args.model_arg, "--model-arg")}
    cfg = _fit_config(args, "distill", model_cfg)
    res = fit(cfg)
    print(json.dumps(_fit_summary(res, cfg), indent=2))
    return 0


def cmd_eval(args) -> int:
    from train.checkpoints import load_model
    from train.engine import FitError, evaluate, pick_device
    from train.inputs import DataOptions, build_eval_sets
    from train.report import write_eval_report

    for flag, value, low in (("--batch-size", args.batch_size, 1), ("--limit", args.limit, 1),
                             ("--repeats", args.repeats, 1), ("--loader-workers", args.loader_workers, 0),
                             ("--seed", args.seed, 0)):
        if value is not None and value < low:
            raise FitError(f"{flag} {value}: fix: give at least {low}")
    device = pick_device(args.device)
    model = load_model(args.run, args.which, device)
    if args.suite:
        from train.robustness_eval import evaluate_suite

        path = evaluate_suite(model, args.suite, device, report=args.report, batch_size=args.batch_size)
        print(f"wrote {path}")
        return 0
    if not args.data:
        raise FitError("give --data KIND:PATH (repeatable) or --suite DIR")
    options = DataOptions(None if args.no_filter else 99.0, args.biwi_split, args.limit, args.aflw_split)
    if args.corrupt:
        from train.robustness_eval import evaluate_corrupted

        run = Path(args.run)
        for entry in args.data:
            kind = entry.split(":", 1)[0]
            report = Path(args.report) if args.report and len(args.data) == 1 else \
                (run if run.is_dir() else run.parent) / f"robustness-{kind}-{args.corrupt}.md"
            path = evaluate_corrupted(model, entry, args.corrupt, device, report, repeats=args.repeats,
                                      seed=args.seed, options=options, batch_size=args.batch_size)
            print(f"wrote {path}")
        return 0
    sets = build_eval_sets(args.data, model.input_spec, options)
    results = evaluate(model, sets, device, args.batch_size, args.loader_workers, runtime=True)
    run = Path(args.run)
    report = Path(args.report) if args.report else (run if run.is_dir() else run.parent) / "eval.md"
    meta = {"model": model.model_name, "checkpoint": model.checkpoint_path, "data": ", ".join(args.data),
            "command": " ".join(sys.argv)}
    report.parent.mkdir(parents=True, exist_ok=True)
    report.with_suffix(".json").write_text(json.dumps([r.to_dict() for r in results], indent=2))
    write_eval_report(report, results, f"{model.model_name} evaluation", meta)
    for r in results:
        print(f"{r.name}: n={r.n} MAE pitch {r.mae['pitch']:.2f} yaw {r.mae['yaw']:.2f} roll {r.mae['roll']:.2f} "
              f"mean {r.mae['mean']:.2f} deg")
    print(f"wrote {report}")
    return 0


def cmd_export(args) -> int:
    from train.export import export_onnx

    path = export_onnx(args.run, args.onnx, which=args.which, opset=args.opset, check=not args.no_check)
    print(f"wrote {path}")
    return 0


def cmd_demo(args) -> int:
    from train.demo import run_demo

    try:
        box = [float(v) for v in args.box.split(",")] if args.box else None
    except ValueError:
        box = []
    if box is not None and len(box) != 4:
        raise ValueError(f"--box {args.box!r}: fix: give four numbers x0,y0,x1,y1 (pixels)")
    path = run_demo(args.run, args.input, args.out, box=box, device=args.device)
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="train", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("models", help="list registered models")
    p.add_argument("-v", "--verbose", action="store_true", help="also build each model to show its input")
    p.set_defaults(fn=cmd_models)

    p = sub.add_parser("fit", help="train a model (resumes when rerun)")
    p.add_argument("--model", required=True, help="registered name (see `train models`)")
    p.add_argument("--model-arg", action="append", help="model option key=value, e.g. --model-arg alpha=2")
    _add_fit_options(p)
    p.set_defaults(fn=cmd_fit)

    p = sub.add_parser("distill", help="train a student on the mean softmax of teacher runs (EHPNet)")
    p.add_argument("--teachers", required=True, help="comma-separated teacher run folders")
    p.add_argument("--student", default="ehpnet_r18")
    p.add_argument("--model-arg", action="append", help="distillation option key=value (e.g. temperature=2)")
    _add_fit_options(p)
    p.set_defaults(fn=cmd_distill)

    p = sub.add_parser("eval", help="evaluate a run on datasets or a robustness suite; writes a report")
    p.add_argument("run", help="run folder or checkpoint .pt")
    p.add_argument("--data", action="append", help="KIND:PATH (repeatable)")
    p.add_argument("--suite", help="robustness suite folder (synth robustness --out)")
    p.add_argument("--corrupt", metavar="SUITE", help="corrupt the --data sets at the levels of this pipeline.yaml "
                   "suite (occlusion, translation, blur, noise, jpeg, low-resolution)")
    p.add_argument("--repeats", type=int, default=5, help="seeded repeats per level for --corrupt")
    p.add_argument("--seed", type=int, default=0, help="corruption seed")
    p.add_argument("--report", help="Markdown report path (default: RUN/eval.md)")
    p.add_argument("--which", default="best", choices=("best", "last"))
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--loader-workers", type=int, default=0)
    p.add_argument("--limit", type=int, help="evaluate the first N samples of each set")
    _add_data_options(p)
    p.set_defaults(fn=cmd_eval)

    p = sub.add_parser("export", help="export a run's model to ONNX (input image -> pitch, yaw, roll)")
    p.add_argument("run")
    p.add_argument("--onnx", required=True, help="output .onnx path")
    p.add_argument("--which", default="best", choices=("best", "last"))
    p.add_argument("--opset", type=int, default=18)
    p.add_argument("--no-check", action="store_true", help="skip the onnxruntime comparison")
    p.set_defaults(fn=cmd_export)

    p = sub.add_parser("demo", help="draw the estimated pose axes on an image or video")
    p.add_argument("run")
    p.add_argument("--input", required=True, help="image (.jpg/.png) or video (.mp4/.avi)")
    p.add_argument("--out", required=True)
    p.add_argument("--box", help="face box x0,y0,x1,y1 in pixels (default: the whole frame)")
    p.add_argument("--device", default="cpu")
    p.set_defaults(fn=cmd_demo)
    return ap


def _input_errors() -> tuple[type[BaseException], ...]:
    """The errors that mean bad input, an unusable file/folder (one line, exit 2) or a run that failed
    (one line, the error's ``exit_code``: 1 for a lost Ray node), not a bug."""
    from train.data.errors import DatasetError
    from train.errors import FitError
    from train.models import ModelError

    errors: list[type[BaseException]] = [FitError, ModelError, DatasetError, ValueError, OSError]
    shards = sys.modules.get("synth.shards")   # imported only when synthetic shards were read
    if shards is not None:
        errors.append(shards.ShardError)
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except Exception as exc:  # noqa: BLE001 - input errors become one line; anything else is re-raised
        if not isinstance(exc, _input_errors()):
            raise
        print(f"train {args.cmd}: error: {_one_line(exc)}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)   # 2: bad input; 1: a run that failed (e.g. a lost Ray node)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
