"""The ``robustness:`` section of pipeline.yaml, typed: suite defaults and the suites themselves.

Loaded by :func:`load_robustness_config` with the same checks as the synth settings
(``synth.config``): unknown keys, wrong types and bad values raise :class:`ConfigError`
naming the key (``robustness.suites.NAME.factor``) and the fix. What each factor's
levels mean, and the factor-specific level checks, live in ``synth.robustness``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from synth.config import ConfigError, build_dataclass, read_yaml

#: Factors a robustness suite can sweep; their level formats and effects live in synth.robustness.
SUITE_FACTORS = ("light_azimuth", "light_intensity", "light_color", "gaussian_blur", "motion_blur",
                 "occlusion", "translation", "noise", "jpeg", "downsample")


@dataclass(frozen=True)
class SuiteConfig:
    """One robustness suite: every base scene rendered at every level of one factor.

    name: the suite's name (its key under ``robustness.suites``).
    factor: one of :data:`SUITE_FACTORS` (see ``synth.robustness.FACTORS`` for each one's levels).
    levels: the swept values in report order: numbers, or names for ``light_color``
        (keys of ``lighting.colors``) and ``occlusion`` (``none`` or ``TEXTURE-WxH``).
    units: unit of the levels for reports ("" = the factor's default).
    description: one line for ``synth robustness --list`` and the reports.
    options: factor-specific settings (e.g. ``elevation_deg`` for ``light_azimuth``).
    """

    name: str
    factor: str
    levels: tuple
    units: str = ""
    description: str = ""
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RobustnessConfig:
    """The ``robustness:`` section: suite defaults and the suites themselves.

    seed: default seed of every suite (kept apart from ``synth.seed`` so a suite's base scenes
        are not the scenes of a default render).
    n_base: default number of base scenes per suite.
    bases_per_shard: a shard holds this many base scenes at all their levels (the unit of resume
        and of parallel work).
    base: synth settings merged over the pipeline for every suite (after ``--preset``, before
        ``--set``), e.g. switching off every random effect.
    suites: name -> :class:`SuiteConfig`.
    """

    seed: int = 1000
    n_base: int = 50
    bases_per_shard: int = 8
    base: dict = field(default_factory=dict)
    suites: dict = field(default_factory=dict)


def load_robustness_config(path: str | Path) -> RobustnessConfig:
    """The ``robustness:`` section of a pipeline.yaml, typed and checked; ConfigError naming the key."""
    path = Path(path)
    raw = read_yaml(path)
    section = raw.get("robustness") if isinstance(raw, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: no 'robustness:' mapping; fix: add the suites section "
                          "(see the robustness section of the repository's pipeline.yaml)")
    data = dict(section)
    suites_raw = data.pop("suites", None) or {}
    try:
        if not isinstance(suites_raw, dict):
            raise ConfigError("robustness.suites: expected a mapping of suite name -> settings")
        rc = build_dataclass(RobustnessConfig, data, "robustness")
        suites = {}
        for name, body in suites_raw.items():
            key = f"robustness.suites.{name}"
            if not isinstance(body, dict):
                raise ConfigError(f"{key}: expected a mapping with factor and levels")
            if "name" in body:
                raise ConfigError(f"{key}.name: the suite's name is its key; fix: remove 'name'")
            for required in ("factor", "levels"):
                if required not in body:
                    raise ConfigError(f"{key}: missing '{required}'; fix: add it (see synth/robustness.py)")
            suites[str(name)] = build_dataclass(SuiteConfig, dict(body, name=str(name)), key)
        rc = dataclasses.replace(rc, suites=suites)
        validate_robustness(rc)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return rc


def validate_robustness(rc: RobustnessConfig) -> None:
    """Structural checks of the robustness section (factor-specific level checks: synth.robustness)."""
    if rc.n_base < 1:
        raise ConfigError(f"robustness.n_base: {rc.n_base}; fix: give at least 1 base scene")
    if rc.bases_per_shard < 1:
        raise ConfigError(f"robustness.bases_per_shard: {rc.bases_per_shard}; fix: give at least 1")
    if not rc.suites:
        raise ConfigError("robustness.suites: no suites defined; fix: define at least one")
    for name, s in rc.suites.items():
        key = f"robustness.suites.{name}"
        if s.factor not in SUITE_FACTORS:
            raise ConfigError(f"{key}.factor: {s.factor!r}; fix: use one of {', '.join(SUITE_FACTORS)}")
        if not s.levels:
            raise ConfigError(f"{key}.levels: empty; fix: list at least one level")
        for j, level in enumerate(s.levels):
            if isinstance(level, bool) or not isinstance(level, (int, float, str)):
                raise ConfigError(f"{key}.levels[{j}]: {level!r} is neither a number nor a name")
        if len(set(s.levels)) != len(s.levels):
            raise ConfigError(f"{key}.levels: repeated level; fix: list each level once")
