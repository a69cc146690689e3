"""Config loading: defaults, presets, overrides, and one clear error per kind of mistake."""
from __future__ import annotations

from pathlib import Path

import pytest

from synth.config import ConfigError, config_hash, load_config

REPO = Path(__file__).resolve().parents[1]
PIPELINE = REPO / "pipeline.yaml"


def test_repo_pipeline_loads_with_every_preset():
    base = load_config(PIPELINE)
    assert base.output.width == 256 and base.heads.pool_size == 300
    assert load_config(PIPELINE, preset="paper").pose.preset == "paper"
    clean = load_config(PIPELINE, preset="clean")
    assert clean.effects.noise.probability == 0.0 and clean.effects.blur.gaussian_probability == 0.0


def test_overrides_and_hash():
    cfg = load_config(PIPELINE, overrides=["heads.pool_size=12", "lighting.intensity=[0.5, 0.9]"])
    assert cfg.heads.pool_size == 12 and cfg.lighting.intensity == (0.5, 0.9)
    assert config_hash(cfg) != config_hash(load_config(PIPELINE))
    assert config_hash(load_config(PIPELINE)) == config_hash(load_config(PIPELINE))


@pytest.mark.parametrize("override, key", [
    ("lighting.bogus=1", "unknown key lighting.bogus"),
    ("nonsense=1", "unknown key nonsense"),
    ("heads.pool_size=many", "heads.pool_size: expected an integer"),
    ("lighting.intensity=[1.2, 0.3]", "lighting.intensity: empty range"),
    ("camera.distance_mm=800", "camera.distance_mm: expected a range"),
    ("effects.noise.probability=1.5", "effects.noise.probability"),
    ("output.mode=tiles", "output.mode"),
    ("pose.preset=extreme", "pose.preset"),
    ("heads.source=user", "heads.user_folder"),
    ("pose.mode=histogram", "pose.histogram_file"),
    ("background.image=1.0", "background.image_folder"),
    ("renderer.gl_mipmaps=cubic", "renderer.gl_mipmaps"),
    ("renderer.gl_lod_px=-0.5", "renderer.gl_lod_px"),
    ("renderer.gl_cutout_mipmaps=cubic", "renderer.gl_cutout_mipmaps"),
    ("renderer.gl_lod_mouth_px=5", "renderer.gl_lod_mouth_px: 5.0; fix: keep within [0, 4]"),
    ("pose.pitch=[400, 500]", "pose.pitch: [400.0, 500.0]; fix: keep the range within [-180, 180]"),
    ("pose.yaw=[.nan, .nan]", "pose.yaw: expected a finite number"),
    ("lighting.intensity=[1, .inf]", "lighting.intensity: expected a finite number"),
    ("effects.noise.sigma=[-3, 1]", "effects.noise.sigma: [-3.0, 1.0]; fix: keep the range at 0 or above"),
    ("sensor.fx=0", "sensor.fx: 0.0 px; fix:"),
    ("seed=-1", "seed: -1; fix:"),
    ("lighting.colors.red=[1, x, 0]", "lighting.colors.red: expected [r, g, b]"),
    ("effects.occlusion.boxes=[[a, 60]]", "effects.occlusion.boxes: each box"),
    ("lighting.elevation_deg=[0, 120]", "lighting.elevation_deg"),
])
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        load_config(PIPELINE, overrides=[override])
    assert key in str(err.value) and "pipeline.yaml" in str(err.value)


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("synth: {output: [1, 2")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("synth:\n  output:\n    widht: 128\n")
    with pytest.raises(ConfigError, match=r"wrong.yaml: unknown key output.widht"):
        load_config(wrong)
    with pytest.raises(ConfigError, match="unknown preset"):
        load_config(PIPELINE, preset="nope")


@pytest.mark.parametrize("override, key", [
    ("background.leaves=-1", "background: solid/noise/image/leaves/clutter/studio/outdoor weights"),
    ("background.blur=[0.0, 0.5]", "background.blur"),
    ("background.blur_probability=2", "background.blur_probability"),
    ("background.dim_probability=2", "background.dim_probability"),
    ("background.dim_ev=[-1,2]", "background.dim_ev"),
    ("background.share=0.5", "background.share"),
    ("background.share=500", "background.share"),
    ("background.share_block=0", "background.share_block"),
    ("effects.exposure.face_luma=[0,300]", "effects.exposure.face_luma"),
    ("effects.distractors.probability=-0.1", "effects.distractors.probability"),
    ("effects.distractors.max_count=0", "effects.distractors.max_count"),
    ("effects.distractors.shapes={cloud: 1}", "effects.distractors.shapes.cloud"),
    ("effects.distractors.shapes={bar: 0, hand: 0, ellipse: 0, rect: 0, polygon: 0, blob: 0}",
     "effects.distractors.shapes"),
    ("effects.distractors.size=[0, 1]", "effects.distractors.size"),
    ("effects.white_balance.temperature=[-3, 0]", "effects.white_balance.temperature"),
    ("effects.exposure.ev=[0, 9]", "effects.exposure.ev"),
    ("effects.exposure.gamma=[0.1, 1]", "effects.exposure.gamma"),
    ("effects.vignetting.strength=[0.1, 1.0]", "effects.vignetting.strength"),
    ("effects.noise.chroma_scale=[0.5, 2]", "effects.noise.chroma_scale"),
    ("effects.noise.chroma_probability=1.5", "effects.noise.chroma_probability"),
    ("effects.sharpen.probability=2", "effects.sharpen.probability"),
    ("effects.sharpen.amount=[-0.5, 1]", "effects.sharpen.amount"),
    ("effects.sharpen.sigma=[0, 1]", "effects.sharpen.sigma"),
])
def test_bad_photo_settings_name_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        load_config(PIPELINE, overrides=[override])
    assert key in str(err.value) and ("fix:" in str(err.value) or "outside [0, 1]" in str(err.value))


def test_faces_preset_turns_the_photo_realism_on_and_the_base_keeps_it_off():
    base, faces = load_config(PIPELINE), load_config(PIPELINE, preset="faces")
    assert (base.background.leaves, base.background.clutter, base.background.blur_probability) == (0, 0, 0)
    assert base.effects.distractors.probability == 0 and base.effects.white_balance.probability == 0
    assert faces.background.leaves > 0 and faces.background.clutter > 0 and faces.background.blur_probability > 0
    assert base.effects.sharpen.probability == 0
    for section in ("distractors", "white_balance", "exposure", "vignetting", "sharpen"):
        assert getattr(faces.effects, section).probability > 0, section
    assert faces.effects.noise.chroma_probability > 0 and faces.effects.compression.jpeg_probability > 0
