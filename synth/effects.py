"""Post-render image effects: resolution loss, blur, occlusion, sensor noise, JPEG.

Each effect is parameterised entirely by ``synth.scene.Effects`` (drawn in
``synth.sampling``), so the parameters stored with a sample reproduce the
image exactly. Effects change pixels only: geometric labels stay valid.
Order: downsample -> Gaussian blur -> motion blur -> occluders -> noise -> JPEG
(occluders are sharp objects in front of the head; noise and compression come
from the sensor and the encoder, after everything optical).

OpenCV is used for the filters: at 256x256 its Gaussian blur measured 0.34 ms
against 3.2 ms (scipy.ndimage) and 2.9 ms (PIL) on this machine. The sensor
noise runs in one C pass (synth/_noise.c, built at install) when it was built,
else in numpy: the same bytes either way.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

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


def apply_effects(rgb: np.ndarray, effects: Effects) -> np.ndarray:
    """Apply ``effects`` to an (H, W, 3) uint8 image; returns a new (H, W, 3) uint8 image."""
    out = rgb
    h, w = rgb.shape[:2]
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
    if effects.noise_sigma > 0.0:
        out = add_gaussian_noise(out, effects.noise_sigma, effects.noise_seed)
    if effects.jpeg_quality > 0:
        ok, buf = cv2.imencode(".jpg", out[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(effects.jpeg_quality)])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        out = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
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
