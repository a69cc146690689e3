"""BIWI Kinect Head Pose reader: RGB, depth, pose and a face box from the calibration.

On-disk layout (``kinect_head_pose_db/hpdb``; ``root`` may be ``hpdb`` or its parent)::

    hpdb/NN/frame_XXXXX_rgb.png      640x480 RGB
    hpdb/NN/frame_XXXXX_depth.bin    compressed depth (format below)
    hpdb/NN/frame_XXXXX_pose.txt     3 rows of R, blank line, head centre (mm, depth camera)
    hpdb/NN/rgb.cal, depth.cal       K (3 rows), blank, distortion (1 row), blank, R (3 rows), blank, T (1 row)[, blank, "W H"]
    hpdb/NN.obj                      the subject's head template (unused)

Depth ``.bin``: int32 width, int32 height, then runs of (int32 n_empty,
int32 n_full, n_full x int16 depth mm) until width*height pixels, row-major.

Face box: BIWI has no 2D face annotation, so the box is derived from the
label (no face detector). A cuboid fixed in the head frame around the
annotated head centre (``FACE_BOX_MM``: x -75..75 mm ear to ear, y -60..95 mm
brows to chin, z -100..0 mm face half) approximates the region the 68 iBUG
landmarks span, so the landmark-box crop presets (Hopenet, FSA-Net, EHPNet)
treat BIWI like AFLW2000. Its 8 corners are rotated with the head rotation,
moved to the RGB camera with the ``rgb.cal`` extrinsics (``p_rgb = R_cal @
p_depth + T_cal``; checked on the sample frame: this maps the head centre to
(341.7, 274.6) px, inside opal23's published box (270..414, 177..355), the
inverse map does not) and projected with the RGB intrinsics; the box is the
bounding box of the projections. The same corners projected with the depth
intrinsics (depth.cal has R = I, T = 0) give ``depth_bbox``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synth.pose import euler_from_rotation, rotation_from_biwi

from .errors import DatasetError
from .images import read_rgb
from .sample import Sample

#: Head-frame face cuboid (mm): (x_min, x_max), (y_min, y_max), (z_min, z_max); head frame of synth.pose
#: (x toward image right at R = I, y toward the chin, z toward the back of the head; origin = BIWI head centre).
FACE_BOX_MM = ((-75.0, 75.0), (-60.0, 95.0), (-100.0, 0.0))

#: BIWI sequence -> subject id (20 people, 24 sequences; four people recorded twice:
#: 02/21 = F02, 03/15 = F03, 05/18 = F05, 07/22 = M01). Source: the Hugging Face
#: ``datasets`` BIWI loading script (``_sequence_to_subject_map``), not checked on the images here.
BIWI_SUBJECTS: dict[str, str] = {
    "01": "F01", "02": "F02", "03": "F03", "04": "F04", "05": "F05", "06": "F06",
    "07": "M01", "08": "M02", "09": "M03", "10": "M04", "11": "M05", "12": "M06",
    "13": "M07", "14": "M08", "15": "F03", "16": "M09", "17": "M10", "18": "F05",
    "19": "M11", "20": "M12", "21": "F02", "22": "M01", "23": "M13", "24": "M14",
}
BIWI_SEQUENCES: tuple[str, ...] = tuple(f"{i:02d}" for i in range(1, 25))

_FRAME_RE = re.compile(r"frame_(\d+)_rgb\.png$")


@dataclass(frozen=True)
class Calibration:
    """One BIWI ``.cal`` file. K (3, 3) px; dist (4,); R (3, 3), T (3,) mm: p_cam = R @ p_depth + T; size (W, H)."""

    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    T: np.ndarray
    size: tuple[int, int] | None


def _numeric_rows(path: Path) -> list[list[float]]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc}", path) from exc
    rows = []
    for line in text.splitlines():
        if line.strip():
            try:
                rows.append([float(v) for v in line.split()])
            except ValueError as exc:
                raise DatasetError(f"{path}: non-numeric line {line!r}", path) from exc
    return rows


def read_calibration(path: str | Path) -> Calibration:
    """Parse ``rgb.cal`` / ``depth.cal`` (see module doc); DatasetError naming the file if malformed."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"calibration file {path} is missing", path)
    rows = _numeric_rows(path)
    try:
        K = np.array(rows[0:3], dtype=np.float64).reshape(3, 3)
        dist = np.array(rows[3], dtype=np.float64)
        R = np.array(rows[4:7], dtype=np.float64).reshape(3, 3)
        T = np.array(rows[7], dtype=np.float64).reshape(3)
    except (IndexError, ValueError) as exc:
        raise DatasetError(f"{path}: expected K (3 rows), distortion, R (3 rows), T", path) from exc
    size = (int(rows[8][0]), int(rows[8][1])) if len(rows) > 8 and len(rows[8]) == 2 else None
    return Calibration(K=K, dist=dist, R=R, T=T, size=size)


def read_pose(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(R, t)`` from ``frame_XXXXX_pose.txt``: (3, 3) BIWI matrix and (3,) head centre in mm (depth camera)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"pose file {path} is missing", path)
    rows = _numeric_rows(path)
    if len(rows) < 4 or any(len(r) != 3 for r in rows[:4]):
        raise DatasetError(f"{path}: expected 3 rows of R then the head centre, got {len(rows)} rows", path)
    return np.array(rows[:3], dtype=np.float64), np.array(rows[3], dtype=np.float64)


def read_depth(path: str | Path) -> np.ndarray:
    """Decode a compressed ``frame_XXXXX_depth.bin`` to (H, W) uint16 mm (0 = no data).

    Raises DatasetError naming the file when it is missing, truncated or its
    runs overflow the image.
    """
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"depth file {path} is missing or unreadable: {exc}", path) from exc
    if len(buf) < 8:
        raise DatasetError(f"depth file {path} is truncated (no header)", path)
    w, h = (int(v) for v in np.frombuffer(buf, dtype="<i4", count=2))
    if not (0 < w <= 10000 and 0 < h <= 10000):
        raise DatasetError(f"depth file {path}: implausible size {w}x{h}", path)
    n = w * h
    out = np.zeros(n, dtype=np.int16)
    p, off, size = 0, 8, len(buf)
    while p < n:
        if off + 8 > size:
            raise DatasetError(f"depth file {path} is truncated at byte {off} ({p} of {n} pixels decoded)", path)
        n_empty, n_full = np.frombuffer(buf, dtype="<i4", count=2, offset=off)
        off += 8
        p += int(n_empty)
        n_full = int(n_full)
        if n_empty < 0 or n_full < 0 or p + n_full > n:
            raise DatasetError(f"depth file {path} is corrupt: run overflows the {w}x{h} image at pixel {p}", path)
        if off + 2 * n_full > size:
            raise DatasetError(f"depth file {path} is truncated at byte {off} ({p} of {n} pixels decoded)", path)
        out[p:p + n_full] = np.frombuffer(buf, dtype="<i2", count=n_full, offset=off)
        off += 2 * n_full
        p += n_full
    return np.clip(out, 0, None).astype(np.uint16).reshape(h, w)


def encode_depth(depth: np.ndarray) -> bytes:
    """Inverse of :func:`read_depth` (for fixtures): (H, W) depth in mm -> ``.bin`` bytes."""
    d = np.asarray(depth).astype(np.int16)
    h, w = d.shape
    flat = d.reshape(-1)
    parts = [np.array([w, h], dtype="<i4").tobytes()]
    p, n = 0, flat.size
    while p < n:
        q = p
        while q < n and flat[q] == 0:
            q += 1
        r = q
        while r < n and flat[r] != 0:
            r += 1
        parts.append(np.array([q - p, r - q], dtype="<i4").tobytes())
        parts.append(flat[q:r].astype("<i2").tobytes())
        p = r
    return b"".join(parts)


def face_corners(R: np.ndarray, t: np.ndarray, box_mm=FACE_BOX_MM) -> np.ndarray:
    """(8, 3) corners of the head-frame face cuboid in the depth camera frame (mm)."""
    (x0, x1), (y0, y1), (z0, z1) = box_mm
    c = np.array([[x, y, z] for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)])
    return c @ np.asarray(R).T + np.asarray(t)


def project(K: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(N, 2) pixel projections of (N, 3) camera-frame points with intrinsics K."""
    q = pts @ np.asarray(K).T
    return q[:, :2] / q[:, 2:3]


def face_box(R: np.ndarray, t: np.ndarray, cal: Calibration, box_mm=FACE_BOX_MM, extrinsics: bool = True) -> np.ndarray:
    """(4,) face box in the pixels of the camera ``cal`` describes (see module doc)."""
    pts = face_corners(R, t, box_mm)
    if extrinsics:
        pts = pts @ cal.R.T + cal.T
    uv = project(cal.K, pts)
    return np.array([uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()])


class BIWIReader:
    """Indexable reader of BIWI frames.

    root: the ``hpdb`` folder or a folder containing it. sequences: which
    two-digit sequence folders to read (default all present), e.g. a split's
    ``train`` list. load_depth: decode ``depth.bin`` into ``Sample.depth``.
    ``reader[i]`` -> Sample(image (480, 640, 3), rotation (BIWI matrix, same
    axes as ours), euler (Hopenet/FSA-Net values), bbox (projected face box),
    translation (head centre in the RGB camera frame, mm), K (RGB), depth
    (480, 640) uint16 mm in the depth camera frame, depth_bbox, meta with
    sequence, subject, frame, head centre in the depth frame).
    """

    source = "biwi"

    def __init__(self, root: str | Path, sequences: list[str] | None = None, load_depth: bool = True):
        root = Path(root)
        if (root / "hpdb").is_dir():
            root = root / "hpdb"
        if not root.is_dir():
            raise DatasetError(f"BIWI root folder {root} does not exist (expected .../hpdb with folders 01..24)", root)
        present = sorted(p.name for p in root.iterdir() if p.is_dir() and re.fullmatch(r"\d\d", p.name))
        if not present:
            raise DatasetError(f"no BIWI sequence folders (01..24) under {root} (wrong root folder?)", root)
        if sequences is None:
            sequences = present
        missing = [s for s in sequences if s not in present]
        if missing:
            raise DatasetError(f"BIWI sequence folder(s) {missing} missing under {root}", root / missing[0])
        self.root, self.sequences, self.load_depth = root, list(sequences), load_depth
        self._cal: dict[str, tuple[Calibration, Calibration]] = {}
        self.frames: list[tuple[str, str]] = []
        for s in self.sequences:
            for p in sorted((root / s).glob("frame_*_rgb.png")):
                self.frames.append((s, _FRAME_RE.search(p.name).group(1)))
        if not self.frames:
            raise DatasetError(f"no frame_XXXXX_rgb.png files in BIWI sequences {self.sequences} under {root}", root)

    def __len__(self) -> int:
        return len(self.frames)

    def calibration(self, seq: str) -> tuple[Calibration, Calibration]:
        """``(rgb, depth)`` calibrations of sequence ``seq`` (cached)."""
        if seq not in self._cal:
            d = self.root / seq
            self._cal[seq] = (read_calibration(d / "rgb.cal"), read_calibration(d / "depth.cal"))
        return self._cal[seq]

    def frame_path(self, i: int, kind: str) -> Path:
        """Path of item ``i``'s ``rgb.png``, ``pose.txt`` or ``depth.bin`` (kind = "rgb", "pose", "depth")."""
        seq, frame = self.frames[i]
        ext = {"rgb": "png", "pose": "txt", "depth": "bin"}[kind]
        return self.root / seq / f"frame_{frame}_{kind}.{ext}"

    def label(self, i: int) -> dict[str, np.ndarray]:
        """Rotation, Euler angles and head centre of item ``i`` without decoding images."""
        R_b, t = read_pose(self.frame_path(i, "pose"))
        try:
            R = rotation_from_biwi(R_b)
        except ValueError as exc:
            raise DatasetError(f"{self.frame_path(i, 'pose')}: {exc}", self.frame_path(i, "pose")) from exc
        return {"rotation": R, "euler": euler_from_rotation(R), "center_depth": t}

    def __getitem__(self, i: int) -> Sample:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        seq, frame = self.frames[i]
        lab = self.label(i)
        cal_rgb, cal_depth = self.calibration(seq)
        rgb_path = self.frame_path(i, "rgb")
        image = read_rgb(rgb_path)
        R, t = lab["rotation"], lab["center_depth"]
        depth = read_depth(self.frame_path(i, "depth")) if self.load_depth else None
        # Rotation in the RGB camera frame differs from the depth frame's by cal_rgb.R (< 1.1 deg on the
        # sample); the label stays the dataset's (depth-frame) rotation, as every published protocol uses it.
        return Sample(
            image=image, rotation=R, euler=lab["euler"], bbox=face_box(R, t, cal_rgb),
            depth=depth, depth_bbox=face_box(R, t, cal_depth, extrinsics=False),
            translation=cal_rgb.R @ t + cal_rgb.T, K=cal_rgb.K, source=self.source, path=str(rgb_path),
            meta={"sequence": seq, "subject": BIWI_SUBJECTS.get(seq), "frame": int(frame), "center_depth": t},
        )
