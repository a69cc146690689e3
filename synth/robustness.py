"""Robustness suites: one factor swept over levels, everything else fixed per base scene.

A suite (``robustness.suites.NAME`` in pipeline.yaml, typed by
:class:`synth.robustness_config.SuiteConfig`) names a factor from :data:`FACTORS` and its
levels. A suite run with ``n_base`` base scenes and L levels has ``n_base * L``
samples; run index ``k`` is base scene ``b = k // L`` at level ``j = k % L``
(base-major, so a shard holds whole bases and a partial run has every level
of the bases it holds).

Base scene ``b`` is ``synth.sampling.sample_scene(cfg, seed, b)`` -- identity,
pose, distance, framing, light, background and the (off) effects -- drawn from
the pipeline with the section's ``robustness.base`` merged over it. The
default base switches every random post-render effect off (the ``clean``
preset's effects plus JPEG, downsampling and the photo effects: distractors,
white balance, exposure, vignetting, colour noise, sharpening), keeps the light white and
the depth noise off, so the swept factor is the only degradation, and draws
poses in the coarse-to-fine paper's ranges, so the face (where occluders go)
stays in view. Each level
replaces only its factor in the base SceneSpec (``dataclasses.replace``); every
other recorded parameter and every label stays as the base drew it. Factors
that only change post-render effects reuse the base's render for all levels.

Randomness a factor needs (occluder placement and texture, translation
direction) comes from ``suite_rng(seed, b, tag)`` -- a generator of its own,
never the scene's, so it cannot shift the base's draws -- and is the same at
every level of a base scene: levels are paired (the 60x120 box has the centre
of the 60x60 one, each shift goes the same way, the noise field only scales),
as in ``train.data.corruptions`` for real data (both place and fill occluders with
:mod:`synth.occluders`), so differences between levels come from the level alone. Suites are therefore a pure function of (config,
suite, seed, n_base): the same command twice gives the same samples.

Stored samples are the ordinary shards of ``synth.shards`` (written by the
resumable runner of ``synth.runner``); each sample's ``params["robustness"]``
records ``suite``, ``factor``, ``units``, ``level`` (the value as configured),
``level_index``, ``base_index`` and the factor's own details (e.g. the occluder
texture and seed, the translation in output px). The run's manifest holds the
suite definition under ``config.suite``. :func:`suite_levels` groups a suite
folder's samples by level for evaluation.

Factors (level values; "sensor px" = pixels of the emulated sensor, 640x480 by
default, converted to output pixels with the sample's scale):

==================  ==========================  ============================================
factor              levels                      what a level sets
==================  ==========================  ============================================
light_azimuth       degrees, -180..180          key-light direction in the horizontal plane
                                                (0 = from the camera, + = from image right) at
                                                ``options.elevation_deg`` (default 0)
light_intensity     key-light scale >= 0        ``Light.intensity`` (ambient unchanged)
light_color         names of lighting.colors    ``Light.color`` and its name
gaussian_blur       sigma, sensor px >= 0       Gaussian blur (0 = none)
motion_blur         length, sensor px >= 0      motion blur along the base's drawn angle
                                                (shorter than 2 output px = none)
occlusion           ``none`` or ``TEX-WxH``      one W x H box (px at 640 px frame width, as
                                                ``effects.occlusion.reference_width``) centred
                                                uniformly inside the rendered face box; TEX is
                                                black, noise (per-pixel colour noise), stripes
                                                (two colours, random angle and period) or image
                                                (a patch of a file from ``options.image_folder``
                                                or ``background.image_folder``)
translation         shift, sensor px >= 0       the output window moves by the shift along a
                                                direction drawn per base scene (same for every
                                                level): the head moves in the image
noise               sigma on 0..255 >= 0        Gaussian sensor noise (the base's noise seed)
jpeg                quality 1..100              JPEG re-encoding
downsample          factor >= 1                 shrink by the factor and scale back (low
                                                resolution; 1 = none)
==================  ==========================  ============================================

Translation and its label: the shift moves the principal point of the output
camera (``K``), not the head. The head stays at the same 3-D position and
rotation relative to the camera, so the canonical rotation label (head ->
camera) and the head-centre label are unchanged and exact, and the head's
appearance does not change through perspective: the image is the same view
seen through a shifted window (a crop taken off-centre from the same sensor),
up to resampling. ``bbox``, ``landmarks`` and ``K`` move with the window. A
real lateral move of the head at fixed depth would instead change the viewing
direction by ``atan(shift / f)`` (up to ~29 deg at the 640x480 frame's edge):
the same rotation label would then show a differently turned face, which is a
perspective test, not a translation test, and is not what this factor does.
Crop-based evaluation that cuts around the stored (moved) ``bbox`` re-centres
the face; the recorded ``shift_px`` lets it crop at the unshifted box instead.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from synth.config import ConfigError, SynthConfig, load_config, mapping_overrides
from synth.occluders import (apply_effects_with_patches, image_files, occluder_texture, parse_occluder_level,
                             patch_size, place_occluder)
from synth.pipeline import label_sample
from synth.robustness_config import RobustnessConfig, SuiteConfig, load_robustness_config
from synth.sampling import light_direction
from synth.scene import SceneSpec

DEFAULT_BASE_MAKER = "synth.runner:make_sample_maker"
SUITE_MAKER = "synth.robustness:make_suite_maker"

#: Tags that keep each factor's extra random numbers apart from the scene's and from each other.
_TAG_OCCLUSION = 0x0CC1
_TAG_TRANSLATION = 0x7A45


def suite_rng(seed: int, base: int, *keys: int) -> np.random.Generator:
    """Generator for a factor's own draws at base scene ``base`` (never the scene's generator)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(base), *map(int, keys)])))


# --- factors ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LevelContext:
    """What a factor needs besides the base spec: the config, the suite and where this sample sits.

    px_scale: output px per sensor px of the base scene (sizes given in sensor px are multiplied by it).
    """

    cfg: SynthConfig
    suite: SuiteConfig
    seed: int
    base: int
    px_scale: float


@dataclass(frozen=True)
class Factor:
    """One sweepable factor.

    units: default unit string of its levels. named: levels are names (else numbers).
    bounds: (low, high) allowed for numeric levels. image_only: levels change only post-render
    effects, so one render serves every level. changes: the stored fields other than ``rgb``
    (labels, ``mask``/``depth``, flattened ``params.a.b`` keys) a level may change; everything
    else must be identical across the levels of a base scene (``params.robustness`` describes
    the level itself, ``index`` is the run index).
    scene: ``(spec, level, ctx) -> (spec, record)`` before rendering.
    post: optional ``(spec, rendered, level, ctx) -> (spec, patches, record)`` after rendering.
    options: the option keys the factor reads.
    """

    name: str
    units: str
    named: bool
    bounds: tuple[float, float]
    image_only: bool
    changes: tuple[str, ...]
    scene: Callable
    post: Callable | None = None
    options: tuple[str, ...] = ()


def _with_effects(spec: SceneSpec, **changes) -> SceneSpec:
    return dataclasses.replace(spec, effects=dataclasses.replace(spec.effects, **changes))


def _light_azimuth(spec, level, ctx):
    el = float(ctx.suite.options.get("elevation_deg", 0.0))
    light = dataclasses.replace(spec.light, direction=light_direction(float(level), el))
    return dataclasses.replace(spec, light=light), {"elevation_deg": el}


def _light_intensity(spec, level, ctx):
    return dataclasses.replace(spec, light=dataclasses.replace(spec.light, intensity=float(level))), {}


def _light_color(spec, level, ctx):
    rgb = np.asarray(ctx.cfg.lighting.colors[level], dtype=np.float64)
    return dataclasses.replace(spec, light=dataclasses.replace(spec.light, color=rgb, color_name=str(level))), {}


def _gaussian_blur(spec, level, ctx):
    return _with_effects(spec, gaussian_sigma=float(level) * ctx.px_scale), {}


def _motion_blur(spec, level, ctx):
    return _with_effects(spec, motion_length=float(level) * ctx.px_scale), {}


def _noise(spec, level, ctx):
    return _with_effects(spec, noise_sigma=float(level)), {}


def _jpeg(spec, level, ctx):
    return _with_effects(spec, jpeg_quality=int(round(float(level)))), {}


def _downsample(spec, level, ctx):
    return _with_effects(spec, downsample=float(level)), {}


def _translation(spec, level, ctx):
    angle = float(suite_rng(ctx.seed, ctx.base, _TAG_TRANSLATION).uniform(0.0, 360.0))
    a = np.deg2rad(angle)
    dx = float(level) * ctx.px_scale * float(np.cos(a))
    dy = float(level) * ctx.px_scale * float(np.sin(a))
    cam = dataclasses.replace(spec.camera, cx=spec.camera.cx + dx, cy=spec.camera.cy + dy)
    return dataclasses.replace(spec, camera=cam), {"direction_deg": angle, "shift_px": [dx, dy]}


def _no_change(spec, level, ctx):
    return spec, {}


def face_box(rendered: dict) -> np.ndarray:
    """(4,) face box of a render: the landmark box, else the head mask's box, else the whole image."""
    b = np.asarray(rendered["bbox"], dtype=np.float64)
    if np.all(np.isfinite(b)) and b[2] > b[0] and b[3] > b[1]:
        return b
    mask = np.asarray(rendered["mask"])
    if mask.any():
        ys, xs = np.nonzero(mask)
        return np.array([xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0])
    h, w = mask.shape[:2]
    return np.array([0.0, 0.0, float(w), float(h)])


def _occlusion_post(spec, rendered, level, ctx):
    occ_level = parse_occluder_level(level)
    if occ_level is None:
        return _with_effects(spec, occluders=()), (), {"texture": "none"}
    rng = suite_rng(ctx.seed, ctx.base, _TAG_OCCLUSION)  # same at every level: paired placements
    e = ctx.cfg.effects.occlusion
    k = ctx.px_scale * ctx.cfg.sensor.width / e.reference_width
    occ = place_occluder(face_box(rendered), occ_level.width * k, occ_level.height * k, rng)
    record = {"texture": occ_level.texture, "box_px": [occ.x, occ.y, occ.width, occ.height]}
    patches = ()
    if occ_level.texture != "black":
        folder = ctx.suite.options.get("image_folder") or ctx.cfg.background.image_folder
        texture_seed = int(rng.integers(0, 2**31 - 1))
        texture_rng = np.random.Generator(np.random.PCG64(texture_seed))
        patch = occluder_texture(occ_level.texture, *patch_size(occ), texture_rng, image_folder=folder)
        patches = ((occ, patch),)
        record["texture_seed"] = texture_seed
    return _with_effects(spec, occluders=(occ,)), patches, record


_EFFECTS = "params.effects."
#: Every sweepable factor by name (the names of synth.robustness_config.SUITE_FACTORS).
FACTORS: dict[str, Factor] = {f.name: f for f in (
    Factor("light_azimuth", "deg", False, (-180.0, 180.0), False, ("params.light.direction",), _light_azimuth,
           options=("elevation_deg",)),
    Factor("light_intensity", "key-light scale", False, (0.0, 10.0), False, ("params.light.intensity",),
           _light_intensity),
    Factor("light_color", "colour", True, (0.0, 0.0), False, ("params.light.color", "params.light.color_name"),
           _light_color),
    Factor("gaussian_blur", "sigma, sensor px", False, (0.0, 100.0), True, (_EFFECTS + "gaussian_sigma",),
           _gaussian_blur),
    Factor("motion_blur", "length, sensor px", False, (0.0, 400.0), True, (_EFFECTS + "motion_length",),
           _motion_blur),
    Factor("occlusion", "occluder (px at 640 wide)", True, (0.0, 0.0), True,
           (_EFFECTS + "occluders", _EFFECTS + "occluded_fraction"), _no_change, _occlusion_post,
           options=("image_folder",)),
    Factor("translation", "shift, sensor px", False, (0.0, 4096.0), False,
           ("K", "bbox", "landmarks", "landmarks_visible", "mask", "depth", "seg"), _translation),
    Factor("noise", "sigma (0-255)", False, (0.0, 255.0), True, (_EFFECTS + "noise_sigma",), _noise),
    Factor("jpeg", "JPEG quality", False, (1.0, 100.0), True, (_EFFECTS + "jpeg_quality",), _jpeg),
    Factor("downsample", "downscale factor", False, (1.0, 64.0), True, (_EFFECTS + "downsample",), _downsample),
)}


def suite_units(suite: SuiteConfig) -> str:
    """The suite's units: as configured, else its factor's default."""
    return suite.units or FACTORS[suite.factor].units


def check_suite(suite: SuiteConfig, cfg: SynthConfig) -> None:
    """Factor-specific checks of a suite's levels and options; ConfigError naming the key and the fix."""
    key = f"robustness.suites.{suite.name}"
    factor = FACTORS.get(suite.factor)
    if factor is None:
        raise ConfigError(f"{key}.factor: {suite.factor!r}; fix: use one of {', '.join(FACTORS)}")
    unknown = sorted(set(suite.options) - set(factor.options))
    if unknown:
        raise ConfigError(f"{key}.options.{unknown[0]}: not read by factor {suite.factor}; fix: remove it"
                          + (f" (known: {', '.join(factor.options)})" if factor.options else ""))
    for j, level in enumerate(suite.levels):
        where = f"{key}.levels[{j}]"
        if not factor.named:
            lo, hi = factor.bounds
            if isinstance(level, str) or not lo <= float(level) <= hi:
                raise ConfigError(f"{where}: {level!r}; fix: give a number in [{lo:g}, {hi:g}] ({factor.units})")
        elif suite.factor == "light_color":
            if level not in cfg.lighting.colors:
                raise ConfigError(f"{where}: colour {level!r} is not in lighting.colors; fix: use one of "
                                  f"{', '.join(sorted(cfg.lighting.colors))}")
        elif suite.factor == "occlusion":
            try:
                occ = parse_occluder_level(level)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            if occ is not None and occ.texture == "image":
                folder = suite.options.get("image_folder") or cfg.background.image_folder
                if not folder:
                    raise ConfigError(f"{where}: image occluders need a folder of pictures; fix: set "
                                      f"{key}.options.image_folder (or background.image_folder)")
                try:
                    image_files(str(folder))
                except ValueError as exc:
                    raise ConfigError(f"{where}: {exc}") from None
    if "elevation_deg" in suite.options:
        el = suite.options["elevation_deg"]
        if isinstance(el, bool) or not isinstance(el, (int, float)) or not -90 <= el <= 90:
            raise ConfigError(f"{key}.options.elevation_deg: {el!r}; fix: give degrees in [-90, 90]")


# --- a suite run ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SuiteRunConfig(SynthConfig):
    """A SynthConfig for one suite run: the resolved pipeline (base settings merged, ``seed`` =
    the suite's seed) plus the suite, so the run's config hash covers the suite and resuming
    with another suite, level list or base count is refused.

    suite: the swept factor and its levels. n_base: base scenes (run size ``n_base * L``).
    bases_per_shard: base scenes per shard. base_maker: the ``module:function`` sample-maker
    factory rendering the base scenes (``synth.runner:sphere_sample_maker`` in tests).
    """

    suite: SuiteConfig | None = None
    n_base: int = 1
    bases_per_shard: int = 8
    base_maker: str = DEFAULT_BASE_MAKER

    @property
    def n_levels(self) -> int:
        return len(self.suite.levels)

    @property
    def n_samples(self) -> int:
        return self.n_base * self.n_levels

    @property
    def shard_size(self) -> int:
        return self.bases_per_shard * self.n_levels


def load_suite_config(path: str | Path, name: str, *, n_base: int | None = None, seed: int | None = None,
                      preset: str | None = None, overrides: list[str] | tuple[str, ...] = (),
                      base_maker: str = DEFAULT_BASE_MAKER, robustness: RobustnessConfig | None = None
                      ) -> SuiteRunConfig:
    """The run config of suite ``name`` from a pipeline.yaml.

    Order: pipeline ``synth:`` < ``--preset`` < ``robustness.base`` < ``overrides`` (``--set``);
    seed: ``seed`` or ``robustness.seed``; n_base: ``n_base`` or ``robustness.n_base``.
    Raises ConfigError naming the key and the fix.
    """
    rc = robustness if robustness is not None else load_robustness_config(path)
    if name not in rc.suites:
        raise ConfigError(f"{path}: unknown suite {name!r}; fix: use one of {', '.join(sorted(rc.suites))} "
                          "(`synth robustness --list`)")
    suite = rc.suites[name]
    seed = rc.seed if seed is None else int(seed)
    n_base = rc.n_base if n_base is None else int(n_base)
    if n_base < 1:
        raise ConfigError(f"--n-base {n_base}: fix: give at least 1 base scene")
    cfg = load_config(path, preset=preset, overrides=[*mapping_overrides(rc.base), *overrides, f"seed={seed}"])
    if cfg.depth.noise:
        raise ConfigError("depth.noise: the depth sensor model draws per run index, so it would differ between "
                          "the levels of a base scene; fix: keep depth.noise false for robustness suites")
    try:
        check_suite(suite, cfg)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    fields = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(SynthConfig)}
    return SuiteRunConfig(**fields, suite=suite, n_base=n_base, bases_per_shard=rc.bases_per_shard,
                          base_maker=base_maker)


class SuiteMaker:
    """Makes the samples of one suite run: ``make(k)`` -> sample dict (see ``synth.pipeline.label_sample``).

    Wraps the base maker (``cfg.base_maker``; it must offer ``spec(index)``, ``head_bank`` and
    ``renderer`` like ``synth.pipeline.SampleMaker``). For image-only factors the last base
    scene's render is kept and reused by its other levels.
    """

    def __init__(self, cfg: SuiteRunConfig, seed: int | None = None):
        from synth.runner import resolve_maker

        if cfg.suite is None:
            raise ValueError("SuiteMaker needs a SuiteRunConfig with a suite (synth.robustness.load_suite_config)")
        self.cfg = cfg
        self.seed = cfg.seed if seed is None else int(seed)
        self.factor = FACTORS[cfg.suite.factor]
        self.base = resolve_maker(cfg.base_maker)(cfg, self.seed)
        self.renderer = self.base.renderer
        self._cached: tuple[int, dict] | None = None

    def locate(self, k: int) -> tuple[int, int]:
        """Run index -> (base scene, level index)."""
        if not 0 <= k < self.cfg.n_samples:
            raise IndexError(f"run index {k} outside the suite's {self.cfg.n_samples} samples")
        return divmod(int(k), self.cfg.n_levels)

    def _render(self, spec: SceneSpec, base: int) -> dict:
        if self.factor.image_only and self._cached is not None and self._cached[0] == base:
            return self._cached[1]
        rendered = self.renderer.render(spec, self.base.head_bank.get(spec.head.identity))
        self._cached = (base, rendered) if self.factor.image_only else None
        return rendered

    def make(self, k: int) -> dict:
        b, j = self.locate(k)
        suite = self.cfg.suite
        level = suite.levels[j]
        spec = self.base.spec(b)
        ctx = LevelContext(cfg=self.cfg, suite=suite, seed=self.seed, base=b,
                           px_scale=float(spec.camera.fx) / float(self.cfg.sensor.fx))
        spec, record = self.factor.scene(spec, level, ctx)
        rendered = self._render(spec, b)
        patches: tuple = ()
        if self.factor.post is not None:
            spec, patches, extra = self.factor.post(spec, rendered, level, ctx)
            record = {**record, **extra}
        rgb = apply_effects_with_patches(rendered["rgb"], spec.effects, patches)
        sample = label_sample(spec, rendered, rgb)
        sample["index"] = int(k)
        sample["params"]["robustness"] = {
            "suite": suite.name, "factor": suite.factor, "units": suite_units(suite), "level": level,
            "level_index": int(j), "base_index": int(b), **record,
        }
        return sample

    def close(self) -> None:
        self.base.close()


def make_suite_maker(cfg: SuiteRunConfig, seed: int) -> SuiteMaker:
    """The runner's sample-maker factory for suite runs (``synth.runner`` calls it once per worker)."""
    return SuiteMaker(cfg, seed)


def render_suite(cfg: SuiteRunConfig, out: str | Path, workers: int = 1, address: str | None = None,
                 compression: str | None = None, retries: int = 3, verify: bool = False,
                 progress: bool = True, log=None):
    """Render (or resume) a suite run into ``out`` with ``synth.runner.render_run``; returns its RunResult.

    ``n_base * L`` samples in shards of ``bases_per_shard`` whole base scenes; raises RunError.
    """
    from synth.runner import render_run

    return render_run(cfg, out, cfg.n_samples, shard_size=cfg.shard_size, workers=workers, address=address,
                      maker=SUITE_MAKER, retries=retries, compression=compression, verify=verify,
                      progress=progress, log=log)


# --- reading a suite back -------------------------------------------------------------------------

@dataclass(frozen=True)
class SuiteIndex:
    """A suite folder's samples grouped by level.

    Positions are those of ``synth.shards.open_dataset(folder)`` (and of
    ``train.data.synth_shards.SynthShardReader(folder)``), i.e. run-index order over the
    shards the manifest lists.

    suite, factor, units: from the run's config. levels: the levels in suite order (numbers or
    names). indices_per_level[j]: int64 positions of level j, ascending. level_index, base_index:
    (N,) int64 per position. n_base: base scenes of the run. complete: every planned shard is there.
    """

    suite: str
    factor: str
    units: str
    levels: list
    indices_per_level: list = field(repr=False)
    level_index: np.ndarray = field(repr=False)
    base_index: np.ndarray = field(repr=False)
    n_base: int = 0
    complete: bool = True


def suite_levels(folder: str | Path) -> SuiteIndex:
    """Group the samples of a ``synth robustness`` folder by level; ShardError naming the fix."""
    from synth.shards import ShardError, open_dataset

    folder = Path(folder)
    ds = open_dataset(folder)
    try:
        cfg = ds.manifest.get("config", {})
        suite = cfg.get("suite")
        if not isinstance(suite, dict) or "levels" not in suite:
            raise ShardError(f"{folder}: not a robustness suite (its manifest config has no 'suite'); "
                             "fix: pass a folder written by `synth robustness --suite NAME --out DIR`")
        levels = list(suite["levels"])
        level_index = np.empty(len(ds), np.int64)
        base_index = np.empty(len(ds), np.int64)
        pos = 0
        for k in range(len(ds.entries)):
            r = ds.reader(k)
            for i in range(len(r)):
                rec = r.params(i).get("robustness")
                if rec is None or rec.get("suite") != suite["name"]:
                    raise ShardError(f"{r.path}: sample {i} has no robustness record of suite {suite['name']!r}; "
                                     "fix: re-render the suite into a new folder")
                j = int(rec["level_index"])
                if not 0 <= j < len(levels) or rec["level"] != levels[j]:
                    raise ShardError(f"{r.path}: sample {i} records level {rec['level']!r} at index {j}, the "
                                     f"manifest lists {levels}; fix: re-render the suite into a new folder")
                level_index[pos], base_index[pos] = j, int(rec["base_index"])
                pos += 1
    finally:
        ds.close()
    units = suite.get("units") or FACTORS[suite["factor"]].units
    return SuiteIndex(suite=suite["name"], factor=suite["factor"], units=units, levels=levels,
                      indices_per_level=[np.flatnonzero(level_index == j) for j in range(len(levels))],
                      level_index=level_index, base_index=base_index, n_base=int(cfg.get("n_base", 0)),
                      complete=bool(ds.manifest.get("complete")))


def describe_suites(rc: RobustnessConfig) -> str:
    """Text table of the configured suites (``synth robustness --list``)."""
    lines = [f"{'suite':24s} {'factor':16s} {'levels':>6s}  units / levels"]
    for name, s in rc.suites.items():
        shown = ", ".join(f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in s.levels)
        lines.append(f"{name:24s} {s.factor:16s} {len(s.levels):6d}  {suite_units(s)}: {shown}")
        if s.description:
            lines.append(f"{'':48s}{s.description}")
    lines.append(f"defaults: seed {rc.seed}, {rc.n_base} base scenes per suite, {rc.bases_per_shard} per shard")
    return "\n".join(lines)
