"""The ``synth`` command line.

    synth preview --n 64 --out preview.png      render a contact sheet (pose axes + angles on each image)
    synth preview DIR --n 64 --out preview.png  the same, drawn from a render's shards
    synth render --n N --out DIR [--workers W]  Ray-parallel, resumable HDF5 shards + manifest.json
    synth inspect DIR                           counts, schema, provenance, histograms (PNG in DIR/inspect)
    synth migrate DIR                           rewrite older shards in the current schema (in place, verified)
    synth sample --index I                      print one sample's scene parameters and labels
    synth robustness --suite NAME --out DIR     one factor swept over levels per base scene (--list: the suites)
    synth heads install                         fetch and verify the CC0 head-bank assets, build the model cache

Every command takes ``--config`` (default: ./pipeline.yaml when present),
``--preset NAME``, ``--set key=value`` (repeatable) and ``--seed``.

Exit codes: 0 done; 2 a bad input (config key, option, folder, manifest, shard file)
or an unusable disk, with one line naming the key or file and the fix, and nothing
already written changed; 1 shards that kept failing (the others are kept).
"""
from __future__ import annotations

import argparse
import json
import os
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
    p.add_argument("--renderer", default=None, choices=("gl", "blender", "mix"),
                   help="backend: gl (fast rasterizer), blender (Cycles, needs the [blender] extra) or mix "
                        "(renderer.blender_ratio of the samples by Cycles); same as --set renderer.backend=...")


def _add_run_args(p: argparse.ArgumentParser) -> None:
    """Options of every command that renders a run folder (``render``, ``robustness``)."""
    p.add_argument("--workers", type=int, default=max(1, min(os.cpu_count() or 1, 8)),
                   help="parallel renderers (Ray actors); 0 or 1 (or a single shard to render) renders in this process "
                        "without Ray "
                        "(default: CPU count, at most 8; with --address: 0 = the cluster's CPUs)")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join (e.g. auto, ray://head:10001; default: $RAY_ADDRESS); "
                        "--out must then be a path shared by every node")
    p.add_argument("--compression", default=None, choices=("zstd", "gzip", "lzf", "none"),
                   help="image compression (default zstd level 1 with a row-delta on rgb; figures in bench/README.md)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--maker", default="synth.runner:make_sample_maker",
                   help="sample-maker factory module:function (for a suite: of its base scenes; tests and "
                        "benchmarks: synth.runner:sphere_sample_maker renders sphere heads, no head bank)")


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


class UsageError(ValueError):
    """A command-line option out of range (exit code 2, one line naming the option)."""


def _image_out(path: str, option: str) -> Path:
    """The PNG/JPG path an image is written to, checked before any work: not a folder, a known suffix."""
    out = Path(path)
    if out.is_dir():
        raise UsageError(f"{option} {out} is a folder; fix: give a file path such as {out / 'preview.png'}")
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise UsageError(f"{option} {out}: fix: give a .png or .jpg file name")
    return out


def _check_sheet_args(args) -> Path:
    if args.n < 1 or args.start < 0 or args.tile < 8:
        raise UsageError(f"--n {args.n} --start {args.start} --tile {args.tile}: fix: give --n >= 1, --start >= 0 "
                         "and --tile >= 8 (px)")
    if args.beside is not None:
        from synth.preview import photo_files

        folder = Path(args.beside)
        if not folder.is_dir():
            raise UsageError(f"--beside {folder}: not a folder; fix: give a folder of photos, "
                             "e.g. ../shared/realdata/aflw2000-dev")
        if not photo_files(folder):
            raise UsageError(f"--beside {folder}: no .jpg/.jpeg/.png files in it; fix: give a folder of photos")
    return _image_out(args.out, "--out")


def _sheet(samples: list, args):
    """The contact sheet of ``samples``, with as many photos from ``--beside`` to its right when given."""
    from synth.preview import contact_sheet, grid_columns, photo_files, photo_sheet, side_by_side

    columns = grid_columns(len(samples))
    sheet = contact_sheet(samples, columns=columns, tile=args.tile)
    if args.beside is None:
        return sheet
    tile_h = sheet.height // -(-len(samples) // columns)   # the sheet's rows share its height
    return side_by_side(sheet, photo_sheet(photo_files(args.beside), len(samples), columns, args.tile, tile_h))


def _preview_from_shards(args) -> int:
    from synth.preview import save_atomically
    from synth.shards import open_dataset

    out = _check_sheet_args(args)
    ds = open_dataset(args.dir)
    if len(ds) == 0:
        print(f"synth: {args.dir}: no complete shards yet; fix: let `synth render` finish a shard first",
              file=sys.stderr)
        return 1
    start = min(max(args.start, 0), len(ds) - 1)
    n = min(args.n, len(ds) - start)
    picks = np.linspace(start, len(ds) - 1, n).round().astype(int) if args.spread else range(start, start + n)
    samples = [ds[int(i)] for i in picks]
    out.parent.mkdir(parents=True, exist_ok=True)
    save_atomically(out, _sheet(samples, args).save)
    print(f"wrote {out}: {len(samples)} samples from {args.dir} ({len(ds)} in its complete shards)")
    return 0


def cmd_preview(args) -> int:
    from synth.pipeline import SampleMaker
    from synth.preview import save_atomically

    if args.dir is not None:
        return _preview_from_shards(args)
    out = _check_sheet_args(args)
    cfg = _load(args)
    t0 = time.perf_counter()
    maker = SampleMaker(cfg)
    t1 = time.perf_counter()
    samples = [maker.make(args.start + i) for i in range(args.n)]
    t2 = time.perf_counter()
    maker.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    save_atomically(out, _sheet(samples, args).save)
    print(f"wrote {out}: {args.n} samples of {len(maker.head_bank)} identities "
          f"(setup {t1 - t0:.1f} s, {args.n / max(t2 - t1, 1e-9):.1f} samples/s)")
    return 0


def cmd_sample(args) -> int:
    from synth.pipeline import scene_params
    from synth.sampling import sample_scene

    if args.index < 0:
        raise UsageError(f"--index {args.index}: fix: give a sample index >= 0")
    image = _image_out(args.render, "--render") if args.render else None
    cfg = _load(args)
    spec = sample_scene(cfg, cfg.seed, args.index)
    info = _spec_summary(spec)
    info["params"] = scene_params(spec, np.zeros((1, 1), bool))
    info["params"]["effects"].pop("occluded_fraction")
    if args.render:
        from synth.pipeline import SampleMaker
        from synth.preview import annotate, save_atomically

        maker = SampleMaker(cfg)
        sample = maker.make(args.index)
        maker.close()
        info["params"] = sample["params"]
        info["bbox"] = np.round(sample["bbox"], 2).tolist()
        save_atomically(image, annotate(sample).save)
        info["image"] = str(image)
    print(json.dumps(info, indent=2))
    return 0


def cmd_render(args) -> int:
    from synth.runner import render_run

    cfg = _load(args)
    res = render_run(cfg, args.out, args.n, shard_size=args.shard_size, workers=args.workers,
                     address=args.address, maker=args.maker, retries=args.retries,
                     compression=args.compression, verify=args.verify, progress=not args.no_progress)
    print(f"{res.out}: {res.n} samples in {res.manifest['n_shards']} shards complete "
          f"({res.rendered_shards} rendered now, {res.skipped_shards} already there; "
          f"{res.seconds:.1f} s, {res.samples_per_s:.1f} samples/s)")
    return 0


def cmd_inspect(args) -> int:
    from synth.dataset_report import inspect_dataset

    if args.out is not None and Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out {args.out} is a file; fix: give a folder for the PNG histograms")
    report = inspect_dataset(args.dir, out=args.out, checksums=args.verify)
    print(report["text"])
    return 0


def cmd_migrate(args) -> int:
    from synth.migrate import migrate_run
    from synth.shards import ShardError

    try:
        res = migrate_run(args.dir)
    except ShardError as exc:
        print(f"synth: {exc}", file=sys.stderr)
        return 2
    print(f"{res.folder}: {len(res.migrated)} shards migrated now"
          + (f" ({res.bytes_before / 1e6:.1f} -> {res.bytes_after / 1e6:.1f} MB)" if res.migrated else "")
          + f", {len(res.current) + len(res.rerecorded)} already current; every shard decodes through the "
          f"standard HDF5 filters ({res.seconds:.1f} s)")
    return 0


def cmd_robustness(args) -> int:
    from synth.robustness import describe_suites, load_suite_config, render_suite
    from synth.robustness_config import load_robustness_config

    path = args.config or ("pipeline.yaml" if Path("pipeline.yaml").is_file() else None)
    if path is None:
        print("synth: robustness suites are defined in pipeline.yaml's robustness section; fix: run from the "
              "repository root or pass --config PIPELINE.yaml", file=sys.stderr)
        return 2
    rc = load_robustness_config(path)
    if args.list:
        print(describe_suites(rc))
        return 0
    if not args.suite or not args.out:
        print("synth robustness: give --suite NAME and --out DIR (or --list)", file=sys.stderr)
        return 2
    cfg = load_suite_config(path, args.suite, n_base=args.n_base, seed=args.seed, preset=args.preset,
                            overrides=args.overrides, base_maker=args.maker, robustness=rc)
    res = render_suite(cfg, args.out, workers=args.workers, address=args.address,
                       compression=args.compression, progress=not args.no_progress)
    print(f"{res.out}: suite {args.suite} ({cfg.suite.factor}, {cfg.n_levels} levels x {cfg.n_base} base scenes "
          f"= {cfg.n_samples} samples, seed {cfg.seed}) complete ({res.rendered_shards} shards rendered now, "
          f"{res.skipped_shards} already there; {res.seconds:.1f} s)")
    return 0


def cmd_heads(args) -> int:
    from synth.heads.assets import install

    path = install(force=args.force)
    print(f"head-bank assets ready in {path}")
    from synth.heads.anny_model import load_anny_model
    from synth.heads.assets import default_anny_cache_dir

    load_anny_model()   # builds anny's model cache on the first install (~1.2 GB, 1-2 min), loads it after
    print(f"MakeHuman model cache ready in {default_anny_cache_dir()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synth", description="Synthetic head-pose data")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("preview", help="contact sheet with pose axes: rendered now, or from a render's shards")
    _add_config_args(p)
    p.add_argument("dir", nargs="?", default=None, metavar="DIR",
                   help="draw from the shards of this `synth render` folder instead of rendering")
    p.add_argument("--spread", action="store_true", help="with DIR: spread the n samples over the whole run")
    p.add_argument("--n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("--start", type=int, default=0, help="first sample index")
    p.add_argument("--out", default="preview.png", help="output PNG")
    p.add_argument("--tile", type=int, default=160, help="tile width in px")
    p.add_argument("--beside", default=None, metavar="PHOTOS",
                   help="put as many photos from this folder (JPG/PNG, a seeded pick) to the right of the "
                        "sheet, e.g. ../shared/realdata/aflw2000-dev: renders beside real faces")
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("render", help="render a dataset into resumable HDF5 shards (Ray-parallel)")
    _add_config_args(p)
    p.add_argument("--n", type=int, required=True, help="number of samples (indices 0..n-1)")
    p.add_argument("--out", required=True, help="run folder (shards + manifest.json); rerun to resume")
    _add_run_args(p)
    p.add_argument("--shard-size", type=int, default=1024, help="samples per shard (default 1024)")
    p.add_argument("--retries", type=int, default=3, help="retries of a failed shard task (default 3)")
    p.add_argument("--verify", action="store_true", help="on resume, also check existing shards' sha256")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("inspect", help="counts, schema, provenance and histograms of a render")
    p.add_argument("dir", help="a `synth render` folder")
    p.add_argument("--out", default=None, help="folder for the PNG histograms (default DIR/inspect)")
    p.add_argument("--verify", action="store_true", help="also check every shard's sha256")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("migrate", help="rewrite a render's older (schema 1-2) shards in the current schema, in place")
    p.add_argument("dir", help="a `synth render` folder (not while a render writes into it)")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("sample", help="print one sample's parameters and labels")
    _add_config_args(p)
    p.add_argument("--index", type=int, required=True)
    p.add_argument("--render", default=None, metavar="PNG", help="also render it, annotated, to this PNG")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("robustness", help="render a robustness suite: one factor swept, everything else fixed")
    _add_config_args(p)
    p.add_argument("--list", action="store_true", help="list the suites of the config's robustness section")
    p.add_argument("--suite", default=None, help="suite name (see --list)")
    p.add_argument("--out", default=None, help="run folder (shards + manifest.json); rerun to resume")
    p.add_argument("--n-base", type=int, default=None,
                   help="base scenes, each rendered at every level (default: robustness.n_base)")
    _add_run_args(p)
    p.set_defaults(func=cmd_robustness)

    p = sub.add_parser("heads", help="head-bank assets")
    hs = p.add_subparsers(dest="heads_command", required=True)
    pi = hs.add_parser("install", help="fetch and verify the CC0 head-bank assets into assets/ "
                       "and build the MakeHuman model cache")
    pi.add_argument("--force", action="store_true", help="reinstall even if present")
    pi.set_defaults(func=cmd_heads)
    return parser


def main(argv: list[str] | None = None) -> int:
    from synth.config import ConfigError
    from synth.heads.bank import HeadBankError
    from synth.run_errors import RunError
    from synth.shards import ShardError

    args = build_parser().parse_args(argv)
    if getattr(args, "renderer", None):  # before the --set overrides, so an explicit --set still wins
        args.overrides.insert(0, f"renderer.backend={args.renderer}")
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"synth: config error: {exc}", file=sys.stderr)
        return 2
    except HeadBankError as exc:
        print(f"synth: head bank error: {exc}", file=sys.stderr)
        return 2
    except RunError as exc:
        print(f"synth: {exc}", file=sys.stderr)
        return exc.exit_code
    except (ShardError, UsageError) as exc:
        print(f"synth: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:   # a file this command writes or reads: full disk, read-only, no permission
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"synth: {where}{exc.strerror or exc}; fix: free space or choose a writable path", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
