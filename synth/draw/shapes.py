"""Random 2-D outlines for procedural scenes: vectorised, as fixed-point polygons for OpenCV fills.

Every outline is a (K, 2) polygon in pixel coordinates (x right, y down; pixel
(0, 0) covers [0, 1) x [0, 1)), centred at (cx, cy), with half-extents (rx, ry)
along its own axes and turned ``angle`` degrees counter-clockwise in the image.
Kinds (:data:`KINDS`):

* ``ellipse``: an ellipse (a disc when rx == ry);
* ``rect``: a rectangle (4 corners, the last repeated to K);
* ``polygon``: 3..8 vertices at sorted random angles, radius 0.55..1 of the
  ellipse's: irregular, possibly non-convex (one of ``N_VARIANTS``);
* ``blob``: an ellipse whose radius is modulated by harmonics 2..4 (smooth, organic;
  one of ``N_VARIANTS``);
* ``bar``: a stadium (rectangle with round ends) of length 2 rx and thickness 2 ry:
  poles, pens, straps, cables.

The irregular outlines come from a bank built once per process from a fixed
seed (0.05 ms for 100 shapes, against 0.5 ms to draw each from scratch); callers
pick variants with their own numbers.
:func:`to_fixed` converts to the int32 points ``cv2.fillPoly(..., shift=SHIFT)``
takes (1/16 px resolution).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

KINDS = ("ellipse", "rect", "polygon", "blob", "bar")
#: vertices per outline (a 32-gon strays < 0.5 % of its radius from the ellipse)
K = 32
#: sub-pixel bits of the fixed-point vertices handed to OpenCV
SHIFT = 4
_THETA = np.linspace(0.0, 2.0 * np.pi, K, endpoint=False)
#: +1 for a bar's right-cap vertices, -1 for its left cap's (see _templates)
_CAP_SIDE = np.repeat([1.0, -1.0], K // 2)


def power_law_sizes(rng: np.random.Generator, n: int, lo: float, hi: float, alpha: float) -> np.ndarray:
    """(n,) sizes in [lo, hi] with density ~ size^-alpha (alpha = 3: scale invariant in area).

    Inverse-CDF of the truncated power law; one uniform per size.
    """
    u = rng.random(n)
    if abs(alpha - 1.0) < 1e-9:
        return lo * (hi / lo) ** u
    a = 1.0 - alpha
    return (lo ** a + u * (hi ** a - lo ** a)) ** (1.0 / a)


#: irregular outlines (polygons, blobs) come from a bank of this many variants per kind
N_VARIANTS = 64


@lru_cache(maxsize=1)
def _templates() -> tuple[np.ndarray, np.ndarray]:
    """((len(KINDS), N_VARIANTS, K, 2) unit outlines (half-extents 1), (len(KINDS), N_VARIANTS) vertex
    counts), built once per process from a fixed seed; bars hold their two round caps (unit
    radius, not yet spread apart)."""
    rng = np.random.Generator(np.random.PCG64(7))
    cos, sin = np.cos(_THETA), np.sin(_THETA)
    t = np.empty((len(KINDS), N_VARIANTS, K, 2))
    t[0] = np.stack([cos, sin], -1)                                         # ellipse
    corners = np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
    t[1] = corners[[0, 1, 2, 3] + [3] * (K - 4)]                            # rect, padded
    nv = 3 + rng.integers(6, size=N_VARIANTS)                               # polygon: 3..8 vertices
    ang = np.sort(rng.uniform(0.0, 2.0 * np.pi, (N_VARIANTS, 8)), axis=1)
    rad = rng.uniform(0.55, 1.0, (N_VARIANTS, 8))
    take = np.minimum(np.arange(K)[None], nv[:, None] - 1)
    a, r = np.take_along_axis(ang, take, 1), np.take_along_axis(rad, take, 1)
    t[2] = np.stack([r * np.cos(a), r * np.sin(a)], -1)
    amp = rng.uniform(0.0, 0.13, (N_VARIANTS, 3, 1))                         # blob: harmonics 2..4
    phase = rng.uniform(0.0, 2.0 * np.pi, (N_VARIANTS, 3, 1))
    m = np.arange(2, 5)[None, :, None]
    scale = 1.0 + (amp * np.cos(m * _THETA + phase)).sum(1)
    t[3] = np.stack([cos, sin], -1)[None] * scale[..., None]
    half = np.linspace(-np.pi / 2, np.pi / 2, K // 2)
    cap = np.stack([np.cos(half), np.sin(half)], -1)
    t[4] = np.concatenate([cap, -cap], 0)                                   # bar: right cap, then left cap
    t.flags.writeable = False
    counts = np.full((len(KINDS), N_VARIANTS), K)
    counts[1], counts[2] = 4, nv
    counts.flags.writeable = False
    return t, counts


def vertex_counts(kinds, variants) -> np.ndarray:
    """(N,) number of distinct leading vertices of each outline (the rest repeat the last one):
    4 for a rect, 3..8 for a polygon, K otherwise. Fills are cheaper without the repeats."""
    return _templates()[1][np.asarray(kinds, np.int64), np.asarray(variants, np.int64) % N_VARIANTS]


def outlines(kinds, variants, cx, cy, rx, ry, angle_deg) -> np.ndarray:
    """(N, K, 2) float64 outlines (see the module doc); all arguments (N,) arrays: ``kinds`` indices
    into KINDS, ``variants`` into the bank of irregular outlines (0..N_VARIANTS-1)."""
    kinds = np.asarray(kinds, np.int64)
    rx, ry = np.asarray(rx, np.float64), np.asarray(ry, np.float64)
    pts = _templates()[0][kinds, np.asarray(variants, np.int64) % N_VARIANTS]
    bar = kinds == KINDS.index("bar")
    sx = np.where(bar, ry, rx)[:, None]                      # a bar's caps have its thickness' radius
    spread = (np.maximum(rx - ry, 0.0) * bar)[:, None] * _CAP_SIDE  # and sit (rx - ry) from the centre
    x = pts[..., 0] * sx + spread
    y = pts[..., 1] * ry[:, None]
    a = np.deg2rad(np.asarray(angle_deg, np.float64))[:, None]
    c, s = np.cos(a), np.sin(a)
    out = np.empty(pts.shape)
    out[..., 0] = c * x + s * y + np.asarray(cx, np.float64)[:, None]   # ccw in the image (y down)
    out[..., 1] = -s * x + c * y + np.asarray(cy, np.float64)[:, None]
    return out


def to_fixed(pts: np.ndarray) -> np.ndarray:
    """int32 fixed-point vertices for OpenCV's ``shift=SHIFT``; pixel centres sit at integer + 0.5
    (OpenCV's fills include the pixels their edges round to: up to one more on the far sides)."""
    return np.rint((np.asarray(pts) - 0.5) * (1 << SHIFT)).astype(np.int32)


def bounds(pts: np.ndarray) -> np.ndarray:
    """(..., 4) x0, y0, x1, y1 of outlines (..., K, 2)."""
    return np.concatenate([pts.min(-2), pts.max(-2)], -1)
