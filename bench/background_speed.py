"""CPU cost of each background kind and of each post-render effect, paired in one process.

    .venv/bin/python bench/background_speed.py [--size 256] [--rounds 7] [--n 200]

Backgrounds: ``make_background`` per kind (``solid`` is a cached constant; ``noise`` is
the reference the new kinds are judged against), and the defocus blur at three sigmas.
Effects: ``apply_effects`` with one effect on at a time, on rendered-like 256x256 images.
Each round times every case once over the same seeds, cases in a rotating order; the
figure is the median over rounds of CPU ms per call (thread time: on this shared machine
wall time also counts the time other jobs hold the core). The pattern fields are built
before timing (once per process in a run). Ratios to ``noise`` (backgrounds) are what to
compare between runs.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from synth.effects import apply_effects  # noqa: E402
from synth.draw import patterns  # noqa: E402
from synth.render.background import make_background  # noqa: E402
from synth.scene import Background, Distractor, Effects  # noqa: E402


def _time(fn, items) -> float:
    t = time.thread_time()
    for it in items:
        fn(it)
    return (time.thread_time() - t) / len(items) * 1e3


def _rounds(cases: dict, items, rounds: int) -> dict:
    names = list(cases)
    for name in names:  # warm-up: caches, pattern fields, OpenCV's first calls
        _time(cases[name], items[:5])
    got = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            got[name].append(_time(cases[name], items))
    return {name: statistics.median(v) for name, v in got.items()}


def backgrounds(size: int, n: int, rounds: int) -> None:
    for i in range(patterns.N_PATTERNS):  # the pattern fields: built once per process (~0.3 s in all)
        patterns.pattern(i, 8, 8, 0.0, 0.0)
    rng = np.random.default_rng(0)
    colors = rng.uniform(0.05, 0.95, (n, 3))
    seeds = list(range(n))

    def kind(name, blur=0.0):
        return lambda i: make_background(Background(name, colors[i], seed=seeds[i], blur=blur), size, size)

    cases = {"solid": kind("solid"), "noise": kind("noise"), "leaves": kind("leaves"), "clutter": kind("clutter"),
             "leaves+blur 0.005": kind("leaves", 0.005), "leaves+blur 0.015": kind("leaves", 0.015),
             "leaves+blur 0.03": kind("leaves", 0.03)}
    res = _rounds(cases, list(range(n)), rounds)
    print(f"backgrounds at {size}x{size}: median ms per call over {rounds} rounds of {n}")
    for name, ms in res.items():
        print(f"  {name:20s} {ms:6.3f} ms   {ms / res['noise']:5.2f} x noise")


def effects(size: int, n: int, rounds: int) -> None:
    base = [np.ascontiguousarray(make_background(Background("leaves", np.array([0.5, 0.4, 0.3]), seed=s), size, size))
            for s in range(8)]
    c = size / 2.0
    cases_fx = {
        "none": Effects(),
        "noise 4": Effects(noise_sigma=4.0, noise_seed=3),
        "jpeg 70": Effects(jpeg_quality=70),
        "white balance": Effects(wb_temperature=0.3, wb_tint=-0.05),
        "exposure+gamma": Effects(exposure_ev=0.5, tone_gamma=0.9),
        "wb+exposure+gamma": Effects(wb_temperature=0.3, wb_tint=-0.05, exposure_ev=0.5, tone_gamma=0.9),
        "vignetting": Effects(vignetting=0.4, vignetting_center=(c, c), vignetting_radius=1.2 * size),
        "chroma noise": Effects(chroma_sigma=3.0, chroma_scale=2.0, chroma_seed=5),
        "sharpen": Effects(sharpen_amount=0.8, sharpen_sigma=1.0),
        "distractor bar": Effects(distractors=(Distractor("bar", c, c, 0.8 * size, 0.06 * size, 30.0, softness=0.0,
                                                          seed=1),)),
        "distractor hand soft": Effects(distractors=(Distractor("hand", c, c, 0.35 * size, 0.35 * size, 10.0,
                                                                softness=2.0, seed=2),)),
    }
    cases = {name: (lambda i, e=e: apply_effects(base[i % len(base)], e)) for name, e in cases_fx.items()}
    res = _rounds(cases, list(range(n)), rounds)
    print(f"effects at {size}x{size}: median ms per apply_effects call, one effect on")
    for name, ms in res.items():
        print(f"  {name:22s} {ms:6.3f} ms   (+{ms - res['none']:.3f} over none)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--only", choices=("backgrounds", "effects"))
    args = ap.parse_args()
    cv2.setNumThreads(1)
    if args.only != "effects":
        backgrounds(args.size, args.n, args.rounds)
    if args.only != "backgrounds":
        effects(args.size, args.n, args.rounds)


if __name__ == "__main__":
    main()
