"""Crop protocols as named presets: face box -> model input, labels moved along.

Every preset is a callable ``preset(sample, rng) -> Sample`` whose output
image is the network input size (uint8, RGB or grayscale replicated to 3
channels) with ``bbox``, ``landmarks``, ``K`` (and ``depth`` / ``depth_bbox``)
mapped into the crop's pixels. Rotation and Euler labels are unchanged by a
crop. Pixels outside the source image are filled with 0. ``rng`` is a
``numpy.random.Generator``; test presets ignore it.

Presets (``PRESETS``; ``get_preset(name)``):

``hopenet_train``  Hopenet's loose crop for training: k ~ U[0.2, 0.4]; from the face box
                   (w, h) x0 -= 0.6 k w, y0 -= 2 k h, x1 += 0.6 k w', y1 += 0.6 k h'
                   (w', h' measured after moving x0 / y0, exactly as the reference code
                   ``Pose_300W_LP`` does), then resize shorter side to 240 and a random
                   224x224 crop (its ``Scale(240)`` + ``RandomCrop(224)``).
``hopenet_test``   Hopenet's fixed test crop (``AFLW2000`` dataset class): k = 0.2, x0 -= 2 k w,
                   y0 -= 2 k h, x1 += 2 k w', y1 += 0.6 k h'; shorter side to 224 and a
                   centre 224x224 crop.
``fsanet``         FSA-Net's margin crop (``TYY_create_db_type1.py``, ad = 0.6): box enlarged
                   by ad * w / ad * h on every side, clamped to the image, resized to 64x64
                   (aspect not kept, as theirs).
``ehpnet``         EHPNet-style square padding: the face box grown to a square of side
                   max(w, h) about its centre (zero padding where it leaves the image),
                   resized to 112x112.
``c2f``            coarse-to-fine face crop: square of side 1.2 max(w, h) about the box
                   centre, 256x256, grayscale (replicated to 3 channels; ``ToTensor(gray=True)``
                   keeps one) and depth cropped with the same relative box and normalised to
                   [0, 1] by ``synth.depth.normalise_depth01`` (nearest point 1, 300 mm behind it 0,
                   no data 0; ``meta["depth01"]``, float32) -- the same mapping synthetic depth gets.
``full_frame``     the whole frame with background (the Bernoulli-heatmap model), unchanged.
``full_frame_640`` the whole frame resized to 640x480 (labels scaled).

Faces come from the labels' boxes (landmark boxes for 300W-LP/AFLW2000,
projected head boxes for BIWI, annotated boxes elsewhere); no face detector.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from synth.boxes import C2F_SQUARE_SCALE, square_box
from synth.depth import normalise_depth01

from .sample import Sample

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _map_box(box: np.ndarray, crop: np.ndarray, sx: float, sy: float) -> np.ndarray:
    return np.array([(box[0] - crop[0]) * sx, (box[1] - crop[1]) * sy, (box[2] - crop[0]) * sx, (box[3] - crop[1]) * sy])


def relative_box(crop: np.ndarray, ref: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The box that is to ``target`` what ``crop`` is to ``ref`` (normalised box coordinates carried over)."""
    rw, rh = ref[2] - ref[0], ref[3] - ref[1]
    tw, th = target[2] - target[0], target[3] - target[1]
    u = (np.asarray(crop) - [ref[0], ref[1], ref[0], ref[1]]) / [rw, rh, rw, rh]
    return np.array([target[0], target[1], target[0], target[1]]) + u * [tw, th, tw, th]


def _extent(arr: np.ndarray, crop: np.ndarray, size: tuple[int, int], resample) -> Image.Image:
    im = Image.fromarray(arr)
    return im.transform(size, Image.Transform.EXTENT, data=tuple(float(v) for v in crop), resample=resample, fillcolor=0)


def crop_resize(sample: Sample, crop: np.ndarray, size: tuple[int, int], gray: bool = False) -> Sample:
    """Crop ``crop`` = (x0, y0, x1, y1) pixels (may leave the image: zero fill) and resize to ``size`` = (W, H).

    Image: bilinear; depth: nearest, cropped with the same box relative to
    ``depth_bbox`` when the depth map has its own frame. Returns a new Sample.
    """
    crop = np.asarray(crop, dtype=np.float64)
    W, H = size
    sx, sy = W / (crop[2] - crop[0]), H / (crop[3] - crop[1])
    img = _extent(sample.image, crop, size, Image.Resampling.BILINEAR)
    if gray:
        img = img.convert("L").convert("RGB")
    out = sample.replace(image=np.asarray(img), bbox=_map_box(sample.bbox, crop, sx, sy))
    if sample.landmarks is not None:
        out.landmarks = (sample.landmarks - crop[:2]) * [sx, sy]
    if sample.K is not None:
        K = sample.K.copy()
        K[0, :] = K[0, :] * sx - crop[0] * sx * K[2, :]
        K[1, :] = K[1, :] * sy - crop[1] * sy * K[2, :]
        out.K = K
    if sample.depth is not None:
        dcrop = crop if sample.depth_bbox is None else relative_box(crop, sample.bbox, sample.depth_bbox)
        d = _extent(sample.depth.astype(np.float32), dcrop, size, Image.Resampling.NEAREST)
        out.depth = np.asarray(d).astype(np.uint16)
        out.depth_bbox = None  # depth is now registered to the crop
        if sample.depth_bbox is not None:
            out.meta["depth_registered_by"] = "relative face box"
    return out


def _box_wh(b: np.ndarray) -> tuple[float, float]:
    return float(b[2] - b[0]), float(b[3] - b[1])


def hopenet_box(bbox: np.ndarray, k: float, train: bool) -> np.ndarray:
    """Hopenet's loose box from a face box (see module doc; sequential updates as in the reference code)."""
    x0, y0, x1, y1 = (float(v) for v in bbox)
    side = 0.6 if train else 2.0
    x0 -= side * k * abs(x1 - x0)
    y0 -= 2 * k * abs(y1 - y0)
    x1 += side * k * abs(x1 - x0)
    y1 += 0.6 * k * abs(y1 - y0)
    return np.array([x0, y0, x1, y1])


def _short_side_crop(box: np.ndarray, short: int, out: int, rng: np.random.Generator | None) -> np.ndarray:
    """Box (original pixels) of an ``out`` x ``out`` crop after scaling ``box`` so its shorter side is ``short``."""
    w, h = _box_wh(box)
    s = short / min(w, h)
    W, H = w * s, h * s
    if rng is None:
        ox, oy = (W - out) / 2, (H - out) / 2
    else:
        ox, oy = rng.uniform(0, max(W - out, 0)), rng.uniform(0, max(H - out, 0))
    return np.array([box[0] + ox / s, box[1] + oy / s, box[0] + (ox + out) / s, box[1] + (oy + out) / s])


def hopenet_train(sample: Sample, rng: np.random.Generator | None = None) -> Sample:
    rng = rng or np.random.default_rng()
    box = hopenet_box(sample.bbox, float(rng.uniform(0.2, 0.4)), train=True)
    return crop_resize(sample, _short_side_crop(box, 240, 224, rng), (224, 224))


def hopenet_test(sample: Sample, rng: np.random.Generator | None = None) -> Sample:
    box = hopenet_box(sample.bbox, 0.2, train=False)
    return crop_resize(sample, _short_side_crop(box, 224, 224, None), (224, 224))


def fsanet(sample: Sample, rng: np.random.Generator | None = None, ad: float = 0.6, size: int = 64) -> Sample:
    w, h = _box_wh(sample.bbox)
    b = sample.bbox
    box = np.array([max(b[0] - ad * w, 0.0), max(b[1] - ad * h, 0.0),
                    min(b[2] + ad * w, sample.width - 1.0), min(b[3] + ad * h, sample.height - 1.0)])
    return crop_resize(sample, box, (size, size))


def ehpnet(sample: Sample, rng: np.random.Generator | None = None) -> Sample:
    return crop_resize(sample, square_box(sample.bbox), (112, 112))


def c2f(sample: Sample, rng: np.random.Generator | None = None) -> Sample:
    out = crop_resize(sample, square_box(sample.bbox, C2F_SQUARE_SCALE), (256, 256), gray=True)
    if out.depth is not None:
        out.meta["depth01"] = normalise_depth01(out.depth)
    return out


def full_frame(sample: Sample, rng: np.random.Generator | None = None) -> Sample:
    return sample


def full_frame_640(sample: Sample, rng: np.random.Generator | None = None) -> Sample:
    return crop_resize(sample, np.array([0.0, 0.0, sample.width, sample.height]), (640, 480))


@dataclass(frozen=True)
class CropPreset:
    """A named crop protocol: ``fn(sample, rng) -> Sample``; ``size`` (W, H) or None (input size); ``gray``."""

    name: str
    fn: Callable[[Sample, np.random.Generator | None], Sample]
    size: tuple[int, int] | None
    gray: bool = False
    train: bool = False

    def __call__(self, sample: Sample, rng: np.random.Generator | None = None) -> Sample:
        return self.fn(sample, rng)


PRESETS: dict[str, CropPreset] = {
    p.name: p
    for p in (
        CropPreset("hopenet_train", hopenet_train, (224, 224), train=True),
        CropPreset("hopenet_test", hopenet_test, (224, 224)),
        CropPreset("fsanet", fsanet, (64, 64)),
        CropPreset("ehpnet", ehpnet, (112, 112)),
        CropPreset("c2f", c2f, (256, 256), gray=True),
        CropPreset("full_frame", full_frame, None),
        CropPreset("full_frame_640", full_frame_640, (640, 480)),
    )
}


def get_preset(name: str) -> CropPreset:
    """The preset called ``name``; ValueError listing the known names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown crop preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None
