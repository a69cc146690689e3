"""Speed of the anny/MakeHuman head bank.

Prints: anny model build time (warm = from the disk cache; cold = into an
empty temporary cache, only with ``--cold``, ~80-130 s and 1.2 GB), static
preparation, pool build time per identity for ``--pool`` identities (default
300), vertices/triangles per head and peak memory (RSS).

    python bench/head_bank_speed.py [--pool 300] [--cold]
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cold", action="store_true", help="also time a build into an empty cache")
    a = ap.parse_args()
    from synth.heads import anny_model, makehuman

    if a.cold:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            anny_model.load_anny_model(tmp)
            print(f"model build, cold (empty cache): {time.perf_counter() - t:.1f} s")
            anny_model._MODEL_CACHE.clear()
    t = time.perf_counter()
    anny_model.load_anny_model()
    print(f"model build, warm (disk cache):    {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    bank = makehuman.AnnyHeadBank(pool_size=a.pool, seed=a.seed)
    total = time.perf_counter() - t
    tm = bank.timings
    print(f"static preparation:                {tm['static_prep_s']:.2f} s")
    print(f"pool of {a.pool}: {tm['pool_build_s']:.2f} s = {1000 * tm['pool_build_s'] / a.pool:.1f} ms/identity "
          f"(bank constructor total {total:.1f} s)")
    h = bank.get(0)
    for p in h.parts:
        print(f"  part {p.name:9s}: {p.positions.shape[0]:6d} vertices, {p.indices.shape[0]:6d} triangles")
    print(f"  head total: {h.n_vertices} vertices, {sum(p.indices.shape[0] for p in h.parts)} triangles")
    t = time.perf_counter()
    for i in range(len(bank)):
        bank.get(i)
    print(f"get() x {len(bank)}: {1e6 * (time.perf_counter() - t) / len(bank):.1f} us each")
    print(f"peak RSS: {_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
