"""Scene sampling: purity, determinism across processes, ranges and modes."""
from __future__ import annotations

import pickle
import subprocess
import sys
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
    from dataclasses import replace

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
