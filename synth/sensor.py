"""Lens and camera-pipeline effects on an encoded (sRGB) uint8 image: vignetting, exposure,
white balance, tone curve.

Exposure, white balance and vignetting are gains on linear light; the image is
sRGB-encoded, so they are applied where they act:

* :func:`tone_lut` folds exposure (2**ev), the white-balance gains and the tone
  curve into one per-channel 256-entry table: decode sRGB exactly, scale, clip
  (highlights burn out as in a camera), encode, raise to ``tone_gamma``;
  ``cv2.LUT`` applies it (one pass);
* :func:`apply_vignetting` multiplies the encoded image by the falloff to the
  power 1/2.2 (a gain g on linear light is a gain g**(1/2.2) on values encoded
  with a 2.2 power, which sRGB follows within ~1 % above its linear toe),
  evaluated every 8 px and interpolated bilinearly with the channels interleaved.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

#: Rec. 709 luminance weights of linear RGB
LUMA = np.array([0.2126, 0.7152, 0.0722])
#: the vignetting falloff is evaluated every this many px and bilinearly upsampled
VIGNETTE_STEP = 8


def white_balance_gains(temperature: float, tint: float) -> np.ndarray:
    """(3,) linear-light RGB gains of a white-balance error, luminance-neutral (LUMA . gains = 1).

    temperature: ln(gain_red / gain_blue) (+ = warmer: tungsten light left uncorrected);
    tint: ln(gain_green) - (ln(gain_red) + ln(gain_blue)) / 2 (+ = greener, - = magenta).
    """
    g = np.exp(np.array([temperature / 2.0, tint, -temperature / 2.0]))
    return g / float(LUMA @ g)


@lru_cache(maxsize=1)
def _srgb_decode() -> np.ndarray:
    """(256,) float64 linear light of each sRGB code value."""
    c = np.arange(256) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def srgb_encode(x: np.ndarray) -> np.ndarray:
    """sRGB encoding of linear values in [0, 1] (float, same shape)."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055)


def tone_lut(exposure_ev: float, gains, tone_gamma: float) -> np.ndarray:
    """(256, 1, 3) uint8 table for ``cv2.LUT``: code v of channel c ->
    round(255 * encode(clip(decode(v) * 2**exposure_ev * gains[c], 0, 1)) ** tone_gamma)."""
    lin = _srgb_decode()[:, None] * (2.0 ** float(exposure_ev)) * np.asarray(gains, np.float64)[None, :]
    enc = srgb_encode(lin) ** float(tone_gamma)
    return np.clip(np.rint(enc * 255.0), 0, 255).astype(np.uint8)[:, None, :]


def apply_tone(img: np.ndarray, exposure_ev: float, gains, tone_gamma: float) -> np.ndarray:
    """(H, W, 3) uint8 ``img`` through :func:`tone_lut` (exposure, white balance, tone curve)."""
    return cv2.LUT(np.ascontiguousarray(img), tone_lut(exposure_ev, gains, tone_gamma))


#: face-metered exposure: the fewest face pixels that are metered (else no metering), the
#: largest correction in stops either way
METER_MIN_PIXELS, METER_MAX_EV = 16, 3.0
#: stops tried between -METER_MAX_EV and +METER_MAX_EV (1/32 stop apart)
METER_STEPS = 193
#: the skin albedo (mean linear luminance of the skin texture, ``texture_luminance``) a face is
#: metered to the target at: the bank's light skins (0.38-0.55; its darkest are ~0.07)
METER_REF_ALBEDO = 0.45
#: share of a skin's difference from METER_REF_ALBEDO, in stops, that the exposure keeps: a
#: camera's face exposure lifts a dark face, but not all the way (0: every face at the target,
#: 1: exposed for the light falling on the face, whatever its skin)
METER_SKIN_KEEP = 0.5
#: Rec. 601 luma weights of the encoded bytes (what the meter reads; ``synth.photo_stats`` reads the same)
LUMA_601 = np.array([0.299, 0.587, 0.114], np.float32)


def metered_ev(rgb: np.ndarray, region: np.ndarray, target_luma: float,
               skin_albedo: float = METER_REF_ALBEDO) -> float:
    """Stops of a camera's face-priority auto exposure: those that bring the median luma of
    ``rgb``'s ``region`` pixels to ``target_luma``, less METER_SKIN_KEEP of the skin's own
    difference from the reference, ``log2(skin_albedo / METER_REF_ALBEDO)``.

    rgb: (H, W, 3) uint8 sRGB; region: (H, W) bool, the metered pixels (the face's skin);
    target_luma: 0..255 encoded Rec. 601 luma; skin_albedo: the face's mean linear skin albedo.
    The median pixel is exposed as :func:`tone_lut` does it, channels clipping one by one, and
    the stops are solved on a grid of METER_STEPS (so a skin whose red channel burns out still
    reaches its level, as a camera's metering loop gets there); clipped to +-METER_MAX_EV; 0 when
    the region has fewer than METER_MIN_PIXELS pixels or ``target_luma`` is 0. Regions of
    16 METER_MIN_PIXELS or more are metered on every other row and column.
    """
    if target_luma <= 0.0 or int(np.count_nonzero(region)) < METER_MIN_PIXELS:
        return 0.0
    step = 2 if region.size >= 16 * METER_MIN_PIXELS else 1  # every other row and column: 4x fewer
    px = rgb[::step, ::step][region[::step, ::step]]
    if len(px) == 0:
        return 0.0
    luma = px.astype(np.float32) @ LUMA_601
    mid = px[int(np.argpartition(luma, len(luma) // 2)[len(luma) // 2])]
    codes, grid, exposed = _meter_tables()
    skin = METER_SKIN_KEEP * np.log2(max(float(skin_albedo), 1e-4) / METER_REF_ALBEDO)
    want = float(srgb_encode(np.interp(float(target_luma), codes, _srgb_decode()) * 2.0 ** skin)) * 255.0
    got = np.ascontiguousarray(exposed[mid].T) @ LUMA_601.astype(np.float64)   # (METER_STEPS,) luma
    got = np.maximum.accumulate(got) + grid * 1e-9   # non-decreasing in the stops; strictly, for interp
    return float(np.interp(want, got, grid))


@lru_cache(maxsize=1)
def _meter_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(256,) code values 0..255, (METER_STEPS,) the stops :func:`metered_ev` tries, and
    (256, METER_STEPS) 255 x the sRGB encoding of each code value's linear light at each of them
    (no tone curve: :func:`tone_lut`'s with gains 1), made once: a meter reads three rows."""
    grid = np.linspace(-METER_MAX_EV, METER_MAX_EV, METER_STEPS)
    return np.arange(256), grid, 255.0 * srgb_encode(_srgb_decode()[:, None] * (2.0 ** grid)[None, :])


def vignetting_gain(strength: float, r: np.ndarray, radius: float) -> np.ndarray:
    """Linear-light falloff at distances ``r`` px from the centre: (1 + b (r / radius)^2)^-2,
    b set so the gain at ``radius`` is 1 - strength (the cos^4 law's shape)."""
    b = (1.0 - float(strength)) ** -0.5 - 1.0
    return (1.0 + b * (np.asarray(r, np.float64) / float(radius)) ** 2) ** -2.0


def apply_vignetting(img: np.ndarray, strength: float, center, radius: float) -> np.ndarray:
    """(H, W, 3) uint8 ``img`` darkened by :func:`vignetting_gain` around ``center`` (x, y px).

    The encoded gain gain**(1/2.2) is evaluated on nodes every VIGNETTE_STEP px that reach past
    the frame on every side and interpolated bilinearly (one ``cv2.warpAffine``) straight onto
    the (H, 3 W) interleaved channels: the green sample of a pixel at its centre, red and blue a
    third of a pixel to either side (invisible in a field this smooth).
    """
    h, w = img.shape[:2]
    step = float(VIGNETTE_STEP)
    xs = np.arange(int(np.ceil(w / step)) + 2) * step - float(center[0])  # node j at x = j * step
    ys = np.arange(int(np.ceil(h / step)) + 2) * step - float(center[1])
    r = np.sqrt(xs[None, :] ** 2 + ys[:, None] ** 2)
    gain = (vignetting_gain(strength, r, radius) ** (1.0 / 2.2)).astype(np.float32)
    # fine column c samples x = (c + 0.5) / 3, row r samples y = r + 0.5: in node units, divided by step
    m = np.array([[1.0 / (3.0 * step), 0.0, 0.5 / (3.0 * step)], [0.0, 1.0 / step, 0.5 / step]])
    fine = cv2.warpAffine(gain, m, (3 * w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    return cv2.multiply(np.ascontiguousarray(img).reshape(h, 3 * w), fine, dtype=cv2.CV_8U).reshape(h, w, 3)
