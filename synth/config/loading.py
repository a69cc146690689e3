"""Loading a configuration: ``pipeline.yaml``, a preset, ``--set`` overrides, type checks.

Order of precedence: dataclass defaults < ``pipeline.yaml`` < preset (``--preset``)
< ``--set key=value`` overrides. Unknown keys, wrong types, empty ranges and
missing files raise :class:`~synth.config.spec.ConfigError` naming the key
(``lighting.intensity``) and the fix; :func:`synth.config.validation.validate`
checks what the types cannot express.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from pathlib import Path

import yaml

from synth.config.spec import ConfigError, Range, SynthConfig
from synth.config.validation import validate

def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value, tp, key: str):
    """Check/convert one value to the annotated type ``tp``; raise ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of settings, got {value!r}")
        return build_dataclass(tp, value, key)
    if tp is Range or (origin is tuple and args == (float, float)):
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ConfigError(f"{key}: expected a range [low, high], got {value!r}")
        lo, hi = (_coerce(v, float, key) for v in value)
        if lo > hi:
            raise ConfigError(f"{key}: empty range [{lo}, {hi}]; fix: write [low, high] with low <= high")
        return (lo, hi)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return value
    if tp is tuple or origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    raise ConfigError(f"{key}: unsupported setting type {_type_name(tp)}")


def build_dataclass(cls, data: dict, prefix: str = ""):
    """``cls(**data)`` with every value checked against its annotation; ConfigError naming ``prefix.key``."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(
            f"unknown key {where}{unknown[0]}; fix: remove it or use one of: {', '.join(sorted(names))}"
        )
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _coerce(value, hints[name], key)
    return cls(**kwargs)


def config_to_dict(cfg) -> dict:
    """Plain JSON-safe dict of a config (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def config_hash(cfg) -> str:
    """Stable 16-hex-digit hash of the resolved config (key order independent)."""
    blob = json.dumps(config_to_dict(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


#: settings whose value is a mapping taken whole: a preset or ``--set`` replaces ``lighting.colors`` (a colour
#: table) rather than merging it key by key, and it is one leaf when a config is flattened
WHOLE_MAPPINGS = ("colors",)


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k not in WHOLE_MAPPINGS:
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def flatten(mapping: dict, prefix: str = "") -> dict:
    """Dotted key (``lighting.intensity``) -> leaf value of a nested config mapping, in the mapping's order.

    The mappings of :data:`WHOLE_MAPPINGS` (``lighting.colors``) stay one leaf each.
    """
    out = {}
    for k, v in mapping.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and k not in WHOLE_MAPPINGS:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def mapping_overrides(mapping: dict) -> list[str]:
    """``--set``-style ``key.sub=value`` strings (JSON values) for every leaf of a nested mapping
    (:func:`flatten`), so that ``load_config(overrides=...)`` applies the mapping over a pipeline."""
    return [f"{key}={json.dumps(v)}" for key, v in flatten(mapping).items()]


def _parse_override(item: str) -> tuple[list[str], object]:
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set lighting.intensity=[0.5,1.0]")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: cannot parse value {raw!r} ({yaml_problem(exc)}); fix: write a YAML "
                          "value, e.g. --set lighting.intensity=[0.5,1.0]") from None
    return key.strip().split("."), value


def yaml_problem(exc: yaml.YAMLError) -> str:
    """One line for a YAML syntax error: what and where (line, column; 1-based)."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{getattr(exc, 'problem', None) or type(exc).__name__}{where}"


def _nest(path: list[str], value) -> dict:
    out: dict = {}
    node = out
    for p in path[:-1]:
        node = node.setdefault(p, {})
    node[path[-1]] = value
    return out


def read_yaml(path: Path):
    """The parsed YAML of ``path``; ConfigError naming the file when it is missing or not YAML."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found; fix: pass an existing pipeline.yaml")
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({yaml_problem(exc)}); fix: correct the syntax there") from None


def load_config(path: str | Path | None = None, preset: str | None = None,
                overrides: list[str] | tuple[str, ...] = ()) -> SynthConfig:
    """Load and validate the synthesis config.

    path: a pipeline.yaml (its ``synth:`` section is used when present, else the
        whole file); None uses the built-in defaults.
    preset: a name under the file's ``presets:`` section, merged over the base.
    overrides: ``key.sub=value`` strings (YAML values), applied last.
    """
    data: dict = {}
    presets: dict = {}
    if path is not None:
        path = Path(path)
        raw = read_yaml(path)
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        data = raw.get("synth", raw)
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: 'synth' must be a mapping")
        data = dict(data)
        presets = data.pop("presets", {}) or {}
    if preset is not None:
        if preset not in presets:
            known = ", ".join(sorted(presets)) or "none defined"
            raise ConfigError(f"unknown preset {preset!r}; fix: use one of: {known}")
        data = _deep_merge(data, presets[preset])
    for item in overrides:
        keys, value = _parse_override(item)
        data = _deep_merge(data, _nest(keys, value))
    try:
        cfg = build_dataclass(SynthConfig, data)
        validate(cfg)
    except ConfigError as exc:
        source = f"{path}" if path is not None else "built-in defaults"
        if overrides:
            source += " with --set " + " ".join(overrides)
        raise ConfigError(f"{source}: {exc}") from None
    return cfg
