"""Image statistics that put renders beside photographs: the scene around the face and the light on it.

A contact sheet shows at a glance that two sets of images differ; these numbers say by how much,
so that a change to backgrounds, light or camera can be judged against real photos without
training anything (``bench/scene_stats.py`` prints them for renders and an AFLW2000-layout folder).

Every statistic is taken at one scale, the image resampled so that the face box (the 68 landmarks'
bounding box) is :data:`FACE_PX` wide, and in two regions fixed by that box:

* **surround**: the pixels outside a square of :data:`SURROUND_SCALE` face-box sizes around the
  box centre -- background and whatever stands in it, with most of the head and hair cut away
  (images whose surround is under :data:`MIN_SURROUND` of the frame give NaN there);
* **face**: the central :data:`FACE_INNER` of the face box, skin with eyes, nose and mouth.

Black padding (whole rows or columns at the frame's edges with every byte <= :data:`PAD_MAX`, as
AFLW2000 puts where a face's crop ran off its photo) is not scene: the surround stops at it.

Luminance is Rec. 601 luma of the sRGB bytes, 0..255.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import cv2
import numpy as np

from synth.sensor import LUMA_601

#: face-box width (px) every image is resampled to before measuring
FACE_PX = 64.0
#: side of the square around the face box, in face-box sizes, whose outside is the surround
SURROUND_SCALE = 2.2
#: smallest surround, as a fraction of the frame, that is measured
MIN_SURROUND = 0.08
#: central fraction of the face box that is the face region
FACE_INNER = 0.7
#: luminance thresholds (0..255) of a dark and of a bright surround
DARK, BRIGHT = 50.0, 190.0
#: largest byte of a padding row or column
PAD_MAX = 12


def content_box(rgb: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), end exclusive: the frame without the black padding rows and columns at its
    edges (the whole frame when it has none; an all-black frame keeps one pixel)."""
    peak = rgb.max(2) if rgb.ndim == 3 else rgb
    rows, cols = np.flatnonzero(peak.max(1) > PAD_MAX), np.flatnonzero(peak.max(0) > PAD_MAX)
    if len(rows) == 0 or len(cols) == 0:
        return 0, 0, 1, 1
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


@dataclass(frozen=True)
class PhotoStats:
    """One image's statistics (NaN where a region is too small to measure).

    surround_luma: mean luminance of the surround, 0..255.
    surround_saturation: median HSV saturation of the surround, 0..1.
    surround_colourfulness: Hasler and Suesstrunk's colourfulness of the surround (0 for grey, ~100
        for very colourful scenes; on 0..255 bytes).
    surround_edges: mean |Laplacian| of the surround's luminance at the common scale (busy scenes
        are high, plain backdrops near 0).
    face_luma: mean luminance of the face region, 0..255.
    face_contrast: (90th - 10th percentile) / median of the face's luminance: flat light is low,
        hard light with shadows high.
    face_asymmetry: |mean of the face's left half - right half| / mean: how much the light comes
        from one side.
    face_edges: mean |Laplacian| of the face region's luminance at the common scale: its fine
        detail (skin texture, stubble, lashes, JPEG and resampling all add or take some).
    grayscale: 1.0 when the image has no colour (under 1 % of its pixels have channels more than
        10 apart: JPEG's chroma noise stays below that), else 0.0.
    """

    surround_luma: float
    surround_saturation: float
    surround_colourfulness: float
    surround_edges: float
    face_luma: float
    face_contrast: float
    face_asymmetry: float
    face_edges: float
    grayscale: float


STAT_NAMES = tuple(f.name for f in fields(PhotoStats))


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ LUMA_601   # what the face-metered exposure reads


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler and Suesstrunk (2003) colourfulness of (N, 3) uint8 RGB pixels."""
    p = rgb.astype(np.float64)
    rg = p[:, 0] - p[:, 1]
    yb = 0.5 * (p[:, 0] + p[:, 1]) - p[:, 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def photo_stats(rgb: np.ndarray, landmarks: np.ndarray) -> PhotoStats:
    """Statistics of one (H, W, 3) uint8 RGB image with its (68, 2) landmarks in pixels (x right,
    y down; NaN rows ignored)."""
    pts = np.asarray(landmarks, np.float64)
    pts = pts[np.isfinite(pts).all(1)]
    if len(pts) < 2:
        raise ValueError("photo_stats needs at least two finite landmarks")
    bx0, by0, bx1, by1 = content_box(rgb)
    rgb = np.ascontiguousarray(rgb[by0:by1, bx0:bx1])
    (x0, y0), (x1, y1) = pts.min(0) - (bx0, by0), pts.max(0) - (bx0, by0)
    s = FACE_PX / max(x1 - x0, 1.0)
    h, w = rgb.shape[:2]
    size = (max(1, round(w * s)), max(1, round(h * s)))
    img = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    cx, cy = (x0 + x1) / 2.0 * s, (y0 + y1) / 2.0 * s
    half = SURROUND_SCALE * max(x1 - x0, y1 - y0) * s / 2.0
    luma = _luma(img)
    lap = np.abs(cv2.Laplacian(luma, cv2.CV_32F, ksize=3))   # its border pixels see outside the frame
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    surround = (np.abs(xx + 0.5 - cx) > half) | (np.abs(yy + 0.5 - cy) > half)
    nan = float("nan")
    if surround.mean() >= MIN_SURROUND:
        px = img[surround]
        sat = cv2.cvtColor(px[None], cv2.COLOR_RGB2HSV)[0, :, 1]
        inner = surround.copy()
        inner[[0, -1], :] = inner[:, [0, -1]] = False
        sr = (float(luma[surround].mean()), float(np.median(sat)) / 255.0, colourfulness(px),
              float(lap[inner].mean()) if inner.any() else nan)
    else:
        sr = (nan, nan, nan, nan)
    fw, fh = (x1 - x0) * s * FACE_INNER / 2.0, (y1 - y0) * s * FACE_INNER / 2.0
    fx0, fx1 = int(max(1, round(cx - fw))), int(min(img.shape[1] - 1, round(cx + fw)))
    fy0, fy1 = int(max(1, round(cy - fh))), int(min(img.shape[0] - 1, round(cy + fh)))
    face = luma[fy0:fy1, fx0:fx1]
    if face.size >= 16:
        p10, p50, p90 = np.percentile(face, [10, 50, 90])
        mid = face.shape[1] // 2
        mean = float(face.mean())
        fr = (mean, float((p90 - p10) / max(p50, 1.0)),
              float(abs(face[:, :mid].mean() - face[:, mid:].mean()) / max(mean, 1.0)),
              float(lap[fy0:fy1, fx0:fx1].mean()))
    else:
        fr = (nan, nan, nan, nan)
    coloured = (rgb.max(2) - rgb.min(2)) > 10
    return PhotoStats(*sr, *fr, float(coloured.mean() < 0.01))


def summarize(stats: list[PhotoStats]) -> dict[str, float]:
    """Figures of a set of images: the median of every statistic (NaN ignored), the 10th and 90th
    percentiles of the two luminances, and the shares of dark (``surround_luma`` < DARK) and bright
    (> BRIGHT) surrounds and of grayscale images."""
    a = np.array([[getattr(s, k) for k in STAT_NAMES] for s in stats], np.float64).reshape(-1, len(STAT_NAMES))
    out = {f"{k}_median": float(np.nanmedian(a[:, i])) if np.isfinite(a[:, i]).any() else float("nan")
           for i, k in enumerate(STAT_NAMES) if k != "grayscale"}
    for k in ("surround_luma", "face_luma"):   # how widely exposures spread, not only where they sit
        v = a[:, STAT_NAMES.index(k)]
        v = v[np.isfinite(v)]
        out[f"{k}_p10"], out[f"{k}_p90"] = (float(q) for q in np.percentile(v, [10, 90])) if len(v) \
            else (float("nan"), float("nan"))
    luma = a[:, STAT_NAMES.index("surround_luma")]
    luma = luma[np.isfinite(luma)]
    out["dark_surround_share"] = float((luma < DARK).mean()) if len(luma) else float("nan")
    out["bright_surround_share"] = float((luma > BRIGHT).mean()) if len(luma) else float("nan")
    out["grayscale_share"] = float(a[:, STAT_NAMES.index("grayscale")].mean()) if len(a) else float("nan")
    out["images"] = float(len(a))
    return out
