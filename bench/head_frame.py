"""Where pitch zero is: the bank's head frame against AFLW2000-3D's (3DDFA) frame.

    .venv/bin/python bench/head_frame.py [--aflw ../shared/realdata/aflw2000-dev] [--pool 40]

Prints, for several landmark subsets, the Euler angles of the rotation that
takes the bank's mean landmark template onto the AFLW2000 template (each
sample's ``pt3d_68`` taken to its head frame with its own label). With the
bank's frame tilt in place (``synth.heads.head_frame``) the rigid subset
should read about (0, 0, 0); the Frankfurt column shows the measured tilt.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SUBSETS = {
    "rigid (nose, eyes, mouth corners)": None,  # filled with RIGID_LANDMARKS below
    "all 51 inner (17-67)": np.r_[17:68],
    "eyes + nose (27-47)": np.r_[27:48],
    "eyes + mouth corners": np.r_[36:48, 48, 54],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--aflw", default=str(REPO.parent / "shared" / "realdata" / "aflw2000-dev"))
    ap.add_argument("--pool", type=int, default=40, help="bank identities averaged")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from synth.heads.head_frame import (FRANKFURT_TO_3DDFA_PITCH_DEG, RIGID_LANDMARKS, frame_offset_deg,
                                        frankfurt_to_3ddfa, mean_template)
    from synth.heads.makehuman import AnnyHeadBank
    from train.data.aflw import aflw_landmark_template

    theirs, n = aflw_landmark_template(Path(args.aflw))
    bank = AnnyHeadBank(args.pool, args.seed)
    ours = mean_template(bank.get(i).landmarks for i in range(args.pool))
    frankfurt = ours @ frankfurt_to_3ddfa()  # undo the tilt: the bank's anatomical frame
    print(f"AFLW2000 samples: {n}; bank identities: {args.pool} (seed {args.seed}); "
          f"tilt in the bank: {FRANKFURT_TO_3DDFA_PITCH_DEG:+.2f} deg pitch")
    print(f"{'subset':36s} {'bank frame (p, y, r)':>24s} {'Frankfurt frame (p, y, r)':>28s}")
    for name, idx in SUBSETS.items():
        idx = RIGID_LANDMARKS if idx is None else idx
        now = frame_offset_deg(ours, theirs, idx)
        raw = frame_offset_deg(frankfurt, theirs, idx)
        print(f"{name:36s} {np.array2string(now, precision=2):>24s} {np.array2string(raw, precision=2):>28s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
