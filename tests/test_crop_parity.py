"""Landmark and crop parity: synthetic face boxes have the shape of AFLW2000-3D's (../shared/realdata)."""
from __future__ import annotations

import numpy as np

from conftest import REPO
from synth.boxes import FACE_BOX_STATS, face_box_stats

#: largest relative difference of the mean statistics allowed (synthetic vs real), near-frontal faces
TOLERANCE = 0.065


def test_synthetic_face_boxes_match_aflw2000(realdata):
    from synth.config import load_config
    from synth.pipeline import build_head_bank
    from synth.render.geometry import project_points
    from synth.sampling import sample_scene
    from train.data.aflw import read_pose_mat

    real = []
    for mat in sorted((realdata / "aflw2000-dev").glob("image*.mat")):
        lab = read_pose_mat(mat)
        if np.all(np.abs(lab["euler"]) < 15):
            real.append(lab["landmarks"])
    cfg = load_config(REPO / "pipeline.yaml", preset="faces",
                      overrides=["heads.pool_size=40", "heads.outfit.body=false", "heads.outfit.top=false",
                                 "pose.mode=preset", "pose.pitch=[-15,15]", "pose.yaw=[-15,15]", "pose.roll=[-15,15]"])
    bank = build_head_bank(cfg, 0)
    synth = []
    for i in range(200):
        s = sample_scene(cfg, 0, i)
        synth.append(project_points(s.camera, s.head.rotation, s.head.translation,
                                    bank.get(s.head.identity).landmarks)[0])
    r, g = face_box_stats(real).mean(axis=0), face_box_stats(synth).mean(axis=0)
    rel = g / r - 1.0
    report = ", ".join(f"{n} {100 * d:+.1f} %" for n, d in zip(FACE_BOX_STATS, rel))
    assert len(real) > 100 and np.all(np.abs(rel) < TOLERANCE), report
