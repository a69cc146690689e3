"""Occluders: a box over the face, painted black or filled with a texture.

The synthetic robustness suites (:mod:`synth.robustness`, factor ``occlusion``) put one
on a render; the real-data corruptions (:mod:`train.data.corruptions`) put the same kind
on photos, so a level means the same on both. A level is named ``TEXTURE-WxH``
(:func:`parse_occluder_level`): W x H px at the reference frame width (640 by default,
the papers' 60x60 and 60x120 boxes). Boxes are :class:`synth.scene.Occluder` records in
output px, x right, y down; :func:`place_occluder` centres one uniformly inside a face
box. Black boxes are painted by :func:`synth.effects.apply_effects`; a texture
(:func:`occluder_texture`: per-pixel noise, two-colour stripes, a patch of an image file)
is painted over its box by :func:`apply_effects_with_patches`, in the same place in the
effect order. All randomness comes from the generator passed in.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from synth.effects import apply_effects, split_effects
from synth.scene import Effects, Occluder

#: Occluder fillings: solid black, per-pixel colour noise, two-colour stripes, a patch of an image file.
OCCLUDER_TEXTURES = ("black", "noise", "stripes", "image")


@dataclass(frozen=True)
class OccluderLevel:
    """An occlusion level: one box of ``width`` x ``height`` px at the reference frame width
    (640 by default: the papers' 60x60 and 60x120 boxes) filled with ``texture``."""

    texture: str
    width: float
    height: float

    @property
    def name(self) -> str:
        return f"{self.texture}-{self.width:g}x{self.height:g}"


def parse_occluder_level(level) -> OccluderLevel | None:
    """``"none"`` -> None; ``"black-60x120"`` -> OccluderLevel("black", 60, 120). ValueError otherwise."""
    if not isinstance(level, str):
        raise ValueError(f"occlusion level {level!r}: expected 'none' or TEXTURE-WxH, e.g. black-60x60")
    if level == "none":
        return None
    texture, _, size = level.partition("-")
    w, _, h = size.partition("x")
    try:
        width, height = float(w), float(h)
    except ValueError:
        width = height = -1.0
    if texture not in OCCLUDER_TEXTURES or not (width > 0 and height > 0):
        raise ValueError(f"occlusion level {level!r}: expected 'none' or TEXTURE-WxH with TEXTURE one of "
                         f"{', '.join(OCCLUDER_TEXTURES)} and sizes > 0 px, e.g. black-60x120")
    return OccluderLevel(texture, width, height)


@lru_cache(maxsize=16)
def image_files(folder: str) -> tuple[str, ...]:
    """Sorted .jpg/.jpeg/.png files of ``folder`` (cached); ValueError naming the fix when there are none."""
    p = Path(folder)
    files = sorted(str(f) for f in p.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png")) if p.is_dir() else []
    if not files:
        raise ValueError(f"occluder image folder {folder!r} holds no .jpg/.png files; fix: point "
                         "options.image_folder (or background.image_folder) at a folder of images")
    return tuple(files)


@lru_cache(maxsize=32)
def _load_rgb(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"))
    arr.setflags(write=False)
    return arr


def occluder_texture(texture: str, height: int, width: int, rng: np.random.Generator,
                     image_folder: str | None = None) -> np.ndarray:
    """(height, width, 3) uint8 filling of an occluder box.

    black: zeros. noise: independent uniform 0..255 per pixel and channel.
    stripes: two random colours alternating along a random direction, period
        uniform in [4, max(5, min(h, w) / 2)] px. image: a random file of
        ``image_folder``, cropped at a random place (resized up when smaller).
    """
    h, w = max(1, int(height)), max(1, int(width))
    if texture == "black":
        return np.zeros((h, w, 3), np.uint8)
    if texture == "noise":
        return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    if texture == "stripes":
        colors = rng.integers(0, 256, size=(2, 3)).astype(np.uint8)
        angle = rng.uniform(0.0, np.pi)
        period = rng.uniform(4.0, max(5.0, min(h, w) / 2.0))
        yy, xx = np.mgrid[0:h, 0:w]
        phase = (xx * np.cos(angle) + yy * np.sin(angle)) / period
        return colors[(np.floor(phase).astype(np.int64) % 2)]
    if texture == "image":
        if not image_folder:
            raise ValueError("image occluders need an image folder; fix: set the suite's options.image_folder "
                             "(or background.image_folder) to a folder of .jpg/.png files")
        files = image_files(str(image_folder))
        img = _load_rgb(files[int(rng.integers(len(files)))])
        if img.shape[0] < h or img.shape[1] < w:
            import cv2

            s = max(h / img.shape[0], w / img.shape[1])
            img = cv2.resize(img, (max(w, int(np.ceil(img.shape[1] * s))), max(h, int(np.ceil(img.shape[0] * s)))),
                             interpolation=cv2.INTER_LINEAR)
        y0 = int(rng.integers(img.shape[0] - h + 1))
        x0 = int(rng.integers(img.shape[1] - w + 1))
        return np.ascontiguousarray(img[y0:y0 + h, x0:x0 + w])
    raise ValueError(f"unknown occluder texture {texture!r}; use one of {', '.join(OCCLUDER_TEXTURES)}")


def box_pixels(x: float, y: float, width: float, height: float, shape: tuple) -> tuple[int, int, int, int]:
    """Integer pixel span (x0, y0, x1, y1) of a box clipped to an image of ``shape`` -- the span
    ``synth.effects.apply_effects`` paints."""
    H, W = shape[:2]
    return (max(0, int(round(x))), max(0, int(round(y))),
            min(W, int(round(x + width))), min(H, int(round(y + height))))


def paint_patch(image: np.ndarray, occ: Occluder, patch: np.ndarray) -> None:
    """Paint ``patch`` (the texture of the whole, unclipped box) over ``occ`` in ``image``, in place."""
    x0, y0, x1, y1 = box_pixels(occ.x, occ.y, occ.width, occ.height, image.shape)
    if x1 <= x0 or y1 <= y0:
        return
    ox, oy = x0 - int(round(occ.x)), y0 - int(round(occ.y))
    image[y0:y1, x0:x1] = patch[oy:oy + (y1 - y0), ox:ox + (x1 - x0)]


def place_occluder(face_box, width: float, height: float, rng: np.random.Generator) -> Occluder:
    """A black ``width`` x ``height`` box (px) whose centre is uniform inside ``face_box`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = (float(v) for v in face_box)
    cx, cy = rng.uniform(x0, max(x0, x1)), rng.uniform(y0, max(y0, y1))
    return Occluder(x=float(cx - width / 2.0), y=float(cy - height / 2.0), width=float(width), height=float(height))


def patch_size(occ: Occluder) -> tuple[int, int]:
    """(height, width) in whole pixels of the texture for an occluder box."""
    return (max(1, int(round(occ.y + occ.height)) - int(round(occ.y))),
            max(1, int(round(occ.x + occ.width)) - int(round(occ.x))))


def apply_effects_with_patches(rgb: np.ndarray, effects: Effects,
                               patches: tuple[tuple[Occluder, np.ndarray], ...] = ()) -> np.ndarray:
    """``synth.effects.apply_effects`` with textured occluders painted where their boxes are.

    The order stays that of apply_effects: distractors, resolution, blur, (black) occluders,
    then the textures over them, then the lens, camera pipeline, noise and JPEG
    (``synth.effects.split_effects``).
    """
    if not patches:
        return apply_effects(rgb, effects)
    optical, sensor = split_effects(effects)
    out = apply_effects(rgb, optical)
    if out is rgb:
        out = out.copy()
    for occ, patch in patches:
        paint_patch(out, occ, patch)
    return apply_effects(out, sensor)
