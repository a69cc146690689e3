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
(-75.9, -7.6, -8.7),
    (-75.2, 8.6, -12.9),
    (-64.2, 29.4, -46.4),
    (-62.0, 46.6, -43.0),
    (-56.6, 61.5, -40.1),
    (-46.9, 73.6, -53.3),
    (-35.3, 79.7, -73.4),
    (-21.9, 86.3, -84.6),
    (0.0, 89.3, -92.0),
    (21.9, 86.3, -84.6),
    (35.3, 79.7, -73.4),
    (46.9, 73.6, -53.3),
    (56.6, 61.5, -40.1),
    (62.0, 46.6, -43.0),
    (64.2, 29.4, -46.4),
    (75.2, 8.6, -12.9),
    (75.9, -7.6, -8.7),
    (-58.4, -36.4, -72.3),
    (-50.2, -45.7, -83.7),
    (-42.7, -44.7, -90.4),
    (-25.8, -47.0, -97.2),
    (-20.4, -41.6, -96.6),
    (20.4, -41.6, -96.6),
    (25.8, -47.0, -97.2),
    (42.7, -44.7, -90.4),
    (50.2, -45.7, -83.7),
    (58.4, -36.4, -72.3),
    (0.0, -25.7, -98.1),
    (0.0, -14.9, -103.9),
    (0.0, -1.8, -114.6),
    (0.0, 11.8, -121.4),
    (-16.3, 20.1, -102.0),
    (-10.0, 21.8, -106.5),
    (0.1, 22.9, -110.1),
    (10.1, 21.8, -106.5),
    (16.4, 20.1, -102.0),
    (-44.3, -25.6, -78.0),
    (-35.3, -30.7, -84.3),
    (-27.3, -30.5, -85.6),
    (-20.8, -25.3, -84.5),
    (-28.2, -22.8, -85.6),
    (-35.8, -22.7, -84.0),
    (20.8, -25.3, -84.5),
    (27.3, -30.5, -85.6),
    (35.3, -30.7, -84.3),
    (44.3, -25.7, -78.0),
    (35.8, -22.7, -84.0),
    (28.2, -22.9, -85.6),
    (-24.9, 44.6, -100.1),
    (-14.6, 34.9, -110.0),
    (-5.6, 34.6, -113.9),
    (0.0, 33.0, -114.8),
    (5.6, 34.6, -113.9),
    (14.7, 34.9, -110.0),
    (24.3, 43.9, -100.5),
    (13.6, 53.6, -107.8),
    (6.7, 54.8, -110.1),
    (0.1, 55.2, -111.3),
    (-6.6, 51.7, -111.3),
    (-13.5, 53.6, -107.8),
    (-24.8, 44.5, -95.5),
    (-12.0, 41.8, -104.1),
    (0.0, 42.0, -106.5),
    (12.0, 41.8, -104.1),
    (24.9, 44.5, -95.5),
    (21.3, 45.2, -95.9),
    (0.0, 44.4, -107.3),
    (-21.3, 45.2, -95.9),
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
