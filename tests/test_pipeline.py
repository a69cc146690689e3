"""The full sample path with real heads: determinism across processes and stored labels."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("anny")
pytest.importorskip("moderngl")

REPO = Path(__file__).resolve().parents[1]
OVERRIDES = ["heads.pool_size=4", "effects.noise.probability=1.0", "effects.blur.gaussian_probability=0.5",
             "effects.occlusion.probability=0.5"]
INDICES = (0, 3, 11)


def digest(sample: dict) -> dict:
    """sha256 of every array and of the params of a sample, by key."""
    out = {}
    for k, v in sorted(sample.items()):
        if isinstance(v, np.ndarray):
            out[k] = hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
        else:
            out[k] = hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest()
    return out


SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
from test_pipeline import digest, OVERRIDES, INDICES
from synth.config import load_config
from synth.pipeline import SampleMaker
cfg = load_config({pipeline!r}, overrides=OVERRIDES)
m = SampleMaker(cfg, seed=5)
print(json.dumps([digest(m.make(i)) for i in reversed(INDICES)][::-1]))
"""


@pytest.fixture(scope="module")
def maker():
    from synth.config import load_config
    from synth.pipeline import SampleMaker

    m = SampleMaker(load_config(REPO / "pipeline.yaml", overrides=OVERRIDES), seed=5)
    yield m
    m.close()


def test_same_sample_bytes_in_a_separate_process(maker):
    here = [digest(maker.make(i)) for i in INDICES]
    code = SCRIPT.format(tests=str(REPO / "tests"), pipeline=str(REPO / "pipeline.yaml"))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    there = json.loads(res.stdout.strip().splitlines()[-1])
    assert here == there
    assert here[0] != here[1]


def test_stored_labels_agree_with_the_spec(maker):
    from synth.pose import coarse_category, euler_from_rotation, rotation_from_euler

    for i in INDICES:
        s = maker.make(i)
        spec = maker.spec(i)
        np.testing.assert_allclose(s["rotation"], spec.head.rotation, atol=1e-6)
        np.testing.assert_allclose(rotation_from_euler(*s["euler"]), s["rotation"], atol=1e-5)
        np.testing.assert_allclose(s["euler"], euler_from_rotation(spec.head.rotation), atol=1e-4)
        assert s["coarse_class"] == coarse_category(float(s["euler"][0]), float(s["euler"][1]))
        assert s["rgb"].shape == (256, 256, 3) and s["depth"].dtype == np.uint16
        assert (s["depth"][s["mask"] > 0] > 0).all() and (s["depth"][s["mask"] == 0] == 0).all()
        json.dumps(s["params"])  # JSON-safe


def test_face_metered_exposure_puts_the_skin_at_its_target_and_records_it():
    """With ``effects.exposure.face_luma`` the skin in the face box comes out at the drawn target
    (less half the skin's own darkness, ``synth.sensor.METER_SKIN_KEEP``), and params record it."""
    from synth import sensor
    from synth.config import load_config
    from synth.pipeline import SampleMaker, skin_albedo

    target = 170.0
    cfg = load_config(REPO / "pipeline.yaml", preset="clean",
                      overrides=["heads.pool_size=4", f"effects.exposure.face_luma=[{target},{target}]"])
    m = SampleMaker(cfg, seed=5)
    try:
        for i in INDICES:
            spec = m.spec(i)
            rendered, rgb, metered = m.render_spec(spec)
            assert spec.effects.meter_luma == target and spec.effects.meter_ev == 0.0   # sampled: no stops yet
            s = m.make(i)
            fx = s["params"]["effects"]
            assert fx["meter_luma"] == target and fx["meter_ev"] == metered.effects.meter_ev != 0.0
            x0, y0, x1, y1 = (int(round(v)) for v in rendered["bbox"])
            skin = np.zeros(rgb.shape[:2], bool)
            skin[y0:y1, x0:x1] = rendered["seg"][y0:y1, x0:x1] == 1
            albedo = skin_albedo(m.head_bank.get(spec.head.identity))
            lin = sensor._srgb_decode()
            want = np.interp(np.interp(target, np.arange(256), lin)
                             * (albedo / sensor.METER_REF_ALBEDO) ** sensor.METER_SKIN_KEEP, lin, np.arange(256))
            got = float(np.median(rgb[skin].astype(np.float64) @ sensor.LUMA_601))
            assert abs(got - want) <= 4.0, (i, got, want, albedo)   # the meter reads every other pixel
        off = SampleMaker(load_config(REPO / "pipeline.yaml", preset="clean", overrides=["heads.pool_size=4"]),
                          seed=5, head_bank=m.head_bank, renderer=m.renderer)
        assert "meter_luma" not in off.make(INDICES[0])["params"]["effects"]   # off: params as before
    finally:
        m.close()
