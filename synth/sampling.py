"""Scene sampling: pure functions from (config, seed, index) to a SceneSpec.

Every draw goes through the generator that :func:`sample_rng` returns for one
sample, ``numpy.random.Generator(PCG64(SeedSequence([seed, index])))``, so a
sample's content never depends on worker count, shard size or scheduling. No
global RNG is touched anywhere.
"""
from __future__ import annotations

import colorsys
import dataclasses
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from synth.config import BACKGROUND_KINDS, PoseConfig, SynthConfig, histogram_path, pose_ranges
from synth.heads.template import FACE_TEMPLATE_MM
from synth.pose import euler_from_rotation, rotation_from_euler
from synth.scene import (DISTRACTOR_SHAPES, DISTRACTOR_TEXTURES, Background, Camera, Distractor, Effects,
                         HeadInstance, Light, Occluder, SceneSpec)

#: Nominal head height (chin to crown) in mm used to frame crops before rendering.
NOMINAL_HEAD_HEIGHT_MM = 230.0
#: Nominal face height (chin to brow) in mm used to place occluders over the face.
NOMINAL_FACE_HEIGHT_MM = 190.0


def sample_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """The generator of sample ``index`` of a run with global ``seed``; ``stream`` > 0 gives an independent
    one of the same sample (``SeedSequence([seed, index, stream])``) for parts whose draws must not move
    when other parts draw more numbers."""
    key = [int(seed), int(index)] + ([int(stream)] if stream else [])
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(key)))


#: stream of the torso pose, the fill / environment light, the backdrop's dimming and the sharpening
#: (independent of every other draw)
PEOPLE_STREAM = 1
#: stream of a sample's pick and crop of a shared backdrop (:func:`share_backdrop`)
BACKDROP_STREAM = 2
#: the shared backdrops of a block of samples: SeedSequence([seed, block, BACKDROP_POOL, kind, slot])
BACKDROP_POOL = 3


def _uniform(rng: np.random.Generator, rng_range) -> float:
    lo, hi = rng_range
    return float(lo) if lo == hi else float(rng.uniform(lo, hi))


# --- pose -----------------------------------------------------------------------------------

def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly distributed rotation (Haar measure) from a normalised 4-D Gaussian quaternion."""
    q = rng.standard_normal(4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


@dataclass(frozen=True)
class PoseHistogram:
    """A 3-D histogram of target (pitch, yaw, roll) angles in degrees.

    edges: bin edges shared by the three axes; probs: flattened bin probabilities.
    """

    edges: np.ndarray
    probs: np.ndarray
    shape: tuple[int, int, int]

    @property
    def cdf(self) -> np.ndarray:
        """The cumulative distribution ``Generator.choice(n, p=probs)`` searches (computed once)."""
        c = self.__dict__.get("_cdf")
        if c is None:
            c = self.probs.cumsum()
            c /= c[-1]
            object.__setattr__(self, "_cdf", c)
        return c


@lru_cache(maxsize=8)
def load_pose_histogram(path: str, bin_deg: float = 10.0) -> PoseHistogram:
    """Load (N, 3) pitch/yaw/roll degrees from .npy/.npz/.csv and bin them, or a ready histogram
    (.npz with ``edges`` (B+1,) and ``probs`` (B, B, B)), or a shipped target by name (``faces``)."""
    p = histogram_path(path)
    try:
        if p.suffix == ".npy":
            angles = np.load(p)
        elif p.suffix == ".npz":
            with np.load(p) as z:
                if "edges" in z.files and "probs" in z.files:
                    return _ready_histogram(p, z["edges"], z["probs"])
                angles = z[z.files[0]]
        else:
            angles = np.loadtxt(p, delimiter=",", ndmin=2)
    except Exception as exc:  # noqa: BLE001 - any parse failure gets the same message
        raise ValueError(f"{p}: cannot read target pose histogram ({exc}); fix: give (N, 3) degrees") from None
    angles = np.asarray(angles, dtype=np.float64)
    if angles.ndim != 2 or angles.shape[1] != 3 or len(angles) == 0:
        raise ValueError(f"{p}: expected (N, 3) pitch, yaw, roll rows, got shape {angles.shape}")
    edges = np.arange(-180.0, 180.0 + bin_deg, bin_deg)
    hist, _ = np.histogramdd(angles, bins=(edges, edges, edges))
    return PoseHistogram(edges=edges, probs=(hist / hist.sum()).ravel(), shape=hist.shape)


def _ready_histogram(p: Path, edges: np.ndarray, probs: np.ndarray) -> PoseHistogram:
    edges = np.asarray(edges, np.float64)
    probs = np.asarray(probs, np.float64)
    b = len(edges) - 1
    if edges.ndim != 1 or b < 1 or probs.shape != (b, b, b) or not np.all(np.diff(edges) > 0) \
            or not np.all(probs >= 0) or probs.sum() <= 0:
        raise ValueError(f"{p}: a histogram needs increasing edges (B+1,) and non-negative probs (B, B, B); "
                         f"got {edges.shape} and {probs.shape}")
    return PoseHistogram(edges=edges, probs=(probs / probs.sum()).ravel(), shape=probs.shape)


def sample_rotation(cfg: PoseConfig, rng: np.random.Generator) -> np.ndarray:
    """Draw a head rotation (3, 3) per ``cfg.mode``.

    preset: independent uniform pitch, yaw, roll in the preset's ranges.
    uniform_so3: Haar-uniform rotation, rejected until every Euler angle has
        |angle| <= max_angle (bounded number of tries).
    histogram: pick a bin of the target histogram by its probability, then
        uniform angles inside the bin.
    """
    if cfg.mode == "preset":
        r = pose_ranges(cfg)
        return rotation_from_euler(_uniform(rng, r["pitch"]), _uniform(rng, r["yaw"]), _uniform(rng, r["roll"]))
    if cfg.mode == "uniform_so3":
        for _ in range(10_000):
            R = _random_rotation(rng)
            if np.all(np.abs(euler_from_rotation(R)) <= cfg.max_angle):
                return R
        raise RuntimeError(f"pose.max_angle={cfg.max_angle} rejects nearly every rotation; raise it")
    if cfg.mode == "histogram":
        h = load_pose_histogram(str(cfg.histogram_file))
        # what rng.choice(size, p=probs) does (one double, searched in the cdf), without its O(bins) checks
        flat = int(h.cdf.searchsorted(rng.random(), side="right"))
        i, j, k = np.unravel_index(flat, h.shape)
        e = h.edges
        angles = [rng.uniform(e[n], e[n + 1]) for n in (i, j, k)]
        return rotation_from_euler(*angles)
    raise ValueError(f"unknown pose mode {cfg.mode!r}")


# --- camera and framing ---------------------------------------------------------------------

@dataclass(frozen=True)
class Framing:
    """Camera of the output image and the sensor-to-output pixel scale.

    camera: intrinsics of the output image.
    px_scale: output pixels per sensor pixel (effects sized at the sensor's scale use it).
    render_scale: fraction of the output resolution the head is rasterised at.
    """

    camera: Camera
    px_scale: float
    render_scale: float


def frame_head(cfg: SynthConfig, translation: np.ndarray, rng: np.random.Generator) -> Framing:
    """Output camera for a head centred at ``translation`` (mm, sensor camera frame)."""
    s, out = cfg.sensor, cfg.output
    cx, cy = s.width / 2.0, s.height / 2.0
    if out.mode == "full":
        k = out.width / s.width
        ky = out.height / s.height
        cam = Camera(out.width, out.height, s.fx * k, s.fy * ky, float(cx * k), float(cy * ky))
        return Framing(cam, k, 1.0)
    z = float(translation[2])
    u = s.fx * translation[0] / z + cx
    v = s.fy * translation[1] / z + cy
    head_px = s.fy * NOMINAL_HEAD_HEIGHT_MM / z
    crop_h = head_px / _uniform(rng, out.crop_head_fraction)
    crop_w = crop_h * out.width / out.height
    jitter = cfg.camera.translation
    u0 = u + rng.uniform(-jitter, jitter) * crop_w - crop_w / 2.0
    v0 = v + rng.uniform(-jitter, jitter) * crop_h - crop_h / 2.0
    k = out.width / crop_w  # output px per sensor px
    cam = Camera(out.width, out.height, float(s.fx * k), float(s.fy * k), float((cx - u0) * k), float((cy - v0) * k))
    render_scale = min(1.0, max(0.1, 1.0 / k)) if s.emulate_native_resolution else 1.0
    return Framing(cam, k, render_scale)


def frame_face(cfg: SynthConfig, rotation: np.ndarray, translation: np.ndarray,
               rng: np.random.Generator) -> Framing:
    """Photo camera (``camera.model: photo``): intrinsics that put the nominal face's landmark box where
    ``camera.face_*`` say, for a head with ``rotation`` at ``translation`` (mm, camera frame).

    fx = fy = face_height * H / (the face box height the nominal face would have frontally at this
    distance, perspective included), so the scale follows the face's 3-D size; the principal point
    puts the projected box centre at
    (W * (0.5 + face_center_x + face_shift_yaw * sin(yaw)), H * face_center_y). Effect sizes (given
    in sensor px) scale by the face's size against a face 1 m in front of the sensor (``px_scale``);
    the scene is rasterised at ``camera.photo_render_scale`` of the output size.
    """
    c, out = cfg.camera, cfg.output
    W, H = float(out.width), float(out.height)
    z = float(translation[2])
    frontal_y = FACE_TEMPLATE_MM[:, 1] / (FACE_TEMPLATE_MM[:, 2] + z)
    f = _uniform(rng, c.face_height) * H / float(frontal_y.max() - frontal_y.min())
    dx = _uniform(rng, c.face_center_x)
    v = _uniform(rng, c.face_center_y)
    pts = FACE_TEMPLATE_MM @ np.asarray(rotation).T + np.asarray(translation)
    xn, yn = pts[:, 0] / pts[:, 2], pts[:, 1] / pts[:, 2]
    yaw = float(euler_from_rotation(rotation)[1])
    u = W * (0.5 + dx + c.face_shift_yaw * np.sin(np.deg2rad(yaw)))
    cx = u - f * 0.5 * (xn.min() + xn.max())
    cy = H * v - f * 0.5 * (yn.min() + yn.max())
    # effect sizes are given in sensor px: scale them as a face of this size would be in the sensor at 1 m
    px_scale = (f * NOMINAL_FACE_HEIGHT_MM / z) / (cfg.sensor.fy * NOMINAL_FACE_HEIGHT_MM / 1000.0)
    render_scale = _uniform(rng, c.photo_render_scale)
    return Framing(Camera(int(out.width), int(out.height), float(f), float(f), float(cx), float(cy)), px_scale,
                   render_scale)


def sample_translation(cfg: SynthConfig, rng: np.random.Generator) -> np.ndarray:
    """Head centre (3,) in mm: distance in ``camera.distance_mm``, offset in the frame.

    In full mode the offset is ``camera.translation`` of the frame size; in
    crop mode the head sits anywhere in the central half of the sensor (the
    crop window follows it, so only perspective changes).
    """
    s = cfg.sensor
    z = _uniform(rng, cfg.camera.distance_mm)
    frac = cfg.camera.translation if cfg.output.mode == "full" else 0.25
    du = rng.uniform(-frac, frac) * s.width
    dv = rng.uniform(-frac, frac) * s.height
    return np.array([du * z / s.fx, dv * z / s.fy, z])


# --- light, background, effects -------------------------------------------------------------

def light_direction(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """(3,) unit vector, camera frame, from the head toward the light.

    azimuth_deg: horizontal direction, 0 = from the camera, + = from image right.
    elevation_deg: vertical direction, + = from above (image up is -y).
    """
    az = np.deg2rad(azimuth_deg)
    el = np.deg2rad(elevation_deg)
    return np.array([np.sin(az) * np.cos(el), -np.sin(el), -np.cos(az) * np.cos(el)])


def sample_light(cfg: SynthConfig, rng: np.random.Generator) -> Light:
    """Key light direction from azimuth/elevation, intensity, ambient and colour."""
    lc = cfg.lighting
    az = _uniform(rng, lc.azimuth_deg)
    direction = light_direction(az, _uniform(rng, lc.elevation_deg))
    intensity = _uniform(rng, lc.intensity)
    ambient = _uniform(rng, lc.ambient)
    others = sorted(n for n in lc.colors if n != "natural")
    if not others or rng.uniform() < lc.white_probability:
        name = "natural"
    else:
        name = others[int(rng.integers(len(others)))]
    return Light(direction=direction, intensity=intensity, color=np.asarray(lc.colors[name], dtype=np.float64),
                 ambient=ambient, color_name=name)


def with_fill_and_environment(cfg: SynthConfig, light: Light, rng: np.random.Generator) -> Light:
    """``light`` with a fill light and an environment gradient (``lighting.fill_intensity`` /
    ``environment``; every number is drawn even when both ranges are 0, so neither shifts the other)."""
    lc = cfg.lighting
    fill = _uniform(rng, lc.fill_intensity)
    key_az = float(np.degrees(np.arctan2(light.direction[0], -light.direction[2])))
    fill_az = -key_az + rng.uniform(-lc.fill_spread_deg, lc.fill_spread_deg)
    fill_el = rng.uniform(0.0, 40.0)
    env = _uniform(rng, lc.environment)
    # the environment's bright side: mostly from above (image up is -y), sometimes from a side
    env_dir = light_direction(rng.uniform(-180.0, 180.0), rng.uniform(20.0, 90.0))
    tints = 1.0 + lc.tint * rng.uniform(-1.0, 1.0, size=(2, 3))
    return dataclasses.replace(
        light, fill_direction=light_direction(fill_az, fill_el), fill_intensity=fill,
        fill_color=np.clip(tints[0], 0.0, 1.0), env_direction=env_dir, env_strength=env,
        env_color=np.clip(tints[1], 0.0, 1.0))


@lru_cache(maxsize=8)
def _background_images(folder: str) -> tuple[str, ...]:
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return tuple(str(p) for p in files)


@lru_cache(maxsize=8)
def _kind_cdf(weights: tuple[float, ...]) -> np.ndarray:
    """The cumulative distribution ``Generator.choice(len(weights), p=weights / sum)`` searches."""
    p = np.array(weights, dtype=np.float64)
    cdf = (p / p.sum()).cumsum()
    cdf /= cdf[-1]
    cdf.flags.writeable = False
    return cdf


def sample_background(cfg: SynthConfig, rng: np.random.Generator) -> Background:
    """Kind (by the weights of ``BACKGROUND_KINDS``), colour, seed and image file of the background.

    Kinds with weight 0 after the last positive one never shift the search, so the
    numbers drawn for solid/noise/image are those of before the leaves and clutter
    kinds. The defocus is drawn later, by :func:`sample_background_blur`.
    """
    b = cfg.background
    # what rng.choice(n, p=...) does (one double, searched in the cdf), without its 20 us of checks
    cdf = _kind_cdf(tuple(float(getattr(b, k)) for k in BACKGROUND_KINDS))
    kind = BACKGROUND_KINDS[int(cdf.searchsorted(rng.random(), side="right"))]
    color = rng.uniform(0.05, 0.95, size=3)
    seed = int(rng.integers(0, 2**31 - 1))
    path = None
    if kind == "image":
        files = _background_images(str(b.image_folder))
        path = files[int(rng.integers(len(files)))]
    return Background(kind=kind, color=color, seed=seed, image_path=path)


#: kinds whose backdrop a block of samples can share (``background.share``): drawn from a seed at any size
SHARED_BACKDROP_KINDS = ("leaves", "clutter", "studio", "outdoor")
#: side of a sample's crop of a shared backdrop, a fraction of the pattern's (uniform in this range)
SHARE_CROP = (0.6, 1.0)


def share_backdrop(cfg: SynthConfig, background: Background, seed: int, index: int,
                   size: tuple[int, int]) -> Background:
    """``background`` turned into a crop of a backdrop that about ``background.share`` samples of its
    block (``background.share_block`` consecutive indices) share, when its kind is one of
    :data:`SHARED_BACKDROP_KINDS` and ``share`` > 1; else ``background`` as it is.

    A block holds round(block x kind's share of the weights / share) patterns of each kind (at least
    one); the pattern's seed and colour come from ``SeedSequence([seed, block, BACKDROP_POOL, kind,
    slot])``, drawn as :func:`sample_background` draws them, and it is drawn at ``size`` (W, H: the
    output frame). The sample's slot, crop (side in :data:`SHARE_CROP`, corner uniform over the
    pattern) and mirroring come from its own ``BACKDROP_STREAM``, so no other draw moves.
    """
    b = cfg.background
    if b.share <= 1.0 or background.kind not in SHARED_BACKDROP_KINDS:
        return background
    weights = [float(getattr(b, k)) for k in BACKGROUND_KINDS]
    kind_index = BACKGROUND_KINDS.index(background.kind)
    slots = max(1, round(b.share_block * weights[kind_index] / sum(weights) / b.share))
    own = sample_rng(seed, index, BACKDROP_STREAM)
    u = own.random(5)
    slot = min(int(u[0] * slots), slots - 1)
    lo, hi = SHARE_CROP
    side = lo + (hi - lo) * float(u[1])
    color, pattern_seed = _shared_pattern(int(seed), int(index) // int(b.share_block), kind_index, slot)
    return replace(background, color=np.array(color), seed=pattern_seed, pattern_size=(int(size[0]), int(size[1])),
                   crop=(float(u[2]) * (1.0 - side), float(u[3]) * (1.0 - side), side), mirror=bool(u[4] < 0.5))


@lru_cache(maxsize=256)
def _shared_pattern(seed: int, block: int, kind_index: int, slot: int) -> tuple[tuple[float, ...], int]:
    """(colour, seed) of a block's shared backdrop pattern (:func:`share_backdrop`), drawn once per process."""
    pool = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, block, BACKDROP_POOL, kind_index, slot])))
    color = pool.uniform(0.05, 0.95, size=3)
    return tuple(float(c) for c in color), int(pool.integers(0, 2**31 - 1))


def sample_background_blur(cfg: SynthConfig, rng: np.random.Generator) -> float:
    """Defocus of the background (sigma as a fraction of the frame width, 0 = sharp); two
    numbers drawn whether or not it fires."""
    b = cfg.background
    fires = rng.uniform() < b.blur_probability
    sigma = _uniform(rng, b.blur)
    return sigma if fires else 0.0


def sample_background_dim(cfg: SynthConfig, rng: np.random.Generator) -> float | None:
    """Stops the backdrop is lit below the face (``Background.dim_ev``): None when
    ``background.dim_probability`` is 0, else 0 or a draw of ``background.dim_ev``; two numbers
    drawn either way."""
    b = cfg.background
    fires = rng.uniform() < b.dim_probability
    ev = _uniform(rng, b.dim_ev)
    return None if b.dim_probability <= 0.0 else (ev if fires else 0.0)


def sample_sharpen(cfg: SynthConfig, rng: np.random.Generator) -> dict:
    """``Effects`` fields of the sharpening: {} when it does not fire, else ``sharpen_amount`` and
    ``sharpen_sigma`` (output px) from ``effects.sharpen``; its numbers are drawn whether or not it fires."""
    s = cfg.effects.sharpen
    fires = rng.uniform() < s.probability
    amount, sigma = _uniform(rng, s.amount), _uniform(rng, s.sigma)
    return {"sharpen_amount": amount, "sharpen_sigma": sigma} if fires and amount > 0.0 else {}


def sample_effects(cfg: SynthConfig, rng: np.random.Generator, camera: Camera, px_scale: float,
                   face_center: np.ndarray, face_px: float) -> Effects:
    """Post-render effects; sizes given at sensor scale are converted with ``px_scale``.

    face_center: (2,) projected head centre in output px; face_px: nominal face
    height in output px, used to place occluders over the face.
    Every random number is drawn whether or not the effect fires, so enabling
    one effect never shifts the draws of the others.
    """
    e = cfg.effects
    draws = rng.uniform(size=6)
    g_sigma = _uniform(rng, e.blur.gaussian_sigma) * px_scale
    m_len = _uniform(rng, e.blur.motion_length) * px_scale
    m_angle = float(rng.uniform(0.0, 180.0))
    box_choice = int(rng.integers(len(e.occlusion.boxes)))
    box_offset = rng.uniform(-0.35, 0.35, size=2)
    noise_sigma = _uniform(rng, e.noise.sigma)
    noise_seed = int(rng.integers(0, 2**31 - 1))
    quality = int(round(_uniform(rng, e.compression.jpeg_quality)))
    factor = _uniform(rng, e.compression.downsample_factor)

    occluders: tuple[Occluder, ...] = ()
    if draws[2] < e.occlusion.probability:
        bw, bh = e.occlusion.boxes[box_choice]
        k = px_scale * cfg.sensor.width / e.occlusion.reference_width
        w, h = float(bw) * k, float(bh) * k
        cx, cy = face_center + box_offset * face_px
        occluders = (Occluder(x=float(cx - w / 2), y=float(cy - h / 2), width=w, height=h),)
    scene = _sample_scene_effects(cfg, rng, camera, px_scale, face_center, face_px)
    return Effects(
        downsample=factor if draws[5] < e.compression.downsample_probability else 1.0,
        gaussian_sigma=g_sigma if draws[0] < e.blur.gaussian_probability else 0.0,
        motion_length=m_len if draws[1] < e.blur.motion_probability else 0.0,
        motion_angle=m_angle,
        occluders=occluders,
        noise_sigma=noise_sigma if draws[3] < e.noise.probability else 0.0,
        noise_seed=noise_seed,
        jpeg_quality=quality if draws[4] < e.compression.jpeg_probability else 0,
        **scene,
    )


#: largest turn of the head relative to the torso (pitch, yaw, roll), degrees: the rest is the torso's
NECK_LIMITS_DEG = np.array([35.0, 55.0, 30.0])


def sample_body_rotation(rotation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The torso's orientation (3, 3), camera frame, for a head at ``rotation``: the neck takes a random
    40-90 % of each of the head's Euler angles (at most ``NECK_LIMITS_DEG``), the torso the rest, so a
    profile head has a half-turned torso and a frontal one a frontal torso."""
    share = rng.uniform(0.4, 0.9, size=3)
    neck = np.clip(euler_from_rotation(rotation) * share, -NECK_LIMITS_DEG, NECK_LIMITS_DEG)
    return rotation @ rotation_from_euler(*neck).T


def _sample_scene_effects(cfg: SynthConfig, rng: np.random.Generator, camera: Camera, px_scale: float,
                          face_center: np.ndarray, face_px: float) -> dict:
    """The lens, camera-pipeline, colour-noise and distractor fields of :class:`Effects`.

    Drawn after every other effect's numbers (so configs without these effects draw what
    they drew before), each whether or not it fires; the distractors last, since their
    count of numbers grows with ``effects.distractors.max_count``.
    """
    e = cfg.effects
    fire = rng.uniform(size=5)
    temperature, tint = _uniform(rng, e.white_balance.temperature), _uniform(rng, e.white_balance.tint)
    ev, gamma = _uniform(rng, e.exposure.ev), _uniform(rng, e.exposure.gamma)
    vignetting = _uniform(rng, e.vignetting.strength)
    chroma = _uniform(rng, e.noise.chroma_sigma)
    chroma_scale = _uniform(rng, e.noise.chroma_scale) * px_scale
    chroma_seed = int(rng.integers(0, 2**31 - 1))
    out = {}
    if fire[0] < e.white_balance.probability:
        out.update(wb_temperature=temperature, wb_tint=tint)
    if fire[1] < e.exposure.probability:
        out.update(exposure_ev=ev, tone_gamma=gamma)
    if fire[2] < e.vignetting.probability:
        half_diagonal = 0.5 * float(np.hypot(cfg.sensor.width, cfg.sensor.height)) * px_scale
        out.update(vignetting=vignetting, vignetting_center=(float(camera.cx), float(camera.cy)),
                   vignetting_radius=half_diagonal)
    if fire[3] < e.noise.chroma_probability:
        out.update(chroma_sigma=chroma, chroma_scale=max(1.0, chroma_scale), chroma_seed=chroma_seed)
    distractors = sample_distractors(cfg, rng, px_scale, face_center, face_px, fire[4] < e.distractors.probability)
    if distractors:
        out["distractors"] = distractors
    if e.exposure.face_luma is not None:  # last: configs without it draw what they drew before
        out["meter_luma"] = _uniform(rng, e.exposure.face_luma)
    return out


#: size of each distractor shape in face heights per unit of ``effects.distractors.size``, and
#: its thickness range as a fraction of that size
_DISTRACTOR_FORM = {"bar": (2.5, (0.03, 0.1)), "hand": (1.1, (0.42, 0.52)), "ellipse": (0.8, (0.4, 1.0)),
                    "rect": (0.8, (0.3, 1.0)), "polygon": (0.8, (0.5, 1.0)), "blob": (0.8, (0.5, 1.0))}
#: skin colours (sRGB, light to dark) a hand's colour is drawn between
_SKIN = np.array([[0.94, 0.78, 0.67], [0.80, 0.60, 0.47], [0.58, 0.40, 0.28], [0.33, 0.21, 0.14]])


def sample_distractors(cfg: SynthConfig, rng: np.random.Generator, px_scale: float,
                       face_center: np.ndarray, face_px: float, fires: bool = True) -> tuple[Distractor, ...]:
    """1..max_count objects over the face (``effects.distractors``), drawing 1 + 18 * max_count numbers
    whether or not it ``fires`` (none are built when it does not)."""
    d = cfg.effects.distractors
    count = 1 + int(rng.integers(d.max_count))
    u = rng.random((d.max_count, 18))
    if not fires:
        return ()
    names = [n for n in DISTRACTOR_SHAPES if d.shapes.get(n, 0.0) > 0]
    cdf = _kind_cdf(tuple(float(d.shapes[n]) for n in names))
    out = []
    for k in range(count):
        v = u[k]
        shape = names[int(cdf.searchsorted(v[0], side="right"))]
        scale, (t_lo, t_hi) = _DISTRACTOR_FORM[shape]
        length = (d.size[0] + v[1] * (d.size[1] - d.size[0])) * scale * face_px
        thickness = length * (t_lo + v[2] * (t_hi - t_lo))
        cx, cy = np.asarray(face_center, np.float64) + (v[4:6] - 0.5) * 1.2 * face_px
        soft = (d.softness[0] + v[9] * (d.softness[1] - d.softness[0])) * px_scale if v[8] < d.soft_probability else 0.0
        if shape == "hand":
            t = v[11] * (len(_SKIN) - 1)
            i = min(int(t), len(_SKIN) - 2)
            skin = _SKIN[i] + (t - i) * (_SKIN[i + 1] - _SKIN[i])
            c1 = c2 = np.clip(skin * (0.9 + 0.2 * v[12:15]), 0.0, 1.0)
            texture, shading = "flat", 0.2 + 0.4 * v[7]
        else:
            c1 = _hsv(v[11], v[12], v[13])
            c2 = _hsv(v[14], v[15], v[16]) if v[17] < 0.5 else c1 * (0.4 + 0.5 * v[16])
            texture = DISTRACTOR_TEXTURES[0 if v[6] < 0.4 else 1 + min(int((v[6] - 0.4) / 0.2), 2)]  # flat 40 %
            shading = 0.8 * v[7] if shape in ("bar", "blob", "ellipse") else 0.3 * v[7]
        out.append(Distractor(shape=shape, x=float(cx), y=float(cy), width=float(length), height=float(thickness),
                              angle=float(360.0 * v[3]), color=tuple(float(c) for c in c1),
                              color2=tuple(float(c) for c in c2), texture=texture, shading=float(shading),
                              softness=float(soft), seed=int(v[10] * (2**31 - 1))))
    return tuple(out)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """(3,) RGB in [0, 1] of hue h (fraction of the circle), mostly unsaturated (0.85 s^2), value 0.1..0.95."""
    return np.array(colorsys.hsv_to_rgb(h, 0.85 * s * s, 0.1 + 0.85 * v))


# --- the whole scene ------------------------------------------------------------------------

def sample_scene(cfg: SynthConfig, seed: int, index: int) -> SceneSpec:
    """Sample ``index`` of a run with global ``seed``: a pure function of its arguments.

    The draw order is fixed: identity, rotation, translation, framing, light, background,
    effects, background defocus from the sample's generator; then the torso, the fill and
    environment light, the backdrop's dimming and the sharpening from its second stream
    (``PEOPLE_STREAM``); a shared backdrop's pick and crop from a third (``BACKDROP_STREAM``). Numbers added to the scene later are drawn after the ones before them in their stream, so
    a config that does not use them draws what it drew before.
    """
    rng = sample_rng(seed, index)
    identity = int(rng.integers(cfg.heads.pool_size))
    rotation = sample_rotation(cfg.pose, rng)
    if cfg.camera.model == "photo":
        translation = np.array([0.0, 0.0, _uniform(rng, cfg.camera.distance_mm)])
        framing = frame_face(cfg, rotation, translation, rng)
    else:
        translation = sample_translation(cfg, rng)
        framing = frame_head(cfg, translation, rng)
    light = sample_light(cfg, rng)
    background = sample_background(cfg, rng)
    cam = framing.camera
    background = share_backdrop(cfg, background, seed, index, (cam.width, cam.height))
    center = cam.project(translation[None])[0]
    face_px = cam.fy * NOMINAL_FACE_HEIGHT_MM / translation[2]
    effects = sample_effects(cfg, rng, cam, framing.px_scale, center, face_px)
    background = replace(background, blur=sample_background_blur(cfg, rng))
    people = sample_rng(seed, index, PEOPLE_STREAM)   # a stream of their own: no other draw moves them
    body = sample_body_rotation(rotation, people)
    light = with_fill_and_environment(cfg, light, people)
    background = replace(background, dim_ev=sample_background_dim(cfg, people))
    effects = replace(effects, **sample_sharpen(cfg, people))
    return SceneSpec(
        index=int(index), seed=int(seed), camera=cam,
        head=HeadInstance(identity=identity, rotation=rotation, translation=translation,
                          body_rotation=body if cfg.heads.outfit.body else None),
        light=light, background=background, effects=effects, render_scale=framing.render_scale,
    )
