"""Face-box geometry shared by the renderer, the depth crop and the dataset crop presets.

Boxes are (4,) ``x0, y0, x1, y1`` in pixels (x right, y down).
"""
from __future__ import annotations

import numpy as np

#: The coarse-to-fine paper's face crop: a square of 1.2 x the face box's larger side.
C2F_SQUARE_SCALE = 1.2


def landmark_box(points: np.ndarray) -> np.ndarray:
    """(4,) float32 bounding box of the finite rows of (N, 2) points; all NaN when none is finite."""
    p = np.asarray(points, dtype=np.float64)
    good = p[np.isfinite(p).all(axis=1)]
    if len(good) == 0:
        return np.full(4, np.nan, np.float32)
    return np.concatenate([good.min(axis=0), good.max(axis=0)]).astype(np.float32)


def square_box(bbox, scale: float = 1.0, min_extent: float = 0.0) -> np.ndarray:
    """(4,) float64 square of side ``scale * max(w, h, min_extent)`` centred on ``bbox``."""
    b = np.asarray(bbox, dtype=np.float64)
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    half = scale * max(b[2] - b[0], b[3] - b[1], min_extent) / 2
    return np.array([cx - half, cy - half, cx + half, cy + half])


#: names of the columns of :func:`face_box_stats`
FACE_BOX_STATS = ("height/width", "width/inter-ocular", "height/inter-ocular", "nose tip height in box",
                  "eye centre height in box")


def face_box_stats(landmarks) -> np.ndarray:
    """(N, 5) shape statistics of the 68-point face boxes of (N, 68, 2) landmarks (:data:`FACE_BOX_STATS`):
    the box's aspect, its size in inter-ocular distances (eye centres), and where the nose tip (30)
    and the eye centres sit between its top (0) and bottom (1). Crop parity compares them between
    renders and real faces."""
    lm = np.asarray(landmarks, np.float64)
    lo, hi = lm.min(axis=1), lm.max(axis=1)
    w, h = hi[:, 0] - lo[:, 0], hi[:, 1] - lo[:, 1]
    iod = np.linalg.norm(lm[:, 36:42].mean(axis=1) - lm[:, 42:48].mean(axis=1), axis=1)
    eye_y = lm[:, 36:48, 1].mean(axis=1)
    return np.stack([h / w, w / iod, h / iod, (lm[:, 30, 1] - lo[:, 1]) / h, (eye_y - lo[:, 1]) / h], axis=1)
