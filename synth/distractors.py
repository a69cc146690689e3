"""Objects in front of the head: outlines, coverage and compositing of :class:`synth.scene.Distractor`.

A distractor is drawn from its fields alone (its ``seed`` gives the outline's
irregularity and the pattern's offset), so the parameters stored with a sample
redraw it exactly, and both renderers get it: it is composited over their
output, before the optics (``synth.effects``).

* outline: :func:`outline_polygons` -- a bar is a stadium, a hand a palm, four
  fingers, a thumb and the forearm it comes in on, the other shapes those of
  ``synth.draw.shapes``;
* coverage: the polygons filled anti-aliased into a mask around the object
  (:func:`coverage`), blurred by ``softness`` (out of focus: the object is much
  nearer than the head the camera focused on);
* colour: ``color``, or two-tone with a pattern of ``synth.draw.patterns``,
  darkened toward the edges across the short axis by ``shading``.

Work is limited to the object's box (on average a fifth of a 256x256 frame): ~0.7 ms per
object here, half of it the colour (the shading profile warped over the box).
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from synth.draw import patterns, shapes
from synth.draw.defocus import defocus
from synth.scene import DISTRACTOR_TEXTURES, Distractor

_SHAPE_INDEX = {name: i for i, name in enumerate(shapes.KINDS)}
#: texture name -> (first pattern index, count) in synth.draw.patterns' bank
_TEXTURE_PATTERNS = {"stripes": (0, patterns.N_STRIPES), "checks": (patterns.N_STRIPES, patterns.N_CHECKS),
                     "blotches": (patterns.N_STRIPES + patterns.N_CHECKS, patterns.N_BLOTCHES)}
#: samples of the shading profile on each side of the axis
_PROFILE_HALF = 32


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
    return _box(outline_polygons(d))


def _box(polys) -> tuple[float, float, float, float]:
    return tuple(float(v) for v in shapes.bounds(np.concatenate(polys, 0)))


def _window(d: Distractor, polys, h: int, w: int):
    """(x0, y0, x1, y1) integer window of the frame the object can touch (box + 3 sigma), or None."""
    x0, y0, x1, y1 = _box(polys)
    m = 3.0 * float(d.softness) + 1.0
    wx0, wy0 = max(0, int(np.floor(x0 - m))), max(0, int(np.floor(y0 - m)))
    wx1, wy1 = min(w, int(np.ceil(x1 + m))), min(h, int(np.ceil(y1 + m)))
    return None if wx1 <= wx0 or wy1 <= wy0 else (wx0, wy0, wx1, wy1)


@lru_cache(maxsize=16)
def coverage(d: Distractor, h: int, w: int):
    """(window (x0, y0, x1, y1), (y1-y0, x1-x0) uint8 coverage 0..255, read-only) of the object in an
    h x w frame, or None when it misses the frame.

    Cached for the few latest objects: the effects composite it and the labels test landmarks
    and head pixels against it (0.3 ms less per sample with objects, in a run).
    """
    polys = outline_polygons(d)
    win = _window(d, polys, h, w)
    if win is None:
        return None
    x0, y0, x1, y1 = win
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for poly in polys:  # one call each: a multi-polygon fill XORs overlaps
        cv2.fillPoly(mask, (shapes.to_fixed(poly - (x0, y0)),), 255, cv2.LINE_AA, shapes.SHIFT)
    if d.softness > 0.0:  # zero outside the window: the window reaches 3 sigma past the outline
        mask = defocus(mask, float(d.softness))
    mask.flags.writeable = False
    return win, mask


def _light(d: Distractor, win) -> np.ndarray:
    """(h, w) float32 light over the window: 1 - shading * (1 - cos), cos = sqrt(1 - (a / half)^2) of the
    distance ``a`` across the object's long axis (a cylinder lit from the camera; for a hand, half
    is its whole width: fingers and thumb). One warpAffine of the 1-D profile."""
    x0, y0, x1, y1 = win
    n = _PROFILE_HALF
    t = np.linspace(-1.0, 1.0, 2 * n + 1)
    profile = (1.0 - d.shading * (1.0 - np.sqrt(1.0 - t * t))).astype(np.float32)[None, :]
    a = np.deg2rad(d.angle)
    half = max(d.height / (1.0 if d.shape == "hand" else 2.0), 1e-3)
    k = n / half  # profile samples per px across
    # window pixel (i, j) is at image (x0 + i + 0.5, y0 + j + 0.5); across = sin(a) dx + cos(a) dy
    m = np.array([[k * np.sin(a), k * np.cos(a), n + k * (np.sin(a) * (x0 + 0.5 - d.x) + np.cos(a) * (y0 + 0.5 - d.y))],
                  [0.0, 0.0, 0.0]])
    return cv2.warpAffine(profile, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def _colors(d: Distractor, win) -> np.ndarray:
    """(h, w, 3) uint8 colour of the object over its window: ``color``, or two-tone with
    ``color2`` where its pattern is on, times the light of :func:`_light`."""
    x0, y0, x1, y1 = win
    hh, ww = y1 - y0, x1 - x0
    c1 = np.asarray(d.color, np.float32) * np.float32(255.0)
    if d.texture not in DISTRACTOR_TEXTURES:
        raise ValueError(f"unknown distractor texture {d.texture!r}")
    light = _light(d, win) if d.shading > 0.0 else None
    if d.texture == "flat":
        if light is None:
            col = np.empty((hh, ww, 3), np.uint8)
            col[:] = np.clip(c1 + 0.5, 0, 255).astype(np.uint8)
            return col
        return cv2.convertScaleAbs(cv2.transform(light[..., None], c1[:, None]))
    u = np.random.Generator(np.random.PCG64(int(d.seed) + 1)).random(3)
    first, count = _TEXTURE_PATTERNS[d.texture]
    on = np.multiply(patterns.pattern(first + int(u[0] * count), ww, hh, u[1], u[2]),
                     np.float32(1.0 / patterns.PATTERN_ON), dtype=np.float32)
    c2 = np.asarray(d.color2, np.float32) * np.float32(255.0)
    if light is None:
        light = np.ones((hh, ww), np.float32)
    planes = cv2.merge([light, cv2.multiply(light, on)])  # colour = light * (c1 + on * (c2 - c1))
    return cv2.convertScaleAbs(cv2.transform(planes, np.stack([c1, c2 - c1], 1)))


def composite(img: np.ndarray, distractors) -> np.ndarray:
    """(H, W, 3) uint8: ``img`` with each distractor blended over it in order (a new array):
    out = img + coverage * (colour - img), rounded."""
    out = np.array(img, dtype=np.uint8, copy=True)
    h, w = out.shape[:2]
    for d in distractors:
        got = coverage(d, int(h), int(w))
        if got is None:
            continue
        (x0, y0, x1, y1), mask = got
        alpha = mask.astype(np.float32) * np.float32(1.0 / 255.0)
        out[y0:y1, x0:x1] = cv2.blendLinear(_colors(d, (x0, y0, x1, y1)), out[y0:y1, x0:x1], alpha,
                                            np.float32(1.0) - alpha)
    return out


def covered(distractors, h: int, w: int) -> np.ndarray:
    """(h, w) bool: pixels at least half covered by a distractor."""
    cover = np.zeros((h, w), bool)
    for d in distractors:
        got = coverage(d, int(h), int(w))
        if got is not None:
            (x0, y0, x1, y1), mask = got
            cover[y0:y1, x0:x1] |= mask >= 128
    return cover
