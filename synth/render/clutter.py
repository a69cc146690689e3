"""Clutter backgrounds: a room-like scene of textured planes in perspective and objects.

Where dead leaves (``synth.render.leaves``) give the statistics of any photograph,
this gives the structure of the indoor and street scenes faces are photographed
in: long straight edges, perspective, repeated man-made textures, objects.
Drawn like the dead leaves, as a uint8 label map coloured by a palette:

1. the back wall: label 0, plain or patterned (``synth.draw.patterns``: wallpaper,
   tiles, plaster -- the pattern sets bit 7, which the palette colours darker);
2. up to two planes in perspective -- a floor below a horizon and a side wall --
   each a patterned window warped by the homography of its quadrilateral
   (tiles and planks shrink toward the horizon);
3. ``N_OBJECTS`` objects: frames and windows (a rectangle in a rectangle), shelves
   of books (rows of thin rectangles of varied height and colour), poles (a bar in
   three strips, shaded like a lit cylinder), round things (a ring in a disc), and
   cables (sagging polylines);
4. the light field of ``patterns.shading`` over everything.

Edges are hard, like the rasterised head and the dead leaves. A pure function
of (seed, color, size).
"""
from __future__ import annotations

import cv2
import numpy as np

from synth.draw import patterns, shapes

N_OBJECTS = (4, 11)
MAX_BOOKS = 10
#: object kind probabilities: frame, shelf, pole, round, cable
OBJECT_P = np.array([0.3, 0.15, 0.25, 0.2, 0.1])
_ONE = 1 << shapes.SHIFT


def _rect(cx: float, cy: float, ax: float, ay: float, angle_deg: float) -> np.ndarray:
    """(4, 2) corners of a rectangle of half-extents (ax, ay) turned ccw about (cx, cy)."""
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a), np.sin(a)
    local = np.array([[ax, ay], [-ax, ay], [-ax, -ay], [ax, -ay]])
    return np.stack([c * local[:, 0] + s * local[:, 1] + cx, -s * local[:, 0] + c * local[:, 1] + cy], -1)


def _plane(labels: np.ndarray, quad: np.ndarray, texture: np.ndarray) -> None:
    """Warp the (s, s) label ``texture`` onto the image quadrilateral ``quad`` (4, 2) px, in place
    (nearest; only the rows and columns the quad covers are visited; outside it labels stay)."""
    h, w = labels.shape
    x0, y0 = max(0, int(np.floor(quad[:, 0].min()))), max(0, int(np.floor(quad[:, 1].min())))
    x1, y1 = min(w, int(np.ceil(quad[:, 0].max()))), min(h, int(np.ceil(quad[:, 1].max())))
    if x1 <= x0 or y1 <= y0:
        return
    s = float(texture.shape[0])
    src = np.float32([[0, 0], [s, 0], [s, s], [0, s]])
    dst = (quad - 0.5 - (x0, y0)).astype(np.float32)  # OpenCV puts pixel centres at integers
    m = cv2.getPerspectiveTransform(src, dst)
    cv2.warpPerspective(texture, m, (x1 - x0, y1 - y0), dst=labels[y0:y1, x0:x1], flags=cv2.INTER_NEAREST,
                        borderMode=cv2.BORDER_TRANSPARENT)


def _planes(labels: np.ndarray, rng: np.random.Generator) -> None:
    """Floor (label 1) below a horizon and a side wall (label 2), each present or not, patterned."""
    h, w = (float(v) for v in labels.shape)
    u = rng.random(14)
    side = 128
    for j, present in enumerate((u[0] < 0.65, u[1] < 0.45)):
        if not present:
            continue
        window = patterns.pattern(int(u[2 + j] * patterns.N_PATTERNS), side, side, u[4 + j], u[6 + j])
        texture = np.bitwise_or(window, np.uint8(j + 1))
        if j == 0:  # floor: far edge on the horizon, near edge well below the frame
            y_h = h * (0.35 + 0.45 * u[8])
            xa, xb = w * (0.5 * u[9] - 0.2), w * (0.7 + 0.5 * u[10])
            spread = w * (1.0 + 2.0 * u[11])
            quad = np.array([[xa, y_h], [xb, y_h], [xb + spread, h * 2.2], [xa - spread, h * 2.2]])
        else:  # side wall: near edge outside the frame, far edge toward the middle
            x_far = w * (0.15 + 0.25 * u[12])
            top, bot = h * (0.05 + 0.2 * u[13]), h * (0.6 + 0.3 * u[13])
            quad = np.array([[-w, -h * 0.8], [x_far, top], [x_far, bot], [-w, h * 1.9]])
            if u[12] < 0.5:  # mirrored: the wall on the right
                quad[:, 0] = w - quad[:, 0]
                quad = quad[[1, 0, 3, 2]]
        _plane(labels, quad, texture)


def _fill(labels: np.ndarray, pts, label: int) -> None:
    cv2.fillConvexPoly(labels, shapes.to_fixed(pts), label, cv2.LINE_8, shapes.SHIFT)


def _objects(labels: np.ndarray, rng: np.random.Generator, colors: np.ndarray, palette: np.ndarray) -> None:
    """Frames, shelves, poles, round things and cables into ``labels`` from label 3 up; each label's
    colour goes into ``palette`` (256, 3) float (0..1), from ``colors``."""
    h, w = (float(v) for v in labels.shape)
    n = N_OBJECTS[0] + int(rng.integers(N_OBJECTS[1] - N_OBJECTS[0] + 1))
    u = rng.random((N_OBJECTS[1], 12))
    books = rng.random((N_OBJECTS[1], MAX_BOOKS, 3))
    kinds = np.searchsorted(np.cumsum(OBJECT_P), u[:, 0] * OBJECT_P.sum(), side="right")
    label = 3
    for k in range(n):
        v, kind = u[k], int(kinds[k])
        c1, c2 = colors[(4 + 2 * k) % len(colors)], colors[(5 + 2 * k) % len(colors)]
        cx, cy = w * (1.2 * v[1] - 0.1), h * (1.2 * v[2] - 0.1)
        size = min(w, h) * (0.08 + 0.5 * v[3] ** 2)
        if kind == 0:  # frame, window, door: a rectangle in a rectangle, slightly turned
            ax, ay, tilt, inner = size * (0.5 + v[4]), size * (0.5 + v[5]), 8.0 * (v[6] - 0.5), 0.7 + 0.2 * v[7]
            _fill(labels, _rect(cx, cy, ax, ay, tilt), label)
            _fill(labels, _rect(cx, cy, ax * inner, ay * inner, tilt), label + 1)
            palette[label], palette[label + 1] = c1, (c2 if v[8] < 0.7 else c1 * 0.6)
            label += 2
        elif kind == 1:  # shelf: a board with a row of books standing on it
            x0, base, length = cx - size, cy, 2.0 * size * (1.0 + v[4])
            b = books[k]
            widths = size * (0.06 + 0.1 * b[:, 0])
            lefts = x0 + np.concatenate([[0.0], np.cumsum(widths * (1.0 + 0.1 * b[:, 0]))[:-1]])
            fits = int(np.searchsorted(lefts + widths, x0 + length, side="right"))
            tops = base - size * (0.5 + 0.6 * b[:, 1])
            quads = np.stack([np.stack([lefts, tops], -1), np.stack([lefts + widths, tops], -1),
                              np.stack([lefts + widths, np.full(MAX_BOOKS, base)], -1),
                              np.stack([lefts, np.full(MAX_BOOKS, base)], -1)], 1)
            palette[label:label + fits] = np.where(b[:fits, 2:] < 0.5, c2, c1) * (0.35 + 0.9 * b[:fits, 2:])
            for q, lab in zip(list(shapes.to_fixed(quads[:fits])), range(label, label + fits)):
                cv2.fillConvexPoly(labels, q, lab, cv2.LINE_8, shapes.SHIFT)
            label += fits
            _fill(labels, _rect(x0 + length / 2.0, base + 0.04 * size, length / 2.0, 0.04 * size, 0.0), label)
            palette[label] = c1
            label += 1
        elif kind == 2:  # pole: a long bar in strips, dark outside, lit inside (a cylinder)
            length, thick = max(w, h) * (0.6 + v[4]), size * (0.08 + 0.25 * v[5])
            angle = 90.0 + 30.0 * (v[6] - 0.5) if v[7] < 0.7 else 180.0 * v[6]
            for i, f in enumerate((1.0, 0.7, 0.4)):
                _fill(labels, _rect(cx, cy, length / 2.0, thick * f / 2.0, angle), label)
                palette[label] = c1 * (0.55 + 0.25 * i)
                label += 1
        elif kind == 3:  # round: a ring in a disc (a lamp, a plate, a clock)
            ry_scale, tone = 0.6 + 0.4 * v[4], (c1 if v[6] < 0.6 else c2)
            for i, f in enumerate((1.0, 0.6)):
                r = size * 0.6 * f
                cv2.ellipse(labels, (int((cx - 0.5) * _ONE), int((cy - 0.5) * _ONE)),
                            (int(r * _ONE), int(r * ry_scale * _ONE)), 90.0 * v[5], 0.0, 360.0, label, -1,
                            cv2.LINE_8, shapes.SHIFT)
                palette[label] = tone * (0.7 + 0.3 * i)
                label += 1
        else:  # cable: a sagging polyline across
            t = np.linspace(0.0, 1.0, 9)
            x = w * (v[4] * 0.3 - 0.1) + t * w * (0.8 + 0.4 * v[5])
            y = cy + h * 0.3 * (v[6] - 0.5) * t + h * 0.25 * v[7] * (1.0 - (2.0 * t - 1.0) ** 2)
            cv2.polylines(labels, (shapes.to_fixed(np.stack([x, y], -1)),), False, label,
                          max(1, int(1 + 3 * v[8])), cv2.LINE_8, shapes.SHIFT)
            palette[label] = c1 * 0.5
            label += 1


def clutter_background(seed: int, color, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8 clutter image drawn from ``PCG64(seed)``; ``color`` (3,) RGB in [0, 1]
    sets the first scene hue. A pure function of its arguments."""
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    colors = patterns.natural_colors(rng, 40, color)
    u = rng.random(4)
    if u[0] < 0.4:  # patterned back wall: wallpaper, tiles, plaster (bit 7 of label 0)
        labels = np.ascontiguousarray(patterns.pattern(int(u[1] * patterns.N_PATTERNS), width, height, u[2], u[3]))
    else:
        labels = np.zeros((height, width), np.uint8)
    _planes(labels, rng)
    palette = np.zeros((256, 3))
    palette[:3] = colors[:3]
    palette[128:131] = colors[:3] * 0.75 + colors[3:6] * 0.25  # the patterns' second colours
    _objects(labels, rng, colors, palette)
    img = patterns.colorize(labels, np.clip(palette * 255.0 + 0.5, 0, 255).astype(np.uint8))
    return patterns.shade(img, patterns.shading(rng, width, height))
