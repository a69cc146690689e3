"""Post-render effects: each does what it says and nothing when off."""
from __future__ import annotations

import numpy as np
import pytest

from synth import effects
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


@pytest.mark.parametrize("kernel", ["C", "numpy"])
def test_noise_is_the_table_of_the_seeded_indices_added_with_saturation(kernel, monkeypatch):
    """Both paths give saturate(img + rint(sigma * q[idx])) with idx from PCG64(seed): the same bytes, for
    sizes under, at and past the C kernel's 16-value blocks, channel counts 1-4, and sigmas that clip."""
    if kernel == "numpy":  # the fallback when the extension was not built
        monkeypatch.setattr(effects, "_noise_kernel", None)
    assert effects.noise_kernel() == kernel
    rng = np.random.default_rng(3)
    for shape in [(1, 1, 1), (1, 3, 1), (2, 2, 4), (3, 5, 3), (4, 4, 1), (17, 9, 3), (64, 80, 3)]:
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        for sigma in (0.7, 6.0, 90.0):
            seed = int(rng.integers(0, 2**31 - 1))
            table = np.rint(effects._normal_quantiles() * np.float32(sigma)).astype(np.int32)
            want = np.clip(img.astype(np.int32) + table[effects._noise_index(shape, seed)], 0, 255)
            assert np.array_equal(effects.add_gaussian_noise(img, sigma, seed), want), (shape, sigma)
    view = image()[:, ::2]  # not contiguous
    assert np.array_equal(effects.add_gaussian_noise(view, 4.0, 9),
                          effects.add_gaussian_noise(np.ascontiguousarray(view), 4.0, 9))


def test_noise_kernel_is_built_and_checks_its_arguments():
    """setup.sh installs a C compiler, so `pip install -e .` builds synth/_noise.c; a render here must not
    silently fall back to the ~2x slower numpy noise."""
    assert effects.noise_kernel() == "C", "synth/_noise.c was not built; fix: rerun `bash setup.sh` (or " \
        "`pip install -e .` with a C compiler and Python's headers)"
    add = effects._noise_kernel.add
    img = image()
    table = np.zeros(65536, np.int16)
    out = np.empty_like(img)
    assert add(img, out, table, 0, 1, 0, 1) is None and np.array_equal(out, img)  # zero noise: a copy
    for src, dst, tab, msg in [(img, out[:10], table, "same number of bytes"), (img, out, table[:100], "65536"),
                               (img, img, table, "overlap")]:
        with pytest.raises(ValueError, match=msg):
            add(src, dst, tab, 0, 1, 0, 1)


def test_jpeg_changes_pixels_a_little():
    img = image()
    out = apply_effects(img, Effects(jpeg_quality=40))
    assert out.shape == img.shape and 1 < np.abs(out.astype(float) - img).mean() < 60
