"""Evaluation metrics against hand-computed values, synth.pose, and the JSON round trip."""
from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from synth import pose
from train import metrics as m


def test_wrap_around_at_180_is_a_small_error():
    pred = np.array([[179.0, -179.0, 0.0], [-170.0, 350.0, 720.0]])
    true = np.array([[-179.0, 179.0, 0.0], [170.0, -5.0, 1.0]])
    np.testing.assert_allclose(m.abs_errors(pred, true), [[2.0, 2.0, 0.0], [20.0, 5.0, 1.0]], atol=1e-12)
    np.testing.assert_allclose(m.signed_errors(pred, true), [[-2.0, 2.0, 0.0], [20.0, -5.0, -1.0]], atol=1e-12)
    # exactly opposite: 180, never more
    assert m.abs_errors([[0.0, 0.0, 0.0]], [[180.0, -180.0, 540.0]]).tolist() == [[180.0, 180.0, 180.0]]


def test_mae_me_std_hand_values():
    true = np.zeros((4, 3))
    pred = np.array([[1.0, -2.0, 10.0], [3.0, 2.0, 10.0], [-1.0, -2.0, 10.0], [1.0, 2.0, 10.0]])
    np.testing.assert_allclose(m.mae(pred, true), [1.5, 2.0, 10.0])
    np.testing.assert_allclose(m.mean_error(pred, true), [1.0, 0.0, 10.0])
    # pitch errors 1, 3, -1, 1: mean 1, deviations 0, 2, -2, 0 -> population std sqrt(2)
    np.testing.assert_allclose(m.error_std(pred, true), [math.sqrt(2.0), 2.0, 0.0])
    r = m.evaluate(pred, true)
    assert r.mae.as_tuple() == pytest.approx((1.5, 2.0, 10.0))
    assert r.mae_mean == pytest.approx(13.5 / 3)
    assert r.me.as_tuple() == pytest.approx((1.0, 0.0, 10.0))
    assert r.std.as_tuple() == pytest.approx((math.sqrt(2.0), 2.0, 0.0))
    # key access as used by the engine and the CLI
    assert (r.mae["pitch"], r.mae["yaw"], r.mae["roll"]) == r.mae.as_tuple()
    assert r.mae["mean"] == r.mae_mean
    with pytest.raises(KeyError, match="use one of"):
        r.mae["tilt"]


def test_me_uses_wrapped_signed_error():
    # +179 predicted for -179: the error is -2, not +358
    assert m.mean_error([[0, 179.0, 0]], [[0, -179.0, 0]])[1] == pytest.approx(-2.0)


def test_pure_yaw_error_of_90_gives_geodesic_90():
    assert m.geodesic_errors_from_euler([[0, 90.0, 0]], [[0, 0, 0]])[0] == pytest.approx(90.0, abs=1e-9)
    # also away from identity: the same yaw offset on top of a pitched head
    assert m.geodesic_errors_from_euler([[20.0, 60.0, 0]], [[20.0, -30.0, 0]])[0] == pytest.approx(90.0, abs=1e-9)
    assert m.geodesic_errors_from_euler([[0, 0, 180.0]], [[0, 0, 0]])[0] == pytest.approx(180.0, abs=1e-9)
    assert m.geodesic_errors_from_euler([[10, 20, 30]], [[10, 20, 30]])[0] == pytest.approx(0.0, abs=1e-9)


def test_rotations_and_geodesic_agree_with_synth_pose():
    rng = np.random.default_rng(3)
    a = rng.uniform(-180, 180, (64, 3))
    b = a + rng.normal(0, 20, (64, 3))
    R = m.rotations_from_euler(a)
    for i in range(len(a)):
        np.testing.assert_allclose(R[i], pose.rotation_from_euler(*a[i]), atol=1e-12)
    geo = m.geodesic_errors_from_euler(a, b)
    ref = [pose.geodesic_distance_deg(pose.rotation_from_euler(*a[i]), pose.rotation_from_euler(*b[i]))
           for i in range(len(a))]
    np.testing.assert_allclose(geo, ref, atol=1e-6)
    np.testing.assert_allclose(m.geodesic_errors(R, m.rotations_from_euler(b)), geo, atol=1e-12)


def test_geodesic_rejects_non_rotations():
    R = np.stack([np.eye(3), np.diag([1.0, 1.0, -1.0])])
    with pytest.raises(ValueError, match="not rotations.*rows \\[1\\]"):
        m.geodesic_errors(R, np.stack([np.eye(3)] * 2))


def test_criterion2_curve_and_points():
    true = np.zeros((4, 3))
    # largest error per sample: 3, 7, 12, 40 (the other two angles are smaller)
    pred = np.array([[3.0, 1.0, -2.0], [0.0, -7.0, 1.0], [12.0, 11.0, 0.0], [0.0, 0.0, 40.0]])
    c = m.criterion2(pred, true)
    assert c.thresholds[0] == 0.0 and c.thresholds[-1] == 30.0 and len(c.thresholds) == 61
    assert c.points == {5.0: 0.25, 10.0: 0.5, 15.0: 0.75, 20.0: 0.75, 25.0: 0.75, 30.0: 0.75}
    curve = dict(zip(c.thresholds, c.fractions))
    assert curve[0.0] == 0.0
    assert curve[3.0] == 0.0  # strictly under: an error of exactly 3 does not count at 3
    assert curve[3.5] == 0.25
    assert curve[7.5] == 0.5
    assert all(b >= a for a, b in zip(c.fractions, c.fractions[1:]))


def test_criterion3_ranges_and_shares():
    true = np.array([[10.0, -5.0, 0.0], [-45.0, 70.0, 0.0], [30.0, -100.0, 0.0], [89.0, 179.0, 0.0]])
    pred = true + np.array([[1.0, 2.0, 0.0], [-3.0, 4.0, 0.0], [5.0, -6.0, 0.0], [7.0, 2.0, 0.0]])
    t = m.criterion3(pred, true)
    assert t.ranges == m.DEFAULT_RANGES
    # pitch: |10| -> [0,30); |45| and |30| -> [30,60); |89| -> [60,90)
    assert t.counts[0] == (1, 2, 1, 0)
    assert t.mae[0] == (1.0, 4.0, 7.0, None)
    # yaw: |5| -> [0,30); |70| -> [60,90); |100| and |179| -> [90,180]; 179+2 wraps to -179: error 2
    assert t.counts[1] == (1, 0, 1, 2)
    assert t.mae[1] == (2.0, None, 4.0, 4.0)
    assert t.counts[2] == (4, 0, 0, 0)
    assert t.share(0, 1) == 0.5 and t.share(1, 3) == 0.5 and t.share(2, 0) == 1.0
    # custom ranges; a sample outside every range counts in none
    t2 = m.criterion3(pred, true, ranges=[(0, 20), (20, 50)])
    assert t2.counts[0] == (1, 2)
    with pytest.raises(ValueError, match="overlap"):
        m.criterion3(pred, true, ranges=[(0, 30), (20, 50)])


@pytest.mark.parametrize("pitch,yaw", list(itertools.product([-30.0, -0.5, 0.0, 0.5, 45.0], repeat=2)))
def test_coarse_categories_match_synth_pose(pitch, yaw):
    assert m.coarse_categories([[pitch, yaw, 12.0]])[0] == pose.coarse_category(pitch, yaw)


def test_coarse_accuracy_across_all_sign_combinations():
    signs = list(itertools.product([1.0, -1.0], repeat=2))  # (+,+) (+,-) (-,+) (-,-)
    true = np.array([[20 * sp, 30 * sy, 0.0] for sp, sy in signs])
    assert m.coarse_categories(true).tolist() == [0, 1, 2, 3]
    # the first two right, then category 2 predicted as 3 and 3 as 0
    res = m.evaluate(true, true, pred_coarse=[0, 1, 3, 0])
    assert res.coarse.accuracy == 0.5
    assert res.coarse.confusion == ((1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 0, 1), (1, 0, 0, 0))
    # scores are argmaxed; explicit true categories override the ones from the angles
    scores = np.eye(4)[[0, 1, 2, 3]]
    assert m.evaluate(true, true, pred_coarse=scores, true_coarse=[0, 1, 2, 2]).coarse.accuracy == 0.75
    with pytest.raises(ValueError, match="outside 0..3"):
        m.coarse_accuracy([0, 4], [0, 1])


def test_shape_mismatch_and_nan_messages():
    with pytest.raises(ValueError, match=r"pred_euler has shape \(2, 3\) but true_euler has \(3, 3\)"):
        m.evaluate(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        m.evaluate(np.zeros((2, 2)), np.zeros((2, 2)))
    bad = np.zeros((5, 3))
    bad[1, 1] = np.nan
    bad[4, 0] = np.inf
    bad[4, 2] = np.nan
    expected = r"pred_euler has 3 NaN/inf values in 2 rows: row 1 \(yaw\); row 4 \(pitch, roll\)"
    with pytest.raises(ValueError, match=expected):
        m.evaluate(bad, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="coarse predictions cover 2 samples|2 samples but true_coarse has 3"):
        m.evaluate(np.zeros((3, 3)), np.zeros((3, 3)), pred_coarse=[0, 0])
    with pytest.raises(ValueError, match="JSON"):
        m.evaluate(np.zeros((1, 3)), np.zeros((1, 3)), meta={"x": object()})


def test_json_round_trip():
    rng = np.random.default_rng(0)
    true = rng.uniform(-99, 99, (50, 3))
    pred = true + rng.normal(0, 8, (50, 3))
    r = m.evaluate(pred, true, pred_coarse=m.coarse_categories(pred), runtime_ms=m.RuntimeStats(1.5, 1.75, 8, 10),
                   name="aflw2000", meta={"model": "hopenet_r50", "filter": "|angle|<=99"})
    text = json.dumps(r.to_dict(), allow_nan=False)  # strict JSON, empty ranges stored as null
    back = m.EvalResult.from_dict(json.loads(text))
    assert back == r
    assert back.criterion2.points[15.0] == r.criterion2.points[15.0]
    plain = m.evaluate(pred, true)
    assert m.EvalResult.from_dict(json.loads(json.dumps(plain.to_dict()))) == plain
    assert plain.coarse is None and plain.runtime is None
    with pytest.raises(ValueError, match="missing keys"):
        m.EvalResult.from_dict({"name": "x"})


def test_time_per_image_counts_images_in_the_batch():
    calls = []
    stats = m.time_per_image(lambda batch: calls.append(len(batch)), np.zeros((8, 3, 4, 4)), warmup=2, repeats=5)
    assert calls == [8] * 7
    assert stats.images == 8 and stats.repeats == 5
    assert 0.0 <= stats.median_ms and 0.0 <= stats.mean_ms < 50.0

    import time

    slow = m.time_per_image(lambda batch: time.sleep(0.02), [0, 1, 2, 3], warmup=0, repeats=3)
    assert 4.0 <= slow.median_ms < 15.0  # 20 ms per call over 4 images = 5 ms/image
    with pytest.raises(ValueError, match="repeats >= 1"):
        m.time_per_image(lambda b: None, [0], repeats=0)
