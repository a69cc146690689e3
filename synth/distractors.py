"""Objects in front of the head: outlines, coverage and compositing of :class:`synth.scene.Distractor`.

A distractor is drawn from its fields alone (its ``seed`` gives the outline's
irregularity and the pattern's offset), so the parameters stored with a sample
redraw it exactly, and both renderers get it: it is composited over their
output, before the optics (``synth.effects``).

* outline: :func:`outline_polygons` -- a bar is a stadium, a hand a palm, four
  fingers, a thumb and the forearm it comes in on, the other shapes those of
  ``synth.render.shapes``;
* coverage: the polygons filled anti-aliased into a mask around the object
  (:func:`coverage`), blurred by ``softness`` (out of focus: the object is much
  nearer than the head the camera focused on);
* colour: ``color``, or two-tone with a pattern of ``synth.render.patterns``,
  darkened toward the edges across the short axis by ``shading``.

Work is limited to the object's box: ~0.05-0.15 ms per object at 256x256 here.
"""
from __future__ import annotations

import cv2
import numpy as np

from synth.render import patterns, shapes
from synth.scene import DISTRACTOR_TEXTURES, Distractor

_SHAPE_INDEX = {name: i for i, name in enumerate(shapes.KINDS)}


def _rotate(local: np.ndarray, d: Distractor) -> np.ndarray:
    """Local (..., 2) points (x along the object, y across) to image px, turned ``d.angle`` ccw."""
    a = np.deg2rad(d.angle)
    c, s = np.cos(a), np.sin(a)
    x, y = local[..., 0], local[..., 1]
    return np.stack([c * x + s * y + d.x, -s * x + c * y + d.y], -1)


def _hand(d: Distractor, rng: np.random.Generator) -> list[np.ndarray]:
    """Palm, four fingers, thumb and forearm of a hand ``d.width`` long (wrist to middle fingertip)
    and ``d.height`` wide, fingers toward local +x; local (K, 2) outlines turned into place."""
    L, W = float(d.width), float(d.height)
    u = rng.random(12)
    palm_len = 0.45 * L
    px = -0.5 * L + palm_len / 2.0  # palm centre: the hand spans local x in [-L/2, L/2]
    kinds = [_SHAPE_INDEX["rect"], _SHAPE_INDEX["bar"]]
    parts = [(kinds[0], px, 0.0, palm_len / 2.0, 0.42 * W, 0.0),
             (kinds[1], px - 0.7 * L, 0.0, 0.75 * L, 0.3 * W, 0.0)]  # forearm, from outside the hand
    finger_w = 0.085 * W  # half thickness
    for k in range(4):
        length = (0.5, 0.55, 0.52, 0.42)[k] * L * (0.9 + 0.2 * u[k])
        spread = (1.5 - k) * (6.0 + 8.0 * u[4])  # degrees ccw: the fingers fan out from the palm
        y0 = (k - 1.5) * 0.24 * W
        a = np.deg2rad(spread)
        x0 = px + palm_len / 2.0 - finger_w
        parts.append((kinds[1], x0 + np.cos(a) * length / 2.0, y0 - np.sin(a) * length / 2.0,
                      length / 2.0, finger_w, spread))
    side = 1.0 if u[5] < 0.5 else -1.0  # thumb on the left or the right: either hand, palm or back
    ta = -side * (35.0 + 25.0 * u[6])   # pointing away from the palm's side
    tl = 0.4 * L
    bx, by = px - 0.05 * L, side * 0.3 * W
    parts.append((kinds[1], bx + np.cos(np.deg2rad(ta)) * tl / 2.0, by - np.sin(np.deg2rad(ta)) * tl / 2.0,
                  tl / 2.0, 0.11 * W, ta))
    k, cx, cy, rx, ry, ang = (np.array(v, np.float64) for v in zip(*parts))
    local = shapes.outlines(k.astype(int), np.zeros(len(k), int), cx, cy, rx, ry, ang)
    return list(_rotate(local, d))


def outline_polygons(d: Distractor) -> list[np.ndarray]:
    """The (K, 2) float64 polygons in image px whose union is the object (see the module doc)."""
    rng = np.random.Generator(np.random.PCG64(int(d.seed)))
    if d.shape == "hand":
        return _hand(d, rng)
    if d.shape not in _SHAPE_INDEX:
        raise ValueError(f"unknown distractor shape {d.shape!r}")
    variant = int(rng.integers(shapes.N_VARIANTS))
    pts = shapes.outlines([_SHAPE_INDEX[d.shape]], [variant], [d.x], [d.y], [d.width / 2.0], [d.height / 2.0],
                          [d.angle])
    return [pts[0]]


def box(d: Distractor) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) px: the outline's bounding box (before softness, unclipped)."""
    b = shapes.bounds(np.concatenate(outline_polygons(d), 0))
    return tuple(float(v) for v in b)


def _window(d: Distractor, h: int, w: int):
    """(x0, y0, x1, y1) integer window of the frame the object can touch (box + 3 sigma), or None."""
    x0, y0, x1, y1 = box(d)
    m = 3.0 * float(d.softness) + 1.0
    wx0, wy0 = max(0, int(np.floor(x0 - m))), max(0, int(np.floor(y0 - m)))
    wx1, wy1 = min(w, int(np.ceil(x1 + m))), min(h, int(np.ceil(y1 + m)))
    return None if wx1 <= wx0 or wy1 <= wy0 else (wx0, wy0, wx1, wy1)


def coverage(d: Distractor, h: int, w: int):
    """(window (x0, y0, x1, y1), (y1-y0, x1-x0) float32 alpha in [0, 1]) of the object in an h x w
    frame, or None when it misses the frame."""
    win = _window(d, h, w)
    if win is None:
        return None
    x0, y0, x1, y1 = win
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for poly in outline_polygons(d):  # one call each: a multi-polygon fill XORs overlaps
        cv2.fillPoly(mask, (shapes.to_fixed(poly - (x0, y0)),), 255, cv2.LINE_AA, shapes.SHIFT)
    alpha = mask.astype(np.float32) * np.float32(1.0 / 255.0)
    if d.softness > 0.0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), float(d.softness), borderType=cv2.BORDER_CONSTANT)
    return win, alpha


def _colors(d: Distractor, win, alpha_shape) -> np.ndarray:
    """(h, w, 3) float32 colour of the object over its window, 0..255."""
    x0, y0, x1, y1 = win
    hh, ww = alpha_shape
    c1 = np.asarray(d.color, np.float32) * np.float32(255.0)
    if d.texture == "flat":
        col = np.broadcast_to(c1, (hh, ww, 3))
    else:
        if d.texture not in DISTRACTOR_TEXTURES:
            raise ValueError(f"unknown distractor texture {d.texture!r}")
        u = np.random.Generator(np.random.PCG64(int(d.seed) + 1)).random(3)
        first = {"stripes": 0, "checks": patterns.N_STRIPES,
                 "blotches": patterns.N_STRIPES + patterns.N_CHECKS}[d.texture]
        count = {"stripes": patterns.N_STRIPES, "checks": patterns.N_CHECKS, "blotches": patterns.N_BLOTCHES}[d.texture]
        t = patterns.pattern(first + int(u[0] * count), ww, hh, u[1], u[2]).astype(np.float32)
        t *= np.float32(1.0 / patterns.PATTERN_ON)
        c2 = np.asarray(d.color2, np.float32) * np.float32(255.0)
        col = c1 + t[..., None] * (c2 - c1)
    if d.shading > 0.0:
        a = np.deg2rad(d.angle)
        xs = np.arange(x0, x1, dtype=np.float32) + np.float32(0.5 - d.x)
        ys = np.arange(y0, y1, dtype=np.float32) + np.float32(0.5 - d.y)
        across = (np.float32(np.sin(a)) * xs[None, :] + np.float32(np.cos(a)) * ys[:, None])
        half = np.float32(max(d.height / (1.0 if d.shape == "hand" else 2.0), 1e-3))  # a hand: fingers and thumb
        cosine = np.sqrt(np.maximum(0.0, 1.0 - np.minimum((across / half) ** 2, 1.0)))  # a cylinder lit from the camera
        col = col * (np.float32(1.0 - d.shading) + np.float32(d.shading) * cosine)[..., None]
    return col


def composite(img: np.ndarray, distractors) -> np.ndarray:
    """(H, W, 3) uint8: ``img`` with each distractor blended over it in order (a new array)."""
    out = np.array(img, dtype=np.uint8, copy=True)
    h, w = out.shape[:2]
    for d in distractors:
        got = coverage(d, h, w)
        if got is None:
            continue
        win, alpha = got
        x0, y0, x1, y1 = win
        region = out[y0:y1, x0:x1].astype(np.float32)
        col = _colors(d, win, alpha.shape)
        a = alpha[..., None]
        out[y0:y1, x0:x1] = np.clip(region + a * (col - region) + np.float32(0.5), 0, 255).astype(np.uint8)
    return out


def covered(distractors, h: int, w: int) -> np.ndarray:
    """(h, w) bool: pixels at least half covered by a distractor."""
    cover = np.zeros((h, w), bool)
    for d in distractors:
        got = coverage(d, h, w)
        if got is not None:
            (x0, y0, x1, y1), alpha = got
            cover[y0:y1, x0:x1] |= alpha >= 0.5
    return cover
