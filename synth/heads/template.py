"""The nominal face: mean iBUG-68 landmarks of the MakeHuman bank, for framing before rendering.

``FACE_TEMPLATE_MM`` (68, 3) float64: the mean landmarks (``HeadMesh.landmarks``) of identities
0-99 of the default bank (seed 0, random expressions), head frame (``synth.scene``: mm, x toward
the subject's left, y down, z toward the back of the head; origin at the ear centres). Scene
sampling (``synth.sampling.frame_face``) projects it to place the face in a photo-like frame
without building a head: the actual face of an identity differs by its shape (a few mm), which
is the framing jitter real crops have too. Regenerate with ``python -m synth.heads.template``
after changing the landmark table or the head frame; ``tests/test_heads.py`` checks it against
the bank.
"""
from __future__ import annotations

import numpy as np

# fmt: off
FACE_TEMPLATE_MM = np.array((
(-75.9, -6.8, -9.3),
    (-75.2, 9.7, -12.1),
    (-64.2, 33.3, -43.6),
    (-62.0, 50.2, -38.8),
    (-56.6, 64.8, -34.6),
    (-46.9, 78.0, -46.7),
    (-35.3, 85.8, -66.2),
    (-21.9, 93.3, -76.8),
    (0.0, 96.9, -83.8),
    (21.9, 93.3, -76.8),
    (35.3, 85.8, -66.2),
    (46.9, 78.0, -46.7),
    (56.6, 64.8, -34.6),
    (62.0, 50.2, -38.8),
    (64.2, 33.3, -43.6),
    (75.2, 9.7, -12.1),
    (75.9, -6.8, -9.3),
    (-58.4, -29.9, -75.2),
    (-50.2, -38.3, -87.3),
    (-42.7, -36.6, -94.0),
    (-25.8, -38.4, -100.9),
    (-20.4, -33.0, -99.8),
    (20.4, -33.0, -99.8),
    (25.8, -38.4, -100.9),
    (42.7, -36.6, -94.0),
    (50.2, -38.3, -87.3),
    (58.4, -29.9, -75.2),
    (0.0, -17.0, -99.9),
    (0.0, -5.8, -104.8),
    (0.0, 8.2, -114.3),
    (0.0, 22.4, -119.9),
    (-16.3, 28.9, -99.9),
    (-10.0, 31.0, -104.2),
    (0.1, 32.4, -107.7),
    (10.1, 31.0, -104.2),
    (16.4, 28.9, -99.9),
    (-44.3, -18.8, -79.9),
    (-35.3, -23.3, -86.7),
    (-27.3, -22.9, -87.9),
    (-20.8, -17.8, -86.4),
    (-28.2, -15.3, -87.3),
    (-35.8, -15.3, -85.6),
    (20.8, -17.8, -86.4),
    (27.3, -22.9, -87.9),
    (35.3, -23.3, -86.7),
    (44.3, -18.8, -79.9),
    (35.8, -15.3, -85.6),
    (28.2, -15.3, -87.3),
    (-24.9, 53.1, -95.8),
    (-14.6, 44.3, -106.6),
    (-5.6, 44.4, -110.5),
    (0.0, 42.9, -111.5),
    (5.6, 44.4, -110.5),
    (14.7, 44.3, -106.6),
    (24.3, 52.5, -96.3),
    (13.6, 62.8, -102.7),
    (6.7, 64.2, -104.9),
    (0.1, 64.7, -106.0),
    (-6.6, 61.2, -106.3),
    (-13.5, 62.8, -102.7),
    (-24.8, 52.7, -91.2),
    (-12.0, 50.7, -100.1),
    (0.0, 51.2, -102.4),
    (12.0, 50.7, -100.1),
    (24.9, 52.7, -91.2),
    (21.3, 53.4, -91.6),
    (0.0, 53.6, -103.0),
    (-21.3, 53.4, -91.6),
), dtype=np.float64)
# fmt: on
FACE_TEMPLATE_MM.flags.writeable = False


def bank_mean_landmarks(n: int = 100, seed: int = 0) -> np.ndarray:
    """(68, 3) mean landmarks of identities 0..n-1 of the default MakeHuman bank (builds the bank)."""
    from synth.heads.makehuman import AnnyHeadBank

    bank = AnnyHeadBank(n, seed)
    return np.mean([bank.get(i).landmarks for i in range(n)], axis=0)


if __name__ == "__main__":  # print the table to paste above
    for row in bank_mean_landmarks():
        print("    (" + ", ".join(f"{v:.1f}" for v in row) + "),")
