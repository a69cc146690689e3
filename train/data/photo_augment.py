"""Augmentation that moves renders toward photographs (synthetic -> real), on by default for ``synth`` sources.

:class:`PhotoAugment` has two halves, both driven only by the item's rng (so a fixed seed gives the
same batch):

* ``pre_crop(sample, rng)`` changes the *framing* before the model's crop preset cuts the face:
  the face box is scaled by ``U[box_scale]`` and moved by ``U[-box_shift, box_shift]`` of its size
  (the crop follows the box; pixels and labels do not move); with ``border_p`` the photo is cut
  short on some sides between the image edge and the face box and the rest filled with black
  (``border_zero_p``) or a random flat colour, as AFLW2000-3D / 300W-LP images carry black padding
  where their 3DDFA crop left the original photo. Labels never change here.
* ``__call__(sample, rng)`` changes the cropped *appearance*: horizontal flip (labels follow:
  yaw and roll negated, landmarks mirrored), colour jitter (brightness, contrast, saturation, hue),
  grayscale, Gaussian blur (off by default: it did worse than none on the protocol), JPEG
  re-encoding, random erasing (a rectangle of flat colour or noise).
  None of these moves a label.

Every probability is drawn per item; ranges are ``(lo, hi)`` uniform. ``PhotoAugment(**overrides)``
rejects unknown fields; ``FitConfig.photo_augment`` holds the overrides and ``config.json`` the
resolved values. Each component's effect on the sim-to-real protocol is in the README's table.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from .sample import Sample
from .transforms import hflip


@dataclass(frozen=True)
class PhotoAugment:
    """Synthetic -> real augmentation (see the module doc); probabilities in [0, 1].

    box_scale: face-box scale range; box_shift: box-centre shift, fraction of the box size.
    border_p: probability of a cut photo border; border_zero_p: of those, the share filled black.
    flip_p: horizontal flip. color_p: colour jitter with brightness / contrast / saturation factor
        ranges and hue shift (fraction of a full turn, +-). gray_p: grayscale (kept as 3 channels).
    blur_p / blur_sigma: Gaussian blur sigma in output px. jpeg_p / jpeg_quality: JPEG quality range.
    erase_p / erase_area: random erasing, area fraction range of the crop.
    """

    box_scale: tuple[float, float] = (0.9, 1.1)
    box_shift: float = 0.06
    border_p: float = 0.3
    border_zero_p: float = 0.8
    flip_p: float = 0.5
    color_p: float = 0.8
    brightness: tuple[float, float] = (0.6, 1.4)
    contrast: tuple[float, float] = (0.6, 1.4)
    saturation: tuple[float, float] = (0.4, 1.4)
    hue: float = 0.04
    gray_p: float = 0.2
    blur_p: float = 0.0   # off: worse at two training seeds (README ablations); renders carry their own blur
    blur_sigma: tuple[float, float] = (0.3, 1.2)
    jpeg_p: float = 0.4
    jpeg_quality: tuple[int, int] = (30, 95)
    erase_p: float = 0.25
    erase_area: tuple[float, float] = (0.02, 0.15)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name.endswith("_p") and not (isinstance(v, (int, float)) and 0.0 <= float(v) <= 1.0):
                raise ValueError(f"photo augment {f.name} must be a probability in [0, 1], not {v!r}")
            if isinstance(f.default, tuple):
                if not (isinstance(v, (tuple, list)) and len(v) == 2 and float(v[0]) <= float(v[1])):
                    raise ValueError(f"photo augment {f.name} must be a range [lo, hi] with lo <= hi, not {v!r}")
                object.__setattr__(self, f.name, (type(f.default[0])(v[0]), type(f.default[1])(v[1])))

    @classmethod
    def from_overrides(cls, overrides: dict) -> "PhotoAugment":
        """``PhotoAugment(**overrides)``; ValueError naming unknown fields."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown photo augment field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**overrides)

    # -- framing, before the crop ----------------------------------------------------------------
    def pre_crop(self, sample: Sample, rng: np.random.Generator) -> Sample:
        draws = rng.random(2)
        s = float(rng.uniform(*self.box_scale))
        dx, dy = rng.uniform(-self.box_shift, self.box_shift, size=2)
        b = np.asarray(sample.bbox, np.float64)
        w, h = b[2] - b[0], b[3] - b[1]
        cx, cy = (b[0] + b[2]) / 2 + dx * w, (b[1] + b[3]) / 2 + dy * h
        out = sample.replace(bbox=np.array([cx - s * w / 2, cy - s * h / 2, cx + s * w / 2, cy + s * h / 2]))
        cuts = rng.uniform(size=4)
        sides = rng.random(4) < 0.5
        fill = rng.integers(0, 256, size=3)
        if draws[0] < self.border_p and sides.any():
            img = out.image.copy()
            H, W = img.shape[:2]
            # each chosen side is cut somewhere between the image edge and the face box
            x0 = int(cuts[0] * max(b[0], 0)) if sides[0] else 0
            y0 = int(cuts[1] * max(b[1], 0)) if sides[1] else 0
            x1 = W - int(cuts[2] * max(W - b[2], 0)) if sides[2] else W
            y1 = H - int(cuts[3] * max(H - b[3], 0)) if sides[3] else H
            colour = (0, 0, 0) if draws[1] < self.border_zero_p else tuple(int(c) for c in fill)
            img[:y0], img[y1:] = colour, colour
            img[:, :x0], img[:, x1:] = colour, colour
            out = out.replace(image=img)
        return out

    # -- appearance, after the crop --------------------------------------------------------------
    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        d = rng.random(7)
        if d[0] < self.flip_p:
            sample = hflip(sample)
        img = sample.image
        factors = (rng.uniform(*self.brightness), rng.uniform(*self.contrast), rng.uniform(*self.saturation),
                   rng.uniform(-self.hue, self.hue))
        if d[1] < self.color_p:
            img = color_jitter(img, *factors)
        if d[2] < self.gray_p:
            img = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        sigma = rng.uniform(*self.blur_sigma)
        if d[3] < self.blur_p:
            img = cv2.GaussianBlur(img, (0, 0), sigmaX=float(sigma))
        quality = int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1))
        if d[4] < self.jpeg_p:
            img = jpeg_roundtrip(img, quality)
        erase = (rng.uniform(*self.erase_area), rng.uniform(0.3, 3.3), rng.random(2), rng.integers(0, 256, size=3),
                 d[6] < 0.5)
        if d[5] < self.erase_p:
            img = random_erase(img, *erase, rng=rng)
        return sample.replace(image=np.ascontiguousarray(img))


def color_jitter(img: np.ndarray, brightness: float, contrast: float, saturation: float, hue: float) -> np.ndarray:
    """(H, W, 3) uint8 RGB with brightness (x factor), contrast (about the mean grey), saturation
    (blend with grey) and hue (fraction of a turn) changed, clipped to uint8."""
    x = img.astype(np.float32)
    x *= brightness
    grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
    x = (x - grey.mean()) * contrast + grey.mean()
    grey = (x @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
    x = grey + (x - grey) * saturation
    out = np.clip(x + 0.5, 0, 255).astype(np.uint8)
    if hue:
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)   # OpenCV hue: 0..179
        hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + int(round(hue * 180))) % 180).astype(np.uint8)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return out


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB encoded as JPEG at ``quality`` (1..100) and decoded."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) if ok else img


def random_erase(img: np.ndarray, area: float, aspect: float, where: np.ndarray, colour: np.ndarray,
                 noise: bool, rng: np.random.Generator) -> np.ndarray:
    """Paint a rectangle of ``area`` x the image area with aspect ``aspect`` (h / w) at relative position
    ``where`` (2,) in [0, 1) with a flat ``colour`` (3,) or, when ``noise``, uniform noise."""
    H, W = img.shape[:2]
    h = int(round(np.sqrt(area * H * W * aspect)))
    w = int(round(np.sqrt(area * H * W / aspect)))
    h, w = max(1, min(h, H)), max(1, min(w, W))
    y, x = int(where[0] * (H - h + 1)), int(where[1] * (W - w + 1))
    out = img.copy()
    out[y:y + h, x:x + w] = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) if noise else colour.astype(np.uint8)
    return out
