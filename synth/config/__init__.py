"""Typed pipeline configuration, loaded from ``pipeline.yaml``.

Order of precedence: dataclass defaults < ``pipeline.yaml`` < preset (``--preset``)
< ``--set key=value`` overrides. Unknown keys, wrong types, empty ranges and
missing files raise :class:`ConfigError` naming the key (``lighting.intensity``)
and the fix.

Three modules, one job each; import from ``synth.config``:

* :mod:`synth.config.spec` -- the settings: one frozen dataclass per section, every
  field documented (units, ranges), the shipped presets and tables;
* :mod:`synth.config.loading` -- YAML, presets, ``--set`` overrides, type coercion,
  the config's dict, hash and flattened ``a.b`` keys;
* :mod:`synth.config.validation` -- cross-field checks (bounds, probabilities, files).
"""
from synth.config.loading import (WHOLE_MAPPINGS, build_dataclass, config_hash, config_to_dict, flatten,
                                  load_config, mapping_overrides, read_yaml, yaml_problem)
from synth.config.spec import (BACKGROUND_KINDS, DEFAULT_DISTRACTOR_SHAPES, DEFAULT_LIGHT_COLORS,
                               POSE_PRESETS, SHIPPED_DATA, BackgroundConfig, BlurConfig, CameraConfig,
                               CompressionConfig, ConfigError, DepthConfig, DistractorConfig, EffectsConfig,
                               ExposureConfig, HeadsConfig, LightingConfig, NoiseConfig, OcclusionConfig,
                               OutputConfig, PoseConfig, Range, RendererConfig, SensorConfig, SharpenConfig,
                               SynthConfig, VignettingConfig, WhiteBalanceConfig, histogram_path, pose_ranges)
from synth.config.validation import validate


__all__ = ["WHOLE_MAPPINGS", "build_dataclass", "config_hash", "config_to_dict", "flatten", "load_config",
           "mapping_overrides", "read_yaml", "yaml_problem",
           "BACKGROUND_KINDS", "DEFAULT_DISTRACTOR_SHAPES", "DEFAULT_LIGHT_COLORS", "POSE_PRESETS", "SHIPPED_DATA",
           "BackgroundConfig", "BlurConfig", "CameraConfig", "CompressionConfig", "ConfigError", "DepthConfig",
           "DistractorConfig", "EffectsConfig", "ExposureConfig", "HeadsConfig", "LightingConfig", "NoiseConfig",
           "OcclusionConfig", "OutputConfig", "PoseConfig", "Range", "RendererConfig", "SensorConfig",
           "SharpenConfig", "SynthConfig", "VignettingConfig", "WhiteBalanceConfig", "histogram_path", "pose_ranges",
           "validate"]
