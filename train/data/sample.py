"""The common sample every reader returns, and the 68-point landmark flip order.

Frames and units follow ``synth.pose``: ``rotation`` maps head coordinates to
OpenCV camera coordinates (x right, y down, z forward); ``euler`` is
``(pitch, yaw, roll)`` in degrees in the 300W-LP/AFLW2000 sense (+pitch looks
up, +yaw turns toward the image's left, +roll is clockwise in the image).
Image coordinates are pixels with x right and y down, pixel (0, 0) covering
[0, 1) x [0, 1) (so a horizontal flip maps x to ``W - x``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Sample:
    """One labelled image.

    image: (H, W, 3) uint8 RGB.
    rotation: (3, 3) float64 canonical rotation (head -> camera).
    euler: (3,) float64 ``(pitch, yaw, roll)`` degrees in the benchmark
        convention. For 300W-LP/AFLW2000 these are the ``Pose_Para`` values as
        stored (they may exceed 180 deg for AFLW2000's outliers, which the
        |angle| <= 99 filter removes); elsewhere ``euler_from_rotation(rotation)``.
    bbox: (4,) float64 face box ``x0, y0, x1, y1`` in image pixels.
    landmarks: (68, 2) float64 image pixels (x, y), iBUG 68-point order, or None.
    depth: (Hd, Wd) uint16 millimetres, 0 = no data, or None. For synthetic
        shards it is registered to ``image``; for BIWI it is in the depth
        camera's own frame (see ``depth_bbox``).
    depth_bbox: (4,) float64 face box in ``depth`` pixels, or None (then ``bbox``
        applies to the depth map too).
    translation: (3,) float64 head centre in the camera frame, mm, or None.
    K: (3, 3) float64 intrinsics of the camera that took ``image``, or None.
    source: dataset kind (``"aflw2000"``, ``"300wlp"``, ``"biwi"``, ``"pointing04"``,
        ``"panoptic"``, ``"synth"``).
    path: file the image came from (``shard.h5#index`` for shards).
    meta: small per-dataset extras (e.g. BIWI sequence and subject, Pointing'04
        series); never needed by the trainer.
    """

    image: np.ndarray
    rotation: np.ndarray
    euler: np.ndarray
    bbox: np.ndarray
    source: str
    path: str
    landmarks: np.ndarray | None = None
    depth: np.ndarray | None = None
    depth_bbox: np.ndarray | None = None
    translation: np.ndarray | None = None
    K: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.image = np.asarray(self.image)
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(f"Sample.image must be (H, W, 3) uint8, got {self.image.shape} {self.image.dtype} ({self.path})")
        self.rotation = np.asarray(self.rotation, dtype=np.float64).reshape(3, 3)
        self.euler = np.asarray(self.euler, dtype=np.float64).reshape(3)
        self.bbox = np.asarray(self.bbox, dtype=np.float64).reshape(4)
        if self.landmarks is not None:
            self.landmarks = np.asarray(self.landmarks, dtype=np.float64).reshape(-1, 2)
        if self.depth_bbox is not None:
            self.depth_bbox = np.asarray(self.depth_bbox, dtype=np.float64).reshape(4)
        if self.translation is not None:
            self.translation = np.asarray(self.translation, dtype=np.float64).reshape(3)
        if self.K is not None:
            self.K = np.asarray(self.K, dtype=np.float64).reshape(3, 3)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    def replace(self, **changes: Any) -> "Sample":
        """A copy with some fields changed (``dataclasses.replace``; meta is copied)."""
        changes.setdefault("meta", dict(self.meta))
        return dataclasses.replace(self, **changes)


def _flip68() -> np.ndarray:
    pairs = [(i, 16 - i) for i in range(8)]                      # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]                 # brows
    pairs += [(31, 35), (32, 34)]                                 # nostrils
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]   # outer lips
    pairs += [(60, 64), (61, 63), (65, 67)]                       # inner lips
    perm = np.arange(68)
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


#: FLIP_68[i] = index of the landmark that lands on point i after a horizontal flip (an involution).
FLIP_68: np.ndarray = _flip68()
