"""Scene sampling: purity, determinism across processes, ranges and modes."""
from __future__ import annotations

import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from synth.config import load_config
from synth.pose import euler_from_rotation
from synth.sampling import sample_scene

REPO = Path(__file__).resolve().parents[1]
PIPELINE = REPO / "pipeline.yaml"


def specs_equal(a, b) -> bool:
    return pickle.dumps(a) == pickle.dumps(b)


def test_same_seed_and_index_same_spec_any_order():
    cfg = load_config(PIPELINE)
    forward = [sample_scene(cfg, 7, i) for i in range(20)]
    backward = [sample_scene(cfg, 7, i) for i in reversed(range(20))][::-1]
    assert all(specs_equal(a, b) for a, b in zip(forward, backward))
    assert not specs_equal(sample_scene(cfg, 7, 0), sample_scene(cfg, 8, 0))
    assert not specs_equal(sample_scene(cfg, 7, 0), sample_scene(cfg, 7, 1))


def test_same_spec_in_a_separate_process():
    code = ("import pickle,sys; from synth.config import load_config; from synth.sampling import sample_scene;"
            f"cfg=load_config({str(PIPELINE)!r}); sys.stdout.buffer.write(pickle.dumps([sample_scene(cfg,3,i) for i in (0,5,99)]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, cwd=REPO).stdout
    cfg = load_config(PIPELINE)
    assert out == pickle.dumps([sample_scene(cfg, 3, i) for i in (0, 5, 99)])


@pytest.mark.parametrize("preset,limits", [("paper", (60, 75, 50)), ("faces", (45, 90, 40))])
def test_ranges_are_respected(preset, limits):
    cfg = load_config(PIPELINE, overrides=["heads.pool_size=10", f"pose.preset={preset}"])
    eulers, dists, intens = [], [], []
    for i in range(400):
        s = sample_scene(cfg, 0, i)
        eulers.append(euler_from_rotation(s.head.rotation))
        dists.append(s.head.translation[2])
        intens.append(s.light.intensity)
        assert 0 <= s.head.identity < 10
        assert abs(np.linalg.norm(s.light.direction) - 1) < 1e-9
    e = np.array(eulers)
    assert np.all(np.abs(e) <= np.array(limits) + 1e-6)
    assert np.all(e.min(0) < -0.8 * np.array(limits)) and np.all(e.max(0) > 0.8 * np.array(limits))  # covered
    assert 800 <= min(dists) and max(dists) <= 1300
    assert 0.3 <= min(intens) and max(intens) <= 1.2


def test_light_colours_and_effect_rates():
    cfg = load_config(PIPELINE)
    specs = [sample_scene(cfg, 1, i) for i in range(1000)]
    names = {s.light.color_name for s in specs}
    assert len(names) == 11 and "natural" in names
    white = np.mean([s.light.color_name == "natural" for s in specs])
    assert 0.43 < white < 0.57
    occluded = np.mean([len(s.effects.occluders) > 0 for s in specs])
    assert 0.06 < occluded < 0.14
    # occluders are the paper's 60x60 / 60x120 boxes at 640x480, scaled to the output
    for s in specs:
        for o in s.effects.occluders:
            assert abs(o.height / o.width - 1.0) < 1e-6 or abs(o.height / o.width - 2.0) < 1e-6


def test_crop_framing_puts_the_head_in_the_frame():
    cfg = load_config(PIPELINE)
    for i in range(200):
        s = sample_scene(cfg, 0, i)
        u, v = s.camera.project(s.head.translation[None])[0]
        assert 0.25 * s.camera.width < u < 0.75 * s.camera.width
        assert 0.25 * s.camera.height < v < 0.75 * s.camera.height
        assert 0.1 <= s.render_scale <= 1.0


def test_full_frame_mode_uses_the_sensor():
    cfg = load_config(PIPELINE, overrides=["output.mode=full", "output.width=128", "output.height=96"])
    s = sample_scene(cfg, 0, 0)
    assert (s.camera.width, s.camera.height) == (128, 96)
    np.testing.assert_allclose(s.camera.fx, 575.8 * 128 / 640)


def test_uniform_so3_and_histogram_modes(tmp_path):
    cfg = load_config(PIPELINE, overrides=["pose.mode=uniform_so3", "pose.max_angle=60"])
    e = np.array([euler_from_rotation(sample_scene(cfg, 0, i).head.rotation) for i in range(200)])
    assert np.abs(e).max() <= 60 + 1e-6

    target = np.concatenate([np.random.default_rng(0).normal([0, 40, 0], 4, size=(500, 3))])
    np.save(tmp_path / "target.npy", target)
    cfg = load_config(PIPELINE, overrides=["pose.mode=histogram", f"pose.histogram_file={tmp_path / 'target.npy'}"])
    e = np.array([euler_from_rotation(sample_scene(cfg, 0, i).head.rotation) for i in range(300)])
    assert abs(e[:, 1].mean() - 40) < 3 and e[:, 1].min() > 20


@pytest.mark.parametrize("weights", [(0.3, 0.7, 0.0), (1.0, 0.0, 0.0), (0.2, 0.5, 0.3), (0.0, 0.0, 2.0), (1.0, 2.0, 3.0)])
def test_background_kind_is_the_draw_of_generator_choice(weights, tmp_path):
    """sample_background picks the kind as ``rng.choice(3, p=weights / sum)`` would: the same kind
    from the same single draw, so every later draw of the sample is unchanged."""
    from PIL import Image

    from synth.sampling import BACKGROUND_KINDS, sample_background

    for name in ("a.png", "b.png", "c.jpg"):
        Image.new("RGB", (4, 4)).save(tmp_path / name)
    files = sorted(str(p) for p in tmp_path.iterdir())
    cfg = load_config(PIPELINE)
    cfg = replace(cfg, background=replace(cfg.background, solid=weights[0], noise=weights[1], image=weights[2],
                                          image_folder=str(tmp_path)))
    p = np.array(weights) / sum(weights)
    for seed in range(300):
        ours, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
        bg = sample_background(cfg, ours)
        assert bg.kind == BACKGROUND_KINDS[int(theirs.choice(3, p=p))]
        np.testing.assert_array_equal(bg.color, theirs.uniform(0.05, 0.95, size=3))
        assert bg.seed == int(theirs.integers(0, 2**31 - 1))
        assert bg.image_path == (files[int(theirs.integers(len(files)))] if bg.kind == "image" else None)


def test_shipped_pose_target_is_what_the_module_computes_and_is_sampled_by_name():
    from synth.pose_target import shipped_path, target_histogram

    with np.load(shipped_path("faces")) as z:
        edges, probs = target_histogram("faces")
        np.testing.assert_allclose(z["edges"], edges, atol=1e-6)
        np.testing.assert_allclose(z["probs"], probs, atol=1e-7)
    cfg = load_config(PIPELINE, overrides=["heads.pool_size=10", "pose.mode=histogram", "pose.histogram_file=faces"])
    e = np.array([euler_from_rotation(sample_scene(cfg, 0, i).head.rotation) for i in range(2000)])
    assert -7.0 < e[:, 0].mean() < -1.5                      # faces look slightly down (target mean -4.2)
    assert 0.30 < np.mean(np.abs(e[:, 1]) < 15) < 0.45        # most faces near frontal ...
    assert np.mean(np.abs(e[:, 1]) > 60) > 0.06               # ... profiles still covered
    assert np.all(np.abs(e) <= 90.0 + 1e-6)


def test_photo_camera_puts_the_face_box_where_the_config_says():
    from synth.heads.template import FACE_TEMPLATE_MM
    from synth.render.geometry import project_points

    cfg = load_config(PIPELINE, preset="faces", overrides=["heads.pool_size=10"])
    c = cfg.camera
    boxes = []
    for i in range(300):
        s = sample_scene(cfg, 0, i)
        assert c.photo_render_scale[0] <= s.render_scale <= c.photo_render_scale[1] and s.camera.fx == s.camera.fy
        assert c.distance_mm[0] <= s.head.translation[2] <= c.distance_mm[1]
        uv, _ = project_points(s.camera, s.head.rotation, s.head.translation, FACE_TEMPLATE_MM)
        pitch, yaw, roll = euler_from_rotation(s.head.rotation)
        cx = (uv[:, 0].min() + uv[:, 0].max()) / 2 / s.camera.width - c.face_shift_yaw * np.sin(np.deg2rad(yaw)) - 0.5
        cy = (uv[:, 1].min() + uv[:, 1].max()) / 2 / s.camera.height
        boxes.append((cx, cy, (uv[:, 1].max() - uv[:, 1].min()) / s.camera.height, max(abs(pitch), abs(yaw), abs(roll))))
    b = np.array(boxes)
    assert np.all((b[:, 0] >= c.face_center_x[0] - 1e-6) & (b[:, 0] <= c.face_center_x[1] + 1e-6))
    assert np.all((b[:, 1] >= c.face_center_y[0] - 1e-6) & (b[:, 1] <= c.face_center_y[1] + 1e-6))
    frontal = b[b[:, 3] < 8, 2]
    assert len(frontal) > 5 and c.face_height[0] - 0.03 < frontal.min() and frontal.max() < c.face_height[1] + 0.03


PHOTO = ["background.leaves=0.4", "background.clutter=0.3", "background.blur_probability=0.5",
         "effects.distractors.probability=0.6", "effects.distractors.max_count=3",
         "effects.white_balance.probability=0.7", "effects.exposure.probability=0.7",
         "effects.vignetting.probability=0.5", "effects.noise.chroma_probability=0.4"]
#: the scene's fields before the photo backgrounds and effects
OLD_EFFECTS = ("downsample", "gaussian_sigma", "motion_length", "motion_angle", "occluders", "noise_sigma",
               "noise_seed", "jpeg_quality")


def test_photo_draws_are_deterministic_and_come_after_the_old_ones():
    """The new draws are pure functions of (seed, index) and come after every older draw: with
    them on, everything drawn before is what a config without them draws (so such configs keep
    their bytes), and they are drawn whether or not they fire."""
    cfg = load_config(PIPELINE, overrides=PHOTO)
    off = load_config(PIPELINE)
    specs = [sample_scene(cfg, 4, i) for i in range(300)]
    assert all(specs_equal(a, sample_scene(cfg, 4, i)) for i, a in enumerate(specs[:20]))
    assert not specs_equal(specs[0].effects, specs[1].effects)
    for i, s in enumerate(specs[:100]):
        o = sample_scene(off, 4, i)
        assert specs_equal((s.head, s.light, s.camera), (o.head, o.light, o.camera))
        assert s.background.seed == o.background.seed and np.array_equal(s.background.color, o.background.color)
        assert all(specs_equal(getattr(s.effects, k), getattr(o.effects, k)) for k in OLD_EFFECTS)
        assert o.background.blur == 0.0 and o.effects.distractors == () and o.effects.vignetting == 0.0
    kinds = [s.background.kind for s in specs]
    assert 0.17 < kinds.count("leaves") / 300 < 0.3 and 0.12 < kinds.count("clutter") / 300 < 0.24  # 0.4, 0.3 of 1.7
    assert 0.35 < np.mean([s.background.blur > 0 for s in specs]) < 0.65
    assert 0.5 < np.mean([bool(s.effects.distractors) for s in specs]) < 0.7
    assert 0.6 < np.mean([s.effects.wb_temperature != 0 for s in specs]) < 0.8
    assert 0.4 < np.mean([s.effects.vignetting > 0 for s in specs]) < 0.6
    assert 0.3 < np.mean([s.effects.chroma_sigma > 0 for s in specs]) < 0.5


def test_switching_one_photo_effect_off_keeps_the_others():
    cfg = load_config(PIPELINE, overrides=PHOTO)
    fewer = load_config(PIPELINE, overrides=PHOTO + ["effects.white_balance.probability=0",
                                                     "effects.vignetting.probability=0"])
    for i in range(60):
        a, b = sample_scene(cfg, 2, i), sample_scene(fewer, 2, i)
        assert b.effects.wb_temperature == 0.0 and b.effects.vignetting == 0.0
        assert specs_equal(a.effects.distractors, b.effects.distractors)
        assert (a.effects.exposure_ev, a.effects.chroma_seed, a.background.blur) == \
            (b.effects.exposure_ev, b.effects.chroma_seed, b.background.blur)


def test_distractors_cover_the_face_and_vignetting_sits_on_the_optical_axis():
    from synth.sampling import NOMINAL_FACE_HEIGHT_MM

    cfg = load_config(PIPELINE, overrides=PHOTO + ["effects.distractors.probability=1",
                                                   "effects.vignetting.probability=1"])
    shapes = set()
    for i in range(200):
        s = sample_scene(cfg, 0, i)
        cam = s.camera
        center = cam.project(s.head.translation[None])[0]
        face_px = cam.fy * NOMINAL_FACE_HEIGHT_MM / s.head.translation[2]
        assert 1 <= len(s.effects.distractors) <= 3
        for d in s.effects.distractors:
            shapes.add(d.shape)
            assert np.all(np.abs(np.array([d.x, d.y]) - center) <= 0.6 * face_px + 1e-6)
            assert 0 < d.height <= d.width
        assert s.effects.vignetting_center == (cam.cx, cam.cy)
        px_scale = cam.fx / cfg.sensor.fx
        assert abs(s.effects.vignetting_radius - 400.0 * px_scale) < 1e-6  # half the 640x480 diagonal
    assert shapes == {"bar", "hand", "ellipse", "rect", "polygon", "blob"}


def test_sharpening_is_drawn_last_and_moves_no_other_draw():
    """The sharpening's numbers come last in the people stream: with it on, every other field of a
    scene is what a config without it draws; its share and ranges are the config's."""
    on = load_config(PIPELINE, overrides=PHOTO + ["effects.sharpen.probability=0.6", "effects.sharpen.amount=[0.4, 0.9]",
                                                 "effects.sharpen.sigma=[0.7, 1.1]"])
    off = load_config(PIPELINE, overrides=PHOTO)
    specs = [sample_scene(on, 3, i) for i in range(300)]
    for i, s in enumerate(specs[:100]):
        o = sample_scene(off, 3, i)
        assert o.effects.sharpen_amount == 0.0 and o.effects.sharpen_sigma == 0.0
        unsharpened = replace(s, effects=replace(s.effects, sharpen_amount=0.0, sharpen_sigma=0.0))
        assert specs_equal(unsharpened, o)
    fired = [s.effects for s in specs if s.effects.sharpen_amount > 0]
    assert 0.5 < len(fired) / 300 < 0.7
    assert all(0.4 <= e.sharpen_amount <= 0.9 and 0.7 <= e.sharpen_sigma <= 1.1 for e in fired)
    assert all(specs_equal(a, sample_scene(on, 3, i)) for i, a in enumerate(specs[:20]))
