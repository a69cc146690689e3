"""Render throughput on this machine, in one run: raster-only ceiling, full pipeline with 1 and 2
workers (render + effects + shard write, through `synth.runner.render_run`), bytes per sample, reader
samples/s, and the extrapolated wall time for 300,000 samples.

    .venv/bin/python bench/render_throughput.py [--n 600] [--size 256] [--maker synth.runner:sphere_sample_maker]

The default maker uses the real MakeHuman heads, renderer and effects;
pass --maker synth.runner:sphere_sample_maker for procedural sphere heads (no head-bank build).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGETS = {"pipeline_2w": 250.0, "ceiling_ratio": 0.8, "scaling": 1.8, "kb": 100.0, "reader": 2000.0}


def _cfg(args):
    from synth.config import load_config

    root = Path(__file__).resolve().parents[1]
    return load_config(root / "pipeline.yaml", preset=args.preset,
                       overrides=[f"output.width={args.size}", f"output.height={args.size}",
                                  f"heads.pool_size={args.pool}"])


def _raster_worker(args, n, q):
    from synth.runner import resolve_maker

    cfg = _cfg(args)
    m = resolve_maker(args.maker)(cfg, 0)
    specs = [m.spec(i) for i in range(n)]
    heads = [m.head_bank.get(s.head.identity) for s in specs]
    m.renderer.render(specs[0], heads[0])
    t = time.perf_counter()
    for s, h in zip(specs, heads):
        m.renderer.render(s, h)
    q.put(n / (time.perf_counter() - t))


def raster_only(args, procs):
    q = mp.get_context("spawn").Queue()
    ps = [mp.get_context("spawn").Process(target=_raster_worker, args=(args, args.n // 2, q)) for _ in range(procs)]
    for p in ps:
        p.start()
    rates = [q.get() for _ in ps]
    for p in ps:
        p.join()
    return sum(rates)


def pipeline(args, workers, out):
    from synth.runner import render_run

    t = time.perf_counter()
    res = render_run(_cfg(args), out, args.n, shard_size=args.shard_size, workers=workers, maker=args.maker,
                     progress=False, log=lambda m: None)
    wall = time.perf_counter() - t
    per = [r["count"] / r["seconds"] for r in res.manifest["shards"]]
    # steady state: sum of per-worker shard rates (excludes Ray / maker start-up)
    steady = workers * sorted(per)[len(per) // 2] if workers > 1 else sorted(per)[len(per) // 2]
    return wall, steady, res


def reader(out):
    from synth.shards import open_dataset

    import numpy as np

    # one core, shuffled single-sample order (labels are in memory; images read per access)
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    except (AttributeError, OSError):
        pass
    ds = open_dataset(out)
    n = len(ds)
    order = np.random.default_rng(0).permutation(n)
    t = time.perf_counter()
    for i in order:
        ds[int(i)]
    single = n / (time.perf_counter() - t)
    t = time.perf_counter()
    for r in ds.shards:
        r.read_batch(range(len(r)))
    batch = n / (time.perf_counter() - t)
    size = sum(int(e["bytes"]) for e in ds.entries) / n
    return single, batch, size


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=600)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--pool", type=int, default=50)
    p.add_argument("--shard-size", type=int, default=100)
    p.add_argument("--preset", default=None)
    p.add_argument("--maker", default="synth.runner:make_sample_maker")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-render-"))
    try:
        r1 = raster_only(args, 1)
        r2 = raster_only(args, 2)
        print(f"raster-only ceiling at {args.size}^2: {r1:.0f} frames/s (1 proc), {r2:.0f} frames/s (2 procs)")
        rows = {}
        for w in (1, 2):
            wall, steady, res = pipeline(args, w, tmp / f"w{w}")
            rows[w] = steady
            print(f"full pipeline, {w} worker(s): {steady:.0f} samples/s steady "
                  f"({args.n / wall:.0f} samples/s incl. start-up, {wall:.1f} s wall)")
        single, batch, size = reader(tmp / "w2")
        print(f"bytes/sample: {size / 1024:.1f} KB; reader: {single:.0f} samples/s (random single), "
              f"{batch:.0f} samples/s (whole-shard batches), 1 core")
        print(f"1 -> 2 workers: {rows[2] / rows[1]:.2f}x; pipeline / raster ceiling (2 procs): {rows[2] / r2:.2f}")
        print(f"300,000 samples: {300000 / rows[2] / 3600:.2f} h with 2 workers "
              f"({300000 / rows[1] / 3600:.2f} h with 1); {300000 * size / 1e9:.1f} GB")
        print("targets: >= 250 samples/s (2 workers), >= 0.8 x raster ceiling, >= 1.8x scaling, <= 100 KB/sample, "
              ">= 2000 reads/s/core")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
