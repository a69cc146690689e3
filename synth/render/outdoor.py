"""Outdoor backgrounds: sky over a treeline, foliage, fields or buildings, as behind portraits shot outside.

Many photos in the face benchmarks are taken outdoors: a sky (clear or overcast) over a band of
vegetation, a field or a street, the horizon somewhere behind the head, often out of focus. Dead
leaves and clutter give edges and 1/f spectra but read as confetti and rooms; this kind gives the
layout and the colours of those scenes, procedurally (no download):

1. a horizon at a random height and tilt, raised by a treeline whose height follows a row of texture;
2. above it a sky: clear (blue, lighter toward the horizon, soft value-noise clouds) or overcast
   (near-white to grey), with a chance of a tree canopy reaching into it from one side;
3. below it a ground of one :data:`GROUNDS` palette (foliage, field, street): two colours mixed by
   a 1/f texture whose finest octave is ~2 px at 256 px (leaves, grass, gravel): a window of one of
   :data:`N_TEXTURES` fields built once per process, so a frame pays only for the crop;
4. the uneven light of :func:`synth.draw.patterns.shading` over the whole.

Colours are drawn in HSV from the ranges below (the background's ``color`` is not used: sky and
vegetation have hues of their own). A pure function of (seed, width, height); drawn at a smaller
size it is the same scene at fewer pixels (``make_background`` draws a defocused one coarser).
~0.45 ms at 166 x 166 here, about what a dead-leaves frame costs.
"""
from __future__ import annotations

import colorsys
from functools import lru_cache

import cv2
import numpy as np

from synth.draw import patterns
from synth.draw.value_noise import value_noise

#: ground palettes: (share, hue range deg, saturation range, value range) of the first colour
GROUNDS = (
    (0.55, (70.0, 140.0), (0.3, 0.75), (0.12, 0.55)),   # foliage, hedges, lawns
    (0.2, (25.0, 55.0), (0.25, 0.6), (0.3, 0.75)),      # fields, sand, dry grass, earth
    (0.25, (0.0, 360.0), (0.0, 0.15), (0.2, 0.75)),     # streets, walls, water under a grey sky
)
_GROUND_CDF = np.cumsum([g[0] for g in GROUNDS])
#: share of clear skies (else overcast), and of a canopy reaching into the sky from one side
CLEAR_SKY, CANOPY = 0.55, 0.4
#: texture fields built once per process (fixed seeds), TEXTURE_SIZE squared, cropped per frame;
#: a frame's longer side spans WINDOW_PX texels of one
N_TEXTURES, TEXTURE_SIZE, WINDOW_PX = 8, 512, 256
#: their octaves: (cells across, weight), roughly 1/f down to 4 px (leaves, grass, gravel)
TEXTURE_OCTAVES = ((4, 1.0), (8, 0.8), (16, 0.8), (32, 0.7), (64, 0.6), (128, 0.5))
#: octaves of the clouds (on a 4x coarser grid)
CLOUD_OCTAVES = ((3, 1.0), (6, 0.5), (12, 0.25))


@lru_cache(maxsize=N_TEXTURES)
def texture_field(index: int) -> np.ndarray:
    """(TEXTURE_SIZE, TEXTURE_SIZE) float32 texture ``index`` (0..N_TEXTURES-1): 1/f value noise
    with its mean at 0.5 and +-1 standard deviation at 0 and 1 (clipped); read-only, the same bytes in
    every process."""
    rng = np.random.Generator(np.random.PCG64(3000 + int(index) % N_TEXTURES))
    n = TEXTURE_SIZE
    f = value_noise(rng, n, n, 1, TEXTURE_OCTAVES)[..., 0]
    f = np.clip((f - f.mean()) * (0.5 / f.std()) + 0.5, 0.0, 1.0).astype(np.float32)
    f.flags.writeable = False
    return f


def _window(index: int, ox: float, oy: float, width: int, height: int) -> np.ndarray:
    """(height, width) float32 window of texture ``index`` at offset fraction (ox, oy): the frame's
    longer side spans :data:`WINDOW_PX` texels whatever its size (bilinearly resampled), so a frame
    drawn smaller shows the same texture at fewer pixels."""
    f = texture_field(index)
    longer = max(width, height)
    cw, ch = max(1, round(WINDOW_PX * width / longer)), max(1, round(WINDOW_PX * height / longer))
    x0, y0 = int(ox * (TEXTURE_SIZE - cw + 1)), int(oy * (TEXTURE_SIZE - ch + 1))
    return cv2.resize(f[y0:y0 + ch, x0:x0 + cw], (width, height), interpolation=cv2.INTER_LINEAR)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """(3,) float32 RGB of a hue in degrees, saturation and value (clipped to [0, 1])."""
    return np.array(colorsys.hsv_to_rgb((h / 360.0) % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0)),
                    np.float32)


def _lerp(u: float, lo_hi) -> float:
    return float(lo_hi[0] + (lo_hi[1] - lo_hi[0]) * u)


def _ramp(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """(n, 3) float32 colours from a to b."""
    t = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None]
    return a + (b - a) * t


def outdoor_background(seed: int, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8 outdoor scene drawn from ``PCG64(seed)`` (module doc). Draws a fixed
    count of numbers for a given size, whatever the scene.

    Drawn as a uint8 index map coloured by one 256-entry palette (:func:`synth.draw.patterns.colorize`):
    entries 0-127 the sky, from its top colour to the horizon's (0-63) and on to cloud white
    (64-127), entries 128-255 the ground, from its first colour to its second.
    """
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    w, h = int(width), int(height)
    u = rng.random(15)
    y = ((np.arange(h, dtype=np.float32) + 0.5) / h)[:, None]
    x = ((np.arange(w, dtype=np.float32) + 0.5) / w)[None, :]

    # sky: clear blue lightening toward the horizon, or overcast; clouds from smooth noise
    if u[0] < CLEAR_SKY:
        hue = _lerp(u[1], (195.0, 225.0))
        top, low = _hsv(hue, _lerp(u[2], (0.35, 0.75)), _lerp(u[3], (0.6, 0.95))), _hsv(hue, 0.12, 0.97)
        cover = _lerp(u[4], (0.0, 0.6))
    else:
        top = _hsv(_lerp(u[1], (190.0, 230.0)), _lerp(u[2], (0.0, 0.08)), _lerp(u[3], (0.55, 0.95)))
        low, cover = np.minimum(top * 1.12, 1.0), 0.0
    clouds = value_noise(rng, max(2, w // 4), max(2, h // 4), 1, CLOUD_OCTAVES)[..., 0]
    clouds = cv2.resize(clouds, (w, h), interpolation=cv2.INTER_LINEAR)
    horizon = _lerp(u[5], (0.15, 0.8)) + _lerp(u[6], (-0.15, 0.15)) * (x - 0.5)    # (1, w)
    sky_t = np.sqrt(np.clip(y / np.maximum(horizon, 0.05), 0.0, 1.0))              # 0 top .. 1 horizon
    sky = 63.0 * sky_t
    if cover > 0:
        sky = sky + 64.0 * np.clip((clouds - (1.0 - cover)) * 3.0, 0.0, 1.0)

    # ground: two colours of one palette mixed by 1/f texture; a treeline raises the horizon
    g = min(int(np.searchsorted(_GROUND_CDF, u[7] * _GROUND_CDF[-1], side="right")), len(GROUNDS) - 1)
    _, hues, sats, vals = GROUNDS[g]
    base_h, base_s, base_v = _lerp(u[8], hues), _lerp(u[9], sats), _lerp(u[10], vals)
    c1 = _hsv(base_h, base_s, base_v)
    c2 = _hsv(base_h + 30.0 * (u[11] - 0.5), base_s * _lerp(u[12], (0.6, 1.2)), base_v * _lerp(u[13], (0.45, 1.6)))
    pick = rng.random(4)
    tex = _window(int(pick[0] * N_TEXTURES), pick[1], pick[2], w, h)
    trees = _window(int(pick[3] * N_TEXTURES), pick[2], pick[1], w, 1)                 # (1, w)
    is_ground = y >= horizon - _lerp(u[14], (0.0, 0.25)) * trees                  # (h, w)
    canopy = rng.random(3)
    if canopy[0] < CANOPY:  # a tree beside the subject: foliage down one side, its edge ragged
        side = x if canopy[1] < 0.5 else 1.0 - x
        is_ground |= side < 0.1 + 0.3 * canopy[2] + 0.25 * (clouds - 0.5)
    index = np.where(is_ground, 128.0 + 127.0 * tex, np.minimum(sky, 127.0))
    palette = np.concatenate([_ramp(top, low, 64), _ramp(low, np.full(3, 0.97, np.float32), 64),
                              _ramp(c1, c2, 128)])
    palette = (np.clip(palette, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    img = patterns.colorize((index + 0.5).astype(np.uint8), palette)
    return patterns.shade(img, patterns.shading(rng, w, h))
