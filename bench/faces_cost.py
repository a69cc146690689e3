"""What each ingredient of the ``faces`` renders costs: the preset as it is beside the same preset with
one ingredient switched off, paired in one process, CPU time per sample and stage.

    .venv/bin/python bench/faces_cost.py [--only people,hair,camera] [--n 120] [--rounds 3] [--pool 10]
                                         [--variant 'NAME:KEY=V;KEY=V' ...]

The ingredients and their switch-offs are the render ablations of ``bench/sim2real_ablate.py``
(people, hair, clothes, accessories, eyes_teeth, backgrounds, camera, light, sensor, pose), plus
``render_scale`` (the photo camera rasterising at the output size, ``camera.photo_render_scale=[1,1]``)
and ``photo`` (photo backgrounds, defocus and sensor effects all off), so that the accuracy each one
buys (the ablation table) and what it costs (this table) are of the same switch. Each variant has
its own `SampleMaker` (its own head bank: what people wear is drawn per identity). Every round
makes the same n sample indices under every variant, the order rotating between rounds; per stage
the median over rounds of the mean CPU ms per sample: scene sampling, render (process time:
llvmpipe rasterises in this thread with ``LP_NUM_THREADS=0``, as the runner's actors do), effects,
labels, shard append. "throughput x" = CPU(faces) / CPU(variant): what the variant would do to
pipeline throughput, free of this machine's +-20 % drift. A variant cheaper than the preset has
x > 1.
``--variant`` adds a variant of its own overrides (alone, it compares only those with the preset):
the preset before a change against the preset after it, paired.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LP_NUM_THREADS", "0")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # one BLAS thread, as the runner's Ray actors have
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sim2real_ablate import ABLATIONS  # noqa: E402

#: photo-like backgrounds, defocus and every camera effect off: the backgrounds and sensor ablations, and JPEG
PHOTO_OFF = ABLATIONS["backgrounds"][1] + ABLATIONS["sensor"][1] + ["effects.compression.jpeg_probability=0"]
#: name -> render overrides that switch the ingredient off
VARIANTS: dict[str, list[str]] = {name: sets for name, (_, sets, _) in ABLATIONS.items() if sets}
VARIANTS["render_scale"] = ["camera.photo_render_scale=[1,1]"]
VARIANTS["photo"] = PHOTO_OFF
STAGES = ("sampling", "render", "effects", "labels", "shard append")


def time_variant(maker, cfg, n: int, path: Path) -> tuple[dict[str, float], float]:
    """Mean CPU ms per sample of each stage over sample indices 0..n-1, and KB per sample."""
    from synth.effects import apply_effects
    from synth.pipeline import label_sample
    from synth.sampling import sample_scene
    from synth.shards import ShardWriter, now_iso

    attrs = dict(config_json="{}", config_hash="-", code_version="-", renderer_name="-", renderer_version="-",
                 created=now_iso(), shard_index=0, index_start=0, index_stop=n)
    acc = dict.fromkeys(STAGES, 0.0)
    writer = ShardWriter(path, n, attrs)
    for i in range(n):
        t0 = time.thread_time()
        spec = sample_scene(cfg, 0, i)
        t1 = time.thread_time()
        head = maker.head_bank.get(spec.head.identity)
        p0 = time.process_time()
        rendered = maker.renderer.render(spec, head)
        p1 = time.process_time()
        t2 = time.thread_time()
        spec = maker.meter(spec, head, rendered)  # the effects stage: metering, then effects
        rgb = apply_effects(rendered["rgb"], spec.effects)
        t3 = time.thread_time()
        sample = label_sample(spec, rendered, rgb)
        t4 = time.thread_time()
        writer.append(sample)
        t5 = time.thread_time()
        for s, v in zip(STAGES, (t1 - t0, p1 - p0, t3 - t2, t4 - t3, t5 - t4)):
            acc[s] += v
    writer.close()
    kb = path.stat().st_size / n / 1024
    path.unlink()
    return {s: v / n * 1e3 for s, v in acc.items()}, kb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=None, help="comma list of ingredients to switch off (default: all of "
                                                 "them, or none when --variant is given)")
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pool", type=int, default=10)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=V;KEY=V",
                    help="an extra variant: the preset with these overrides (repeatable), e.g. the preset "
                         "before a change: 'v2:camera.photo_render_scale=[0.6,1.0];renderer.gl_lod_px=0.2'")
    args = ap.parse_args()
    extra = {}
    for v in args.variant:
        name, _, sets = v.partition(":")
        if not name or not sets or name in VARIANTS or name == "faces":
            print(f"faces_cost: --variant {v!r}: fix: give NAME:KEY=V;KEY=V with a new name", file=sys.stderr)
            return 2
        extra[name] = [x for x in sets.split(";") if x]
    only = args.only if args.only is not None else ("" if extra else ",".join(VARIANTS))
    names = [n for n in only.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        print(f"faces_cost: unknown ingredient(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}",
              file=sys.stderr)
        return 2
    from synth.config import load_config
    from synth.pipeline import SampleMaker
    from synth.draw import patterns
    from synth.sampling import sample_scene

    root = Path(__file__).resolve().parents[1]
    common = [f"heads.pool_size={args.pool}", f"output.width={args.size}", f"output.height={args.size}"]
    variants = {"faces": []} | {n: VARIANTS[n] for n in names} | extra
    cfgs, makers = {}, {}
    for name, sets in variants.items():
        cfgs[name] = load_config(root / "pipeline.yaml", preset="faces", overrides=common + sets)
        makers[name] = SampleMaker(cfgs[name], seed=0)
    for i in range(patterns.N_PATTERNS):
        patterns.pattern(i, 8, 8, 0.0, 0.0)
    for name, maker in makers.items():   # warm-up: head uploads, levels of detail
        for i in range(args.n):
            spec = sample_scene(cfgs[name], 0, i)
            maker.renderer.render(spec, maker.head_bank.get(spec.head.identity))
    got = {name: {s: [] for s in STAGES} for name in variants}
    size = {name: [] for name in variants}
    tmp = Path(tempfile.mkdtemp(prefix="bench-faces-cost-"))
    order = list(variants)
    for r in range(args.rounds):
        for name in order[r % len(order):] + order[:r % len(order)]:
            stage_ms, kb = time_variant(makers[name], cfgs[name], args.n, tmp / f"{name}-{r}.h5")
            size[name].append(kb)
            for s in STAGES:
                got[name][s].append(stage_ms[s])
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"faces preset, {args.size}x{args.size}, {args.n} samples x {args.rounds} rounds, pool {args.pool}: "
          f"median CPU ms per sample")
    print(f"  {'without':13s} " + " ".join(f"{s:>12s}" for s in STAGES) + f" {'total':>8s} {'KB':>6s} {'throughput x':>13s}")
    total = {}
    for name in variants:
        med = {s: statistics.median(v) for s, v in got[name].items()}
        total[name] = sum(med.values())
        print(f"  {(name if name != 'faces' else '(nothing)'):13s} " + " ".join(f"{v:12.3f}" for v in med.values())
              + f" {total[name]:8.3f} {statistics.median(size[name]):6.1f} {total['faces'] / total[name]:13.3f}")
    for maker in makers.values():
        maker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
