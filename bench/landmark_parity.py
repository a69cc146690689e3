"""Landmark and crop parity: the shape of synthetic face boxes beside AFLW2000-3D's.

    .venv/bin/python bench/landmark_parity.py [--aflw ../shared/realdata/aflw2000-dev] [--n 400] [--max-angle 15]

The face box (the 68 landmarks' bounding box) is what every crop preset cuts around, so a
synthetic box that is narrower, taller or placed differently on the face than the benchmark's
gives the network differently framed faces. Prints, for faces with every |angle| below
``--max-angle``, the mean and spread of ``synth.boxes.face_box_stats`` (height/width, width and
height in inter-ocular distances, nose-tip and eye-centre height in the box) for the real folder
and for ``--n`` renders of the ``faces`` preset's heads and camera, and their relative difference.
``tests/test_crop_parity.py`` holds the difference within a few percent.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--aflw", default=str(REPO.parent / "shared" / "realdata" / "aflw2000-dev"))
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--pool", type=int, default=60)
    ap.add_argument("--max-angle", type=float, default=15.0)
    args = ap.parse_args()
    from synth.boxes import FACE_BOX_STATS, face_box_stats
    from synth.config import load_config
    from synth.pipeline import build_head_bank
    from synth.render.geometry import project_points
    from synth.sampling import sample_scene
    from train.data.aflw import read_pose_mat

    real = []
    for mat in sorted(Path(args.aflw).glob("image*.mat")):
        lab = read_pose_mat(mat)
        if np.all(np.abs(lab["euler"]) < args.max_angle):
            real.append(lab["landmarks"])
    if not real:
        print(f"landmark_parity: no AFLW2000-3D faces under {args.max_angle} deg in {args.aflw}", file=sys.stderr)
        return 2
    a = args.max_angle
    cfg = load_config(REPO / "pipeline.yaml", preset="faces", overrides=[
        f"heads.pool_size={args.pool}", "pose.mode=preset", f"pose.pitch=[{-a},{a}]", f"pose.yaw=[{-a},{a}]",
        f"pose.roll=[{-a},{a}]"])
    bank = build_head_bank(cfg, 0)
    synth = []
    for i in range(args.n):
        s = sample_scene(cfg, 0, i)
        synth.append(project_points(s.camera, s.head.rotation, s.head.translation,
                                    bank.get(s.head.identity).landmarks)[0])
    r, g = face_box_stats(real), face_box_stats(synth)
    print(f"faces with every |angle| < {a:g} deg: {len(real)} real ({args.aflw}), {len(synth)} renders")
    print(f"{'statistic':28s} {'real':>15s} {'renders':>15s} {'difference':>11s}")
    for k, name in enumerate(FACE_BOX_STATS):
        print(f"{name:28s} {r[:, k].mean():7.3f} ± {r[:, k].std():5.3f} {g[:, k].mean():7.3f} ± {g[:, k].std():5.3f} "
              f"{100 * (g[:, k].mean() / r[:, k].mean() - 1):+10.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
