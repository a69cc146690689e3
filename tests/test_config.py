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
