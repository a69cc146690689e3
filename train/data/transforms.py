"""Paired image + label transforms on :class:`Sample` (numpy/PIL), and the final ToTensor step.

Each transform returns a new Sample; image, depth, box, landmarks, K and the
pose labels move together:

* :func:`hflip` mirrors the image (x -> W - x), the depth (and ``meta["depth01"]``,
  the ``c2f`` preset's normalised depth), the boxes, the landmarks
  (with the 68-point left/right permutation ``FLIP_68``), K's principal point
  and the head centre, and mirrors the rotation ``R' = S R S`` with
  ``S = diag(-1, 1, 1)``, which negates yaw and roll and keeps pitch.
* :func:`rotate_inplane` turns the image by ``theta`` degrees clockwise (as
  displayed, the same sense as +roll) about the face box centre:
  ``R' = Rz(theta) R``; landmarks rotate with it and the box keeps its size
  around the rotated centre. (Exact for a rotation about the principal point;
  about the face centre it is the usual augmentation approximation.) Depth and
  ``meta["depth01"]`` turn with it (nearest neighbour).
* :func:`jitter_box` scales / translates the face box only (what a loose
  crop preset then cuts), never the image.
* :func:`blur`, :func:`add_noise`, :func:`downsample_upsample` change pixels only
  (the last is Hopenet's low-resolution augmentation: factor in {1, 6, 11, 16},
  nearest-neighbour down and up).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageFilter

from synth.pose import euler_from_rotation, rot_z

from .sample import FLIP_68, Sample

S_FLIP = np.diag([-1.0, 1.0, 1.0])


def hflip(sample: Sample) -> Sample:
    """Horizontal mirror of a sample (see module doc)."""
    W = sample.width
    out = sample.replace(image=np.ascontiguousarray(sample.image[:, ::-1]))
    b = sample.bbox
    out.bbox = np.array([W - b[2], b[1], W - b[0], b[3]])
    if sample.landmarks is not None:
        lm = sample.landmarks.copy()
        lm[:, 0] = W - lm[:, 0]
        out.landmarks = lm[FLIP_68] if len(lm) == 68 else lm
    if sample.depth is not None:
        Wd = sample.depth.shape[1]
        out.depth = np.ascontiguousarray(sample.depth[:, ::-1])
        if sample.depth_bbox is not None:
            d = sample.depth_bbox
            out.depth_bbox = np.array([Wd - d[2], d[1], Wd - d[0], d[3]])
    if "depth01" in sample.meta:     # the c2f preset's normalised depth, registered to the image
        out.meta["depth01"] = np.ascontiguousarray(np.asarray(sample.meta["depth01"])[:, ::-1])
    out.rotation = S_FLIP @ sample.rotation @ S_FLIP
    p, y, r = sample.euler
    out.euler = np.array([p, -y, -r]) + 0.0
    if sample.translation is not None:
        out.translation = S_FLIP @ sample.translation
    if sample.K is not None:
        K = sample.K.copy()
        K[0, 2] = W - K[0, 2]
        K[0, 1] = -K[0, 1]
        out.K = K
    out.meta["flipped"] = not sample.meta.get("flipped", False)
    return out


def _rotate_points(pts: np.ndarray, c: np.ndarray, theta_rad: float) -> np.ndarray:
    cs, sn = np.cos(theta_rad), np.sin(theta_rad)
    M = np.array([[cs, -sn], [sn, cs]])  # y-down image coordinates: positive = clockwise on screen
    return (pts - c) @ M.T + c


def rotate_inplane(sample: Sample, theta_deg: float) -> Sample:
    """Rotate image and labels by ``theta_deg`` clockwise about the face box centre (see module doc)."""
    th = np.deg2rad(theta_deg)
    b = sample.bbox
    c = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
    # PIL rotates counter-clockwise for positive angles.
    img = Image.fromarray(sample.image).rotate(-theta_deg, resample=Image.Resampling.BILINEAR, center=tuple(c), fillcolor=0)
    out = sample.replace(image=np.asarray(img))
    if sample.landmarks is not None:
        out.landmarks = _rotate_points(sample.landmarks, c, th)
    if sample.depth is not None:
        db = sample.depth_bbox if sample.depth_bbox is not None else b
        dc = ((db[0] + db[2]) / 2, (db[1] + db[3]) / 2)
        d = Image.fromarray(sample.depth.astype(np.float32)).rotate(-theta_deg, resample=Image.Resampling.NEAREST, center=dc)
        out.depth = np.asarray(d).astype(np.uint16)
    if "depth01" in sample.meta:     # registered to the image: turns about the same centre (holes 0)
        d01 = Image.fromarray(np.asarray(sample.meta["depth01"], dtype=np.float32))
        out.meta["depth01"] = np.asarray(d01.rotate(-theta_deg, resample=Image.Resampling.NEAREST, center=tuple(c), fillcolor=0))
    Rz = rot_z(th)
    out.rotation = Rz @ sample.rotation
    out.euler = euler_from_rotation(out.rotation)
    if sample.translation is not None:
        out.translation = Rz @ sample.translation
    return out


def jitter_box(sample: Sample, rng: np.random.Generator, scale: tuple[float, float] = (0.9, 1.1), shift: float = 0.1) -> Sample:
    """Scale the face box by U[scale] and move its centre by U[-shift, shift] x (w, h); depth_bbox follows."""
    s = float(rng.uniform(*scale))
    dx, dy = rng.uniform(-shift, shift, size=2)

    def move(b: np.ndarray) -> np.ndarray:
        w, h = b[2] - b[0], b[3] - b[1]
        cx, cy = (b[0] + b[2]) / 2 + dx * w, (b[1] + b[3]) / 2 + dy * h
        return np.array([cx - s * w / 2, cy - s * h / 2, cx + s * w / 2, cy + s * h / 2])

    out = sample.replace(bbox=move(sample.bbox))
    if sample.depth_bbox is not None:
        out.depth_bbox = move(sample.depth_bbox)
    return out


def blur(sample: Sample, radius: float = 1.0) -> Sample:
    """Gaussian blur of the image with ``radius`` pixels (PIL GaussianBlur)."""
    return sample.replace(image=np.asarray(Image.fromarray(sample.image).filter(ImageFilter.GaussianBlur(radius))))


def add_noise(sample: Sample, rng: np.random.Generator, sigma: float = 5.0) -> Sample:
    """Add Gaussian noise of ``sigma`` grey levels (0..255 scale) to the image, clipped to uint8."""
    noisy = sample.image.astype(np.float32) + rng.normal(0.0, sigma, size=sample.image.shape).astype(np.float32)
    return sample.replace(image=np.clip(noisy + 0.5, 0, 255).astype(np.uint8))


def downsample_upsample(sample: Sample, factor: int) -> Sample:
    """Hopenet's low-resolution augmentation: nearest resize down by ``factor`` and back up."""
    if factor <= 1:
        return sample
    im = Image.fromarray(sample.image)
    W, H = im.size
    small = im.resize((max(1, W // factor), max(1, H // factor)), resample=Image.Resampling.NEAREST)
    return sample.replace(image=np.asarray(small.resize((W, H), resample=Image.Resampling.NEAREST)))


@dataclass(frozen=True)
class RandomAugment:
    """Training augmentation on a cropped or uncropped sample, driven by an explicit rng.

    flip_p: probability of :func:`hflip`; rotate_deg: in-plane angle ~ U[-r, r]
    (0 = off); blur_p / blur_radius; noise_p / noise_sigma; downsample_p and
    downsample_factors (Hopenet: 1 + 5 * randint(0, 4)).
    """

    flip_p: float = 0.5
    rotate_deg: float = 0.0
    blur_p: float = 0.05
    blur_radius: float = 1.0
    noise_p: float = 0.0
    noise_sigma: float = 5.0
    downsample_p: float = 0.0
    downsample_factors: Sequence[int] = (1, 6, 11, 16)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if self.rotate_deg > 0:
            sample = rotate_inplane(sample, float(rng.uniform(-self.rotate_deg, self.rotate_deg)))
        if rng.random() < self.flip_p:
            sample = hflip(sample)
        if self.downsample_p > 0 and rng.random() < self.downsample_p:
            sample = downsample_upsample(sample, int(rng.choice(self.downsample_factors)))
        if self.blur_p > 0 and rng.random() < self.blur_p:
            sample = blur(sample, self.blur_radius)
        if self.noise_p > 0 and rng.random() < self.noise_p:
            sample = add_noise(sample, rng, self.noise_sigma)
        return sample


class Compose:
    """Apply ``steps`` in order; each is ``f(sample, rng) -> Sample``."""

    def __init__(self, steps: Sequence[Callable[[Sample, np.random.Generator], Sample]]):
        self.steps = list(steps)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for step in self.steps:
            sample = step(sample, rng)
        return sample


@dataclass(frozen=True)
class ToTensor:
    """Final step: Sample -> dict of torch tensors (+ ``source`` and ``path`` strings).

    image: (C, H, W) float32, ``(x / 255 - mean) / std`` (C = 1 when gray);
    rotation (3, 3), euler (3,) deg, bbox (4,) float32; landmarks (68, 2)
    float32 (NaN when absent) with has_landmarks; when ``depth``: depth
    (1, H, W) float32 = ``meta["depth01"]`` if a preset made it, else mm / 1000,
    zeros when absent, with has_depth. Keys are the same for every source so
    mixed batches collate.
    """

    mean: Sequence[float] = (0.0, 0.0, 0.0)
    std: Sequence[float] = (1.0, 1.0, 1.0)
    gray: bool = False
    depth: bool = False

    def __call__(self, sample: Sample) -> dict:
        img = torch.from_numpy(np.array(sample.image, copy=True)).permute(2, 0, 1).float().div_(255.0)
        mean = torch.tensor(self.mean, dtype=torch.float32)
        std = torch.tensor(self.std, dtype=torch.float32)
        if self.gray:
            img = img[:1]
            mean, std = mean[:1], std[:1]
        img = (img - mean[:, None, None]) / std[:, None, None]
        lm = sample.landmarks
        out = {
            "image": img,
            "rotation": torch.as_tensor(sample.rotation, dtype=torch.float32),
            "euler": torch.as_tensor(sample.euler, dtype=torch.float32),
            "bbox": torch.as_tensor(sample.bbox, dtype=torch.float32),
            "landmarks": torch.full((68, 2), float("nan")) if lm is None or len(lm) != 68 else torch.as_tensor(lm, dtype=torch.float32),
            "has_landmarks": torch.tensor(lm is not None and len(lm) == 68),
            "source": sample.source,
            "path": sample.path,
        }
        if self.depth:
            H, W = sample.image.shape[:2]
            if "depth01" in sample.meta:
                d = torch.from_numpy(np.asarray(sample.meta["depth01"], dtype=np.float32))[None]
            elif sample.depth is not None and sample.depth.shape == (H, W):
                d = torch.from_numpy(sample.depth.astype(np.float32) / 1000.0)[None]
            else:
                d = None
            out["depth"] = torch.zeros(1, H, W) if d is None else d
            out["has_depth"] = torch.tensor(d is not None)
        return out
