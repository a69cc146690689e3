"""Samples with the photo backgrounds and effects on: recorded parameters, landmark visibility
under distractors, determinism (sphere heads through the real renderer and effects)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("moderngl")

REPO = Path(__file__).resolve().parents[1]
ON = ["heads.pool_size=3", "output.width=128", "output.height=128", "background.solid=0", "background.noise=0",
      "background.leaves=1", "background.clutter=1", "background.outdoor=1", "background.studio=0",
      "background.blur_probability=0.5",
      "background.dim_probability=1",
      "effects.distractors.probability=1", "effects.distractors.max_count=3", "effects.distractors.size=[0.6, 1.2]",
      "effects.white_balance.probability=1", "effects.exposure.probability=1", "effects.vignetting.probability=1",
      "effects.noise.chroma_probability=1", "effects.compression.jpeg_probability=1", "effects.sharpen.probability=1"]


@pytest.fixture(scope="module")
def maker():
    from synth.config import load_config
    from synth.runner import sphere_sample_maker

    try:
        m = sphere_sample_maker(load_config(REPO / "pipeline.yaml", preset="faces", overrides=ON), 3)
    except Exception as exc:  # no GL context here
        pytest.skip(f"no renderer: {exc}")
    yield m
    m.close()


def test_every_photo_parameter_is_recorded(maker):
    from synth.distractors import box
    from synth.sensor import white_balance_gains

    kinds = set()
    for i in range(12):
        s, spec = maker.make(i), maker.spec(i)
        p = json.loads(json.dumps(s["params"]))  # JSON-safe
        b, e = p["background"], p["effects"]
        kinds.add(b["kind"])
        assert b["blur"] == spec.background.blur
        assert len(e["distractors"]) == len(spec.effects.distractors) >= 1
        for rec, d in zip(e["distractors"], spec.effects.distractors):
            assert rec["shape"] == d.shape and rec["seed"] == d.seed and rec["box"] == list(box(d))
        assert 0.0 <= e["distractor_fraction"] <= 1.0
        assert e["vignetting"] == spec.effects.vignetting > 0
        assert e["vignetting_center"] == [spec.camera.cx, spec.camera.cy]
        np.testing.assert_allclose(e["wb_gains"], white_balance_gains(e["wb_temperature"], e["wb_tint"]))
        assert e["exposure_ev"] != 0 and e["tone_gamma"] != 1 and e["chroma_sigma"] > 0 and e["jpeg_quality"] > 0
        lo, hi = maker.cfg.background.dim_ev
        assert b["dim_ev"] == spec.background.dim_ev and lo <= b["dim_ev"] <= hi and (lo, hi) == (1.0, 7.0)
        assert e["sharpen_amount"] == spec.effects.sharpen_amount and 0.3 <= e["sharpen_amount"] <= 1.2
        assert e["sharpen_sigma"] == spec.effects.sharpen_sigma and 0.6 <= e["sharpen_sigma"] <= 1.4
        assert e["meter_luma"] == spec.effects.meter_luma and 140.0 <= e["meter_luma"] <= 220.0
        assert abs(e["meter_ev"]) <= 3.0   # set from the render: the sampled spec has none yet
    assert kinds == {"leaves", "clutter", "outdoor"}


def test_landmarks_under_a_distractor_are_not_visible(maker):
    from synth.distractors import covered
    from synth.pipeline import hidden_by_distractors

    hidden_total = 0
    for i in range(24):
        s, spec = maker.make(i), maker.spec(i)
        rendered = maker.renderer.render(spec, maker.head_bank.get(spec.head.identity))
        hidden = hidden_by_distractors(spec.effects, s["landmarks"], s["mask"].shape)
        np.testing.assert_array_equal(s["landmarks_visible"], rendered["landmarks_visible"] & ~hidden)
        cover = covered(spec.effects.distractors, *s["mask"].shape)
        for (x, y), h in zip(s["landmarks"], hidden):
            if 0 <= x < 128 and 0 <= y < 128:
                assert h == cover[int(y), int(x)]
        frac = (cover & (s["mask"] > 0)).sum() / max(1, (s["mask"] > 0).sum())
        assert abs(s["params"]["effects"]["distractor_fraction"] - frac) < 1e-9
        hidden_total += int((hidden & rendered["landmarks_visible"]).sum())
    assert hidden_total > 0  # the case happened


def test_photo_samples_are_the_same_bytes_when_made_again(maker):
    a = maker.make(5)
    b = maker.make(5)
    for k, v in a.items():
        if isinstance(v, np.ndarray):
            assert np.array_equal(v, b[k]), k
    assert a["params"] == b["params"]
    assert not np.array_equal(a["rgb"], maker.make(6)["rgb"])
