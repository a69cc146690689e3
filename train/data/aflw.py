"""300W-LP and AFLW2000-3D readers (``.jpg`` + ``.mat`` pairs from the 3DDFA fitting).

On-disk layout (see ``datasets/README.md``)::

    AFLW2000/imageNNNNN.{jpg,mat}                 2000 pairs, 450x450
    300W_LP/{AFW,HELEN,IBUG,LFPW}[_Flip]/NAME.{jpg,mat}   (the ``landmarks/`` folder is ignored)

``.mat`` keys used: ``Pose_Para`` (1, 7) float32 ``[pitch, yaw, roll, tx, ty,
tz, s]`` with angles in radians; AFLW2000 ``pt3d_68`` (3, 68) image pixels,
300W-LP ``pt2d`` (2, 68) image pixels. (AFLW2000's ``pt2d`` is the 21-point
AFLW markup with -1 for missing points and is not used.) The face box is the
landmarks' bounding box, the box Hopenet and FSA-Net crop around.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from synth.boxes import landmark_box
from synth.pose import euler_from_pose_para, rotation_from_pose_para

from .errors import DatasetError
from .images import read_rgb
from .sample import Sample


def read_pose_mat(path: str | Path) -> dict[str, np.ndarray]:
    """Read a 300W-LP/AFLW2000 ``.mat`` label.

    Returns ``pose_para`` (7,) float64 (radians for the angles), ``euler``
    (3,) float64 degrees ``(pitch, yaw, roll)`` as stored, ``rotation`` (3, 3)
    and ``landmarks`` (68, 2) float64 pixels (from ``pt3d_68`` when present,
    else ``pt2d`` when it has 68 points), ``landmarks_3d`` (68, 3) float64 from
    ``pt3d_68`` in camera axes (x right, y down in pixels, z *away* from the
    camera: the file's z points toward the viewer) or None. Raises DatasetError naming the file
    when it is missing, unreadable or lacks ``Pose_Para``.
    """
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"label file {path} is missing (each image needs its .mat beside it)", path)
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises several types for truncated files
        raise DatasetError(f"cannot read {path}: {exc}", path) from exc
    if "Pose_Para" not in mat:
        raise DatasetError(f"{path} has no Pose_Para (is this a 300W-LP/AFLW2000 .mat?)", path)
    pose = np.asarray(mat["Pose_Para"], dtype=np.float64).reshape(-1)
    if pose.size < 3 or not np.all(np.isfinite(pose[:3])):
        raise DatasetError(f"{path}: Pose_Para must hold finite pitch, yaw, roll", path)
    lm = lm3 = None
    if "pt3d_68" in mat and np.asarray(mat["pt3d_68"]).shape[-1] == 68:
        pts = np.asarray(mat["pt3d_68"], dtype=np.float64)
        lm = pts[:2].T
        if pts.shape[0] == 3:
            lm3 = pts.T * np.array([1.0, 1.0, -1.0])
    elif "pt2d" in mat and np.asarray(mat["pt2d"]).shape == (2, 68):
        lm = np.asarray(mat["pt2d"], dtype=np.float64).T
    return {
        "pose_para": pose,
        "euler": euler_from_pose_para(pose),
        "rotation": rotation_from_pose_para(pose),
        "landmarks": lm,
        "landmarks_3d": lm3,
    }


def aflw_landmark_template(folder: str | Path, limit_deg: float = 99.0) -> tuple[np.ndarray, int]:
    """The mean 3DDFA face of an AFLW2000-3D folder in the canonical head frame.

    Every ``imageNNNNN.mat`` with ``pt3d_68`` and all |angle| <= ``limit_deg``
    has its landmarks taken back to head axes with its own label and normalised
    (:func:`synth.heads.head_frame.head_frame_points`). Returns the (68, 3) mean
    (unit RMS scale) and the number of samples averaged. Raises DatasetError
    when the folder holds no such file.
    """
    from synth.heads.head_frame import head_frame_points

    folder = Path(folder)
    sets = []
    for mat in sorted(folder.glob("image*.mat")):
        lab = read_pose_mat(mat)
        if lab["landmarks_3d"] is not None and np.abs(lab["euler"]).max() <= limit_deg:
            sets.append(head_frame_points(lab["landmarks_3d"], lab["rotation"]))
    if not sets:
        raise DatasetError(f"{folder}: no imageNNNNN.mat with pt3d_68 and |angles| <= {limit_deg}; "
                           "fix: point at an AFLW2000-3D folder", folder)
    return np.mean(sets, axis=0), len(sets)


class MatFaceReader:
    """Indexable reader of ``NAME.jpg`` + ``NAME.mat`` pairs under ``root``.

    ``reader[i]`` -> :class:`Sample` with image (H, W, 3) uint8, canonical
    rotation, Euler angles as stored in ``Pose_Para`` (degrees), landmark box
    and 68 landmarks. ``names`` optionally restricts/ordering to relative paths
    without extension (Hopenet's ``filename_list`` format; a file path to such
    a list is accepted too). Construction checks the folder and that every
    image has its ``.mat`` (DatasetError naming the first missing one).
    """

    source = "mat"

    def __init__(self, root: str | Path, names: list[str] | str | Path | None = None, recursive: bool = True):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"{self.source} root folder {self.root} does not exist or is not a folder", self.root)
        if names is None:
            it = self.root.rglob("*.jpg") if recursive else self.root.glob("*.jpg")
            stems = sorted(str(p.relative_to(self.root).with_suffix("")) for p in it)
        elif isinstance(names, (str, Path)):
            lst = Path(names)
            if not lst.is_file():
                raise DatasetError(f"file list {lst} is missing", lst)
            stems = [s.strip() for s in lst.read_text().splitlines() if s.strip()]
        else:
            stems = list(names)
        if not stems:
            raise DatasetError(f"no .jpg images under {self.root} (wrong root folder?)", self.root)
        for s in stems:
            if not (self.root / (s + ".jpg")).is_file():
                raise DatasetError(f"image {self.root / (s + '.jpg')} is missing", self.root / (s + ".jpg"))
            if not (self.root / (s + ".mat")).is_file():
                raise DatasetError(f"label {self.root / (s + '.mat')} is missing for image {s}.jpg", self.root / (s + ".mat"))
        self.names = stems

    def __len__(self) -> int:
        return len(self.names)

    def label(self, i: int) -> dict[str, np.ndarray]:
        """The ``.mat`` label of item ``i`` without decoding the image (see :func:`read_pose_mat`)."""
        return read_pose_mat(self.root / (self.names[i] + ".mat"))

    def __getitem__(self, i: int) -> Sample:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        name = self.names[i]
        img_path = self.root / (name + ".jpg")
        lab = self.label(i)
        image = read_rgb(img_path)
        lm = lab["landmarks"]
        if lm is None:
            raise DatasetError(f"{img_path.with_suffix('.mat')} has neither pt3d_68 nor a (2, 68) pt2d", img_path.with_suffix(".mat"))
        return Sample(image=image, rotation=lab["rotation"], euler=lab["euler"], bbox=landmark_box(lm),
                      landmarks=lm, source=self.source, path=str(img_path),
                      meta={"pose_para": lab["pose_para"]})


class AFLW2000Reader(MatFaceReader):
    """AFLW2000-3D: ``root/imageNNNNN.{jpg,mat}`` (flat folder), landmarks from ``pt3d_68``."""

    source = "aflw2000"

    def __init__(self, root: str | Path, names: list[str] | str | Path | None = None):
        super().__init__(root, names, recursive=False)


class Pose300WLPReader(MatFaceReader):
    """300W-LP: ``root/<subset>/NAME.{jpg,mat}`` (searched recursively), landmarks from ``pt2d``."""

    source = "300wlp"
