"""The renderer outputs every backend returns, assembled from its raw colour and depth.

A backend renders at ``render_size`` (the camera's size times the spec's
``render_scale`` when that is below 1: small faces are drawn at the sensor's
native resolution, then resampled), and hands the raw (h, w) colour and
z-depth to :func:`render_outputs`, which resamples to the camera's size --
bicubic colour (OpenCV's a = -0.75 kernel, half-pixel centred, saturated to
bytes: the enlargement of photo software and resizers, which keeps the fine
detail bilinear smears, with the slight overshoot at edges that in-camera
sharpening also leaves), nearest-neighbour depth and mask, so labels are
never blended across the silhouette -- and projects
the landmarks with the full-size camera. Keeping this in one place makes the
rasterizer and Cycles agree by construction.

The range image (distance from the camera centre) follows exactly from the
depth and the spec, so renderers do not return it: :func:`range_image` makes
it on demand (0.8 ms per 256x256 frame that the shard pipeline, which stores
depth, had paid for nothing).
"""
from __future__ import annotations

import numpy as np

from synth.boxes import landmark_box
from synth.heads.mesh import HEAD_CLASSES
from synth.render import geometry


def render_size(camera, scale: float) -> tuple[int, int]:
    """(w, h) to render at: the camera's size, shrunk by ``scale`` when ``scale`` < 1 (at least 1 px)."""
    W, H = int(camera.width), int(camera.height)
    s = float(scale)
    return (W, H) if s >= 1.0 else (max(1, round(W * s)), max(1, round(H * s)))


def render_outputs(spec, head, rgb: np.ndarray, z: np.ndarray, render_camera, landmark_tol_mm: float,
                   seg: np.ndarray | None = None) -> dict:
    """The dict of ``base.RENDER_OUTPUT_KEYS`` from raw (h, w, 3) uint8 ``rgb``, (h, w) float32 camera-z
    ``z`` in mm (0 = background) and, when the backend gives it, (h, w) uint8 part classes ``seg``
    rendered with ``render_camera``; see ``base.py`` for every output. The mask is the head's classes
    of ``seg`` (``synth.heads.mesh.HEAD_CLASSES``), else ``z > 0``."""
    cam = spec.camera
    W, H = int(cam.width), int(cam.height)
    h, w = z.shape
    if (w, h) != (W, H):
        import cv2

        rgb = cv2.resize(rgb, (W, H), interpolation=cv2.INTER_CUBIC)  # enlarged as photo software does
        z = geometry.resize_nearest(z, W, H)  # nearest: never blended across the silhouette
        if seg is not None:
            seg = geometry.resize_nearest(seg, W, H)
    mask = z > 0 if seg is None else head_mask(seg)
    uv, lz = geometry.project_points(cam, spec.head.rotation, spec.head.translation, head.landmarks)
    out = {
        "rgb": rgb,
        "depth": z,
        "mask": mask,
        "landmarks": uv,
        "landmarks_visible": geometry.landmark_visibility(uv, lz, z, landmark_tol_mm),
        "bbox": landmark_box(uv),
    }
    if seg is not None:
        out["seg"] = seg
    return out


#: class id -> 1 for the head's classes, else 0 (uint8 lookup table of :func:`head_mask`)
_HEAD_LUT = np.isin(np.arange(256), HEAD_CLASSES).astype(np.uint8)


def head_mask(seg: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels of the head (skin, hair, eyes, brows, mouth, accessories) in a (H, W) uint8
    part-class image. OpenCV's table look-up: 0.05 ms at 256x256, where numpy's fancy indexing
    (uint8 indices widened to intp) took 0.36 ms."""
    import cv2

    return cv2.LUT(np.asarray(seg, np.uint8), _HEAD_LUT).view(bool)


def range_image(spec, depth: np.ndarray) -> np.ndarray:
    """(H, W) float32 distance in mm from the camera centre to the surface seen at each pixel
    (0 where ``depth`` is 0), for a ``depth`` rendered from ``spec`` by :func:`render_outputs`.

    range = depth * sqrt(1 + ((u-cx)/fx)^2 + ((v-cy)/fy)^2) at the centre of the pixel the
    depth was rendered at: with ``render_scale`` < 1 that is the low-resolution pixel each
    output pixel was resampled from, so range and depth describe the same surface point.
    """
    cam = spec.camera
    W, H = int(cam.width), int(cam.height)
    w, h = render_size(cam, spec.render_scale)
    if (w, h) == (W, H):
        factor = geometry.range_factor(cam)
    else:
        factor = geometry.range_factor_at(geometry.scaled_camera(cam, w, h), geometry.nearest_index(h, H),
                                          geometry.nearest_index(w, W))
    return np.asarray(depth, np.float32) * factor
