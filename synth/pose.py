"""THE pose-convention module: every rotation <-> angle conversion lives here.

Canonical label
---------------
``R`` (3, 3) takes head coordinates to OpenCV camera coordinates (x right,
y down, z forward) and ``t`` (3,) is the head centre in the camera frame in
mm: ``p_cam = R @ p_head + t``. The head frame is aligned so that ``R = I``
is a frontal, upright face looking into the camera: head x toward image
right (the subject's left), y toward the chin, z from the face toward the
back of the head (see ``synth.scene``).

Euler angles (the benchmark convention)
---------------------------------------
Degrees, ordered ``(pitch, yaw, roll)``, in the 300W-LP / AFLW2000 sense:
+pitch = face looks up, +yaw = face turns toward the image's left, +roll =
face rotates clockwise in the image. With the standard right-handed axis
rotations ``Rx, Ry, Rz`` (counter-clockwise about the axis for a positive
angle)::

    R = Rx(-pitch) @ Ry(yaw) @ Rz(roll)

This is the same matrix the 3DDFA fitting behind 300W-LP/AFLW2000 builds
from ``Pose_Para`` (its model frame is y-up/z-toward-viewer; conjugating by
``diag(1, -1, -1)`` turns it into ours) and the same decomposition the
Hopenet/FSA-Net BIWI conversion performs, so AFLW2000, 300W-LP and BIWI labels
all land on one canonical ``R``. Tests check both against the real files.

The decomposition has two solutions per matrix, ``(p, y, r)`` and
``(p +- 180, 180 - y, r +- 180)``. ``euler_from_rotation`` returns the one with
|yaw| <= 90 unless that solution has both |pitch| > 90 and |roll| > 90; then it
returns the other one, whose |yaw| is in (90, 180]. So a pose sampled with
|yaw| up to 99 (the usual |angle| <= 99 benchmark range) and modest pitch and
roll comes back as sampled instead of flipping to yaw = 180 - yaw with pitch
and roll +-180, and full-range yaw (Panoptic) stays readable.

Dataset converters
------------------
* 300W-LP / AFLW2000 ``Pose_Para`` (1, 7) = [pitch, yaw, roll, tx, ty, tz, s],
  angles in radians, weak perspective: rotation only.
* BIWI ``frame_XXXXX_pose.txt``: R and head centre in the depth camera frame,
  which is OpenCV-like; BIWI's head frame matches ours, so ``R`` and ``t``
  are taken as they are (checked on the sample frame: the centre projects onto
  the face, and its angles equal the published img2pose list).
* CMU Panoptic as annotated by opal23 (``image;x;y;w;h;yaw;pitch;roll``, deg):
  their matrix is ``M = Rz(-roll) @ Ry(-yaw_o) @ Rx(-pitch)`` and its yaw is
  the negative of ours; ``R = H @ M.T @ H`` with ``H = diag(-1, -1, 1)``.
  Their decomposition keeps yaw full-range, pitch and roll within 90 deg.

All functions are pure; angles are degrees unless a name says ``rad``. The
core converters (``rotation_from_euler``, ``euler_from_rotation``,
``geodesic_distance_deg``, ``coarse_category``, ``wrap_degrees``, the bins)
take floats or arrays: (3, 3) matrices and Euler triples, or stacks of them
(..., 3, 3) and (..., 3); ``train.metrics`` scores whole evaluation sets with
them.
"""
from __future__ import annotations

import math

import numpy as np

#: diag(1, -1, -1): flips between a y-up / z-toward-viewer frame and OpenCV's y-down / z-forward.
FLIP_YZ = np.diag([1.0, -1.0, -1.0])
#: diag(-1, -1, 1): relates the opal23 Panoptic matrix frame to ours.
FLIP_XY = np.diag([-1.0, -1.0, 1.0])


def _axis_rotation(axis: int, angle_rad) -> np.ndarray:
    """(..., 3, 3) right-handed rotations about ``axis`` (0 = x, 1 = y, 2 = z) by ``angle_rad`` (radians,
    a float or an array of any shape): counter-clockwise about the axis for a positive angle."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    R = np.zeros(np.shape(c) + (3, 3))
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    R[..., axis, axis] = 1.0
    R[..., i, i] = c
    R[..., j, j] = c
    R[..., i, j] = s if axis == 1 else -s     # Ry has +s above the diagonal, Rx and Rz have -s
    R[..., j, i] = -s if axis == 1 else s
    return R


def rot_x(angle_rad) -> np.ndarray:
    """(..., 3, 3) right-handed rotation(s) about x by ``angle_rad`` radians (float or array)."""
    return _axis_rotation(0, angle_rad)


def rot_y(angle_rad) -> np.ndarray:
    """(..., 3, 3) right-handed rotation(s) about y by ``angle_rad`` radians (float or array)."""
    return _axis_rotation(1, angle_rad)


def rot_z(angle_rad) -> np.ndarray:
    """(..., 3, 3) right-handed rotation(s) about z by ``angle_rad`` radians (float or array)."""
    return _axis_rotation(2, angle_rad)


def wrap_degrees(angle):
    """Wrap degrees into (-180, 180] (float or array, elementwise)."""
    a = np.mod(np.asarray(angle, dtype=np.float64) + 180.0, 360.0) - 180.0
    return np.where(a == -180.0, 180.0, a)


def rotation_from_euler(pitch, yaw, roll) -> np.ndarray:
    """Canonical rotation(s) from benchmark Euler angles in degrees.

    ``R = Rx(-pitch) @ Ry(yaw) @ Rz(roll)``; any finite angles are accepted.
    Floats give one (3, 3) matrix; arrays (broadcast together, e.g. the columns
    of an (N, 3) Euler array) give (..., 3, 3).
    """
    p, y, r = np.deg2rad(pitch), np.deg2rad(yaw), np.deg2rad(roll)
    return rot_x(-p) @ rot_y(y) @ rot_z(r)


def euler_from_rotation(R: np.ndarray) -> np.ndarray:
    """Benchmark Euler angles ``(pitch, yaw, roll)`` in degrees of canonical rotation(s).

    R: (3, 3) or (..., 3, 3) proper rotations. Returns (3,) or (..., 3) float64,
    each angle in (-180, 180]; the solution choice is described in the module
    docstring. At |yaw| = 90 (gimbal lock) roll is set to 0 and the in-plane
    angle goes to pitch.
    """
    R = np.asarray(R, dtype=np.float64)
    if R.shape == (3, 3):
        return _euler_from_one_rotation(R)
    sy = np.clip(R[..., 0, 2], -1.0, 1.0)
    cy = np.hypot(R[..., 0, 0], R[..., 0, 1])
    a = np.arctan2(-R[..., 1, 2], R[..., 2, 2])  # solution with cos(yaw) > 0
    b = np.arctan2(sy, cy)
    c = np.arctan2(-R[..., 0, 1], R[..., 0, 0])
    flip = (np.abs(a) > np.pi / 2) & (np.abs(c) > np.pi / 2)  # the other solution keeps pitch, roll within 90
    a, b, c = (np.where(flip, a - np.pi * np.sign(a), a),
               np.where(flip, np.pi * np.where(b == 0, 1.0, np.sign(b)) - b, b),
               np.where(flip, c - np.pi * np.sign(c), c))
    out = np.stack([wrap_degrees(-np.rad2deg(a)), wrap_degrees(np.rad2deg(b)), wrap_degrees(np.rad2deg(c))], -1)
    lock = cy < 1e-9  # gimbal lock: R = Rx(a) Ry(+-90) Rz(c) only fixes a -+ c
    if np.any(lock):
        in_plane = np.arctan2(R[..., 2, 1], R[..., 1, 1])
        locked = np.stack([np.rad2deg(-in_plane), np.rad2deg(np.pi / 2 * np.sign(sy)), np.zeros_like(sy)], -1)
        out = np.where(lock[..., None], locked, out)
    return out


def _euler_from_one_rotation(R: np.ndarray) -> np.ndarray:
    """``euler_from_rotation`` of one (3, 3) float64 matrix in Python floats, bit for bit the
    array path's result (its arctan2 and hypot stay numpy's: their SIMD kernels round unlike libm's)
    at a tenth of its cost -- the renderer calls it three times per sample."""
    (r00, r01, r02), (_, r11, r12), (_, r21, r22) = R.tolist()
    sy = min(max(r02, -1.0), 1.0)
    cy = float(np.hypot(r00, r01))
    a, b, c = float(np.arctan2(-r12, r22)), float(np.arctan2(sy, cy)), float(np.arctan2(-r01, r00))
    if abs(a) > math.pi / 2 and abs(c) > math.pi / 2:
        a, b, c = (a - math.pi * _sign(a), math.pi * (1.0 if b == 0 else _sign(b)) - b, c - math.pi * _sign(c))
    if cy < 1e-9:
        in_plane = float(np.arctan2(r21, r11))
        return np.array([math.degrees(-in_plane), math.degrees(math.pi / 2 * _sign(sy)), 0.0])
    return np.array([_wrap_degrees_one(-math.degrees(a)), _wrap_degrees_one(math.degrees(b)),
                     _wrap_degrees_one(math.degrees(c))])


def _sign(x: float) -> float:
    """np.sign of a float (0 for 0)."""
    return 0.0 if x == 0 else math.copysign(1.0, x)


def _wrap_degrees_one(angle: float) -> float:
    """``wrap_degrees`` of one float (Python's % is numpy's mod)."""
    a = (angle + 180.0) % 360.0 - 180.0
    return 180.0 if a == -180.0 else a


def is_rotation(R: np.ndarray, atol: float = 1e-5) -> bool:
    """True when R is (3, 3), orthonormal within ``atol`` and has determinant +1."""
    R = np.asarray(R, dtype=np.float64)
    return R.shape == (3, 3) and np.allclose(R @ R.T, np.eye(3), atol=atol) and np.linalg.det(R) > 0


def geodesic_distance_deg(R1: np.ndarray, R2: np.ndarray):
    """Angle in degrees, in [0, 180], of the rotation taking R1 to R2.

    R1, R2: (3, 3) -> float, or (..., 3, 3) -> (...,) array. Computed as
    ``atan2(sin, cos)`` of ``M = R1^T R2`` (sin from M's skew part, cos from
    its trace), which stays accurate for tiny angles where ``arccos`` of the
    trace loses digits (1e-8 deg comes out as 1e-8, not 0 or 1e-6).
    """
    R1, R2 = np.asarray(R1, dtype=np.float64), np.asarray(R2, dtype=np.float64)
    M = np.einsum("...ji,...jk->...ik", R1, R2)   # R1^T R2
    cos = (np.trace(M, axis1=-2, axis2=-1) - 1.0) / 2.0
    skew = np.stack([M[..., 2, 1] - M[..., 1, 2], M[..., 0, 2] - M[..., 2, 0], M[..., 1, 0] - M[..., 0, 1]], -1)
    sin = np.linalg.norm(skew, axis=-1) / 2.0
    angle = np.rad2deg(np.arctan2(sin, cos))
    return float(angle) if angle.ndim == 0 else angle


# --- 300W-LP / AFLW2000-3D -------------------------------------------------------------------

def rotation_from_pose_para(pose_para) -> np.ndarray:
    """Canonical rotation from a 300W-LP/AFLW2000 ``Pose_Para`` (1, 7) or (7,) row (radians)."""
    p = np.asarray(pose_para, dtype=np.float64).reshape(-1)
    if p.size < 3:
        raise ValueError(f"Pose_Para needs at least 3 values (pitch, yaw, roll in radians), got {p.size}")
    return rotation_from_euler(*np.rad2deg(p[:3]))


def euler_from_pose_para(pose_para) -> np.ndarray:
    """Benchmark ``(pitch, yaw, roll)`` in degrees read straight from ``Pose_Para`` (no decomposition)."""
    p = np.asarray(pose_para, dtype=np.float64).reshape(-1)
    return np.rad2deg(p[:3])


def pose_para_from_rotation(R: np.ndarray) -> np.ndarray:
    """(3,) ``[pitch, yaw, roll]`` in radians as 300W-LP stores them."""
    return np.deg2rad(euler_from_rotation(R))


# --- BIWI Kinect Head Pose ------------------------------------------------------------------

def rotation_from_biwi(R_biwi: np.ndarray) -> np.ndarray:
    """Canonical rotation from a BIWI ``pose.txt`` matrix (depth-camera frame, same axes as ours)."""
    R = np.asarray(R_biwi, dtype=np.float64).reshape(3, 3)
    if not is_rotation(R, atol=1e-3):
        raise ValueError("BIWI matrix is not a rotation (rows must be orthonormal with det +1)")
    return R.copy()


def biwi_from_rotation(R: np.ndarray) -> np.ndarray:
    """BIWI ``pose.txt`` matrix of a canonical rotation (the identity map, kept for symmetry)."""
    return np.asarray(R, dtype=np.float64).reshape(3, 3).copy()


def euler_from_biwi(R_biwi: np.ndarray) -> np.ndarray:
    """``(pitch, yaw, roll)`` degrees of a BIWI matrix, equal to the Hopenet/FSA-Net/img2pose labels."""
    return euler_from_rotation(rotation_from_biwi(R_biwi))


# --- CMU Panoptic (opal23 annotation lists) -------------------------------------------------

def _opal_matrix(yaw_o: float, pitch_o: float, roll_o: float) -> np.ndarray:
    y, p, r = np.deg2rad([yaw_o, pitch_o, roll_o])
    return rot_z(-r) @ rot_y(-y) @ rot_x(-p)


def rotation_from_panoptic(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Canonical rotation from a Panoptic annotation ``yaw;pitch;roll`` (degrees, full-range yaw)."""
    return FLIP_XY @ _opal_matrix(yaw, pitch, roll).T @ FLIP_XY


def panoptic_from_rotation(R: np.ndarray) -> np.ndarray:
    """``(yaw, pitch, roll)`` degrees in the Panoptic annotation convention (yaw full-range)."""
    M = (FLIP_XY @ np.asarray(R, dtype=np.float64) @ FLIP_XY).T
    s = float(np.clip(M[2, 0], -1.0, 1.0))
    if abs(s) > 1.0 - 1e-12:
        yaw = np.pi / 2 * np.sign(s)
        return np.rad2deg([yaw, np.arctan2(M[1, 2], M[1, 1]), 0.0])
    yaw = np.arcsin(s)
    pitch = -np.arctan2(M[2, 1], M[2, 2])
    roll = -np.arctan2(M[1, 0], M[0, 0])
    if abs(pitch) > np.pi / 2 and abs(roll) > np.pi / 2:
        yaw = np.pi - yaw
        c = np.cos(yaw)
        pitch = -np.arctan2(M[2, 1] / c, M[2, 2] / c)
        roll = -np.arctan2(M[1, 0] / c, M[0, 0] / c)
    return np.array([wrap_degrees(np.rad2deg(a)) for a in (yaw, pitch, roll)])


# --- bins and coarse categories ------------------------------------------------------------

def angle_bins(angles, n_bins: int = 66, lo: float = -99.0, hi: float = 99.0) -> np.ndarray:
    """Bin index of each angle (degrees) for classification heads.

    Hopenet: 66 bins of 3 deg over [-99, 99); EHPNet: 62 bins over [-93, 93).
    Values outside the range are clipped to the first/last bin.
    """
    width = (hi - lo) / n_bins
    idx = np.floor((np.asarray(angles, dtype=np.float64) - lo) / width).astype(np.int64)
    return np.clip(idx, 0, n_bins - 1)


def bin_centers(n_bins: int = 66, lo: float = -99.0, hi: float = 99.0) -> np.ndarray:
    """(n_bins,) centre of each bin in degrees (the expectation's support)."""
    width = (hi - lo) / n_bins
    return lo + width * (np.arange(n_bins) + 0.5)


#: Coarse-to-fine categories (signs of pitch and yaw; roll ignored), index -> (pitch sign, yaw sign).
COARSE_CATEGORIES = {0: ("+", "+"), 1: ("+", "-"), 2: ("-", "+"), 3: ("-", "-")}


def coarse_category(pitch, yaw):
    """Coarse-to-fine category 0..3 from the signs of pitch and yaw (degrees); 0 counts as positive.

    0: pitch >= 0, yaw >= 0;  1: pitch >= 0, yaw < 0;  2: pitch < 0, yaw >= 0;  3: pitch < 0, yaw < 0.
    Floats give an int; numpy arrays an int64 array and torch tensors an int64 tensor, elementwise
    (the same expression serves the metrics and the coarse-to-fine model's loss).
    """
    return 2 * (pitch < 0) + (yaw < 0)
