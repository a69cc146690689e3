"""Which triangles of a cut-out textured part can ever be seen.

A part's texture cuts out texels with alpha < 128 (``synth.heads.mesh.MeshPart``).
Some meshes map whole triangles onto cut-out texels -- MakeHuman's eyes carry a
fully transparent cornea shell, about half of their triangles -- and a renderer
that draws them with an alpha-discard shader pays for every such fragment and,
on llvmpipe, loses the early depth test for the whole part.

:func:`triangle_alpha_classes` sorts triangles by the texels their UV footprint
covers at full resolution, grown by one texel for bilinear filtering:

* ``TRANSPARENT``: every texel cut out -- never drawn (a rasterizer may drop it);
* ``OPAQUE``: every texel kept -- drawn without the alpha test;
* ``MIXED``: both, or UVs outside [0, 1] (wrapping) -- needs the alpha test.

Mipmapped sampling of a small on-screen part averages wider neighbourhoods, so
a TRANSPARENT triangle could still pass the alpha test where a coarse mip level
bleeds in a neighbour's kept texels; its class describes its intended content
(what the full-resolution texture says). On 120 MakeHuman samples (256x256,
``pipeline.yaml``) dropping TRANSPARENT triangles and drawing OPAQUE parts
without the test changed 4 pixels of one sample, at an eyebrow card's tip.
"""
from __future__ import annotations

import cv2
import numpy as np

TRANSPARENT, OPAQUE, MIXED = 0, 1, 2
#: alpha below this is cut out (the renderers' test is alpha < 0.5 after filtering)
ALPHA_CUT = 128


def alpha_cores(alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(opaque, transparent) uint8 masks of an (H, W) uint8 alpha image: texels whose 3x3
    neighbourhood is all kept (alpha >= 128) / all cut out. Edge texels are neither (a
    repeating texture filters them with the opposite edge)."""
    kernel = np.ones((3, 3), np.uint8)
    kept = (alpha >= ALPHA_CUT).astype(np.uint8)
    opaque = cv2.erode(kept, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    transparent = cv2.erode(1 - kept, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return opaque, transparent


def triangle_alpha_classes(indices: np.ndarray, uvs: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(F,) uint8 class per triangle (TRANSPARENT, OPAQUE or MIXED; see module doc).

    indices: (F, 3) vertex indices; uvs: (N, 2) OpenGL UVs (v = 0 at the image
    bottom); alpha: (H, W) uint8, row 0 = top of the image (the MeshPart layout).
    A triangle whose footprint's box lies in one core is decided by that alone; only the others
    are drawn (half of a MakeHuman bank's cut-out triangles: 2-3x faster, the same classes).
    """
    h, w = alpha.shape
    opaque, transparent = alpha_cores(alpha)
    uv = np.asarray(uvs, np.float64)
    # texel-centre coordinates: texel (i, j) has its centre at (i, j)
    pts = np.stack([uv[:, 0] * w - 0.5, (1.0 - uv[:, 1]) * h - 0.5], 1)
    idx = np.asarray(indices, np.int64)
    tri = pts[idx]                                                            # (F, 3, 2)
    out = np.full(len(tri), MIXED, np.uint8)
    inside = ((uv[:, 0] >= 0) & (uv[:, 0] <= 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= 1))[idx].all(1)
    # (F, 2) x, y: the footprint's box, end exclusive (clipped into the texture for every triangle)
    lo = np.clip(np.floor(tri.min(1)).astype(np.int64) - 1, 0, [w, h])
    hi = np.clip(np.ceil(tri.max(1)).astype(np.int64) + 2, 0, [w, h])
    size = np.prod(np.maximum(hi - lo, 0), 1)
    # a box all in one core decides without drawing (the footprint lies in its box; the cores are
    # disjoint): counted in one look-up per corner of the cores' summed-area tables
    n_opaque = _box_counts(cv2.integral(opaque), lo, hi)
    n_transparent = _box_counts(cv2.integral(transparent), lo, hi)
    boxed = inside & (size > 0)
    out[boxed & (n_opaque == size)] = OPAQUE
    out[boxed & (n_transparent == size)] = TRANSPARENT
    for f in np.flatnonzero(boxed & (n_opaque < size) & (n_transparent < size)):
        (x0, y0), (x1, y1) = lo[f], hi[f]
        foot = np.zeros((y1 - y0, x1 - x0), np.uint8)
        # 1/16-texel precision; cv2 fills every texel the outline touches, so slivers get their texels
        cv2.fillConvexPoly(foot, np.round((tri[f] - (x0, y0)) * 16).astype(np.int32), 1, lineType=cv2.LINE_8,
                           shift=4)
        covered = foot.astype(bool)
        if not covered.any():
            continue
        if opaque[y0:y1, x0:x1][covered].all():
            out[f] = OPAQUE
        elif transparent[y0:y1, x0:x1][covered].all():
            out[f] = TRANSPARENT
    return out


def _box_counts(table: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(F,) sums over the boxes [lo, hi) (x, y; (F, 2) each) of the image whose ``cv2.integral`` is ``table``."""
    return (table[hi[:, 1], hi[:, 0]] - table[lo[:, 1], hi[:, 0]] - table[hi[:, 1], lo[:, 0]]
            + table[lo[:, 1], lo[:, 0]])
