"""Post-render image effects: objects in front, resolution loss, blur, occlusion, lens and
camera pipeline, sensor noise, JPEG.

Each effect is parameterised entirely by ``synth.scene.Effects`` (drawn in
``synth.sampling``), so the parameters stored with a sample reproduce the
image exactly. Effects change pixels only: geometric labels stay valid.
Order (:func:`apply_effects`):

1. distractors (``synth.distractors``): objects between camera and head, part of the scene;
2. downsample -> Gaussian blur -> motion blur: the optics and the sensor's resolution;
3. occluders: the papers' sharp black boxes;
4. vignetting -> exposure, white balance, tone curve (``synth.sensor``) -> sharpening: the
   lens and the camera's processing, as gains on linear light, then an unsharp mask on the
   encoded image, as cameras and photo software sharpen what they store;
5. sensor noise -> colour noise -> JPEG: noise in output units, after the tone curve,
   as the recorded sigmas say, then the encoder.

:func:`split_effects` cuts the chain after the occluders, for callers that paint
their own things there (``synth.robustness``).

OpenCV is used for the filters: at 256x256 its Gaussian blur measured 0.34 ms
against 3.2 ms (scipy.ndimage) and 2.9 ms (PIL) on this machine. The sensor
noise runs in one C pass (synth/_noise.c, built at install) when it was built,
else in numpy: the same bytes either way.
"""
from __future__ import annotations

import dataclasses
from functools import lru_cache

import cv2
import numpy as np

from synth import sensor
from synth.distractors import composite
from synth.scene import Effects

try:  # optional extension built by `pip install -e .` (setup.py); the numpy path gives the same bytes
    from synth import _noise as _noise_kernel
except ImportError:
    _noise_kernel = None

cv2.setNumThreads(1)  # parallelism lives at the process level (one renderer per process)

_U64 = (1 << 64) - 1


def motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """Normalised line kernel, cropped to its support.

    length: in pixels (>= 1). angle_deg: counter-clockwise from image x.
    Returns (h, w) float32 summing to 1, with odd h and w so the line is centred.
    """
    n = int(np.ceil(length)) | 1
    k = np.zeros((n, n), np.float32)
    c = n // 2
    a = np.deg2rad(angle_deg)
    dx, dy = np.cos(a) * (length - 1) / 2.0, -np.sin(a) * (length - 1) / 2.0
    cv2.line(k, (int(round((c - dx) * 16)), int(round((c - dy) * 16))),
             (int(round((c + dx) * 16)), int(round((c + dy) * 16))), 1.0, 1, cv2.LINE_AA, shift=4)
    ys, xs = np.nonzero(k)
    r = max(abs(ys - c).max(), 0), max(abs(xs - c).max(), 0)
    k = k[c - r[0]:c + r[0] + 1, c - r[1]:c + r[1] + 1]
    return k / k.sum()


@lru_cache(maxsize=1)
def _normal_quantiles() -> np.ndarray:
    """(65536,) float32 standard-normal quantiles at (k + 0.5) / 65536 (tails at +-4.33 sigma)."""
    from scipy.special import ndtri

    return ndtri((np.arange(65536) + 0.5) / 65536).astype(np.float32)


def _noise_index(shape: tuple, seed: int) -> np.ndarray:
    """(shape) uint16: the 16-bit quantile indices of the noise (PCG64 seeded by ``seed``).

    The bytes ``Generator(PCG64(seed)).bytes(2 * n)`` would give, drawn with
    ``random_raw`` (0.16 vs 0.53 ms at 256x256x3 here: ``bytes`` goes through
    32-bit ``integers``).
    """
    n = int(np.prod(shape))
    raw = np.random.PCG64(seed).random_raw((2 * n + 7) // 8)
    return raw.astype("<u8", copy=False).view("<u2")[:n].reshape(shape)


def gaussian_noise(shape: tuple, sigma: float, seed: int) -> np.ndarray:
    """Seeded Gaussian noise, float32, std ``sigma``: 16 random bits per value index a quantile table.

    2.6x faster than PCG64's float32 standard_normal at 256x256x3 (0.93 vs 2.39 ms here)
    with the same distribution up to 1/65536 quantisation and +-4.33 sigma tails.
    """
    return (_normal_quantiles() * np.float32(sigma)).take(_noise_index(shape, seed))


def noise_kernel() -> str:
    """Which code adds the sensor noise here: ``"C"`` (synth/_noise.c, built at install) or ``"numpy"``."""
    return "C" if _noise_kernel is not None else "numpy"


def add_gaussian_noise(img: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """``img`` (H, W, C) uint8 plus seeded Gaussian noise: saturate(img + rint(sigma * q[idx])), uint8.

    q: :func:`_normal_quantiles`, idx: :func:`_noise_index` -- the noise of
    :func:`gaussian_noise` rounded to whole grey levels before the add. Equal to
    ``clip(round(img + gaussian_noise(...)), 0, 255)`` except where the float sum
    lands on a rounding tie (under one pixel per 256x256x3 image, by 1).

    With the C kernel the generator, lookup and add are one pass (0.33 vs 0.72 ms
    at 256x256x3 here); numpy takes three (random_raw, a take that widens the
    indices to intp, a saturating int16 add) and gives the same bytes.
    """
    table = np.rint(_normal_quantiles() * np.float32(sigma)).astype(np.int16)
    src = np.ascontiguousarray(img, dtype=np.uint8)
    if _noise_kernel is not None:
        out = np.empty_like(src)
        pcg = np.random.PCG64(seed).state["state"]  # the generator _noise_index draws from, as 128-bit ints
        state, inc = pcg["state"], pcg["inc"]
        _noise_kernel.add(src, out, table, state >> 64, state & _U64, inc >> 64, inc & _U64)
        return out
    noise = table.take(_noise_index(src.shape, seed))
    return cv2.add(src, noise, dtype=cv2.CV_8U).reshape(src.shape)  # saturating


def chroma_noise(shape: tuple, sigma: float, scale: float, seed: int) -> np.ndarray:
    """(H, W, 3) float32 colour noise of zero Rec. 709 luminance, in blotches ``scale`` px across.

    Gaussian values (:func:`gaussian_noise`, PCG64(seed)) on a grid ``scale`` times coarser,
    their luminance removed, bilinearly upsampled; scaled so the RMS over the three channels
    of the per-pixel std is ``sigma`` (green, the luminance carrier, varies least: ~0.4 sigma
    against ~1.1 and ~1.3 for red and blue).
    """
    h, w = int(shape[0]), int(shape[1])
    gh, gw = max(1, int(round(h / scale))), max(1, int(round(w / scale)))
    k = sensor.LUMA
    chroma_var = 1.0 - 2.0 * k.mean() + float(k @ k)  # mean over channels of var(n_c - LUMA . n)
    gain = sigma / np.sqrt(chroma_var * _upsampled_variance(w, gw) * _upsampled_variance(h, gh))
    # n - (LUMA . n) per channel, scaled: one 3x3 transform of the coarse Gaussian values
    coarse = cv2.transform(gaussian_noise((gh, gw, 3), 1.0, seed), ((np.eye(3) - k[None, :]) * gain).astype(np.float32))
    if (gh, gw) == (h, w):
        return coarse
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)


def _upsampled_variance(n_out: int, n_in: int) -> float:
    """Mean over output pixels of (1-f)^2 + f^2: the variance left of unit white noise on n_in nodes
    after OpenCV's half-pixel-centred bilinear resize to n_out (1 when the sizes match)."""
    if n_out == n_in:
        return 1.0
    t = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0, n_in - 1.0)
    f = t - np.floor(t)
    return float(np.mean((1.0 - f) ** 2 + f ** 2))


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB encoded as a JPEG at ``quality`` (OpenCV's libjpeg, 4:2:0) and decoded.

    The channel swaps go through cvtColor: 0.33 against 0.52 ms per 256x256 round trip for
    reversed-stride views, for the same bytes.
    """
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def sharpen(img: np.ndarray, amount: float, sigma: float) -> np.ndarray:
    """Unsharp mask of an (H, W, 3) uint8 image: img + amount x (img - Gaussian(img, sigma)), rounded
    and saturated to 0..255 (one OpenCV pass: ``addWeighted``). sigma in px; edges reflected."""
    blurred = cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return cv2.addWeighted(img, 1.0 + amount, blurred, -amount, 0.0)


def split_effects(effects: Effects) -> tuple[Effects, Effects]:
    """(scene and optics: distractors to occluders, lens and sensor: vignetting to JPEG) of
    ``effects``, by each field's ``"stage"`` metadata (``synth.scene.Effects``): applying the first,
    then the second, is :func:`apply_effects`."""
    sensor = [f.name for f in dataclasses.fields(Effects) if f.metadata["stage"] == "sensor"]
    defaults = Effects()
    first = dataclasses.replace(effects, **{k: getattr(defaults, k) for k in sensor})
    second = Effects(**{k: getattr(effects, k) for k in sensor})
    return first, second


def apply_effects(rgb: np.ndarray, effects: Effects) -> np.ndarray:
    """Apply ``effects`` to an (H, W, 3) uint8 image; returns a new (H, W, 3) uint8 image."""
    out = rgb
    h, w = rgb.shape[:2]
    if effects.distractors:
        out = composite(out, effects.distractors)
    if effects.downsample > 1.0:
        sw, sh = max(1, int(round(w / effects.downsample))), max(1, int(round(h / effects.downsample)))
        small = cv2.resize(out, (sw, sh), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if effects.gaussian_sigma > 0.0:
        out = cv2.GaussianBlur(out, (0, 0), effects.gaussian_sigma, borderType=cv2.BORDER_REFLECT)
    if effects.motion_length >= 2.0:
        out = cv2.filter2D(out, -1, motion_kernel(effects.motion_length, effects.motion_angle),
                           borderType=cv2.BORDER_REFLECT)
    if effects.occluders:
        out = out.copy() if out is rgb else out
        for occ in effects.occluders:
            x0, y0 = max(0, int(round(occ.x))), max(0, int(round(occ.y)))
            x1, y1 = min(w, int(round(occ.x + occ.width))), min(h, int(round(occ.y + occ.height)))
            if x1 > x0 and y1 > y0:
                out[y0:y1, x0:x1] = np.round(np.asarray(occ.color) * 255.0).astype(np.uint8)
    if effects.vignetting > 0.0:
        out = sensor.apply_vignetting(out, effects.vignetting, effects.vignetting_center, effects.vignetting_radius)
    ev = effects.meter_ev + effects.exposure_ev
    if ev != 0.0 or effects.wb_temperature != 0.0 or effects.wb_tint != 0.0 or effects.tone_gamma != 1.0:
        gains = sensor.white_balance_gains(effects.wb_temperature, effects.wb_tint)
        out = sensor.apply_tone(out, ev, gains, effects.tone_gamma)
    if effects.sharpen_amount > 0.0:
        out = sharpen(np.ascontiguousarray(out), effects.sharpen_amount, effects.sharpen_sigma)
    if effects.noise_sigma > 0.0:
        out = add_gaussian_noise(out, effects.noise_sigma, effects.noise_seed)
    if effects.chroma_sigma > 0.0:
        noise = chroma_noise(out.shape, effects.chroma_sigma, effects.chroma_scale, effects.chroma_seed)
        out = cv2.add(np.ascontiguousarray(out), noise, dtype=cv2.CV_8U)  # rounded, saturated
    if effects.jpeg_quality > 0:
        out = jpeg(np.ascontiguousarray(out), effects.jpeg_quality)
    return np.ascontiguousarray(out)


def occluded_fraction(mask: np.ndarray, effects: Effects) -> float:
    """Fraction of head-mask pixels covered by the occluders (0 when none)."""
    if not effects.occluders or not mask.any():
        return 0.0
    h, w = mask.shape
    cover = np.zeros_like(mask, dtype=bool)
    for occ in effects.occluders:
        x0, y0 = max(0, int(round(occ.x))), max(0, int(round(occ.y)))
        x1, y1 = min(w, int(round(occ.x + occ.width))), min(h, int(round(occ.y + occ.height)))
        cover[y0:y1, x0:x1] = True
    return float((cover & mask).sum() / mask.sum())
