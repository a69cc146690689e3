"""Where pitch zero is: the bank's head frame matched to the 300W-LP / AFLW2000 frame.

Euler labels only mean something relative to a head frame. 300W-LP and
AFLW2000-3D take theirs from the 3DDFA fits of the Basel Face Model (BFM); the
MakeHuman bank builds its own from anatomy (``synth.heads.makehuman``: ear
centres, eye axis, and a "Frankfurt-ish" line from the ear centre to the
lower eyelids). The two differ by a pitch tilt: on the AFLW2000 landmarks the
BFM frontal face looks about 10 deg *up* in the Frankfurt frame, so renders
labelled in the Frankfurt frame teach a network a pitch 10 deg above what
AFLW2000/300W-LP call it, and mixing them with 300W-LP trains on contradicting
labels.

The bank therefore tilts its frame by :data:`FRANKFURT_TO_3DDFA_PITCH_DEG`
(a rotation about the ear axis, the head centre stays put) so that ``R = I``
is the 3DDFA frontal face. The constant is measured twice, not guessed.

Landmarks (version 2, 10 deg): the rotation between landmark templates:

1. each AFLW2000 sample's ``pt3d_68`` (image pixels, z toward the viewer) is
   taken to the head frame with its own label, ``X = R.T @ p``, centred and
   scaled to unit RMS, and averaged over the samples (the 3DDFA template);
2. the bank's landmarks (head frame, mm) are normalised and averaged the same way;
3. the rotation taking ours onto theirs on the rigid landmarks
   (:data:`RIGID_LANDMARKS`: nose, eyes, mouth corners) is fitted in the least-
   squares sense (Kabsch) and read as Euler angles.

``bench/head_frame.py`` prints that fit per landmark subset. The subsets spread
about +-4 deg: MakeHuman and BFM faces differ in shape, and the two meshes'
landmark points are defined differently (our nose tip sits ~5 mm lower
relative to the eyes than 3DDFA's), which biases any landmark-based fit.

Appearance (version 3, 15 deg, the one in use): an outside judge that never
sees our landmark table -- MediaPipe FaceMesh, calibrated on the AFLW2000-3D
dev half's own labels -- reads the renders' pose (``bench/pitch_judge.py``).
With the 10 deg tilt it read near-frontal renders 6.4 deg further down than
their labels (2.3 deg at pitch -25..-10, 8.5 at +10..+25), yaw and roll
within 0.6 deg; the tilt is 10 + 5 deg, centred on where photographed faces
are (pitch about -5 deg). What a network learns from renders is their
appearance, so the appearance-based zero is the one that transfers. The
landmark fit of ``tests/test_pose_realdata.py`` now reads the 5 deg difference
between the two definitions.
"""
from __future__ import annotations

import numpy as np

from synth.pose import rotation_from_euler

#: Version of the bank's head-frame definition; run manifests record it and a
#: resumed render refuses to mix versions (1: Frankfurt, 2: 3DDFA-tilted by the
#: landmark fit, 3: tilted by the appearance judge).
HEAD_FRAME_VERSION = 3

#: iBUG-68 indices (0-based) of the landmarks whose position does not depend on
#: the 3DDFA contour rule or on expression: nose bridge and base (27-35), eye
#: corners and lids (36-47), mouth corners (48, 54).
RIGID_LANDMARKS = np.r_[27:48, 48, 54]

#: Pitch (deg, benchmark sign: + = looks up) of the 3DDFA frontal face in the
#: Frankfurt frame: 10.04 by the landmark fit (``bench/head_frame.py`` on
#: AFLW2000-dev, 979 samples, against the default 40-identity bank), +5 from the
#: appearance judge (``bench/pitch_judge.py``; see the module doc).
FRANKFURT_TO_3DDFA_PITCH_DEG = 15.0
#: What the landmark fit reads on the tilted bank: the difference between the two definitions (deg).
LANDMARK_FIT_PITCH_DEG = -5.0


def frankfurt_to_3ddfa() -> np.ndarray:
    """(3, 3) rotation taking Frankfurt head coordinates to 3DDFA-aligned ones (``p_new = Q @ p_old``)."""
    return rotation_from_euler(FRANKFURT_TO_3DDFA_PITCH_DEG, 0.0, 0.0)


def normalise_points(points: np.ndarray) -> np.ndarray:
    """(N, 3) points centred on their mean and scaled to unit RMS distance from it."""
    p = np.asarray(points, dtype=np.float64)
    p = p - p.mean(axis=0)
    return p / np.sqrt((p ** 2).sum(axis=1).mean())


def head_frame_points(points_cam: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Camera-axis points (N, 3) (x right, y down, z away from the camera) of a head
    with canonical rotation ``R`` taken back to head axes, normalised: (N, 3)."""
    return normalise_points(np.asarray(points_cam, dtype=np.float64) @ np.asarray(R, dtype=np.float64))


def fit_rotation(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Proper rotation Q (3, 3) minimising ``sum |Q @ src_i - dst_i|^2`` after both
    (N, 3) point sets are normalised (:func:`normalise_points`); Kabsch's method."""
    a, b = normalise_points(src), normalise_points(dst)
    U, _, Vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(Vt.T @ U.T)) or 1.0
    return Vt.T @ np.diag([1.0, 1.0, d]) @ U.T


def mean_template(point_sets) -> np.ndarray:
    """Mean of the normalised point sets: an iterable of (N, 3) -> (N, 3)."""
    sets = [normalise_points(p) for p in point_sets]
    if not sets:
        raise ValueError("mean_template needs at least one point set")
    return np.mean(sets, axis=0)


def frame_offset_deg(ours: np.ndarray, theirs: np.ndarray, subset=RIGID_LANDMARKS) -> np.ndarray:
    """Benchmark Euler angles (pitch, yaw, roll) in degrees of the rotation taking the
    (68, 3) template ``ours`` onto ``theirs`` on the landmarks ``subset``: the pose
    at which a face frontal in ``theirs``' frame is labelled in ``ours``."""
    from synth.pose import euler_from_rotation

    idx = np.asarray(subset)
    return euler_from_rotation(fit_rotation(ours[idx], theirs[idx]))
