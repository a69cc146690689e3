"""Post-render effects: each does what it says and nothing when off."""
from __future__ import annotations

import numpy as np

from synth.effects import apply_effects, motion_kernel, occluded_fraction
from synth.scene import Effects, Occluder


def image():
    rng = np.random.default_rng(0)
    return (rng.uniform(0, 255, (64, 80, 3))).astype(np.uint8)


def test_off_is_identity():
    img = image()
    assert np.array_equal(apply_effects(img, Effects()), img)


def test_blur_reduces_high_frequencies():
    img = image()
    for e in (Effects(gaussian_sigma=2.0), Effects(motion_length=9, motion_angle=0.0), Effects(downsample=3.0)):
        out = apply_effects(img, e)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert np.abs(np.diff(out.astype(float), axis=1)).mean() < 0.6 * np.abs(np.diff(img.astype(float), axis=1)).mean()


def test_motion_kernel_direction():
    k = motion_kernel(9, 0.0)
    assert k.shape[0] == 1 and k.shape[1] >= 9 and abs(k.sum() - 1) < 1e-6
    k = motion_kernel(9, 90.0)
    assert k.shape[1] == 1 and k.shape[0] >= 9


def test_occluder_and_fraction():
    img = image()
    occ = Occluder(x=10, y=5, width=20, height=30)
    out = apply_effects(img, Effects(occluders=(occ,)))
    assert np.all(out[5:35, 10:30] == 0) and np.array_equal(out[40:], img[40:])
    mask = np.zeros((64, 80), bool)
    mask[5:35, 10:50] = True
    assert abs(occluded_fraction(mask, Effects(occluders=(occ,))) - 0.5) < 1e-9


def test_noise_is_seeded_and_has_the_requested_sigma():
    img = np.full((128, 128, 3), 128, np.uint8)
    a = apply_effects(img, Effects(noise_sigma=6.0, noise_seed=5))
    b = apply_effects(img, Effects(noise_sigma=6.0, noise_seed=5))
    c = apply_effects(img, Effects(noise_sigma=6.0, noise_seed=6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert abs(a.astype(float).std() - 6.0) < 0.3


def test_jpeg_changes_pixels_a_little():
    img = image()
    out = apply_effects(img, Effects(jpeg_quality=40))
    assert out.shape == img.shape and 1 < np.abs(out.astype(float) - img).mean() < 60
