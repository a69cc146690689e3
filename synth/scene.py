"""Scene description: plain data, no renderer code.

A :class:`SceneSpec` says everything needed to produce one sample: which head
identity, where it sits relative to the camera, how it is lit, what is behind
it and which post-render effects apply. Renderers (``synth.render``) turn a
spec into images; ``synth.effects`` applies the effects; ``synth.sampling``
draws specs from a config. Keeping the spec free of renderer state is what
lets two backends render the same sample and lets a sample be re-created from
``(config, seed, index)`` alone.

Frames and units (see ``synth.pose`` for the full convention):

* camera frame = OpenCV: x right, y down, z forward (away from the camera), mm;
* head frame: with the identity rotation the head faces the camera, x points
  toward image right (the subject's left), y down (toward the chin), z from
  the face toward the back of the head; origin at the head centre defined by
  the head bank (``synth.heads``), mm;
* ``HeadInstance.rotation`` maps head coordinates to camera coordinates:
  ``p_cam = rotation @ p_head + translation``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Camera:
    """Pinhole camera with OpenCV intrinsics.

    width, height: image size in pixels. fx, fy: focal lengths in pixels.
    cx, cy: principal point in pixels (pixel centres at integer + 0.5 edges,
    i.e. the OpenCV convention where pixel (0, 0) covers [0, 1) x [0, 1)).
    near, far: clipping distances along z in mm.
    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    near: float = 100.0
    far: float = 5000.0

    @property
    def K(self) -> np.ndarray:
        """(3, 3) float64 intrinsic matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """Project (N, 3) camera-frame points in mm to (N, 2) pixel coordinates."""
        p = np.asarray(points_cam, dtype=np.float64)
        z = p[:, 2]
        return np.stack([self.fx * p[:, 0] / z + self.cx, self.fy * p[:, 1] / z + self.cy], axis=1)


@dataclass(frozen=True)
class HeadInstance:
    """One head placed in the camera frame.

    identity: index into the run's identity pool (``synth.heads.HeadBank``).
    rotation: (3, 3) float64, head frame -> camera frame (proper rotation): the pose label.
    translation: (3,) float64, head centre in the camera frame, mm.
    body_rotation: (3, 3) float64 or None: the torso's orientation in the camera frame (head-frame
        axes of the torso at rest -> camera); the torso turns about the head's neck pivot
        (``HeadMesh.neck_pivot``) and the neck blends between the two. None = rigid with the head.
    """

    identity: int
    rotation: np.ndarray
    translation: np.ndarray
    body_rotation: np.ndarray | None = None


@dataclass(frozen=True)
class Light:
    """A directional key light, ambient fill, and optionally a fill light and an environment gradient.

    direction: (3,) unit vector in the camera frame pointing from the head
        toward the light (so (0, 0, -1) is a light at the camera).
    intensity: key-light scale, 0.3..1.2 in the default config.
    color: (3,) linear RGB in [0, 1]; natural white is (1, 1, 1).
    ambient: ambient term in [0, 1], multiplied by ``color``.
    fill_direction / fill_intensity / fill_color: a second, weaker directional light (Lambert, no
        highlight), linear RGB; intensity 0 = none.
    env_direction / env_strength / env_color: the first-order (linear) spherical-harmonic part of
        the environment: a surface with normal n gets ``env_strength * env_color * dot(n,
        env_direction)`` added to the ambient (negative where it faces away: the ground side is
        darker than the sky side), clamped at 0 in total; strength 0 = uniform ambient only.
    """

    direction: np.ndarray
    intensity: float
    color: np.ndarray
    ambient: float = 0.35
    color_name: str = "white"
    fill_direction: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, -1.0]))
    fill_intensity: float = 0.0
    fill_color: np.ndarray = field(default_factory=lambda: np.ones(3))
    env_direction: np.ndarray = field(default_factory=lambda: np.array([0.0, -1.0, 0.0]))
    env_strength: float = 0.0
    env_color: np.ndarray = field(default_factory=lambda: np.ones(3))


@dataclass(frozen=True)
class Background:
    """What fills pixels the head does not cover (``synth.render.background.make_background``).

    kind: ``"solid"`` (``color``), ``"noise"`` (smooth value noise drawn from
        ``seed``, tinted by ``color``), ``"image"`` (``image_path``, resized
        to the frame), ``"leaves"`` (dead leaves: occluding textured shapes of
        power-law sizes, drawn from ``seed``, hues around ``color``) or
        ``"clutter"`` (textured planes in perspective and objects, from ``seed``) or
        ``"studio"`` (a plain portrait backdrop, unevenly lit, from ``seed``, hue of ``color``) or
        ``"outdoor"`` (sky over a treeline, foliage, a field or a street, from ``seed``).
    color: (3,) RGB in [0, 1].
    blur: defocus of the background (the head stays sharp): Gaussian sigma as a
        fraction of the frame width (0.01 = 2.56 px at 256 px), 0 = sharp.
    dim_ev: stops by which the backdrop is lit below the subject (flash, spot or window light on
        the face: a dark backdrop behind a well-exposed face), in linear light; 0 = not dimmed,
        None where the config has no dimming (then it is not recorded either).
    pattern_size: (W, H) px of a backdrop shared by several samples (``background.share``): the
        pattern of ``kind``, ``seed`` and ``color`` is drawn at this size once, and this sample shows
        the part ``crop`` = (x0, y0, side), fractions of W and H (the square's top-left corner and side),
        enlarged or shrunk to the frame and mirrored left-right when ``mirror``; None (and crop None):
        the pattern is drawn for this frame alone.
    """

    kind: str
    color: np.ndarray
    seed: int = 0
    image_path: str | None = None
    blur: float = 0.0
    dim_ev: float | None = None
    pattern_size: tuple[int, int] | None = None
    crop: tuple[float, float, float] | None = None
    mirror: bool = False


@dataclass(frozen=True)
class Occluder:
    """An axis-aligned box painted over the image, in output pixels.

    x, y: top-left corner; width, height: size; color: (3,) RGB in [0, 1].
    """

    x: float
    y: float
    width: float
    height: float
    color: tuple[float, float, float] = (0.0, 0.0, 0.0)


#: Distractor outlines: bar (pole, pen, strap), hand (palm and fingers), and the shapes of
#: synth.draw.shapes (ellipse, rect, polygon, blob)
DISTRACTOR_SHAPES = ("bar", "hand", "ellipse", "rect", "polygon", "blob")
#: Distractor textures: flat, or two-tone with a pattern of synth.draw.patterns
DISTRACTOR_TEXTURES = ("flat", "stripes", "checks", "blotches")


@dataclass(frozen=True)
class Distractor:
    """An object between the camera and the head, composited over the image (``synth.distractors``).

    shape: one of :data:`DISTRACTOR_SHAPES`.
    x, y: centre in output px; width, height: extent along its own axes in px (a bar's
        length and thickness; a hand's palm-to-fingertip length and width);
        angle: degrees counter-clockwise in the image.
    color, color2: (3,) RGB in [0, 1]: its colour and its pattern's second colour.
    texture: one of :data:`DISTRACTOR_TEXTURES`.
    shading: 0..1, light falling off across its short axis (a rounded object), 0 = flat.
    softness: Gaussian sigma of its edge in px (a near object out of focus), 0 = hard.
    seed: the irregularity of its outline and the offset of its pattern.
    """

    shape: str
    x: float
    y: float
    width: float
    height: float
    angle: float = 0.0
    color: tuple[float, float, float] = (0.5, 0.5, 0.5)
    color2: tuple[float, float, float] = (0.3, 0.3, 0.3)
    texture: str = "flat"
    shading: float = 0.0
    softness: float = 0.0
    seed: int = 0


#: ``Effects`` field metadata: the field belongs to the scene-and-optics half of the chain
SCENE_STAGE = {"stage": "scene"}
#: ``Effects`` field metadata: the field belongs to the lens-and-sensor half of the chain
SENSOR_STAGE = {"stage": "sensor"}


@dataclass(frozen=True)
class Effects:
    """Post-render image effects, applied in this order by ``synth.effects``.

    distractors: objects in front of the head (:class:`Distractor`), composited first:
        they are part of the scene, so the optics and the sensor see them too.
    downsample: factor >= 1 (1 = off); the image is shrunk by it and scaled
        back, emulating a low-resolution sensor.
    gaussian_sigma: Gaussian blur sigma in output pixels (0 = off).
    motion_length: motion-blur kernel length in pixels (0 = off).
    motion_angle: motion direction in degrees, counter-clockwise from image x.
    occluders: boxes painted after blur (occluders are in front of the lens
        path in the paper: black boxes).
    vignetting: light lost at ``vignetting_radius`` from ``vignetting_center``, 0..1
        (0 = off): a cos^4-like radial falloff of the lens, in linear light.
    vignetting_center: (x, y) output px of the falloff's centre (the optical axis: the
        principal point, outside a crop's centre in general).
    vignetting_radius: output px at which the loss is ``vignetting`` (the sensor's half-diagonal).
    exposure_ev: exposure error in stops: linear light times 2**exposure_ev (0 = off);
        highlights clip.
    meter_luma: face-metered exposure's target, the face's median luma 0..255 (0 = off).
    meter_ev: the metered exposure in stops that brings the render's face there: set by the
        pipeline from the render (``synth.sensor.metered_ev``), 0 in a spec fresh from sampling;
        applied with ``exposure_ev`` (linear light times 2**(meter_ev + exposure_ev)).
    wb_temperature: white-balance error, natural log of the red/blue gain ratio
        (+ = warmer), 0 = off. wb_tint: log green gain against red and blue (+ = greener).
        Gains: ``synth.sensor.white_balance_gains``, luminance-neutral, in linear light.
    tone_gamma: tone curve on the encoded image, out = in ** tone_gamma (1 = off).
    sharpen_amount: unsharp mask after the tone curve, out = in + amount x (in - blurred),
        rounded and clipped to 0..255 (0 = off); sharpen_sigma: the blur's Gaussian sigma, output px.
    noise_sigma: Gaussian sensor noise sigma on the 0..255 scale (0 = off).
    noise_seed: seed of the noise field.
    chroma_sigma: colour noise: std per channel on the 0..255 scale of a zero-luminance
        noise (0 = off), in blotches ``chroma_scale`` output px across (demosaiced and
        denoised camera colour noise). chroma_seed: its seed.
    jpeg_quality: 1..100, 0 = off.

    Every field says in its metadata which half of the chain it belongs to (``"stage"``: ``"scene"``,
    distractors to occluders, or ``"sensor"``, vignetting to JPEG), so ``synth.effects.split_effects``
    cuts the chain without a list of names to keep in step; a test checks each field has one.
    """

    downsample: float = field(default=1.0, metadata=SCENE_STAGE)
    gaussian_sigma: float = field(default=0.0, metadata=SCENE_STAGE)
    motion_length: float = field(default=0.0, metadata=SCENE_STAGE)
    motion_angle: float = field(default=0.0, metadata=SCENE_STAGE)
    occluders: tuple[Occluder, ...] = field(default=(), metadata=SCENE_STAGE)
    noise_sigma: float = field(default=0.0, metadata=SENSOR_STAGE)
    noise_seed: int = field(default=0, metadata=SENSOR_STAGE)
    jpeg_quality: int = field(default=0, metadata=SENSOR_STAGE)
    distractors: tuple[Distractor, ...] = field(default=(), metadata=SCENE_STAGE)
    vignetting: float = field(default=0.0, metadata=SENSOR_STAGE)
    vignetting_center: tuple[float, float] = field(default=(0.0, 0.0), metadata=SENSOR_STAGE)
    vignetting_radius: float = field(default=1.0, metadata=SENSOR_STAGE)
    exposure_ev: float = field(default=0.0, metadata=SENSOR_STAGE)
    meter_luma: float = field(default=0.0, metadata=SENSOR_STAGE)
    meter_ev: float = field(default=0.0, metadata=SENSOR_STAGE)
    wb_temperature: float = field(default=0.0, metadata=SENSOR_STAGE)
    wb_tint: float = field(default=0.0, metadata=SENSOR_STAGE)
    tone_gamma: float = field(default=1.0, metadata=SENSOR_STAGE)
    chroma_sigma: float = field(default=0.0, metadata=SENSOR_STAGE)
    chroma_scale: float = field(default=1.0, metadata=SENSOR_STAGE)
    chroma_seed: int = field(default=0, metadata=SENSOR_STAGE)
    sharpen_amount: float = field(default=0.0, metadata=SENSOR_STAGE)
    sharpen_sigma: float = field(default=0.0, metadata=SENSOR_STAGE)


@dataclass(frozen=True)
class SceneSpec:
    """Everything needed to render and post-process one sample.

    index, seed: the sample's index within the run and the run's global seed
        (the spec is a pure function of config, seed and index).
    render_scale: the head is rasterised at this fraction of the output
        resolution and resampled up, to emulate a sensor whose native face
        resolution is lower than the output crop (1 = render at full size).
    """

    index: int
    seed: int
    camera: Camera
    head: HeadInstance
    light: Light
    background: Background
    effects: Effects = field(default_factory=Effects)
    render_scale: float = 1.0
