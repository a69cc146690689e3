"""Pointing'04 (INRIA Head Pose Image Database) reader: discrete pitch/yaw from file names.

On-disk layout::

    HeadPoseImageDatabase/PersonneNN/personneNNSII<tilt><pan>.jpg   384x288
    HeadPoseImageDatabase/PersonneNN/personneNNSII<tilt><pan>.txt   optional face box

File name: ``personne`` + person (2 digits) + series (1 digit, 1 or 2) + image
number (2 digits, 00..92) + signed tilt + signed pan, in degrees, e.g.
``personne01146+15-30.jpg`` = person 01, series 1, image 46, tilt +15, pan -30.
Tilt is in {0, +-15, +-30, +-60, +-90} and pan in {0, +-15, ..., +-90} (at
tilt +-90 pan is 0).

The ``.txt`` beside an image (when present) holds the face box as lines
``name``, ``Face``, centre x, centre y, width, height (pixels); without it the
box is the whole image.

Sign conventions (the database page: negative tilt = bottom poses, positive
= top; negative pan = left poses, positive = right): ``pitch = +tilt`` (+ =
looks up, ours) and ``yaw = -pan``, reading "left" as the image's left
(ours has +yaw toward the image's left): ``YAW_FROM_PAN = -1``.
NOT verified on images (none in ../shared/realdata):
check one image of each sign before trusting yaw signs and change
``YAW_FROM_PAN`` if the face turns the other way. Roll is 0. The canonical
rotation is ``rotation_from_euler(pitch, yaw, 0)``; the database's subjects
looked at markers laid out in pan/tilt (azimuth/elevation), which differs
from our pitch-after-yaw composition by a few degrees at large combined
angles; the labels are kept as published.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from synth.pose import rotation_from_euler

from .errors import DatasetError
from .images import read_rgb
from .sample import Sample

#: pitch = PITCH_FROM_TILT * tilt, yaw = YAW_FROM_PAN * pan (see module doc: the yaw sign is unverified).
PITCH_FROM_TILT = 1.0
YAW_FROM_PAN = -1.0

NAME_RE = re.compile(r"^personne(\d{2})(\d)(\d{2})([+-]\d+)([+-]\d+)\.jpg$")


def parse_name(name: str) -> dict[str, int]:
    """``person``, ``series``, ``number``, ``tilt``, ``pan`` (degrees) from a Pointing'04 file name.

    Raises DatasetError for names that do not follow the pattern.
    """
    m = NAME_RE.match(Path(name).name)
    if not m:
        raise DatasetError(f"{name} is not a Pointing'04 name (personneNNSII+T+P.jpg)", name)
    person, series, number, tilt, pan = m.groups()
    return {"person": int(person), "series": int(series), "number": int(number), "tilt": int(tilt), "pan": int(pan)}


def euler_from_name(name: str) -> np.ndarray:
    """(3,) ``(pitch, yaw, roll)`` degrees of a Pointing'04 file name in our convention."""
    p = parse_name(name)
    return np.array([PITCH_FROM_TILT * p["tilt"], YAW_FROM_PAN * p["pan"], 0.0]) + 0.0


def read_face_txt(path: Path) -> np.ndarray | None:
    """(4,) ``x0, y0, x1, y1`` from a Pointing'04 ``.txt`` (centre x, y, width, height), or None when absent."""
    if not path.is_file():
        return None
    vals = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            vals.append(float(line.strip()))
        except ValueError:
            continue
    if len(vals) < 4:
        raise DatasetError(f"{path}: expected centre x, centre y, width, height after the name and 'Face' lines", path)
    cx, cy, w, h = vals[:4]
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


class Pointing04Reader:
    """Indexable reader of Pointing'04 images under ``root`` (searched recursively).

    ``reader[i]`` -> Sample(image, rotation, euler (pitch, yaw, 0), bbox from
    the ``.txt`` or the whole image, meta person/series/number/tilt/pan).
    """

    source = "pointing04"

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"Pointing'04 root folder {self.root} does not exist", self.root)
        self.paths = sorted(p for p in self.root.rglob("personne*.jpg") if NAME_RE.match(p.name))
        if not self.paths:
            raise DatasetError(f"no personneNNSII+T+P.jpg images under {self.root} (wrong root folder?)", self.root)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Sample:
        path = self.paths[i]
        info = parse_name(path.name)
        euler = euler_from_name(path.name)
        image = read_rgb(path)
        box = read_face_txt(path.with_suffix(".txt"))
        if box is None:
            box = np.array([0.0, 0.0, image.shape[1], image.shape[0]])
        return Sample(image=image, rotation=rotation_from_euler(*euler), euler=euler, bbox=box,
                      source=self.source, path=str(path), meta=info)
