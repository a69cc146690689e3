"""Pose conventions: round trips, sign facts and dataset converters (synthetic inputs)."""
from __future__ import annotations

import numpy as np
import pytest

from synth import pose

RNG = np.random.default_rng(1234)


def random_angles(n, lim_pitch=89.0, lim_yaw=99.0, lim_roll=89.0):
    return np.stack([RNG.uniform(-lim_pitch, lim_pitch, n), RNG.uniform(-lim_yaw, lim_yaw, n),
                     RNG.uniform(-lim_roll, lim_roll, n)], 1)


def nose_direction(R):
    """Image-plane direction of the face's forward vector (head -z) under R."""
    return R @ np.array([0.0, 0.0, -1.0])


def test_rotation_is_proper():
    for p, y, r in random_angles(50):
        R = pose.rotation_from_euler(p, y, r)
        assert pose.is_rotation(R)


@pytest.mark.parametrize("lims", [(89, 89, 89), (89, 99, 89), (60, 75, 50)])
def test_euler_round_trip(lims):
    for angles in random_angles(500, *lims):
        back = pose.euler_from_rotation(pose.rotation_from_euler(*angles))
        np.testing.assert_allclose(back, angles, atol=1e-8)


def test_rotation_round_trip_any_rotation():
    for _ in range(200):
        q = RNG.standard_normal(4)
        q /= np.linalg.norm(q)
        w, x, y, z = q
        R = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                      [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                      [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
        e = pose.euler_from_rotation(R)
        assert not (abs(e[0]) > 90 and abs(e[2]) > 90)
        np.testing.assert_allclose(pose.rotation_from_euler(*e), R, atol=1e-9)


def test_gimbal_lock_round_trip():
    for p, r in [(10.0, 20.0), (-30.0, 5.0)]:
        R = pose.rotation_from_euler(p, 90.0, r)
        np.testing.assert_allclose(pose.rotation_from_euler(*pose.euler_from_rotation(R)), R, atol=1e-9)


def test_one_matrix_path_is_bit_identical_to_the_array_path():
    """A (3, 3) input takes a scalar fast path; a stack of the same matrices takes the array path."""
    angles = np.concatenate([RNG.uniform(-180, 180, (3000, 3)), random_angles(1000),
                             [[p, y, r] for p in (0, 95, -170, 180) for y in (90, -90, 0, 180) for r in (0, -135, 180)]])
    R = pose.rotation_from_euler(angles[:, 0], angles[:, 1], angles[:, 2])
    lock = np.array([[[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]], [[-0.0, 0, -1], [0, -0.0, -1], [1, 0, 0]],
                     np.diag([-1.0, -1, 1]), np.diag([1.0, -1, -1])])
    R = np.concatenate([R, lock])
    one = np.stack([pose.euler_from_rotation(r) for r in R])
    assert one.shape == (len(R), 3) and one.dtype == np.float64
    np.testing.assert_array_equal(one.view(np.uint64), pose.euler_from_rotation(R).view(np.uint64))


def test_sign_facts():
    """+yaw turns the face toward image-left, +pitch looks up, +roll is clockwise in the image."""
    d = nose_direction(pose.rotation_from_euler(0, 30, 0))
    assert d[0] < -0.4  # toward -x = image left
    d = nose_direction(pose.rotation_from_euler(30, 0, 0))
    assert d[1] < -0.4  # toward -y = image up
    top = pose.rotation_from_euler(0, 0, 30) @ np.array([0.0, -1.0, 0.0])  # top of the head
    assert top[0] > 0.4  # top moves right: clockwise as seen in the image (y down)


def test_pose_para_round_trip():
    for angles in random_angles(100):
        para = np.concatenate([np.deg2rad(angles), [10.0, 20.0, 30.0, 0.001]])[None]
        R = pose.rotation_from_pose_para(para)
        np.testing.assert_allclose(pose.euler_from_rotation(R), angles, atol=1e-8)
        np.testing.assert_allclose(np.rad2deg(pose.pose_para_from_rotation(R)), angles, atol=1e-8)
        np.testing.assert_allclose(pose.euler_from_pose_para(para), angles, atol=1e-5)


def test_biwi_matches_hopenet_formula():
    """Our Euler of a BIWI matrix equals the Hopenet/FSA-Net conversion."""
    for angles in random_angles(100, 80, 80, 80):
        R = pose.rotation_from_euler(*angles)
        Rt = R.T
        yaw = -np.arctan2(-Rt[2, 0], np.hypot(Rt[2, 1], Rt[2, 2]))
        pitch = np.arctan2(Rt[2, 1], Rt[2, 2])
        roll = -np.arctan2(Rt[1, 0], Rt[0, 0])
        np.testing.assert_allclose(pose.euler_from_biwi(R), np.rad2deg([pitch, yaw, roll]), atol=1e-8)
    with pytest.raises(ValueError, match="not a rotation"):
        pose.rotation_from_biwi(np.diag([1.0, 1.0, -1.0]))


def test_panoptic_round_trip_full_range():
    for _ in range(300):
        ypr = np.array([RNG.uniform(-179, 179), RNG.uniform(-85, 85), RNG.uniform(-85, 85)])
        R = pose.rotation_from_panoptic(*ypr)
        assert pose.is_rotation(R)
        np.testing.assert_allclose(pose.panoptic_from_rotation(R), ypr, atol=1e-7)


def test_panoptic_yaw_sign_and_order():
    """Small angles: Panoptic (opal23) yaw is our yaw negated; pitch and roll agree."""
    R = pose.rotation_from_panoptic(-12.0, 5.0, 3.0)
    np.testing.assert_allclose(pose.euler_from_rotation(R), [5.0, 12.0, 3.0], atol=1e-8)
    # |yaw| > 90 means the face points away from the camera
    assert nose_direction(pose.rotation_from_panoptic(150.0, 0.0, 0.0))[2] > 0.5


def test_bins():
    assert pose.angle_bins([-99.0, -96.01, 0.0, 98.99, 150.0]).tolist() == [0, 0, 33, 65, 65]
    c = pose.bin_centers()
    assert len(c) == 66 and c[0] == -97.5 and c[-1] == 97.5
    assert len(pose.bin_centers(62, -93, 93)) == 62
    np.testing.assert_array_equal(pose.angle_bins(pose.bin_centers(62, -93, 93), 62, -93, 93), np.arange(62))


def test_coarse_categories_cover_all_sign_combinations():
    got = {(ps, ys): pose.coarse_category(ps * 10.0, ys * 10.0) for ps in (1, -1) for ys in (1, -1)}
    assert sorted(got.values()) == [0, 1, 2, 3]
    for cat, (ps, ys) in pose.COARSE_CATEGORIES.items():
        assert got[(1 if ps == "+" else -1, 1 if ys == "+" else -1)] == cat
    assert pose.coarse_category(0.0, 0.0) == 0


def test_wrap_and_geodesic():
    assert pose.wrap_degrees(190.0) == -170.0 and pose.wrap_degrees(-180.0) == 180.0
    R1, R2 = pose.rotation_from_euler(0, 0, 0), pose.rotation_from_euler(0, 30, 0)
    assert abs(pose.geodesic_distance_deg(R1, R2) - 30.0) < 1e-9


def test_fit_rotation_recovers_a_known_rotation_despite_scale_and_shift():
    from synth.heads.head_frame import fit_rotation, frame_offset_deg

    rng = np.random.default_rng(0)
    pts = rng.normal(size=(68, 3))
    R = pose.rotation_from_euler(12.0, -30.0, 5.0)
    moved = 3.5 * pts @ R.T + np.array([10.0, -4.0, 2.0])
    np.testing.assert_allclose(fit_rotation(pts, moved), R, atol=1e-9)
    np.testing.assert_allclose(frame_offset_deg(pts, moved, np.arange(68)), [12.0, -30.0, 5.0], atol=1e-6)
    # a mirror image is not a rotation: the fit stays proper
    assert np.linalg.det(fit_rotation(pts, pts * np.array([-1.0, 1.0, 1.0]))) > 0
