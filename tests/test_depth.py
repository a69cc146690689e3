"""The Kinect-like depth model: z^2 quantisation and noise, holes at grazing angles and edges, determinism."""
from __future__ import annotations

import numpy as np
import pytest

from synth.config import DepthConfig, load_config
from synth.depth import (add_depth_noise, depth_edges, depth_rng, face_crop, kinect_noise, sample_depth_noise,
                         view_cosine)

FX = 575.8


def sphere_depth(z0: float, radius: float = 90.0, size: int = 128, f: float = FX) -> tuple[np.ndarray, np.ndarray]:
    """uint16 depth of a sphere centred on the optical axis at distance z0, and K."""
    K = np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]], np.float64)
    u = (np.arange(size) + 0.5 - size / 2) / f
    x, y = np.meshgrid(u, u)
    # ray (x, y, 1) * t hits |p - c| = r, c = (0, 0, z0)
    a = x * x + y * y + 1
    disc = z0 * z0 - a * (z0 * z0 - radius * radius)
    t = np.where(disc > 0, (z0 - np.sqrt(np.maximum(disc, 0))) / a, 0)
    return np.rint(t).astype(np.uint16), K


def params(**kw):
    p = sample_depth_noise(DepthConfig(), depth_rng(0, 0))
    p.update(kw)
    return p


def test_quantisation_steps_grow_with_z_squared():
    steps = []
    for z in (800.0, 1600.0):
        flat = np.full((64, 64), z, np.uint16)
        K = np.array([[FX, 0, 32], [0, FX, 32], [0, 0, 1]])
        ramp = (flat.astype(float) + np.linspace(-40, 40, 64)[None, :]).astype(np.uint16)
        out = kinect_noise(ramp, K, FX, params(disparity_sigma=0.0, dropout=0.0, edge_dropout=0.0,
                                               grazing_angle_deg=90.0))
        levels = np.unique(out[out > 0])
        steps.append(np.median(np.diff(levels)))
    expected = [z * z * 0.125 / (FX * 75.0) for z in (800.0, 1600.0)]
    assert steps[0] == pytest.approx(expected[0], rel=0.35)
    assert steps[1] / steps[0] == pytest.approx(4.0, rel=0.3)


def test_noise_grows_with_distance():
    sd = []
    for z in (700.0, 1400.0):
        flat = np.full((96, 96), z, np.uint16)
        K = np.array([[FX, 0, 48], [0, FX, 48], [0, 0, 1]])
        out = kinect_noise(flat, K, FX, params(disparity_sigma=0.3, dropout=0.0, edge_dropout=0.0,
                                               grazing_angle_deg=90.0)).astype(float)
        sd.append(out[out > 0].std())
    assert sd[1] > 3.0 * sd[0]


def test_holes_at_grazing_angles_and_edges_not_in_the_middle():
    depth, K = sphere_depth(1000.0)
    cos = view_cosine(depth, K)
    mid = cos[64, 64]
    assert mid > 0.99
    # true |cos| of a sphere: normal (p - c) / r against the ray p / |p|
    u = (np.arange(128) + 0.5 - 64) / FX
    x, y = np.meshgrid(u, u)
    p = np.stack([x * depth, y * depth, depth.astype(float)], -1)
    n = p - np.array([0, 0, 1000.0])
    with np.errstate(invalid="ignore"):
        true_cos = np.abs((n * p).sum(-1)) / (np.linalg.norm(n, axis=-1) * np.linalg.norm(p, axis=-1))
    ok = np.isfinite(cos) & (depth > 0)
    assert np.median(np.abs(cos[ok] - true_cos[ok])) < 0.02
    out = kinect_noise(depth, K, FX, params(disparity_sigma=0.0, dropout=0.0, edge_dropout=1.0,
                                            grazing_angle_deg=75.0))
    valid = depth > 0
    assert out[60:68, 60:68].all()                     # face centre kept
    # grazing holes: a plane tilted 80 degrees vanishes, one tilted 60 degrees stays
    for tilt, kept in ((80.0, False), (60.0, True)):
        u = (np.arange(96) + 0.5 - 48) / FX
        z = 1000.0 / (1 - u * np.tan(np.deg2rad(tilt)))
        plane = np.rint(np.tile(z, (96, 1))).astype(np.uint16)
        Kp = np.array([[FX, 0, 48], [0, FX, 48], [0, 0, 1]])
        got = kinect_noise(plane, Kp, FX, params(disparity_sigma=0.0, dropout=0.0, edge_dropout=0.0,
                                                 grazing_angle_deg=75.0))
        inner = got[10:-10, 10:-10]
        assert (inner > 0).mean() > 0.95 if kept else (inner > 0).mean() < 0.05
    edges = depth_edges(depth, 25.0, 1)
    assert edges.any() and not out[edges].any()        # silhouette dropped
    assert (out[valid] > 0).mean() < 0.97 and (out[~valid] == 0).all()


def test_add_depth_noise_is_deterministic_and_recorded():
    cfg = load_config(None, overrides=["depth.noise=true"])
    depth, K = sphere_depth(1100.0)
    mk = lambda: {"seed": 3, "index": 17, "depth": depth, "K": K.astype(np.float32), "params": {"a": 1}}
    a, b = add_depth_noise(mk(), cfg), add_depth_noise(mk(), cfg)
    assert np.array_equal(a["depth_noisy"], b["depth_noisy"]) and a["params"]["depth"] == b["params"]["depth"]
    c = add_depth_noise(dict(mk(), index=18), cfg)
    assert not np.array_equal(a["depth_noisy"], c["depth_noisy"])
    assert a["params"]["a"] == 1 and a["params"]["depth"]["model"] == "kinect_v1"
    off = add_depth_noise(mk(), load_config(None))
    assert "depth_noisy" not in off


def test_face_crop_normalised():
    depth, K = sphere_depth(1000.0, size=160)
    bbox = [50, 50, 110, 110]
    crop = face_crop(depth, bbox, size=256, margin=0.15, range_mm=300.0)
    assert crop.shape == (256, 256) and crop.dtype == np.float32
    assert crop.max() == pytest.approx(1.0) and crop.min() == 0.0
    assert crop[128, 128] > 0.95                       # nearest point (sphere front) near 1
    with_nan = face_crop(depth, [np.nan] * 4, mask=depth > 0)
    assert with_nan.max() == pytest.approx(1.0)


def test_depth_mm_u16_rounds_half_even_and_saturates():
    from synth.depth import MAX_DEPTH_MM, depth_mm_u16

    z = np.array([[0.0, 0.5, 1.5, 2.4999, 612.5, 613.5], [-3.0, 65534.6, 70000.0, 1e9, 0.49, 999.51]], np.float32)
    np.testing.assert_array_equal(depth_mm_u16(z), np.clip(np.rint(z), 0, MAX_DEPTH_MM).astype(np.uint16))
    assert depth_mm_u16(z).dtype == np.uint16 and depth_mm_u16(z)[0, 4] == 612 and depth_mm_u16(z)[1, 2] == 65535
    z64 = np.array([600.4999999999, 600.5000000001])  # float64 input is rounded at its own precision
    np.testing.assert_array_equal(depth_mm_u16(z64), [600, 601])
