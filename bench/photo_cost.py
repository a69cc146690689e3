"""Per-sample CPU cost of the photo backgrounds and effects: the ``faces`` preset with them and
without them, paired in one process (same heads, renderer, indices; rounds alternate).

    .venv/bin/python bench/photo_cost.py [--n 150] [--rounds 4] [--pool 10] [--size 256]

"without" is the faces preset with the new background kinds, defocus and effects switched
off (its old noise/solid backgrounds and old effects as configured); "with" is the preset as
it is. Each round makes the same n samples under both configs (order alternating), timing
CPU per stage: scene sampling, render (process time: llvmpipe rasterizes in this thread with
LP_NUM_THREADS=0, as the runner's actors do), effects, labels, shard append (compression:
busier images cost more and take more bytes, reported per sample). The ratio of the totals
is the expected change of pipeline throughput, free of this machine's +-20 % drift.
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OFF = ["background.leaves=0", "background.clutter=0", "background.solid=0.3", "background.noise=0.7",
       "background.blur_probability=0", "effects.distractors.probability=0", "effects.white_balance.probability=0",
       "effects.exposure.probability=0", "effects.vignetting.probability=0", "effects.noise.chroma_probability=0",
       "effects.compression.jpeg_probability=0"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--pool", type=int, default=10)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    from synth.config import load_config
    from synth.effects import apply_effects
    from synth.pipeline import SampleMaker, label_sample
    from synth.draw import patterns
    from synth.sampling import sample_scene
    from synth.shards import ShardWriter, now_iso

    root = Path(__file__).resolve().parents[1]
    common = [f"heads.pool_size={args.pool}", f"output.width={args.size}", f"output.height={args.size}"]
    cfgs = {"with": load_config(root / "pipeline.yaml", preset="faces", overrides=common),
            "without": load_config(root / "pipeline.yaml", preset="faces", overrides=common + OFF)}
    maker = SampleMaker(cfgs["with"], seed=0)
    for i in range(patterns.N_PATTERNS):
        patterns.pattern(i, 8, 8, 0.0, 0.0)
    for i in range(args.n):  # warm-up: head uploads, levels of detail
        spec = sample_scene(cfgs["with"], 0, i)
        maker.renderer.render(spec, maker.head_bank.get(spec.head.identity))
    stages = ("sampling", "render", "effects", "labels", "shard append")
    got = {name: {s: [] for s in stages} for name in cfgs}
    size = {name: [] for name in cfgs}
    tmp = Path(tempfile.mkdtemp(prefix="bench-photo-"))
    attrs = dict(config_json="{}", config_hash="-", code_version="-", renderer_name="-", renderer_version="-",
                 created=now_iso(), shard_index=0, index_start=0, index_stop=args.n)
    for r in range(args.rounds):
        for name in (("with", "without") if r % 2 == 0 else ("without", "with")):
            cfg, acc = cfgs[name], dict.fromkeys(stages, 0.0)
            writer = ShardWriter(tmp / f"{name}-{r}.h5", args.n, attrs)
            for i in range(args.n):
                t0 = time.thread_time()
                spec = sample_scene(cfg, 0, i)
                t1 = time.thread_time()
                head = maker.head_bank.get(spec.head.identity)
                p0 = time.process_time()
                rendered = maker.renderer.render(spec, head)
                p1 = time.process_time()
                t2 = time.thread_time()
                rgb = apply_effects(rendered["rgb"], spec.effects)
                t3 = time.thread_time()
                sample = label_sample(spec, rendered, rgb)
                t4 = time.thread_time()
                writer.append(sample)
                t5 = time.thread_time()
                for s, v in zip(stages, (t1 - t0, p1 - p0, t3 - t2, t4 - t3, t5 - t4)):
                    acc[s] += v
            writer.close()
            size[name].append((tmp / f"{name}-{r}.h5").stat().st_size / args.n / 1024)
            for s in stages:
                got[name][s].append(acc[s] / args.n * 1e3)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"faces preset, {args.size}x{args.size}, {args.n} samples x {args.rounds} rounds: median CPU ms per sample")
    total = {}
    for name in cfgs:
        med = {s: statistics.median(v) for s, v in got[name].items()}
        total[name] = sum(med.values())
        print(f"  {name:8s} " + "  ".join(f"{s} {v:6.3f}" for s, v in med.items()) + f"  total {total[name]:6.3f}"
              f"  ({statistics.median(size[name]):.1f} KB/sample)")
    print(f"  photo realism costs {total['with'] - total['without']:+.3f} ms per sample: throughput x "
          f"{total['without'] / total['with']:.3f}")
    maker.close()


if __name__ == "__main__":
    main()
