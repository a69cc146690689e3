"""The ``synth`` command line.

    synth preview --n 64 --out preview.png      render a contact sheet (pose axes + angles on each image)
    synth sample --index I                      print one sample's scene parameters and labels
    synth heads install                         fetch and verify the CC0 head-bank assets

Every command takes ``--config`` (default: ./pipeline.yaml when present),
``--preset NAME``, ``--set key=value`` (repeatable) and ``--seed``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="pipeline.yaml (default: ./pipeline.yaml if present)")
    p.add_argument("--preset", default=None, help="a preset name from the config's presets section")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting, e.g. --set heads.pool_size=50 (repeatable)")
    p.add_argument("--seed", type=int, default=None, help="global seed (default: the config's seed)")


def _load(args):
    from synth.config import load_config

    path = args.config
    if path is None and Path("pipeline.yaml").is_file():
        path = "pipeline.yaml"
    overrides = list(args.overrides)
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    return load_config(path, preset=args.preset, overrides=overrides)


def _spec_summary(spec) -> dict:
    from synth.pose import euler_from_rotation

    p, y, r = euler_from_rotation(spec.head.rotation)
    return {
        "index": spec.index, "seed": spec.seed, "identity": spec.head.identity,
        "euler_pitch_yaw_roll_deg": [round(float(v), 4) for v in (p, y, r)],
        "rotation": np.round(spec.head.rotation, 6).tolist(),
        "translation_mm": np.round(spec.head.translation, 3).tolist(),
        "K": np.round(spec.camera.K, 4).tolist(), "size": [spec.camera.width, spec.camera.height],
    }


def cmd_preview(args) -> int:
    from synth.pipeline import SampleMaker
    from synth.preview import contact_sheet

    cfg = _load(args)
    t0 = time.perf_counter()
    maker = SampleMaker(cfg)
    t1 = time.perf_counter()
    samples = [maker.make(args.start + i) for i in range(args.n)]
    t2 = time.perf_counter()
    maker.close()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(samples, tile=args.tile).save(out)
    print(f"wrote {out}: {args.n} samples of {len(maker.head_bank)} identities "
          f"(setup {t1 - t0:.1f} s, {args.n / max(t2 - t1, 1e-9):.1f} samples/s)")
    return 0


def cmd_sample(args) -> int:
    from synth.pipeline import scene_params
    from synth.sampling import sample_scene

    cfg = _load(args)
    spec = sample_scene(cfg, cfg.seed, args.index)
    info = _spec_summary(spec)
    info["params"] = scene_params(spec, np.zeros((1, 1), bool))
    info["params"]["effects"].pop("occluded_fraction")
    if args.render:
        from synth.pipeline import SampleMaker
        from synth.preview import annotate

        maker = SampleMaker(cfg)
        sample = maker.make(args.index)
        maker.close()
        info["params"] = sample["params"]
        info["bbox"] = np.round(sample["bbox"], 2).tolist()
        annotate(sample).save(args.render)
        info["image"] = str(args.render)
    print(json.dumps(info, indent=2))
    return 0


def cmd_heads(args) -> int:
    from synth.heads.assets import install_assets

    path = install_assets(force=args.force)
    print(f"head-bank assets ready in {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synth", description="Synthetic head-pose data")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("preview", help="render samples into a contact sheet with pose axes")
    _add_config_args(p)
    p.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--start", type=int, default=0, help="first sample index")
    p.add_argument("--out", default="preview.png", help="output PNG")
    p.add_argument("--tile", type=int, default=160, help="tile width in px")
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("sample", help="print one sample's parameters and labels")
    _add_config_args(p)
    p.add_argument("--index", type=int, required=True)
    p.add_argument("--render", default=None, metavar="PNG", help="also render it, annotated, to this PNG")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("heads", help="head-bank assets")
    hs = p.add_subparsers(dest="heads_command", required=True)
    pi = hs.add_parser("install", help="fetch and verify the CC0 head-bank assets into assets/")
    pi.add_argument("--force", action="store_true", help="reinstall even if present")
    pi.set_defaults(func=cmd_heads)
    return parser


def main(argv: list[str] | None = None) -> int:
    from synth.config import ConfigError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"synth: config error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
