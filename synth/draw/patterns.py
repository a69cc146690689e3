"""Procedural surface patterns, colour palettes and illumination for the scene generators.

* :func:`pattern` -- a (h, w) uint8 view of one of :data:`N_PATTERNS` two-tone fields
  (0 or ``PATTERN_ON``): stripes and checks of periods 3..48 px at any angle, and
  blotches (thresholded value noise: foliage, plaster, camouflage). Each field is
  built once per process at ``BANK_SIZE`` squared (~4 ms, 256 KB) and cropped at an
  offset the caller draws, so a frame pays nothing for its textures but the crop.
* :func:`natural_colors` -- colours with the skew of photographs: mostly
  unsaturated, a few vivid, grouped around a scene's few hues.
* :func:`colorize` -- a uint8 label map coloured through a 256-entry palette (the scene
  generators draw labels, then colour them in one look-up).
* :func:`shading` -- a smooth multiplicative light field (a linear gradient and an
  off-centre falloff) on a coarse grid, and :func:`shade` which upsamples and applies it.

All randomness comes from the generator passed in; every function draws the
same count of numbers whatever it draws, so callers keep fixed draw orders.
"""
from __future__ import annotations

import colorsys
from functools import lru_cache

import cv2
import numpy as np

from synth.draw.value_noise import value_noise

#: side of the cached pattern fields; frames up to this size crop them, larger ones stretch them
BANK_SIZE = 512
#: value of the "on" phase of a pattern (bit 7: ORed into a label map it selects a second colour)
PATTERN_ON = 128
N_STRIPES, N_CHECKS, N_BLOTCHES = 24, 8, 8
N_PATTERNS = N_STRIPES + N_CHECKS + N_BLOTCHES


def _pattern_params(index: int) -> tuple[float, float, float]:
    """(period px, angle rad, duty) of pattern ``index``: fixed per index (log-uniform periods 3..48 px)."""
    u = np.random.Generator(np.random.PCG64(1000 + index)).random(3)
    return 3.0 * 16.0 ** u[0], np.pi * u[1], 0.3 + 0.4 * u[2]


@lru_cache(maxsize=N_PATTERNS)
def _field(index: int) -> np.ndarray:
    """(BANK_SIZE, BANK_SIZE) uint8 pattern field ``index`` (0 / PATTERN_ON), read-only."""
    n = BANK_SIZE
    period, angle, duty = _pattern_params(index)
    y, x = np.mgrid[0:n, 0:n].astype(np.float32) + np.float32(0.5)
    if index < N_STRIPES + N_CHECKS:
        u = (x * np.cos(angle) + y * np.sin(angle)) / period
        on = (u - np.floor(u)) < duty
        if index >= N_STRIPES:  # checks: XOR with the perpendicular stripes
            v = (-x * np.sin(angle) + y * np.cos(angle)) / period
            on ^= (v - np.floor(v)) < 0.5
    else:
        cells = int(round(n / (4.0 + period)))  # blotches 7..52 px across
        rng = np.random.Generator(np.random.PCG64(2000 + index))
        noise = value_noise(rng, n, n, 1, ((cells, 1.0), (2 * cells, 0.5)))[..., 0]
        on = noise > np.float32(0.5)
    out = np.where(on, np.uint8(PATTERN_ON), np.uint8(0))
    out.flags.writeable = False
    return out


def pattern(index: int, width: int, height: int, ox: float, oy: float) -> np.ndarray:
    """(height, width) uint8 window of pattern ``index``; ox, oy in [0, 1) pick the window's offset.

    A view into the cached field when the frame fits; frames larger than BANK_SIZE get the
    field stretched (nearest) to cover them, patterns scaled with it.
    """
    f = _field(int(index) % N_PATTERNS)
    n = BANK_SIZE
    if width > n or height > n:
        s = max(width, height) / n
        f = cv2.resize(f, (int(np.ceil(n * s)), int(np.ceil(n * s))), interpolation=cv2.INTER_NEAREST)
    x0 = int(ox * (f.shape[1] - width + 1))
    y0 = int(oy * (f.shape[0] - height + 1))
    return f[y0:y0 + height, x0:x0 + width]


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(N, 3) float RGB in [0, 1] of hues in degrees, saturations and values in [0, 1]."""
    hsv = np.stack([np.mod(h, 360.0), s, v], -1).astype(np.float32)[:, None]
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[:, 0].astype(np.float64)


def natural_colors(rng: np.random.Generator, n: int, base_rgb) -> np.ndarray:
    """(n, 3) float64 RGB in [0, 1]: colours grouped around three scene hues.

    The first scene hue is ``base_rgb``'s, the other two random; each colour takes one of
    them (half the colours the first) +-20 degrees, saturation 0.85 u^2 (mostly greyish),
    value 0.06..0.95. Draws 3 + 4 n uniforms.
    """
    scene = rng.random(3)
    u = rng.random((n, 4))
    r, g, b = (float(c) for c in np.asarray(base_rgb).reshape(3))
    hues = np.array([360.0 * colorsys.rgb_to_hsv(r, g, b)[0], 360.0 * scene[0], 360.0 * scene[1]])
    pick = (u[:, 0] >= 0.5).astype(np.int64) + (u[:, 0] >= 0.8)
    h = hues[pick] + 40.0 * (u[:, 1] - 0.5)
    s = (0.35 + 0.65 * scene[2]) * 0.85 * u[:, 2] ** 2
    v = 0.06 + 0.89 * u[:, 3]
    return _hsv_to_rgb(h, s, v)


def colorize(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 ``palette[labels]`` for a (H, W) uint8 label map and a (256, 3) uint8 palette.

    One ``cv2.LUT`` with the palette packed as 32-bit entries, then the padding byte dropped
    (0.05 ms at 256x256 here, against 0.25 ms for ``cv2.LUT`` on the map merged to three
    channels and 0.12 ms for numpy's take, which widens the indices first).
    """
    packed = np.zeros((256, 4), np.uint8)
    packed[:, :3] = palette
    h, w = labels.shape
    rgba = cv2.LUT(labels, packed.view(np.int32).reshape(256)).view(np.uint8).reshape(h, w, 4)
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)


def shading(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """(9, 9) float32 coarse light field around 1 for a width x height frame; :func:`shade`
    upsamples and applies it.

    A linear gradient (random direction, up to +-35 % across the frame) times a radial
    falloff around a random point (up to 45 % darker 0.8 frame-diagonals away) times an
    overall 0.8..1.2: the uneven light of real scenes. Draws 6 uniforms.
    """
    u = rng.random(6)
    t = (np.arange(9) + 0.5) / 9.0
    longer = max(width, height)
    gx, gy = (t * (width / longer))[None, :], (t * (height / longer))[:, None]
    a = 2.0 * np.pi * u[0]
    ramp = 1.0 + 0.7 * (u[1] - 0.5) * (2.0 * (gx - gx.mean()) * np.cos(a) + 2.0 * (gy - gy.mean()) * np.sin(a))
    r2 = ((gx - u[2] * gx[0, -1]) ** 2 + (gy - u[3] * gy[-1, 0]) ** 2) / 0.64
    falloff = 1.0 - 0.45 * u[4] * np.minimum(r2, 1.5)
    return (ramp * falloff * (0.8 + 0.4 * u[5])).astype(np.float32)


def shade(img: np.ndarray, field: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 ``img`` times the coarse light ``field`` of :func:`shading`, bilinearly
    upsampled (rounded, saturated).

    The field is upsampled straight to the (H, 3 W) interleaved rows (a third of a pixel
    between a pixel's channels: invisible in a field this smooth) and multiplied in one pass.
    """
    h, w = img.shape[:2]
    fine = cv2.resize(field, (3 * w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.multiply(np.ascontiguousarray(img).reshape(h, 3 * w), fine, dtype=cv2.CV_8U).reshape(h, w, 3)
