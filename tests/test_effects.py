"""Post-render effects: each does what it says and nothing when off."""
from __future__ import annotations

import dataclasses

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


# --- lens, camera pipeline, colour noise, distractors ---------------------------------------------

from synth import sensor  # noqa: E402
from synth.distractors import box, covered  # noqa: E402
from synth.effects import split_effects  # noqa: E402
from synth.scene import Distractor  # noqa: E402


def linear(img) -> np.ndarray:
    """sRGB codes -> linear light (exact decode), float64."""
    c = np.asarray(img, np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def test_jpeg_is_the_round_trip_of_opencv_with_the_channels_in_encoder_order():
    import cv2

    img = image()
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 55])
    want = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
    assert np.array_equal(apply_effects(img, Effects(jpeg_quality=55)), want)


@pytest.mark.parametrize("temperature,tint", [(0.4, 0.0), (-0.3, 0.08), (0.0, -0.1)])
def test_white_balance_changes_channel_ratios_as_recorded(temperature, tint):
    gains = sensor.white_balance_gains(temperature, tint)
    assert abs(float(sensor.LUMA @ gains) - 1.0) < 1e-12  # luminance-neutral
    assert np.isclose(np.log(gains[0] / gains[2]), temperature) and np.isclose(
        np.log(gains[1]) - np.log(gains[0] * gains[2]) / 2, tint)
    grey = np.full((16, 16, 3), 110, np.uint8)
    out = apply_effects(grey, Effects(wb_temperature=temperature, wb_tint=tint))
    ratio = linear(out[0, 0]) / linear(grey[0, 0])
    np.testing.assert_allclose(ratio, gains, rtol=0.02)


def test_exposure_scales_linear_light_and_clips_highlights():
    img = np.array([[[40, 90, 150], [235, 250, 255]]], np.uint8)
    half_stop = apply_effects(img, Effects(exposure_ev=0.5))
    np.testing.assert_allclose(linear(half_stop[0, 0]) / linear(img[0, 0]), 2 ** 0.5, rtol=0.03)
    assert np.all(half_stop[0, 1] == 255)  # burnt out
    darker = apply_effects(img, Effects(exposure_ev=-1.0))
    np.testing.assert_allclose(linear(darker[0, 1]) / linear(img[0, 1]), 0.5, rtol=0.03)
    gamma = apply_effects(img, Effects(tone_gamma=1.25))
    np.testing.assert_allclose(gamma[0].astype(float), np.rint(255 * (img[0] / 255.0) ** 1.25), atol=0)


def test_metered_exposure_brings_the_face_to_the_target():
    """A face of the reference skin comes out at the target luma; a darker skin keeps half of its
    difference in stops; the metered stops add to the exposure error; too small a face: no metering."""
    img = np.full((40, 40, 3), (90, 60, 50), np.uint8)
    img[:10] = 200   # bright background: not metered
    face = np.zeros((40, 40), bool)
    face[15:35, 10:30] = True
    for target in (120.0, 180.0):
        ev = sensor.metered_ev(img, face, target)
        out = apply_effects(img, Effects(meter_ev=ev))
        assert abs(float(np.median(out[face].astype(np.float64) @ sensor.LUMA_601)) - target) <= 2.0
        assert np.array_equal(out, apply_effects(img, Effects(exposure_ev=ev)))
        both = apply_effects(img, Effects(meter_ev=ev, exposure_ev=-0.5))
        assert np.array_equal(both, apply_effects(img, Effects(exposure_ev=ev - 0.5)))
    dark = sensor.metered_ev(img, face, 150.0, skin_albedo=sensor.METER_REF_ALBEDO / 4)
    assert dark == pytest.approx(sensor.metered_ev(img, face, 150.0) - 2.0 * sensor.METER_SKIN_KEEP, abs=1e-3)
    assert sensor.metered_ev(img, face, 0.0) == 0.0
    tiny = np.zeros_like(face)
    tiny[20, 20:20 + sensor.METER_MIN_PIXELS - 1] = True
    assert sensor.metered_ev(img, tiny, 150.0) == 0.0
    black = np.zeros_like(img)
    assert sensor.metered_ev(black, face, 250.0) == sensor.METER_MAX_EV   # clipped


def test_vignetting_darkens_by_the_recorded_amount_at_the_recorded_radius():
    img = np.full((120, 160, 3), 200, np.uint8)
    center, radius, strength = (30.5, 40.5), 100.0, 0.4
    out = apply_effects(img, Effects(vignetting=strength, vignetting_center=center, vignetting_radius=radius))
    assert np.all(np.abs(out[40, 30].astype(int) - 200) <= 1)  # the centre keeps its light
    x, y = 130, 40  # 100 px right of the centre
    np.testing.assert_allclose(linear(out[y, x]) / linear(img[y, x]), 1.0 - strength, rtol=0.03)
    r = np.hypot(np.arange(160) + 0.5 - center[0], 40.5 - center[1])
    row = linear(out[40, :, 1]) / linear(200)
    assert np.all(np.diff(row[r.argsort()]) <= 0.011)  # falls off with the distance (up to rounding)
    np.testing.assert_allclose(row, sensor.vignetting_gain(strength, r, radius), atol=0.01)  # to the border


def test_chroma_noise_decorrelates_channels_without_touching_luminance():
    img = np.full((128, 128, 3), 128, np.uint8)
    a = apply_effects(img, Effects(chroma_sigma=5.0, chroma_scale=1.0, chroma_seed=3)).astype(np.float64) - 128
    assert np.array_equal(a, apply_effects(img, Effects(chroma_sigma=5.0, chroma_scale=1.0, chroma_seed=3)) - 128.0)
    assert not np.array_equal(a + 128, apply_effects(img, Effects(chroma_sigma=5.0, chroma_seed=4)))
    per_channel = a.reshape(-1, 3).std(0)
    assert abs(np.sqrt(np.mean(per_channel ** 2)) - 5.0) < 0.4  # RMS over channels as asked
    luma = a.reshape(-1, 3) @ sensor.LUMA
    assert luma.std() < 0.5  # rounding only
    corr = np.corrcoef(a.reshape(-1, 3).T)
    assert corr[0, 1] < -0.8 and corr[1, 2] < -0.3  # green against red and blue: colour, not grey
    grey = apply_effects(img, Effects(noise_sigma=5.0, noise_seed=3)).astype(np.float64) - 128
    assert (grey.reshape(-1, 3) @ sensor.LUMA).std() > 5 * luma.std()  # the grey noise does change luminance
    blotchy = apply_effects(img, Effects(chroma_sigma=5.0, chroma_scale=4.0, chroma_seed=3)).astype(np.float64)
    neighbours = np.corrcoef(blotchy[:, :-1, 0].ravel(), blotchy[:, 1:, 0].ravel())[0, 1]
    fine = np.corrcoef(a[:, :-1, 0].ravel(), a[:, 1:, 0].ravel())[0, 1]
    assert neighbours > 0.8 and abs(fine) < 0.1
    assert abs(np.sqrt(np.mean((blotchy - 128).reshape(-1, 3).std(0) ** 2)) - 5.0) < 0.6


@pytest.mark.parametrize("shape", ["bar", "hand", "ellipse", "rect", "polygon", "blob"])
def test_distractor_pixels_appear_where_recorded(shape):
    img = np.full((96, 128, 3), 90, np.uint8)
    d = Distractor(shape, 60.0, 50.0, 70.0, 30.0, 25.0, color=(0.9, 0.1, 0.1), color2=(0.1, 0.1, 0.9),
                   texture="stripes" if shape == "rect" else "flat", shading=0.3, seed=7)
    out = apply_effects(img, Effects(distractors=(d,)))
    cover = covered((d,), 96, 128)
    assert 0.01 < cover.mean() < 0.5
    changed = np.any(out != 90, axis=2)
    assert np.all(changed[cover])  # every covered pixel took the object's colour
    x0, y0, x1, y1 = box(d)
    ys, xs = np.nonzero(changed)
    assert xs.min() >= np.floor(x0) - 1 and xs.max() <= np.ceil(x1) and ys.min() >= np.floor(y0) - 1 \
        and ys.max() <= np.ceil(y1)  # and nothing outside its box
    assert np.array_equal(out, apply_effects(img, Effects(distractors=(d,))))
    red = out[cover].astype(int)
    if shape != "rect":
        assert np.all(red[:, 0] > red[:, 2])
    else:  # two-tone: both colours show
        assert np.any(red[:, 0] > red[:, 2] + 50) and np.any(red[:, 2] > red[:, 0] + 50)


def test_soft_distractor_edges_blend_and_the_seed_moves_its_outline():
    img = np.full((96, 128, 3), 90, np.uint8)
    hard = Distractor("blob", 64.0, 48.0, 60.0, 40.0, color=(0.9, 0.9, 0.9), seed=1)
    soft = Distractor("blob", 64.0, 48.0, 60.0, 40.0, color=(0.9, 0.9, 0.9), softness=3.0, seed=1)
    a = apply_effects(img, Effects(distractors=(hard,)))[..., 0].astype(int)
    b = apply_effects(img, Effects(distractors=(soft,)))[..., 0].astype(int)
    between = lambda x: ((x > 100) & (x < 220)).sum()  # noqa: E731
    assert between(b) > 3 * between(a)  # a wide blend band, where the hard edge is ~1 px of anti-aliasing
    other = Distractor("blob", 64.0, 48.0, 60.0, 40.0, color=(0.9, 0.9, 0.9), seed=2)
    assert not np.array_equal(covered((hard,), 96, 128), covered((other,), 96, 128))


def test_split_effects_composes_to_the_whole_chain():
    img = image()
    every = Effects(downsample=1.5, gaussian_sigma=1.0, motion_length=3.0, motion_angle=20.0,
                    occluders=(Occluder(x=5, y=5, width=10, height=12),), noise_sigma=3.0, noise_seed=2,
                    jpeg_quality=70, distractors=(Distractor("bar", 40.0, 30.0, 60.0, 8.0, 30.0, seed=3),),
                    vignetting=0.3, vignetting_center=(10.0, 20.0), vignetting_radius=90.0, exposure_ev=0.3,
                    wb_temperature=0.2, wb_tint=-0.05, tone_gamma=1.1, chroma_sigma=2.0, chroma_scale=2.0,
                    chroma_seed=4, meter_luma=150.0, meter_ev=0.4, sharpen_amount=0.8, sharpen_sigma=1.0)
    # every field is set (a new effect must be added here to be covered) and says which half it is in
    fields = dataclasses.fields(Effects)
    assert [f.name for f in fields if getattr(every, f.name) == getattr(Effects(), f.name)] == []
    assert {f.metadata.get("stage") for f in fields} == {"scene", "sensor"}
    first, second = split_effects(every)
    assert second.distractors == () and second.occluders == () and first.jpeg_quality == 0
    for f in fields:   # each field is in exactly one half
        kept = [getattr(half, f.name) == getattr(every, f.name) for half in (first, second)]
        assert kept == ([True, False] if f.metadata["stage"] == "scene" else [False, True]), f.name
    assert np.array_equal(apply_effects(apply_effects(img, first), second), apply_effects(img, every))


def test_sharpening_steepens_edges_and_leaves_flat_areas_alone():
    img = np.full((40, 60, 3), 80, np.uint8)
    img[:, 30:] = 160   # a vertical step edge between two flat halves
    out = effects.sharpen(img, 1.0, 1.0)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.array_equal(out[:, :25], img[:, :25]) and np.array_equal(out[:, 35:], img[:, 35:])
    row = out[20, :, 0].astype(int)
    assert row[29] < 80 and row[30] > 160   # the unsharp mask's overshoot on both sides of the step
    assert abs(row[28:32].sum() - img[20, 28:32, 0].astype(int).sum()) <= 4   # the edge's mean is kept
    noisy = image()

    def lap(x):   # mean second difference along rows: fine detail
        return np.abs(np.diff(x.astype(float), 2, axis=1)).mean()

    assert lap(effects.sharpen(noisy, 0.5, 1.0)) > 1.2 * lap(noisy)
    assert lap(effects.sharpen(noisy, 1.0, 1.0)) > lap(effects.sharpen(noisy, 0.5, 1.0))


def test_sharpening_runs_after_the_tone_curve_and_before_the_noise():
    img = image()
    e = Effects(exposure_ev=0.5, sharpen_amount=0.7, sharpen_sigma=0.8, noise_sigma=3.0, noise_seed=1)
    toned = apply_effects(img, Effects(exposure_ev=0.5))
    expected = apply_effects(effects.sharpen(toned, 0.7, 0.8), Effects(noise_sigma=3.0, noise_seed=1))
    assert np.array_equal(apply_effects(img, e), expected)
    assert np.array_equal(apply_effects(img, Effects(sharpen_sigma=1.0)), img)   # amount 0: off
