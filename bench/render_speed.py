"""Render speed at 256x256 with real MakeHuman heads: raster-only vs the full sample path.

    .venv/bin/python bench/render_speed.py [--frames 400] [--pool 50]

raster-only: renderer.render(spec, head) on pre-sampled specs (GL draw + read-back + depth/mask/landmarks).
full sample: SampleMaker.make(i) = sampling + identity lookup + render + effects + labels.
Each figure is measured with 1 and with 2 processes (each process builds its own head
bank and GL context once, outside the timed loop); frames/s are totals over processes.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _worker(args):
    mode, start, frames, pool, barrier = args
    from synth.runner import ACTOR_LP_THREADS

    os.environ.setdefault("LP_NUM_THREADS", ACTOR_LP_THREADS)  # as synth.runner does for its actors
    from synth.config import load_config
    from synth.pipeline import SampleMaker

    cfg = load_config(REPO / "pipeline.yaml", overrides=[f"heads.pool_size={pool}"])
    maker = SampleMaker(cfg)
    specs = [maker.spec(start + i) for i in range(frames)]
    heads = [maker.head_bank.get(s.head.identity) for s in specs]
    for s, h in zip(specs[:20], heads[:20]):  # warm-up: uploads, shader compile
        maker.renderer.render(s, h)
    barrier.wait()
    t0 = time.perf_counter()
    if mode == "raster":
        for s, h in zip(specs, heads):
            maker.renderer.render(s, h)
    else:
        for i in range(frames):
            maker.make(start + i)
    elapsed = time.perf_counter() - t0
    maker.close()
    return elapsed


def measure(mode: str, procs: int, frames: int, pool: int) -> float:
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(procs)
        with ctx.Pool(procs) as p:
            times = p.map(_worker, [(mode, k * frames, frames, pool, barrier) for k in range(procs)])
    return procs * frames / max(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=400, help="frames per process")
    ap.add_argument("--pool", type=int, default=50, help="identities in the pool")
    a = ap.parse_args()
    print(f"256x256, real heads (pool {a.pool}), {a.frames} frames per process")
    results = {}
    for mode in ("raster", "full"):
        for procs in (1, 2):
            results[mode, procs] = fps = measure(mode, procs, a.frames, a.pool)
            print(f"  {mode:6s} {procs} proc: {fps:7.1f} frames/s")
    print(f"  full / raster (2 procs): {results['full', 2] / results['raster', 2]:.2f}")
    print(f"  1 -> 2 procs speed-up: raster {results['raster', 2] / results['raster', 1]:.2f}x, "
          f"full {results['full', 2] / results['full', 1]:.2f}x")


if __name__ == "__main__":
    main()
