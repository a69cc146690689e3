"""CMU Panoptic head-pose reader (opal23-style annotation list, full-range yaw).

On-disk layout::

    ROOT/<annotations>.txt                         lines ``image;x_min;y_min;w;h;yaw;pitch;roll`` ('#' = comment)
    ROOT/<session>/hdImgs/<cam>/<cam>_<frame>.jpg  1920x1080 frames named by the list (paths relative to ROOT)

Angles are degrees in opal23's convention (yaw over -180..180, its sign the
negative of ours); ``synth.pose.rotation_from_panoptic`` maps them to the
canonical rotation and ``euler`` is ``euler_from_rotation`` of it (so yaw
stays full-range, |pitch|, |roll| <= 90).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from synth.pose import euler_from_rotation, rotation_from_panoptic

from .errors import DatasetError
from .images import read_rgb
from .sample import Sample


def read_annotations(path: str | Path) -> list[dict]:
    """Parse an annotation list into dicts with ``image``, ``bbox`` (4,) x0,y0,x1,y1 and ``yaw``, ``pitch``, ``roll`` (opal23 deg)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"Panoptic annotation list {path} is missing", path)
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        f = line.split(";")
        try:
            x, y, w, h, yaw, pitch, roll = (float(v) for v in f[1:8])
        except (ValueError, IndexError) as exc:
            raise DatasetError(f"{path}:{n}: expected image;x_min;y_min;w;h;yaw;pitch;roll, got {line!r}", path) from exc
        rows.append({"image": f[0], "bbox": np.array([x, y, x + w, y + h]), "yaw": yaw, "pitch": pitch, "roll": roll})
    if not rows:
        raise DatasetError(f"{path} has no annotations", path)
    return rows


class PanopticReader:
    """Indexable reader: ``root`` holds the images and ``annotations`` (a file name in root, or a path)."""

    source = "panoptic"

    def __init__(self, root: str | Path, annotations: str | Path = "sample_images_annotations.txt"):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"Panoptic root folder {self.root} does not exist", self.root)
        ann = Path(annotations)
        self.rows = read_annotations(ann if ann.is_absolute() else self.root / ann)

    def __len__(self) -> int:
        return len(self.rows)

    def label(self, i: int) -> dict:
        r = self.rows[i]
        R = rotation_from_panoptic(r["yaw"], r["pitch"], r["roll"])
        return {"rotation": R, "euler": euler_from_rotation(R), "bbox": r["bbox"]}

    def __getitem__(self, i: int) -> Sample:
        r = self.rows[i]
        path = self.root / r["image"]
        lab = self.label(i)
        image = read_rgb(path)
        return Sample(image=image, rotation=lab["rotation"], euler=lab["euler"], bbox=r["bbox"], source=self.source,
                      path=str(path), meta={"panoptic_ypr": (r["yaw"], r["pitch"], r["roll"])})
