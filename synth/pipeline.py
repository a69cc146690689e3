"""One sample end to end: sample the scene, fetch the head, render, apply effects, label.

:class:`SampleMaker` holds the expensive parts (head bank pool, renderer and
its GL context) and is built once per process / Ray actor; ``make(index)`` is
the per-sample path. The returned dict is what a shard stores (see
``synth.shards``) and is a pure function of (config, seed, index): scene, render,
effects, labels and, with ``depth.noise``, the depth sensor model (``synth.depth``).

:func:`make_sample_maker` and :func:`sphere_sample_maker` are the sample-maker factories
the runner builds once per worker (named ``synth.runner:...`` on the command line).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from synth.config import SynthConfig
from synth.depth import add_depth_noise, depth_mm_u16
from synth.distractors import box as distractor_box
from synth.distractors import covered
from synth.effects import apply_effects, occluded_fraction
from synth.pose import coarse_category, euler_from_rotation
from synth.scene import SceneSpec
from synth.sampling import sample_scene
from synth.sensor import METER_REF_ALBEDO, metered_ev, white_balance_gains


def build_head_bank(cfg: SynthConfig, seed: int):
    """The run's identity pool per ``cfg.heads`` (built once; identity i depends on (seed, i) only).

    User mesh folders are loaded completely here, so a missing or corrupt mesh
    stops the run at start-up with its file name instead of mid-render.
    """
    from synth.config import ConfigError
    from synth.heads import build_head_bank as _build

    h = cfg.heads
    if h.source == "user":
        bank = _build("user", folder=h.user_folder)
        if len(bank) != h.pool_size:
            raise ConfigError(f"heads.pool_size={h.pool_size} but {h.user_folder} lists {len(bank)} meshes; "
                              f"fix: --set heads.pool_size={len(bank)}")
        for i in range(len(bank)):
            bank.get(i)
        return bank
    from synth.heads.identity import IdentitySettings

    return _build("makehuman", pool_size=h.pool_size, seed=seed, eye_mesh=h.eye_mesh,
                  settings=IdentitySettings(expressions=h.expressions, outfit=h.outfit))


def build_renderer(cfg: SynthConfig):
    """The renderer backend per ``cfg.renderer`` (imports its heavy library here).

    "blender" and "mix" raise ConfigError naming the install command when bpy is missing.
    """
    from synth.config import ConfigError

    r = cfg.renderer
    if r.backend not in ("gl", "blender", "mix"):
        raise ValueError(f"renderer.backend {r.backend!r} is not available")
    blender = None
    if r.backend in ("blender", "mix"):
        try:
            from synth.render.blender import BlenderRenderer

            blender = BlenderRenderer(samples=r.cycles_samples, denoise=r.cycles_denoise, device=r.cycles_device,
                                      filter_width_px=r.cycles_filter_px, threads=r.cycles_threads)
        except ImportError as exc:
            raise ConfigError(f"renderer.backend={r.backend!r}: {exc}") from None
        if r.backend == "blender":
            return blender
    from synth.render.gl import GLRenderer

    mouth = {"mouth": r.gl_lod_mouth_px, "teeth": r.gl_lod_mouth_px} if r.gl_lod_mouth_px > 0 else {}
    gl_options = {"backend": r.gl_context, "mipmaps": r.gl_mipmaps, "cutout_mipmaps": r.gl_cutout_mipmaps,
                  "lod_px": r.gl_lod_px, "part_lod_px": mouth}
    if blender is None:
        return GLRenderer(**gl_options)
    try:
        gl = GLRenderer(**gl_options)
    except Exception:
        blender.close()
        raise
    from synth.render.blender_mix import MixRenderer

    return MixRenderer(gl, blender, r.blender_ratio)


def scene_params(spec: SceneSpec, mask: np.ndarray, cover: np.ndarray | None = None) -> dict:
    """JSON-safe record of every sampled parameter of a spec (stored with the sample); ``cover``:
    the distractors' :func:`synth.distractors.covered` map when already made."""
    e = spec.effects
    body = spec.head.body_rotation
    return {
        "body_rotation": None if body is None else np.asarray(body, np.float64).round(6).tolist(),
        "light": {
            "direction": [float(v) for v in spec.light.direction],
            "intensity": float(spec.light.intensity),
            "color": [float(v) for v in spec.light.color],
            "color_name": spec.light.color_name,
            "ambient": float(spec.light.ambient),
            "fill_direction": [float(v) for v in spec.light.fill_direction],
            "fill_intensity": float(spec.light.fill_intensity),
            "fill_color": [float(v) for v in spec.light.fill_color],
            "env_direction": [float(v) for v in spec.light.env_direction],
            "env_strength": float(spec.light.env_strength),
            "env_color": [float(v) for v in spec.light.env_color],
        },
        "background": {
            "kind": spec.background.kind,
            "color": [float(v) for v in spec.background.color],
            "seed": int(spec.background.seed),
            "image": spec.background.image_path,
            "blur": float(spec.background.blur),
            **({} if spec.background.dim_ev is None else {"dim_ev": float(spec.background.dim_ev)}),
            **({} if spec.background.crop is None else {
                "pattern_size": [int(v) for v in spec.background.pattern_size],
                "crop": [float(v) for v in spec.background.crop], "mirror": bool(spec.background.mirror)}),
        },
        "effects": {
            "downsample": float(e.downsample),
            "gaussian_sigma": float(e.gaussian_sigma),
            "motion_length": float(e.motion_length),
            "motion_angle": float(e.motion_angle),
            "occluders": [[o.x, o.y, o.width, o.height] for o in e.occluders],
            "occluded_fraction": occluded_fraction(mask, e),
            "noise_sigma": float(e.noise_sigma),
            "noise_seed": int(e.noise_seed),
            "jpeg_quality": int(e.jpeg_quality),
            **scene_effect_params(e, mask, cover),
        },
        "render_scale": float(spec.render_scale),
    }


def scene_effect_params(e, mask: np.ndarray, cover: np.ndarray | None = None) -> dict:
    """JSON-safe record of the distractor, lens, camera-pipeline (sharpening too) and colour-noise effects.

    distractors: each one's fields and its outline's box [x0, y0, x1, y1] px;
    distractor_fraction: the fraction of head pixels (``mask``) at least half covered by them;
    meter_luma / meter_ev: the face-metered exposure's target and stops, only when it is on.
    """
    return {
        "distractors": [{"shape": d.shape, "box": list(distractor_box(d)), "x": d.x, "y": d.y, "width": d.width,
                         "height": d.height, "angle": d.angle, "color": list(d.color), "color2": list(d.color2),
                         "texture": d.texture, "shading": d.shading, "softness": d.softness, "seed": int(d.seed)}
                        for d in e.distractors],
        "distractor_fraction": distractor_fraction(mask, e, cover),
        "vignetting": float(e.vignetting),
        "vignetting_center": [float(v) for v in e.vignetting_center],
        "vignetting_radius": float(e.vignetting_radius),
        "exposure_ev": float(e.exposure_ev),
        # the face-metered exposure, where the config asks for it (other runs' params stay as they were)
        **({"meter_luma": float(e.meter_luma), "meter_ev": float(e.meter_ev)} if e.meter_luma > 0.0 else {}),
        "wb_temperature": float(e.wb_temperature),
        "wb_tint": float(e.wb_tint),
        "wb_gains": [float(v) for v in white_balance_gains(e.wb_temperature, e.wb_tint)],
        "tone_gamma": float(e.tone_gamma),
        "chroma_sigma": float(e.chroma_sigma),
        "chroma_scale": float(e.chroma_scale),
        "chroma_seed": int(e.chroma_seed),
        "sharpen_amount": float(e.sharpen_amount),
        "sharpen_sigma": float(e.sharpen_sigma),
    }


def distractor_fraction(mask: np.ndarray, e, cover: np.ndarray | None = None) -> float:
    """Fraction of head-mask pixels at least half covered by the effects' distractors (0 when none)."""
    if not e.distractors or not mask.any():
        return 0.0
    cover = covered(e.distractors, *mask.shape) if cover is None else cover
    return float((cover & mask).sum() / mask.sum())


def hidden_by_distractors(e, landmarks: np.ndarray, shape: tuple, cover: np.ndarray | None = None) -> np.ndarray:
    """(N,) bool: landmarks (N, 2) px on a pixel at least half covered by a distractor."""
    hidden = np.zeros(len(landmarks), bool)
    if not e.distractors:
        return hidden
    h, w = shape
    cover = covered(e.distractors, h, w) if cover is None else cover
    uv = np.asarray(landmarks, np.float64)
    ok = np.isfinite(uv).all(1) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    i = np.flatnonzero(ok)
    hidden[i] = cover[uv[i, 1].astype(np.int64), uv[i, 0].astype(np.int64)]
    return hidden


def metered_spec(spec: SceneSpec, rendered: dict, skin_albedo: float = METER_REF_ALBEDO) -> SceneSpec:
    """``spec`` with ``effects.meter_ev`` set from the render when it asks for a face-metered
    exposure (``effects.meter_luma`` > 0; else ``spec`` itself): the skin (part class 1 of ``seg``,
    or the head ``mask`` where a renderer gives no classes) inside the face box is metered, and
    ``skin_albedo`` (the head's, :func:`skin_albedo`) says how dark the skin is itself."""
    target = spec.effects.meter_luma
    if target <= 0.0:
        return spec
    x0, y0, x1, y1 = (float(v) for v in rendered["bbox"])
    if not np.isfinite([x0, y0, x1, y1]).all():
        return spec
    rows = slice(max(0, int(y0)), max(0, int(np.ceil(y1))))
    cols = slice(max(0, int(x0)), max(0, int(np.ceil(x1))))
    seg = rendered.get("seg")
    region = seg[rows, cols] == 1 if seg is not None else np.asarray(rendered["mask"][rows, cols], bool)
    ev = metered_ev(rendered["rgb"][rows, cols], region, target, skin_albedo)
    return dataclasses.replace(spec, effects=dataclasses.replace(spec.effects, meter_ev=ev))


def skin_albedo(head) -> float:
    """Mean linear albedo of a head's skin (its first part: its tint's luminance, else its
    texture's, ``synth.render.texture.texture_luminance``)."""
    from synth.render.texture import LUMINANCE_WEIGHTS, texture_luminance

    skin = head.parts[0]
    if skin.tint is not None:
        return float(np.asarray(skin.tint, np.float64) @ np.array(LUMINANCE_WEIGHTS))
    return texture_luminance(skin.texture)


def label_sample(spec: SceneSpec, rendered: dict, rgb: np.ndarray) -> dict:
    """Assemble the stored sample from a spec, the renderer's output and the final image.

    Returns: index, seed, identity (int); rgb (H, W, 3) uint8; depth (H, W)
    uint16 mm, 0 = no data; mask (H, W) uint8 0/1; rotation (3, 3), euler (3,)
    pitch/yaw/roll deg, translation (3,) mm, bbox (4,) x0/y0/x1/y1 px,
    landmarks (68, 2) px, K (3, 3) -- all float32; landmarks_visible (68,) bool (False also
    under a distractor: a pixel at least half covered by one);
    coarse_class int (0..3, see synth.pose.coarse_category); params (dict; with
    ``params["renderer"]`` = the backend's name when the renderer output names it, as
    the mixed renderer of ``renderer.backend: mix`` does); seg (H, W) uint8 part classes when the
    backend draws them (``synth.heads.mesh.SEG_CLASSES``).
    """
    R = spec.head.rotation
    euler = euler_from_rotation(R)
    depth = depth_mm_u16(rendered["depth"])
    shape = rendered["mask"].shape
    cover = covered(spec.effects.distractors, *shape) if spec.effects.distractors else None
    out = {
        "index": spec.index,
        "seed": spec.seed,
        "identity": spec.head.identity,
        "rgb": rgb,
        "depth": depth,
        "mask": rendered["mask"].astype(np.uint8),
        "rotation": R.astype(np.float32),
        "euler": euler.astype(np.float32),
        "translation": np.asarray(spec.head.translation, dtype=np.float32),
        "bbox": np.asarray(rendered["bbox"], dtype=np.float32),
        "landmarks": np.asarray(rendered["landmarks"], dtype=np.float32),
        "landmarks_visible": np.asarray(rendered["landmarks_visible"], dtype=bool)
        & ~hidden_by_distractors(spec.effects, rendered["landmarks"], shape, cover),
        "K": spec.camera.K.astype(np.float32),
        "coarse_class": coarse_category(float(euler[0]), float(euler[1])),
        "params": scene_params(spec, rendered["mask"], cover),
    }
    if "renderer" in rendered:
        out["params"]["renderer"] = str(rendered["renderer"])
    if "seg" in rendered:
        out["seg"] = np.asarray(rendered["seg"], np.uint8)
    return out


class SampleMaker:
    """Makes samples of one run: ``make(index)`` -> the stored sample dict (see :func:`label_sample`;
    plus ``depth_noisy`` and ``params["depth"]`` with ``depth.noise``, :func:`synth.depth.add_depth_noise`).

    cfg: the resolved config; seed: the run's global seed. Builds the head
    bank and the renderer once. Pass ``head_bank`` / ``renderer`` to reuse
    existing ones (tests, benchmarks).
    """

    def __init__(self, cfg: SynthConfig, seed: int | None = None, head_bank=None, renderer=None):
        self.cfg = cfg
        self.seed = cfg.seed if seed is None else int(seed)
        self.head_bank = head_bank if head_bank is not None else build_head_bank(cfg, self.seed)
        if len(self.head_bank) < cfg.heads.pool_size:
            raise ValueError(f"head bank has {len(self.head_bank)} identities, config asks for "
                             f"heads.pool_size={cfg.heads.pool_size}")
        self.renderer = renderer if renderer is not None else build_renderer(cfg)
        self._skin_albedo: dict[str, float] = {}   # skin texture key -> its albedo (skin_albedo)

    def spec(self, index: int) -> SceneSpec:
        return sample_scene(self.cfg, self.seed, index)

    def render_spec(self, spec: SceneSpec) -> tuple[dict, np.ndarray, SceneSpec]:
        """Render a spec and apply its effects: (renderer output, final rgb, the spec with the
        metered exposure the render gave, see :func:`metered_spec`)."""
        head = self.head_bank.get(spec.head.identity)
        rendered = self.renderer.render(spec, head)
        spec = self.meter(spec, head, rendered)
        return rendered, apply_effects(rendered["rgb"], spec.effects), spec

    def meter(self, spec: SceneSpec, head, rendered: dict) -> SceneSpec:
        """:func:`metered_spec` with the head's skin albedo (worked out once per skin texture)."""
        if spec.effects.meter_luma <= 0.0:
            return spec
        key = head.parts[0].texture_key
        if key not in self._skin_albedo:   # ~15 ms a texture
            self._skin_albedo[key] = skin_albedo(head)
        return metered_spec(spec, rendered, self._skin_albedo[key])

    def make(self, index: int) -> dict:
        spec = self.spec(index)
        rendered, rgb, spec = self.render_spec(spec)
        sample = label_sample(spec, rendered, rgb)
        outfit = self.head_bank.get(spec.head.identity).attributes.get("outfit")
        if outfit is not None:     # what the person wears (synth.heads.wardrobe.Outfit)
            sample["params"]["outfit"] = outfit
        return add_depth_noise(sample, self.cfg)

    def close(self) -> None:
        self.renderer.close()


def make_sample_maker(cfg: SynthConfig, seed: int) -> SampleMaker:
    """The real per-process sample maker: head bank + renderer (built once per worker)."""
    return SampleMaker(cfg, seed)


def sphere_sample_maker(cfg: SynthConfig, seed: int) -> SampleMaker:
    """A real SampleMaker (real renderer and effects) over sphere heads: no head-bank build (tests, benchmarks)."""
    from synth.render.testmeshes import SphereHeadBank

    return SampleMaker(cfg, seed, head_bank=SphereHeadBank(cfg.heads.pool_size))
