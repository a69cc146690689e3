"""Which hair styles can be drawn one-sided: per style, the render time of the ``faces`` preset's
heads with their hair drawn from both sides and with its back faces culled, and how many hair
pixels culling changes -- the evidence behind ``synth.heads.wardrobe.ONE_SIDED_HAIR``.

    .venv/bin/python bench/hair_sides.py [--n 600] [--pool 120] [--rounds 4] [--threshold 16]

Renders ``--n`` faces-preset scenes (sample indices from 200000, so not the first samples of a
run) with the GL renderer in this process (``LP_NUM_THREADS=0``, as the runner's actors), each
scene once with every ``hair`` part two-sided and once one-sided, the two alternating in a
rotating order over ``--rounds`` rounds (process CPU time). Per style: the mean ms a render both
ways, what culling saves as a share of all the renders' time, and the share of the style's hair
pixels (segmentation class 2 of the two-sided render) whose colour moves by more than
``--threshold`` levels in some channel -- where a back face was what the camera saw: a strand tip
on the outline of short hair, the inside of a curtain of long hair, half of a curl.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("LP_NUM_THREADS", "0")
os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def sided(head, one_sided: bool):
    """``head`` with every hair part's ``one_sided`` set as given (a new HeadMesh)."""
    parts = tuple(dataclasses.replace(p, one_sided=one_sided) if p.name == "hair" else p for p in head.parts)
    return dataclasses.replace(head, parts=parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=600, help="scenes")
    ap.add_argument("--pool", type=int, default=120, help="identities")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threshold", type=int, default=16, help="levels a pixel must move to count as changed")
    args = ap.parse_args()
    import numpy as np

    from synth.config import load_config
    from synth.pipeline import make_sample_maker
    from synth.sampling import sample_scene

    cfg = load_config(REPO / "pipeline.yaml", preset="faces",
                      overrides=["output.width=256", "output.height=256", f"heads.pool_size={args.pool}"])
    maker = make_sample_maker(cfg, 0)
    try:
        renderer = maker.renderer
        specs = [sample_scene(cfg, 0, 200000 + i) for i in range(args.n)]
        heads = {}
        for s in specs:
            if s.head.identity not in heads:
                h = maker.head_bank.get(s.head.identity)
                heads[s.head.identity] = (sided(h, False), sided(h, True),
                                          (h.attributes.get("outfit") or {}).get("hair") or "bald")
        style = [heads[s.head.identity][2] for s in specs]
        first = {}
        for v in (0, 1):       # warm: uploads, cut-out classes, levels of detail
            for i, s in enumerate(specs):
                out = renderer.render(s, heads[s.head.identity][v])
                if v == 0:
                    first[i] = out
        ms = collections.defaultdict(lambda: [0.0, 0.0])
        changed, hair_px, count = collections.Counter(), collections.Counter(), collections.Counter()
        for rnd in range(args.rounds):
            for v in ((0, 1) if rnd % 2 == 0 else (1, 0)):
                for i, s in enumerate(specs):
                    t = time.process_time()
                    out = renderer.render(s, heads[s.head.identity][v])
                    ms[style[i]][v] += time.process_time() - t
                    if rnd == 0 and v == 1:
                        two = first[i]
                        moved = np.abs(two["rgb"].astype(np.int16) - out["rgb"]).max(-1) > args.threshold
                        changed[style[i]] += int(moved.sum())
                        hair_px[style[i]] += int((two["seg"] == 2).sum())
                        count[style[i]] += 1
    finally:
        maker.close()
    total = [sum(t[v] for t in ms.values()) for v in (0, 1)]
    per = 1e3 / (args.rounds * args.n)
    print(f"faces preset, {args.n} scenes, pool {args.pool}, {args.rounds} rounds: all renders "
          f"{per * total[0]:.2f} ms two-sided, {per * total[1]:.2f} one-sided ({total[1] / total[0]:.3f})")
    print(f"{'style':24s} {'n':>4s} {'two-sided':>10s} {'one-sided':>10s} {'saves':>8s} {'hair px changed':>16s}")
    for name, (t2, t1) in sorted(ms.items(), key=lambda kv: kv[1][1] - kv[1][0]):
        k = args.rounds * count[name]
        print(f"{name:24s} {count[name]:4d} {1e3 * t2 / k:8.2f}ms {1e3 * t1 / k:8.2f}ms "
              f"{100 * (t2 - t1) / total[0]:7.2f}% {changed[name] / max(hair_px[name], 1):15.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
