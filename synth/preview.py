"""Contact sheets: samples with their pose axes and angles drawn on them."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

#: Axis colours: head x (subject's left) red, y (down) green, z (back of head, drawn toward the face) blue.
AXIS_COLORS = ((230, 40, 40), (40, 200, 40), (40, 90, 255))


def pose_axes_2d(rotation: np.ndarray, translation: np.ndarray, K: np.ndarray,
                 length_mm: float = 90.0) -> np.ndarray:
    """(4, 2) pixel positions of the head centre and the ends of its x, y and -z axes.

    rotation (3, 3) head->camera, translation (3,) mm, K (3, 3). The z axis is
    drawn negated so the blue line points out of the face (the gaze direction).
    """
    R = np.asarray(rotation, dtype=np.float64)
    t = np.asarray(translation, dtype=np.float64)
    pts = np.stack([t, t + R[:, 0] * length_mm, t + R[:, 1] * length_mm, t - R[:, 2] * length_mm])
    uvw = pts @ np.asarray(K, dtype=np.float64).T
    return uvw[:, :2] / uvw[:, 2:3]


def annotate(sample: dict, draw_landmarks: bool = True) -> Image.Image:
    """The sample's rgb with pose axes, face box, landmarks and 'P Y R' angles drawn."""
    img = Image.fromarray(np.asarray(sample["rgb"]))
    d = ImageDraw.Draw(img)
    if draw_landmarks and "landmarks" in sample:
        for x, y in np.asarray(sample["landmarks"]):
            if np.isfinite(x) and np.isfinite(y):
                d.point((float(x), float(y)), fill=(255, 255, 0))
    if "bbox" in sample:
        x0, y0, x1, y1 = (float(v) for v in sample["bbox"])
        if all(map(math.isfinite, (x0, y0, x1, y1))):
            d.rectangle((x0, y0, x1, y1), outline=(255, 255, 255))
    axes = pose_axes_2d(sample["rotation"], sample["translation"], sample["K"])
    for end, color in zip(axes[1:], AXIS_COLORS):
        d.line((tuple(axes[0]), tuple(end)), fill=color, width=2)
    p, y, r = (float(v) for v in sample["euler"])
    d.text((3, 2), f"P{p:+.0f} Y{y:+.0f} R{r:+.0f}", fill=(255, 255, 255), stroke_width=1, stroke_fill=(0, 0, 0))
    if "index" in sample:
        d.text((3, img.height - 12), f"#{int(sample['index'])} id{int(sample.get('identity', -1))}",
               fill=(255, 255, 255), stroke_width=1, stroke_fill=(0, 0, 0))
    return img


def grid_columns(n: int) -> int:
    """Columns of a contact sheet of ``n`` tiles: the smallest square grid that holds them."""
    return math.ceil(math.sqrt(n))


def contact_sheet(samples: list[dict], columns: int | None = None, tile: int = 160) -> Image.Image:
    """Grid of annotated samples, each resized to ``tile`` px wide."""
    if not samples:
        raise ValueError("no samples to draw")
    columns = columns or grid_columns(len(samples))
    rows = int(math.ceil(len(samples) / columns))
    first = annotate(samples[0])
    th = int(round(tile * first.height / first.width))
    sheet = Image.new("RGB", (columns * tile, rows * th), (20, 20, 20))
    for i, s in enumerate(samples):
        im = first if i == 0 else annotate(s)
        sheet.paste(im.resize((tile, th), Image.BILINEAR), ((i % columns) * tile, (i // columns) * th))
    return sheet


#: image files a --beside folder may hold (other files, such as AFLW2000's .mat labels, are skipped)
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def photo_files(folder: str | Path) -> list[Path]:
    """The sorted JPG/PNG files directly in ``folder`` (no recursion, no links out of it)."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file() and not p.is_symlink())


def photo_sheet(files: list[Path], n: int, columns: int, tile: int, tile_h: int, seed: int = 0) -> Image.Image:
    """Grid of ``n`` photos drawn from ``files`` without replacement by ``seed`` (shown in file order),
    each fitted into a ``tile`` x ``tile_h`` cell (aspect kept, centred on dark grey)."""
    picks = sorted(np.random.default_rng(seed).choice(len(files), size=min(n, len(files)), replace=False))
    rows = math.ceil(len(picks) / columns)
    sheet = Image.new("RGB", (columns * tile, rows * tile_h), (20, 20, 20))
    for k, i in enumerate(picks):
        with Image.open(files[i]) as im:
            im = im.convert("RGB")
            scale = min(tile / im.width, tile_h / im.height)
            im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.BILINEAR)
        x, y = (k % columns) * tile + (tile - im.width) // 2, (k // columns) * tile_h + (tile_h - im.height) // 2
        sheet.paste(im, (x, y))
    return sheet


def side_by_side(left: Image.Image, right: Image.Image, gap: int = 8) -> Image.Image:
    """``left`` and ``right`` next to each other, top-aligned, a white bar of ``gap`` px between them."""
    out = Image.new("RGB", (left.width + gap + right.width, max(left.height, right.height)), (20, 20, 20))
    out.paste(left, (0, 0))
    out.paste(Image.new("RGB", (gap, out.height), (255, 255, 255)), (left.width, 0))
    out.paste(right, (left.width + gap, 0))
    return out


def save_atomically(path: str | Path, save: Callable[[Path], object]) -> Path:
    """Write an image file through ``save(tmp)`` (a PIL ``Image.save`` or matplotlib ``savefig``; the
    temporary name keeps the suffix, which picks the format) and rename it to ``path``: a write that
    fails (full disk) leaves no partial file and the previous one intact. OSError names ``path``."""
    path = Path(path)
    tmp = path.with_name(f"{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        save(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
