"""Cross-field checks of a loaded configuration (:func:`validate`): bounds, probabilities,
files and names the types cannot express; each failure is a ConfigError naming the key and the fix."""
from __future__ import annotations

import math
from pathlib import Path

from synth.config.spec import (BACKGROUND_KINDS, POSE_PRESETS, ConfigError, EffectsConfig, SynthConfig,
                               histogram_path)
from synth.scene import DISTRACTOR_SHAPES

def _check_choice(key: str, value, choices, fix: str) -> None:
    """ConfigError ``KEY: VALUE; fix: FIX`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{key}: {value!r}; fix: {fix}")


def _check_prob(value: float, key: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{key}: probability {value} outside [0, 1]")


def _validate_scene_effects(e: EffectsConfig) -> None:
    """Checks of the distractor, colour, exposure, vignetting and sharpening effects (ConfigError naming the key)."""
    d, wb, ex = e.distractors, e.white_balance, e.exposure
    for key in ("distractors.probability", "distractors.soft_probability", "white_balance.probability",
                "exposure.probability", "vignetting.probability", "noise.chroma_probability",
                "sharpen.probability"):
        section, name = key.split(".")
        _check_prob(getattr(getattr(e, section), name), f"effects.{key}")
    if not 1 <= d.max_count <= 8:
        raise ConfigError(f"effects.distractors.max_count: {d.max_count}; fix: use 1..8")
    for name, w in d.shapes.items():
        if name not in DISTRACTOR_SHAPES or isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0:
            raise ConfigError(f"effects.distractors.shapes.{name}: {w!r}; fix: weights >= 0 for shapes among "
                              f"{', '.join(DISTRACTOR_SHAPES)}")
    if sum(d.shapes.values()) <= 0:
        raise ConfigError("effects.distractors.shapes: weights sum to 0; fix: give one shape a positive weight")
    for key, (lo, hi), a, b, what in (
            ("distractors.size", d.size, 1e-3, 10.0, "face heights"),
            ("distractors.softness", d.softness, 0.0, 50.0, "px at sensor scale"),
            ("white_balance.temperature", wb.temperature, -2.0, 2.0, "ln of the red/blue gain ratio"),
            ("white_balance.tint", wb.tint, -1.0, 1.0, "ln of the green gain"),
            ("exposure.ev", ex.ev, -4.0, 4.0, "stops"), ("exposure.gamma", ex.gamma, 0.25, 4.0, "power"),
            ("vignetting.strength", e.vignetting.strength, 0.0, 0.95, "light lost at the corner"),
            ("noise.chroma_sigma", e.noise.chroma_sigma, 0.0, 64.0, "0..255 scale"),
            ("noise.chroma_scale", e.noise.chroma_scale, 1.0, 64.0, "px at sensor scale"),
            ("sharpen.amount", e.sharpen.amount, 0.0, 4.0, "detail added, 1 = doubled"),
            ("sharpen.sigma", e.sharpen.sigma, 0.1, 10.0, "px of the output")):
        if not (a <= lo and hi <= b):
            raise ConfigError(f"effects.{key}: [{lo}, {hi}]; fix: keep within [{a}, {b}] ({what})")
    if ex.face_luma is not None and not (1.0 <= ex.face_luma[0] and ex.face_luma[1] <= 255.0):
        raise ConfigError(f"effects.exposure.face_luma: {list(ex.face_luma)}; fix: keep within [1, 255] (the face's "
                          "luma), or null for no metering")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_bounds(cfg: SynthConfig) -> None:
    """Ranges and numbers that only make sense within bounds (angles, non-negative sizes, a positive focal length)."""
    if not 0 <= cfg.seed < 2**63:
        raise ConfigError(f"seed: {cfg.seed}; fix: use an integer in 0 .. 2**63-1 (e.g. --seed 0)")
    for key, v in (("sensor.fx", cfg.sensor.fx), ("sensor.fy", cfg.sensor.fy)):
        if not v > 0:
            raise ConfigError(f"{key}: {v} px; fix: give the focal length in pixels, > 0 (Kinect-like: 575.8)")
    pose = cfg.pose
    l, e = cfg.lighting, cfg.effects
    for key, r, lo, hi in (("pose.pitch", pose.pitch, -180, 180), ("pose.yaw", pose.yaw, -180, 180),
                           ("pose.roll", pose.roll, -180, 180), ("lighting.azimuth_deg", l.azimuth_deg, -180, 180),
                           ("lighting.elevation_deg", l.elevation_deg, -90, 90),
                           ("lighting.intensity", l.intensity, 0, math.inf), ("lighting.ambient", l.ambient, 0, math.inf),
                           ("effects.blur.gaussian_sigma", e.blur.gaussian_sigma, 0, math.inf),
                           ("effects.blur.motion_length", e.blur.motion_length, 0, math.inf),
                           ("effects.noise.sigma", e.noise.sigma, 0, math.inf)):
        if r is not None and not (lo <= r[0] and r[1] <= hi):
            bounds = f"within [{lo}, {hi}]" if hi < math.inf else f"at {lo} or above"
            raise ConfigError(f"{key}: [{r[0]}, {r[1]}]; fix: keep the range {bounds}")
    if not cfg.camera.translation >= 0:
        raise ConfigError(f"camera.translation: {cfg.camera.translation}; fix: give a fraction >= 0")
    if e.occlusion.reference_width < 1:
        raise ConfigError(f"effects.occlusion.reference_width: {e.occlusion.reference_width}; fix: give px >= 1")


def validate(cfg: SynthConfig) -> None:
    """Cross-field checks the types cannot express; raises ConfigError."""
    _check_bounds(cfg)
    _check_choice("output.mode", cfg.output.mode, ("crop", "full"), "use 'crop' or 'full'")
    for key, v in (("output.width", cfg.output.width), ("output.height", cfg.output.height),
                   ("sensor.width", cfg.sensor.width), ("sensor.height", cfg.sensor.height)):
        if not 8 <= v <= 8192:
            raise ConfigError(f"{key}: {v} px is outside 8..8192")
    _check_choice("heads.source", cfg.heads.source, ("makehuman", "user"), "use 'makehuman' or 'user'")
    if cfg.heads.pool_size < 1:
        raise ConfigError("heads.pool_size: must be >= 1")
    o = cfg.heads.outfit
    for key in ("bald_share_male", "bald_share_female", "facial_hair_share", "glasses_share", "hat_share",
                "smile_share", "blink_share"):
        _check_prob(getattr(o, key), f"heads.outfit.{key}")
    if not 0.0 <= o.gaze_deg <= 30.0:
        raise ConfigError(f"heads.outfit.gaze_deg: {o.gaze_deg}; fix: keep within [0, 30] degrees")
    if o.top and not o.body:
        raise ConfigError("heads.outfit.top: clothes need the body; fix: also --set heads.outfit.body=true")
    _check_choice("heads.eye_mesh", cfg.heads.eye_mesh, ("low", "high"), "use 'low' or 'high'")
    if cfg.heads.source == "user":
        folder = cfg.heads.user_folder
        if not folder or not Path(folder).is_dir():
            raise ConfigError(f"heads.user_folder: {folder!r} is not a folder; fix: point it at a mesh folder "
                              "with a manifest.yaml (see synth/heads/user_meshes.py)")
    _check_choice("pose.mode", cfg.pose.mode, ("preset", "uniform_so3", "histogram"),
                  "use 'preset', 'uniform_so3' or 'histogram'")
    _check_choice("pose.preset", cfg.pose.preset, POSE_PRESETS, f"use one of {sorted(POSE_PRESETS)}")
    if cfg.pose.mode == "histogram":
        hf = cfg.pose.histogram_file
        if not hf or not histogram_path(hf).is_file():
            raise ConfigError(f"pose.histogram_file: {hf!r} not found; fix: give a .npy/.npz/.csv of "
                              "(N, 3) pitch, yaw, roll angles in degrees or a shipped target name (faces)")
    if not 0.0 < cfg.pose.max_angle <= 180.0:
        raise ConfigError("pose.max_angle: must be in (0, 180]")
    _check_choice("camera.model", cfg.camera.model, ("sensor", "photo"), "use 'sensor' or 'photo'")
    if cfg.camera.distance_mm[0] <= 100.0:
        raise ConfigError("camera.distance_mm: the near end must be > 100 mm (the camera's near plane)")
    if not (0.05 <= cfg.camera.face_height[0] and cfg.camera.face_height[1] <= 1.0):
        raise ConfigError("camera.face_height: keep within [0.05, 1] of the image height")
    if not (0.0 <= cfg.camera.face_center_y[0] and cfg.camera.face_center_y[1] <= 1.0):
        raise ConfigError("camera.face_center_y: keep within [0, 1] of the image height")
    if not (0.1 <= cfg.camera.photo_render_scale[0] and cfg.camera.photo_render_scale[1] <= 1.0):
        raise ConfigError("camera.photo_render_scale: keep within [0.1, 1] of the output resolution")
    if cfg.camera.model == "photo" and cfg.output.mode != "crop":
        raise ConfigError("camera.model: 'photo' frames the face, so output.mode must be 'crop'")
    fr = cfg.output.crop_head_fraction
    if not (0.05 <= fr[0] and fr[1] <= 1.5):
        raise ConfigError("output.crop_head_fraction: keep within [0.05, 1.5]")
    for name, rgb in cfg.lighting.colors.items():
        if not (isinstance(rgb, (list, tuple)) and len(rgb) == 3 and all(_is_number(c) and 0 <= c <= 1 for c in rgb)):
            raise ConfigError(f"lighting.colors.{name}: expected [r, g, b] with values in [0, 1], got {rgb!r}")
    if "natural" not in cfg.lighting.colors:
        raise ConfigError("lighting.colors: needs a 'natural' entry (the white light)")
    _check_prob(cfg.lighting.white_probability, "lighting.white_probability")
    for key in ("fill_intensity", "environment"):
        if getattr(cfg.lighting, key)[0] < 0:
            raise ConfigError(f"lighting.{key}: must be >= 0")
    if not 0.0 <= cfg.lighting.tint <= 1.0:
        raise ConfigError("lighting.tint: keep within [0, 1]")
    e = cfg.effects
    for key, p in (("effects.blur.gaussian_probability", e.blur.gaussian_probability),
                   ("effects.blur.motion_probability", e.blur.motion_probability),
                   ("effects.occlusion.probability", e.occlusion.probability),
                   ("effects.noise.probability", e.noise.probability),
                   ("effects.compression.jpeg_probability", e.compression.jpeg_probability),
                   ("effects.compression.downsample_probability", e.compression.downsample_probability)):
        _check_prob(p, key)
    for box in e.occlusion.boxes:
        if not (isinstance(box, (list, tuple)) and len(box) == 2 and all(_is_number(v) and v > 0 for v in box)):
            raise ConfigError(f"effects.occlusion.boxes: each box is [width, height] > 0, got {box!r}")
    if e.compression.jpeg_quality[0] < 1 or e.compression.jpeg_quality[1] > 100:
        raise ConfigError("effects.compression.jpeg_quality: keep within [1, 100]")
    if e.compression.downsample_factor[0] < 1:
        raise ConfigError("effects.compression.downsample_factor: factors must be >= 1")
    _validate_scene_effects(e)
    b = cfg.background
    weights = [getattr(b, k) for k in BACKGROUND_KINDS]
    if min(weights) < 0 or sum(weights) <= 0:
        raise ConfigError(f"background: {'/'.join(BACKGROUND_KINDS)} weights must be >= 0 with a positive sum; "
                          "fix: give each kind a weight >= 0, at least one > 0")
    _check_prob(b.blur_probability, "background.blur_probability")
    _check_prob(b.dim_probability, "background.dim_probability")
    if not (isinstance(b.share_block, int) and not isinstance(b.share_block, bool) and b.share_block >= 1):
        raise ConfigError(f"background.share_block: {b.share_block!r}; fix: a whole number of samples >= 1, e.g. 100")
    if not (_is_number(b.share) and 1.0 <= b.share <= b.share_block):
        raise ConfigError(f"background.share: {b.share!r}; fix: 1 (every sample draws its own backdrop) up to "
                          f"background.share_block ({b.share_block!r})")
    if not (0.0 <= b.dim_ev[0] and b.dim_ev[1] <= 10.0):
        raise ConfigError(f"background.dim_ev: {list(b.dim_ev)}; fix: keep within [0, 10] (stops darker than the face)")
    if not (0.0 <= b.blur[0] and b.blur[1] <= 0.2):
        raise ConfigError(f"background.blur: {list(b.blur)}; fix: keep within [0, 0.2] (sigma as a fraction of "
                          "the frame width)")
    if b.image > 0:
        folder = b.image_folder
        if not folder or not Path(folder).is_dir():
            raise ConfigError(f"background.image_folder: {folder!r} is not a folder; fix: point it at a folder "
                              "of JPG/PNG images or set background.image to 0")
        if not any(p.suffix.lower() in (".jpg", ".jpeg", ".png") for p in Path(folder).iterdir()):
            raise ConfigError(f"background.image_folder: {folder} holds no .jpg/.png images")
    d = cfg.depth
    for key, v in (("depth.baseline_mm", d.baseline_mm), ("depth.disparity_step", d.disparity_step),
                   ("depth.edge_jump_mm", d.edge_jump_mm), ("depth.range_mm", d.range_mm)):
        if not v > 0:
            raise ConfigError(f"{key}: must be > 0, got {v}")
    if d.disparity_sigma[0] < 0:
        raise ConfigError("depth.disparity_sigma: must be >= 0 px")
    if not (0.0 < d.grazing_angle_deg[0] and d.grazing_angle_deg[1] <= 90.0):
        raise ConfigError("depth.grazing_angle_deg: keep within (0, 90] degrees")
    for key, r in (("depth.edge_dropout", d.edge_dropout), ("depth.dropout", d.dropout)):
        if not (0.0 <= r[0] and r[1] <= 1.0):
            raise ConfigError(f"{key}: probabilities must lie in [0, 1]")
    if not 0 <= d.edge_width_px <= 16:
        raise ConfigError("depth.edge_width_px: keep within 0..16 px")
    if not 8 <= d.crop_size <= 4096:
        raise ConfigError(f"depth.crop_size: {d.crop_size} px is outside 8..4096")
    if not 0.0 <= d.crop_margin <= 2.0:
        raise ConfigError("depth.crop_margin: keep within [0, 2]")
    r = cfg.renderer
    _check_choice("renderer.backend", r.backend, ("gl", "blender", "mix"), "use 'gl', 'blender' or 'mix'")
    _check_choice("renderer.gl_context", r.gl_context, ("auto", "osmesa", "egl"), "use auto, osmesa or egl")
    _check_choice("renderer.gl_mipmaps", r.gl_mipmaps, ("nearest", "linear"), "use nearest or linear")
    _check_choice("renderer.gl_cutout_mipmaps", r.gl_cutout_mipmaps, ("nearest", "linear"), "use nearest or linear")
    if not 0.0 <= r.gl_lod_px <= 2.0:
        raise ConfigError(f"renderer.gl_lod_px: {r.gl_lod_px}; fix: keep within [0, 2] render pixels (0 = full meshes)")
    if not 0.0 <= r.gl_lod_mouth_px <= 4.0:
        raise ConfigError(f"renderer.gl_lod_mouth_px: {r.gl_lod_mouth_px}; fix: keep within [0, 4] render pixels "
                          "(0 = the teeth at gl_lod_px, the mouth interior in full)")
    _check_prob(r.blender_ratio, "renderer.blender_ratio")
    if not 1 <= r.cycles_samples <= 4096:
        raise ConfigError(f"renderer.cycles_samples: {r.cycles_samples}; fix: use 1..4096 samples per pixel")
    _check_choice("renderer.cycles_device", r.cycles_device, ("cpu", "auto", "cuda", "optix"),
                  "use cpu, auto, cuda or optix")
    if not 0.01 <= r.cycles_filter_px <= 10.0:
        raise ConfigError(f"renderer.cycles_filter_px: {r.cycles_filter_px}; fix: keep within [0.01, 10] px")
    if r.cycles_threads < 0:
        raise ConfigError("renderer.cycles_threads: must be >= 0 (0 = all cores)")
