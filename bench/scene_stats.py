"""Scene and light statistics of renders beside real photos: the contact sheet's differences, in numbers.

    .venv/bin/python bench/scene_stats.py [--aflw ../shared/realdata/aflw2000-dev] [--n 400]
                                          [--preset faces] [--set KEY=VALUE ...] [--renders RUN]

For ``--n`` AFLW2000-layout photos (their ``pt3d_68`` landmarks) and ``--n`` renders -- made
here in one process from ``--preset`` with any ``--set`` overrides, or read from a run folder
with ``--renders`` -- prints the figures of ``synth.photo_stats.summarize`` side by side with their
difference: the surround's luminance, saturation, colourfulness and edges, the shares of dark and
bright surrounds and of grayscale images, and the face's luminance, contrast and side light
(definitions in ``synth/photo_stats.py``). Writes ``--json`` when given. Tunes nothing: it is a
yardstick for a change to backgrounds, light or camera, to read beside
``synth preview --beside`` and ``bench/sim2real.py``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def real_stats(folder: Path, n: int) -> list:
    import cv2

    from synth.photo_stats import photo_stats
    from train.data.aflw import read_pose_mat

    out = []
    for mat in sorted(folder.glob("image*.mat"))[:n]:
        bgr = cv2.imread(str(mat.with_suffix(".jpg")), cv2.IMREAD_COLOR)
        if bgr is None:
            continue
        out.append(photo_stats(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), read_pose_mat(mat)["landmarks"]))
    return out


def render_stats(args) -> list:
    from synth.photo_stats import photo_stats

    if args.renders:
        from synth.shards import open_dataset

        ds = open_dataset(args.renders)
        return [photo_stats(s["rgb"], s["landmarks"]) for s in (ds[i] for i in range(min(args.n, len(ds))))]
    from synth.config import load_config
    from synth.pipeline import SampleMaker

    cfg = load_config(REPO / "pipeline.yaml", preset=args.preset, overrides=list(args.set))
    maker = SampleMaker(cfg, seed=args.seed)
    return [photo_stats(s["rgb"], s["landmarks"]) for s in (maker.make(i) for i in range(args.n))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--aflw", default=str(REPO.parent / "shared" / "realdata" / "aflw2000-dev"))
    ap.add_argument("--n", type=int, default=400, help="photos and renders each")
    ap.add_argument("--preset", default="faces")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="render config override")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--renders", help="a synth run folder to read instead of rendering")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    from synth.photo_stats import summarize

    folder = Path(args.aflw)
    if not any(folder.glob("image*.mat")):
        print(f"scene_stats: no imageNNNNN.mat in {folder}; pass --aflw with an AFLW2000-layout folder",
              file=sys.stderr)
        return 2
    if args.renders and not Path(args.renders).is_dir():
        print(f"scene_stats: --renders {args.renders} is not a folder; pass the --out folder of a `synth render` "
              "run", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    real = summarize(real_stats(folder, args.n))
    t1 = time.perf_counter()
    ours = summarize(render_stats(args))
    t2 = time.perf_counter()
    what = args.renders or f"--preset {args.preset} " + " ".join(f"--set {s}" for s in args.set)
    print(f"photos: {folder} ({real['images']:.0f}, {t1 - t0:.0f} s); renders: {what} ({ours['images']:.0f}, "
          f"{t2 - t1:.0f} s)")
    print(f"{'figure':30s} {'photos':>8s} {'renders':>8s} {'renders - photos':>17s}")
    for k in real:
        if k != "images":
            print(f"{k:30s} {real[k]:8.3f} {ours[k]:8.3f} {ours[k] - real[k]:+17.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"photos": real, "renders": ours, "photos_folder": str(folder),
                                               "renders_from": what}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
