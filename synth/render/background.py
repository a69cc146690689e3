"""Background images for the renderers (numpy, OpenCV and PIL; deterministic).

``make_background(bg, width, height)`` returns an (H, W, 3) uint8 image for a
:class:`synth.scene.Background`:

* ``"solid"``: ``bg.color`` everywhere;
* ``"noise"``: smooth value noise -- octaves of random grids drawn from
  ``numpy.random.Generator(PCG64(bg.seed))``, smoothstep-bilinearly interpolated
  at the pixel centres of a 4x coarser grid (one matrix product) and bilinearly
  upsampled with OpenCV (half-pixel centred; 0.03 ms at 256x256 against PIL's
  0.8 ms, within one grey level of it); brightness-modulated around ``bg.color``
  with a faint per-channel colour wobble. The same bytes for the same seed and
  size on one machine;
* ``"image"``: the file at ``bg.image_path`` loaded with PIL, RGB, resized
  (bilinear) to the frame; cached per (path, size);
* ``"leaves"``: dead leaves -- occluding textured shapes of power-law sizes, lit
  unevenly (``synth.render.leaves``): the spectrum and edges of photographs;
* ``"clutter"``: a room -- patterned planes in perspective, frames, shelves, poles,
  cables (``synth.render.clutter``);
* ``"studio"``: a portrait backdrop -- one colour from a photographer's palette (white and
  near-white high key, greys, dark low key, muted colours; see :func:`studio_color`) under
  the uneven light of :func:`synth.draw.patterns.shading` and a faint mottle: the plain,
  smoothly lit backgrounds of many portrait and press photos. Never defocused (it is smooth);
* ``"outdoor"``: sky over a treeline, foliage, a field or a street (``synth.render.outdoor``):
  the layout and colours of portraits shot outside.

A backdrop shared by several samples (``bg.crop``, ``synth.sampling.share_backdrop``) is the
pattern of its kind drawn sharp once at ``bg.pattern_size`` (:func:`shared_pattern`, kept per process),
of which each sample shows its own crop, resized bilinearly to the frame and mirrored or not; its
defocus is then applied at the frame's size.

``bg.blur`` > 0 defocuses every kind but solid and studio (:func:`synth.draw.defocus.defocus`, sigma = blur x
width; leaves, clutter and outdoor are drawn on a coarser grid first when the blur allows):
the head, drawn over it, stays sharp. ``bg.dim_ev`` > 0 then darkens it by that many stops in
linear light (:func:`synth.sensor.apply_tone`; the solid fill by :func:`solid_fill`), a backdrop
lit less than the face. Both renderers paste exactly these
bytes where the head is not (``synth.render.gl``, ``synth.render.blender``), so a
kind added here reaches both.

Returned arrays may be read-only and shared between calls; copy before editing.
The leaves and clutter kinds cost ~0.6-0.7 ms CPU at 256x256 here, ~4x the noise
kind (``bench/background_speed.py``).
"""
from __future__ import annotations

from collections import OrderedDict
from functools import lru_cache

import numpy as np

from synth.draw.defocus import defocus
from synth.draw.value_noise import value_noise
from synth.scene import Background

#: noise octaves of the brightness pattern: (grid cells across the longer side, weight)
NOISE_OCTAVES = ((2, 1.0), (4, 0.5), (8, 0.25), (16, 0.125))
#: octaves of the per-channel colour wobble
CHROMA_OCTAVES = ((2, 1.0), (4, 0.5))
#: image = color * (BRIGHT_BASE + BRIGHT_GAIN * lum) + CHROMA_GAIN * (chroma - 0.5), lum/chroma in [0, 1]
BRIGHT_BASE, BRIGHT_GAIN, CHROMA_GAIN = 0.35, 1.3, 0.12
_IMAGE_CACHE_SIZE = 64
_image_cache: OrderedDict = OrderedDict()


#: the noise is evaluated on a grid this many times coarser than the frame, then
#: bilinearly upsampled (its finest octave spans >= 4 coarse pixels)
NOISE_SUBSAMPLE = 4


def noise_coarse(bg: Background, width: int, height: int) -> np.ndarray:
    """(ceil(H/4), ceil(W/4), 3) uint8: the noise background for a width x height
    frame before upsampling (bilinear, pixel centres aligned; see ``make_background``)."""
    rng = np.random.Generator(np.random.PCG64(int(bg.seed)))
    w = max(2, -(-width // NOISE_SUBSAMPLE))
    h = max(2, -(-height // NOISE_SUBSAMPLE))
    lum = value_noise(rng, w, h, 1, NOISE_OCTAVES)
    chroma = value_noise(rng, w, h, 3, CHROMA_OCTAVES)
    color = np.asarray(bg.color, np.float32).reshape(1, 1, 3)
    return _to_u8(color * (BRIGHT_BASE + BRIGHT_GAIN * lum) + CHROMA_GAIN * (chroma - 0.5))


def _noise_background(bg: Background, width: int, height: int) -> np.ndarray:
    import cv2

    return cv2.resize(noise_coarse(bg, width, height), (int(width), int(height)), interpolation=cv2.INTER_LINEAR)


def solid_rgb(color) -> np.ndarray:
    """(3,) uint8 of an RGB colour in [0, 1] (round to nearest, like GL's unorm8)."""
    return _to_u8(np.asarray(color, np.float32).reshape(3))


def solid_fill(bg: Background) -> np.ndarray:
    """(3,) uint8 of a solid background: :func:`solid_rgb` of its colour, dimmed by ``bg.dim_ev``
    as :func:`make_background` dims (the rasterizer clears to it instead of pasting)."""
    px = solid_rgb(bg.color)
    return _dimmed(px.reshape(1, 1, 3), bg.dim_ev).reshape(3) if bg.dim_ev else px


def _dimmed(img: np.ndarray, dim_ev: float | None) -> np.ndarray:
    """(H, W, 3) uint8 ``img`` darkened by ``dim_ev`` stops in linear light (a new array), or ``img``."""
    if not dim_ev:
        return img
    from synth.sensor import apply_tone

    return apply_tone(np.ascontiguousarray(img), -float(dim_ev), (1.0, 1.0, 1.0), 1.0)


def _to_u8(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


@lru_cache(maxsize=32)
def _solid(color: tuple, width: int, height: int) -> np.ndarray:
    px = solid_rgb(color)
    out = np.broadcast_to(px, (height, width, 3)).copy()
    out.flags.writeable = False
    return out


def image_background(path: str, width: int, height: int) -> np.ndarray:
    """(H, W, 3) uint8 read-only: the image at path, RGB, resized bilinearly (LRU-cached)."""
    key = (path, width, height)
    if key in _image_cache:
        _image_cache.move_to_end(key)
        return _image_cache[key]
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.size != (width, height):
            im = im.resize((width, height), Image.BILINEAR)
        arr = np.asarray(im, dtype=np.uint8).copy()
    arr.flags.writeable = False
    _image_cache[key] = arr
    while len(_image_cache) > _IMAGE_CACHE_SIZE:
        _image_cache.popitem(last=False)
    return arr


#: studio backdrops: (share, value range, saturation range) of high key, greys, low key, muted colours
STUDIO_KEYS = ((0.3, (0.82, 1.0), (0.0, 0.06)), (0.3, (0.35, 0.82), (0.0, 0.1)),
               (0.15, (0.02, 0.2), (0.0, 0.15)), (0.25, (0.3, 0.9), (0.1, 0.5)))
#: cumulative shares of STUDIO_KEYS, searched by one uniform
_STUDIO_CDF = np.cumsum([k[0] for k in STUDIO_KEYS]) / sum(k[0] for k in STUDIO_KEYS)
#: mottle of a studio backdrop: octaves of value noise, and its strength (+- fraction of the colour)
STUDIO_OCTAVES, STUDIO_MOTTLE = ((3, 1.0), (6, 0.5)), 0.12


def studio_color(rng: np.random.Generator, color) -> np.ndarray:
    """(3,) float64 RGB in [0, 1] of a studio backdrop: a key of :data:`STUDIO_KEYS` (by its share),
    value and saturation uniform in its ranges, the hue of ``color``. Draws 3 uniforms."""
    import colorsys

    u = rng.random(3)
    key = min(int(np.searchsorted(_STUDIO_CDF, u[0], side="right")), len(STUDIO_KEYS) - 1)
    _, (v0, v1), (s0, s1) = STUDIO_KEYS[key]
    r, g, b = (float(c) for c in np.asarray(color).reshape(3))
    hue = colorsys.rgb_to_hsv(r, g, b)[0]
    return np.array(colorsys.hsv_to_rgb(hue, s0 + (s1 - s0) * u[1], v0 + (v1 - v0) * u[2]))


def studio_background(seed: int, color, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8 studio backdrop drawn from ``PCG64(seed)``: :func:`studio_color`
    (hue of ``color``) times a faint mottle (coarse value noise), lit by
    :func:`synth.draw.patterns.shading`. A pure function of its arguments."""
    import cv2

    from synth.draw import patterns

    rng = np.random.Generator(np.random.PCG64(int(seed)))
    rgb = studio_color(rng, color).astype(np.float32)
    w, h = max(2, -(-width // NOISE_SUBSAMPLE)), max(2, -(-height // NOISE_SUBSAMPLE))
    mottle = 1.0 + STUDIO_MOTTLE * (2.0 * value_noise(rng, w, h, 1, STUDIO_OCTAVES) - 1.0)
    coarse = _to_u8(rgb.reshape(1, 1, 3) * mottle)
    img = cv2.resize(coarse, (int(width), int(height)), interpolation=cv2.INTER_LINEAR)
    return patterns.shade(img, patterns.shading(rng, width, height))


#: kinds drawn by a scene generator at any size, so a defocused one can be drawn on a coarser grid
SCENE_KINDS = ("leaves", "clutter", "outdoor")
#: every kind :func:`make_background` draws (``synth.config.BACKGROUND_KINDS``; a test keeps them the same)
KINDS = ("solid", "noise", "image", *SCENE_KINDS, "studio")


def _pattern_background(bg: Background, width: int, height: int) -> np.ndarray:
    if bg.kind == "outdoor":
        from synth.render.outdoor import outdoor_background

        return outdoor_background(bg.seed, width, height)
    if bg.kind == "leaves":
        from synth.render.leaves import leaves_background

        return leaves_background(bg.seed, bg.color, width, height)
    from synth.render.clutter import clutter_background

    return clutter_background(bg.seed, bg.color, width, height)


def _sharp_background(bg: Background, width: int, height: int) -> np.ndarray:
    if bg.kind == "solid":
        return _solid(tuple(float(c) for c in np.asarray(bg.color).reshape(3)), width, height)
    if bg.kind == "noise":
        return _noise_background(bg, width, height)
    if bg.kind == "image":
        if not bg.image_path:
            raise ValueError("Background kind 'image' needs image_path")
        return image_background(str(bg.image_path), width, height)
    if bg.kind in SCENE_KINDS:
        return _pattern_background(bg, width, height)
    if bg.kind == "studio":
        return studio_background(bg.seed, bg.color, width, height)
    raise ValueError(f"unknown background kind {bg.kind!r} ({', '.join(KINDS)})")


def _defocused_pattern(bg: Background, width: int, height: int, sigma: float) -> np.ndarray:
    """A leaves, clutter or outdoor background out of focus by ``sigma`` px, drawn f times coarser (f = 2
    from 1.5 px, then 4, 8, ... while sigma >= 2 f: the detail a coarser grid cannot hold, the
    blur removes), blurred there by sqrt(sigma^2 - f^2/12) / f (enlarging a hard edge bilinearly
    ramps it over f px) and enlarged. The same shapes, colours and light as drawing it sharp and
    defocusing it (mean difference 2-6 grey levels: patterns and thin lines are drawn at the
    coarse grid's pixel sizes) for a quarter of the pixels."""
    import cv2

    f = 2 if sigma >= 1.5 else 1
    while f > 1 and sigma >= 2.0 * f:
        f *= 2
    if f == 1:
        return defocus(np.asarray(_pattern_background(bg, width, height)), sigma)
    small = _pattern_background(bg, max(1, -(-width // f)), max(1, -(-height // f)))
    rest = np.sqrt(max(sigma * sigma - f * f / 12.0, 0.0)) / f
    if rest >= 0.3:
        small = cv2.GaussianBlur(small, (0, 0), float(rest), borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (int(width), int(height)), interpolation=cv2.INTER_LINEAR)


#: shared backdrop patterns kept per process (~200 KB each at 256x256): a block of 100 samples uses ~16
_PATTERNS_KEPT = 48
_patterns: OrderedDict = OrderedDict()


def shared_pattern(kind: str, seed: int, color, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8 read-only: the sharp backdrop of ``kind`` drawn from ``seed`` and ``color``
    at width x height, drawn once and kept for the samples that share it (LRU)."""
    key = (kind, int(seed), tuple(float(c) for c in np.asarray(color).reshape(3)), int(width), int(height))
    img = _patterns.get(key)
    if img is not None:
        _patterns.move_to_end(key)
        return img
    img = np.array(_sharp_background(Background(kind, np.asarray(key[2]), seed=int(seed)), int(width), int(height)))
    img.flags.writeable = False
    _patterns[key] = img
    while len(_patterns) > _PATTERNS_KEPT:
        _patterns.popitem(last=False)
    return img


def _cropped_pattern(bg: Background, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8: the part ``bg.crop`` of the shared pattern (``bg.pattern_size``), resized
    bilinearly to the frame and mirrored when ``bg.mirror`` (see ``synth.scene.Background``)."""
    import cv2

    pw, ph = (int(v) for v in bg.pattern_size)
    x0, y0, side = (float(v) for v in bg.crop)
    cx0, cy0 = min(round(x0 * pw), pw - 1), min(round(y0 * ph), ph - 1)
    cw, ch = max(1, min(round(side * pw), pw - cx0)), max(1, min(round(side * ph), ph - cy0))
    crop = shared_pattern(bg.kind, bg.seed, bg.color, pw, ph)[cy0:cy0 + ch, cx0:cx0 + cw]
    out = cv2.resize(crop, (int(width), int(height)), interpolation=cv2.INTER_LINEAR)
    return cv2.flip(out, 1) if bg.mirror else out


def make_background(bg: Background, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8 background for ``bg`` (read-only; see module doc), defocused by
    ``bg.blur`` (sigma = blur * width), then dimmed by ``bg.dim_ev``."""
    sigma = float(bg.blur) * width
    if bg.crop is not None:  # a crop of a shared pattern, defocused at the frame's size below
        img = _cropped_pattern(bg, width, height)
    elif sigma >= 0.3 and bg.kind in SCENE_KINDS:
        return _dimmed(_defocused_pattern(bg, width, height, sigma), bg.dim_ev)
    else:
        img = _sharp_background(bg, width, height)
    if sigma > 0.0 and bg.kind not in ("solid", "studio"):
        img = defocus(np.asarray(img), sigma)
    return _dimmed(img, bg.dim_ev)
