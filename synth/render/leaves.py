"""Dead-leaves backgrounds: occluding random shapes of power-law sizes, textured and lit.

The dead-leaves model (shapes dropped one over another, sizes with density
~ r^-3) reproduces the statistics photographs share whatever they show: an
amplitude spectrum falling roughly as 1/f, sharp occlusion edges at every
scale, flat regions between them. Here:

1. a label map (uint8) gets ``N_SHAPES`` outlines of :mod:`synth.draw.shapes`
   (ellipses, rectangles, polygons, blobs, bars), radii power-law distributed
   (density ~ r^-ALPHA) between ``R_MIN`` and ``R_MAX`` of the frame's longer
   side, filled in the order drawn whatever their size (OpenCV, one call per
   shape): the dead-leaves model's occlusion, where a near object may be large
   or small, so large shapes hide small ones as often as the reverse (filled
   largest first, every small shape lay on top: a sprinkle of confetti over
   every frame); label 0, the backdrop, fills what no shape covers;
2. two two-tone patterns of :mod:`synth.draw.patterns` (stripes, checks,
   blotches) drawn for the frame set bits 7 and 6 of the map where they are on;
3. one 256-entry palette colours the map: each label its colour, and where a
   label takes a pattern (40 %, one of the two) that pattern's bit switches it to
   a second colour (lighter, darker or another hue), elsewhere the bits change
   nothing -- colours skewed like photographs', around the background's ``color``;
4. a smooth light field (gradient, falloff, wobble) multiplies the image, so
   flat regions get the gradients of real lighting.

Edges are hard (aliased, like the rasterised head); a background defocus blurs
them. ~0.4 ms at 256x256 on this machine.
"""
from __future__ import annotations

import cv2
import numpy as np

from synth.draw import patterns, shapes

N_SHAPES = 63  # labels 1..63: bits 7 and 6 are left for the patterns
#: shape radii as fractions of the frame's longer side, and the power-law exponent
R_MIN, R_MAX, ALPHA = 0.03, 0.6, 2.0
#: kind probabilities, in shapes.KINDS order: ellipse, rect, polygon, blob, bar
KIND_P = np.array([0.28, 0.27, 0.2, 0.2, 0.05])
#: per kind: filled with OpenCV's convex fill (exact for these, and cheaper than the general one)
CONVEX = np.array([k in ("ellipse", "rect", "bar") for k in shapes.KINDS])
#: a label is flat below TEXTURE_P[0], takes the first pattern below TEXTURE_P[1], else the second
TEXTURE_P = np.array([0.6, 0.8])


def leaves_background(seed: int, color, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8 dead-leaves image drawn from ``PCG64(seed)``; ``color`` (3,) RGB in
    [0, 1] sets the first scene hue. A pure function of its arguments."""
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    n = N_SHAPES
    longer = float(max(width, height))
    r = shapes.power_law_sizes(rng, n, R_MIN * longer, R_MAX * longer, ALPHA)  # drawn in this order, whatever the size
    u = rng.random((n, 6))
    kinds = np.searchsorted(np.cumsum(KIND_P), u[:, 0] * KIND_P.sum(), side="right")
    bar = kinds == shapes.KINDS.index("bar")
    aspect = np.where(bar, 0.04 + 0.12 * u[:, 1], 0.3 + 0.7 * u[:, 1])
    rx = np.where(bar, 3.0 * r, r)
    variants = (u[:, 5] * shapes.N_VARIANTS).astype(int)
    pts = shapes.to_fixed(shapes.outlines(kinds, variants, (u[:, 2] * 1.2 - 0.1) * width,
                                          (u[:, 3] * 1.2 - 0.1) * height, rx, rx * aspect, 180.0 * u[:, 4]))
    labels = np.zeros((height, width), np.uint8)
    counts = shapes.vertex_counts(kinds, variants).tolist()
    for p, label, cvx, m in zip(list(pts), range(1, n + 1), CONVEX[kinds].tolist(), counts):
        if cvx:
            cv2.fillConvexPoly(labels, p[:m], label, cv2.LINE_8, shapes.SHIFT)
        else:
            cv2.fillPoly(labels, (p[:m],), label, cv2.LINE_8, shapes.SHIFT)

    # textures: two pattern windows set bits 7 and 6 everywhere; the palette decides per label
    # whether a bit changes its colour (flat labels: all four entries the same colour)
    pick = rng.random((2, 3))
    for j, shift in enumerate((0, 1)):
        window = patterns.pattern(int(pick[j, 0] * patterns.N_PATTERNS), width, height, pick[j, 1], pick[j, 2])
        np.bitwise_or(labels, window if shift == 0 else np.right_shift(window, shift), out=labels)

    # palette: each label's colour, and the second colour of its pattern (lighter/darker, or another)
    tex = rng.random(64)
    both = patterns.natural_colors(rng, 128, color)
    first, other = both[:64], both[64:]
    k = rng.random((64, 2))
    second = np.where(k[:, :1] < 0.6, first * (0.45 + 1.1 * k[:, 1:]), other)
    slot1 = (tex >= TEXTURE_P[0]) & (tex < TEXTURE_P[1])
    slot2 = tex >= TEXTURE_P[1]
    palette = np.concatenate([first, np.where(slot2[:, None], second, first),   # index = label | bit6 | bit7
                              np.where(slot1[:, None], second, first), np.where(slot1[:, None] | slot2[:, None],
                                                                                second, first)])
    palette = np.clip(palette * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return patterns.shade(patterns.colorize(labels, palette), patterns.shading(rng, width, height))
