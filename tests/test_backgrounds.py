"""Background kinds with the statistics of photos (dead leaves, clutter) and background defocus."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from synth.draw import patterns, shapes
from synth.draw.defocus import defocus
from synth.render.background import make_background
from synth.scene import Background

COLOR = np.array([0.55, 0.4, 0.3])


def bg(kind: str, seed: int, blur: float = 0.0) -> Background:
    return Background(kind, COLOR, seed=seed, blur=blur)


def spectrum_slope(img: np.ndarray) -> float:
    """Slope of log radially averaged amplitude spectrum vs log frequency, 4..N/4 cycles per frame
    (grey, mean removed, Hann window): ~-1 for photographs, steeper for smooth images."""
    g = img.astype(np.float64).mean(2)
    g -= g.mean()
    n = g.shape[0]
    win = np.hanning(n)
    amp = np.abs(np.fft.fftshift(np.fft.fft2(g * win[:, None] * win[None])))
    y, x = np.indices(amp.shape) - n // 2
    r = np.hypot(x, y).astype(int)
    profile = np.bincount(r.ravel(), amp.ravel()) / np.bincount(r.ravel())
    f = np.arange(4, n // 4)
    return float(np.polyfit(np.log(f), np.log(profile[f]), 1)[0])


def gradient_energy(img: np.ndarray) -> float:
    g = img.astype(np.float32).mean(2)
    return float(np.abs(np.diff(g, axis=1)).mean() + np.abs(np.diff(g, axis=0)).mean())


@pytest.mark.parametrize("kind", ["leaves", "clutter"])
@pytest.mark.parametrize("size", [(256, 256), (97, 61), (9, 13), (700, 530)])
def test_new_kinds_are_pure_functions_of_the_seed(kind, size):
    w, h = size
    a = np.asarray(make_background(bg(kind, 5), w, h))
    assert a.shape == (h, w, 3) and a.dtype == np.uint8
    assert np.array_equal(a, make_background(bg(kind, 5), w, h))
    assert not np.array_equal(a, make_background(bg(kind, 6), w, h))
    assert not np.array_equal(a, make_background(Background(kind, 1.0 - COLOR, seed=5), w, h))  # colour matters


def test_leaves_have_photo_statistics():
    """Dead leaves: a roughly 1/f amplitude spectrum and edges everywhere, where the smooth
    noise background falls much faster and has hardly any gradient."""
    leaves = [np.asarray(make_background(bg("leaves", s), 256, 256)) for s in range(16)]
    noise = [np.asarray(make_background(bg("noise", s), 256, 256)) for s in range(16)]
    slope_leaves = np.mean([spectrum_slope(im) for im in leaves])
    slope_noise = np.mean([spectrum_slope(im) for im in noise])
    assert -1.7 < slope_leaves < -0.9, slope_leaves
    assert slope_noise < -1.9 and slope_leaves > slope_noise + 0.6, (slope_noise, slope_leaves)
    energy = np.mean([gradient_energy(im) for im in leaves])
    assert energy > 8.0 * np.mean([gradient_energy(im) for im in noise])
    for im in leaves:  # occluding shapes: many flat regions, many colours, no flat frame
        assert len(np.unique(im.reshape(-1, 3) // 8, axis=0)) > 40


def test_clutter_has_edges_and_straight_lines():
    imgs = [np.asarray(make_background(bg("clutter", s), 256, 256)) for s in range(16)]
    noise = np.mean([gradient_energy(np.asarray(make_background(bg("noise", s), 256, 256))) for s in range(16)])
    assert np.mean([gradient_energy(im) for im in imgs]) > 4.0 * noise
    assert -2.0 < np.mean([spectrum_slope(im) for im in imgs]) < -0.9
    lines = 0
    for im in imgs:  # frames, shelves, poles, planes: long straight edges
        edges = cv2.Canny(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY), 30, 90)
        found = cv2.HoughLinesP(edges, 1, np.pi / 180, 60, minLineLength=60, maxLineGap=3)
        lines += found is not None
    assert lines >= 13


@pytest.mark.parametrize("sigma", [1.0, 3.0, 7.5])
def test_defocus_is_close_to_a_gaussian_blur(sigma):
    img = np.asarray(make_background(bg("leaves", 2), 256, 256))
    ref = cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT).astype(np.float64)
    got = defocus(img, sigma)
    assert got.shape == img.shape and got.dtype == np.uint8
    assert np.abs(got - ref).mean() < 0.6
    assert gradient_energy(got) < 0.8 * gradient_energy(img)


def test_background_blur_defocuses_every_kind_but_solid(tmp_path):
    from PIL import Image

    path = tmp_path / "photo.png"
    Image.fromarray(np.asarray(make_background(bg("clutter", 4), 120, 90))).save(path)
    for kind in ("noise", "leaves", "clutter", "outdoor", "image"):
        sharp = Background(kind, COLOR, seed=3, image_path=str(path))
        blurred = Background(kind, COLOR, seed=3, image_path=str(path), blur=0.02)
        a, b = np.asarray(make_background(sharp, 160, 120)), np.asarray(make_background(blurred, 160, 120))
        if kind != "noise":  # already smooth
            assert gradient_energy(b) < 0.85 * gradient_energy(a), kind
        assert not np.array_equal(a, b) and np.array_equal(b, make_background(blurred, 160, 120))
        exact = defocus(a, 3.2).astype(float)  # blur is a fraction of the width: sigma 0.02 * 160 = 3.2 px
        if kind in ("noise", "image"):
            np.testing.assert_array_equal(b, exact)
        else:  # drawn on a 2x coarser grid, then blurred: the same scene, as sharp as the exact blur
            assert np.abs(b - exact).mean() < 8.0, kind
            assert 0.8 < gradient_energy(b) / gradient_energy(exact) < 1.3, kind
            small = Background(kind, COLOR, seed=3, blur=0.005)  # 0.8 px: drawn sharp, then blurred
            np.testing.assert_array_equal(make_background(small, 160, 120), defocus(a, 0.8))
    solid = np.asarray(make_background(Background("solid", COLOR, blur=0.05), 32, 16))
    assert np.array_equal(solid, make_background(Background("solid", COLOR), 32, 16))


def test_patterns_are_two_tone_windows_of_any_size():
    for i in range(patterns.N_PATTERNS):
        w = patterns.pattern(i, 64, 48, 0.3, 0.7)
        assert w.shape == (48, 64) and set(np.unique(w)) <= {0, patterns.PATTERN_ON}
        field = patterns.pattern(i, patterns.BANK_SIZE, patterns.BANK_SIZE, 0.0, 0.0)
        assert 0.15 < (field > 0).mean() < 0.85, i
    big = patterns.pattern(3, 900, 700, 0.5, 0.5)
    assert big.shape == (700, 900)
    assert not np.array_equal(patterns.pattern(3, 64, 48, 0.0, 0.0), patterns.pattern(3, 64, 48, 0.9, 0.9))


def test_outlines_have_their_extent_and_pixel_convention():
    kinds = [shapes.KINDS.index(k) for k in ("ellipse", "rect", "bar")]
    pts = shapes.outlines(kinds, [0, 0, 0], [20.0, 20.0, 50.0], [30.0, 30.0, 30.0], [10.0, 8.0, 40.0],
                          [5.0, 4.0, 3.0], [0.0, 0.0, 90.0])
    np.testing.assert_allclose(shapes.bounds(pts[0]), [10, 25, 30, 35], atol=1e-9)
    np.testing.assert_allclose(shapes.bounds(pts[1]), [12, 26, 28, 34], atol=1e-9)
    np.testing.assert_allclose(shapes.bounds(pts[2]), [47, -10, 53, 70], atol=0.02)  # turned upright; 32-gon caps
    img = np.zeros((60, 60), np.uint8)
    cv2.fillConvexPoly(img, shapes.to_fixed(pts[1][:4]), 1, cv2.LINE_8, shapes.SHIFT)
    ys, xs = np.nonzero(img)  # pixel (x, y) covers [x, x+1): the rect [12, 28) x [26, 34) is 16 x 8 pixels,
    assert (xs.min(), ys.min()) == (12, 26)  # which OpenCV's inclusive fill may pass by one on the far sides
    assert xs.max() in (27, 28) and ys.max() in (33, 34)
    p = shapes.power_law_sizes(np.random.default_rng(0), 20000, 2.0, 200.0, 2.0)
    assert p.min() >= 2.0 and p.max() <= 200.0
    assert abs(np.mean(p < 4.0) - (1 / 2 - 1 / 4) / (1 / 2 - 1 / 200)) < 0.02  # CDF of the r^-2 law


@pytest.mark.parametrize("kind", ["studio", "outdoor"])
@pytest.mark.parametrize("size", [(256, 256), (97, 61), (9, 13), (700, 530)])
def test_studio_and_outdoor_scenes_are_pure_functions_of_the_seed(kind, size):
    w, h = size
    a = np.asarray(make_background(bg(kind, 5), w, h))
    assert a.shape == (h, w, 3) and a.dtype == np.uint8
    assert np.array_equal(a, make_background(bg(kind, 5), w, h))
    assert not np.array_equal(a, make_background(bg(kind, 6), w, h))


def test_studio_backdrops_are_plain_mostly_neutral_and_span_high_to_low_key():
    """Smooth (far less edge energy than leaves), lit unevenly (not flat), and coloured like
    portrait backdrops: most near-neutral, some high key (near white) and some low key (near black)."""
    from synth.render.background import studio_color

    imgs = [np.asarray(make_background(Background("studio", np.random.default_rng(s).uniform(0.05, 0.95, 3),
                                                  seed=s), 128, 128)) for s in range(60)]
    leaves = [np.asarray(make_background(bg("leaves", s), 128, 128)) for s in range(10)]
    assert np.mean([gradient_energy(i) for i in imgs]) < 0.1 * np.mean([gradient_energy(i) for i in leaves])
    assert np.mean([i.astype(np.float32).mean(2).std() for i in imgs]) > 2.0   # uneven light, not a flat fill
    rng = np.random.default_rng(0)
    hsv = np.array([cv2.cvtColor((studio_color(rng, rng.uniform(0, 1, 3)) * 255).astype(np.uint8).reshape(1, 1, 3),
                                 cv2.COLOR_RGB2HSV)[0, 0] for _ in range(2000)], np.float64) / 255.0
    sat, val = hsv[:, 1], hsv[:, 2]
    assert np.mean(sat < 0.16) > 0.6
    assert 0.2 < np.mean((val > 0.82) & (sat < 0.07)) < 0.4     # high key
    assert 0.1 < np.mean(val < 0.2) < 0.2                        # low key


def test_outdoor_scenes_have_sky_above_and_vegetation_or_ground_below():
    """Over 40 scenes: the top rows are lighter and bluer than the bottom rows (a sky over the
    ground), most bottoms are green-or-earth rather than blue, and the spectrum is far richer than
    the smooth noise kind's (whose slope is below -1.9, see the leaves test)."""
    imgs = [np.asarray(make_background(bg("outdoor", s), 128, 128)).astype(np.float32) for s in range(40)]
    top = np.stack([im[:10].reshape(-1, 3).mean(0) for im in imgs])
    bottom = np.stack([im[-10:].reshape(-1, 3).mean(0) for im in imgs])
    assert np.mean(top.mean(1) > bottom.mean(1)) > 0.8
    assert np.mean(top[:, 2] > top[:, 0]) > 0.8 and np.mean(bottom[:, 1] >= bottom[:, 2]) > 0.7
    slope = np.mean([spectrum_slope(np.asarray(make_background(bg("outdoor", s), 256, 256))) for s in range(8)])
    assert -1.8 < slope < -1.0, slope


def test_studio_backdrops_are_never_defocused():
    """Already smooth: a blur would cost CPU and change nothing visible."""
    assert np.array_equal(np.asarray(make_background(bg("studio", 3, blur=0.02), 64, 64)),
                          np.asarray(make_background(bg("studio", 3), 64, 64)))


@pytest.mark.parametrize("kind", ["solid", "noise", "leaves", "studio"])
def test_a_dimmed_backdrop_has_that_many_stops_less_light(kind):
    """``dim_ev`` darkens any kind by 2**-dim_ev in linear light, after its defocus; 0 and None
    change no byte; the solid fill the rasterizer clears to is make_background's pixel."""
    from dataclasses import replace

    from synth.render.background import solid_fill
    from synth.sensor import _srgb_decode

    base = replace(bg(kind, 5, blur=0.01), color=np.array([0.8, 0.7, 0.6]))
    img = np.asarray(make_background(base, 48, 40))
    for off in (0.0, None):
        assert np.array_equal(np.asarray(make_background(replace(base, dim_ev=off), 48, 40)), img)
    dim = np.asarray(make_background(replace(base, dim_ev=2.0), 48, 40))
    lin = _srgb_decode()
    bright = img >= 64  # where rounding to 8 bits leaves a clear ratio
    np.testing.assert_allclose(lin[dim[bright]] / lin[img[bright]], 0.25, rtol=0.08)
    assert (dim <= img).all()
    if kind == "solid":
        assert np.array_equal(solid_fill(replace(base, dim_ev=2.0)), dim[0, 0])
        assert np.array_equal(solid_fill(base), img[0, 0])


def test_backdrop_dimming_is_drawn_from_its_own_stream_and_recorded():
    """Off (probability 0): None, not recorded, and every other draw as before; on: 0 or a stop
    count in range, and the scene's other numbers unchanged."""
    from dataclasses import replace as dc_replace

    from synth.config import load_config
    from synth.sampling import sample_scene

    off = load_config(overrides=["heads.pool_size=4"])
    on = dc_replace(off, background=dc_replace(off.background, dim_probability=0.5, dim_ev=(1.0, 3.0)))
    dims = []
    for i in range(40):
        a, b = sample_scene(off, 0, i), sample_scene(on, 0, i)
        assert a.background.dim_ev is None and b.background.dim_ev is not None
        assert dc_replace(b.background, dim_ev=None).seed == a.background.seed
        assert np.array_equal(a.head.rotation, b.head.rotation) and a.effects == b.effects
        dims.append(b.background.dim_ev)
    fired = [d for d in dims if d > 0]
    assert 8 <= len(fired) <= 32 and all(1.0 <= d <= 3.0 for d in fired)


def test_the_renderer_draws_every_configured_kind_and_names_them_on_an_unknown_one():
    from synth.config import BACKGROUND_KINDS
    from synth.render.background import KINDS

    assert sorted(KINDS) == sorted(BACKGROUND_KINDS)
    with pytest.raises(ValueError, match="unknown background kind 'lava'.*outdoor"):
        make_background(Background(kind="lava", color=(0.5, 0.5, 0.5), seed=1), 16, 16)


def _shared_config(share: float, kinds=("leaves", "clutter", "studio", "outdoor")):
    from dataclasses import replace as dc_replace

    from synth.config import BACKGROUND_KINDS, load_config

    cfg = load_config(overrides=["heads.pool_size=4"])
    weights = {k: (1.0 if k in kinds else 0.0) for k in BACKGROUND_KINDS}
    return dc_replace(cfg, background=dc_replace(cfg.background, share=share, share_block=100, **weights))


def test_shared_backdrops_draw_about_share_patterns_per_block_and_leave_every_other_draw_alone():
    """share 6: ~100/6 patterns of a 100-sample block (kinds in proportion to their weights), each
    sample its own crop and mirroring, recorded; the next block draws new patterns; share 1 (the
    default) is the config without sharing, and the scene's other numbers are the same either way."""
    from dataclasses import replace as dc_replace

    from synth.sampling import SHARE_CROP, sample_scene

    off, on = _shared_config(1.0), _shared_config(6.0)
    blocks = [set(), set()]
    crops = set()
    for i in range(200):
        a, b = sample_scene(off, 0, i), sample_scene(on, 0, i)
        assert a.background.crop is None and a.background.pattern_size is None
        assert b.background.kind == a.background.kind and b.background.blur == a.background.blur
        assert np.array_equal(a.head.rotation, b.head.rotation) and a.effects == b.effects
        assert b.background.pattern_size == (b.camera.width, b.camera.height)
        x0, y0, side = b.background.crop
        assert SHARE_CROP[0] <= side <= SHARE_CROP[1] and 0 <= x0 <= 1 - side and 0 <= y0 <= 1 - side
        assert dc_replace(b.background, color=a.background.color, seed=a.background.seed, pattern_size=None,
                          crop=None, mirror=False) == a.background
        blocks[i // 100].add((b.background.kind, b.background.seed))
        crops.add(b.background.crop)
    assert all(14 <= len(s) <= 18 for s in blocks), [len(s) for s in blocks]  # 4 kinds x round(25 / 6)
    assert not blocks[0] & blocks[1] and len(crops) == 200


def test_a_shared_backdrop_is_a_crop_of_its_pattern_and_recorded_in_the_params():
    """The frame shows the crop of the pattern drawn at pattern_size, resized to the frame and
    mirrored; samples sharing a pattern show different parts of the same picture."""
    from dataclasses import replace as dc_replace

    from synth.render.background import shared_pattern

    b = Background("leaves", np.array([0.6, 0.4, 0.3]), seed=11, pattern_size=(128, 96), crop=(0.25, 0.5, 0.5))
    pattern = np.asarray(shared_pattern("leaves", 11, b.color, 128, 96))
    want = cv2.resize(pattern[48:96, 32:96], (40, 30), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(np.asarray(make_background(b, 40, 30)), want)
    assert np.array_equal(np.asarray(make_background(dc_replace(b, mirror=True), 40, 30)), want[:, ::-1])
    assert np.array_equal(np.asarray(make_background(dc_replace(b, blur=0.05), 40, 30)), defocus(want, 2.0))
    whole = np.asarray(make_background(dc_replace(b, crop=(0.0, 0.0, 1.0)), 128, 96))
    assert np.array_equal(whole, pattern)
    assert np.array_equal(pattern, np.asarray(make_background(Background("leaves", b.color, seed=11), 128, 96)))


def test_shared_backdrops_are_recorded_with_each_sample():
    """The faces preset shares its scene backdrops; each sample's params record its crop."""
    from pathlib import Path

    from synth.config import load_config
    from synth.runner import resolve_maker

    cfg = load_config(Path(__file__).resolve().parents[1] / "pipeline.yaml", preset="faces", overrides=["heads.pool_size=2", "output.width=64", "output.height=64"])
    maker = resolve_maker("synth.runner:make_sample_maker")(cfg, 0)
    for i in range(6):
        spec = maker.spec(i)
        rec = maker.make(i)["params"]["background"]
        assert spec.background.crop is not None  # every kind of the preset is a shared one
        assert rec["crop"] == list(spec.background.crop) and rec["mirror"] == spec.background.mirror
        assert rec["pattern_size"] == [64, 64] and rec["seed"] == spec.background.seed
