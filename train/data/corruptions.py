"""Controlled corruptions of test samples: the robustness suites' factors applied to real data.

The synthetic suites (``synth.robustness``) render one factor at many levels;
real test sets cannot be re-rendered, so the image-space factors are applied
to their frames instead (the Bernoulli-heatmap paper tests BIWI under
occlusion and translation, averaging five seeded repeats). Apply corruptions
to the reader's frames, before the crop preset, so sizes given "at 640 px
frame width" mean what they mean in the papers (a BIWI frame is 640x480; other
frames scale by ``width / reference_width``).

Corruptions (``make_corruption(factor, level, **options)``; the factor names
and level formats are those of the synthetic suites):

==============  =======================  ==================================================
factor          level                    effect on a sample
==============  =======================  ==================================================
occlusion       ``none`` / ``TEX-WxH``   one W x H box (px at reference width) centred
                                         uniformly inside the face box; TEX = black, noise,
                                         stripes or image (``image_folder``); image only
translation     shift, px at ref. width  image content moved by the shift (rounded to whole
                                         px) along a random direction, 0-filled; bbox,
                                         landmarks, K's principal point and a registered
                                         depth map move with it (``box="stay"`` keeps the
                                         bbox, i.e. the crop, where the face was and puts
                                         the moved face box in ``meta["face_bbox"]``)
gaussian_blur   sigma, px at ref. width  Gaussian blur
motion_blur     length, px at ref. width motion blur along a random direction
noise           sigma on 0..255          Gaussian noise from a random seed
jpeg            quality 1..100           JPEG re-encoding
downsample      factor >= 1              shrink and scale back up
==============  =======================  ==================================================

Rotation, Euler and head-centre labels never change: none of these moves the
head relative to the camera (a translation moves the image window: the new
``K`` describes it). Pixel effects go through ``synth.effects.apply_effects``
and occluder textures through ``synth.occluders``, so real and synthetic
suites share one implementation.

Randomness: sample ``i`` of repeat ``r`` draws from
``numpy.random.Generator(PCG64(SeedSequence([seed, r, i])))`` -- the same
generator at every level, so levels are paired (the same box centre at every
box size, the same direction at every shift, the same noise field at every
sigma) and repeats differ. Every corrupted sample carries
``meta["corruption"]`` (factor, level, seed, repeat and what was drawn).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol, Sequence

import numpy as np

from synth.effects import apply_effects
from synth.occluders import (apply_effects_with_patches, occluder_texture, parse_occluder_level, patch_size,
                             place_occluder)
from synth.scene import Effects

from .sample import Sample

#: Frame width the level sizes refer to (the papers' 640x480 frames).
REFERENCE_WIDTH = 640.0


class SampleReader(Protocol):
    def __len__(self) -> int: ...
    def __getitem__(self, i: int) -> Sample: ...


def corruption_rng(seed: int, repeat: int, index: int) -> np.random.Generator:
    """The generator of sample ``index`` in repeat ``repeat`` (shared by every level)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([int(seed), int(repeat), int(index)])))


def _scale(sample: Sample, reference_width: float) -> float:
    return sample.width / float(reference_width)


def _with_record(sample: Sample, record: dict, **changes) -> Sample:
    out = sample.replace(**changes)
    out.meta["corruption"] = record
    return out


@dataclass(frozen=True)
class Occlusion:
    """One occluder box over the face: ``level`` = ``"none"`` or ``TEXTURE-WxH`` (see module doc).

    reference_width: frame width the box size refers to. image_folder: pictures for ``image-WxH``.
    """

    level: str
    reference_width: float = REFERENCE_WIDTH
    image_folder: str | None = None
    factor: ClassVar[str] = "occlusion"
    random: ClassVar[bool] = True

    def __post_init__(self):
        occ = parse_occluder_level(self.level)
        if occ is not None and occ.texture == "image" and not self.image_folder:
            raise ValueError(f"occlusion level {self.level!r} needs image_folder= (a folder of .jpg/.png files)")

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        occ_level = parse_occluder_level(self.level)
        if occ_level is None:
            return _with_record(sample, {"factor": self.factor, "level": self.level})
        s = _scale(sample, self.reference_width)
        occ = place_occluder(sample.bbox, occ_level.width * s, occ_level.height * s, rng)
        record = {"factor": self.factor, "level": self.level, "texture": occ_level.texture,
                  "box_px": [occ.x, occ.y, occ.width, occ.height]}
        patches = ()
        if occ_level.texture != "black":
            texture_seed = int(rng.integers(0, 2**31 - 1))
            patch = occluder_texture(occ_level.texture, *patch_size(occ),
                                     np.random.Generator(np.random.PCG64(texture_seed)), self.image_folder)
            patches = ((occ, patch),)
            record["texture_seed"] = texture_seed
        image = apply_effects_with_patches(sample.image, Effects(occluders=(occ,)), patches)
        return _with_record(sample, record, image=image)


def _shift(arr: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``arr`` moved by (dx, dy) whole pixels (x right, y down), vacated pixels 0."""
    out = np.zeros_like(arr)
    h, w = arr.shape[:2]
    if abs(dx) >= w or abs(dy) >= h:
        return out
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = arr[max(-dy, 0):h - max(dy, 0),
                                                                      max(-dx, 0):w - max(dx, 0)]
    return out


@dataclass(frozen=True)
class Translation:
    """Move the image content by ``shift`` px (at ``reference_width``) along a random direction.

    box: ``"follow"`` moves ``bbox`` with the face (full-frame models see a moved head);
    ``"stay"`` leaves ``bbox`` where the face was, so a crop preset cuts a misaligned window
    (the moved face box goes to ``meta["face_bbox"]``).
    """

    shift: float
    box: str = "follow"
    reference_width: float = REFERENCE_WIDTH
    factor: ClassVar[str] = "translation"
    random: ClassVar[bool] = True

    def __post_init__(self):
        if not self.shift >= 0:
            raise ValueError(f"translation shift {self.shift!r}: fix: give px >= 0")
        if self.box not in ("follow", "stay"):
            raise ValueError(f"translation box={self.box!r}: fix: use 'follow' or 'stay'")

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        angle = float(rng.uniform(0.0, 360.0))
        r = self.shift * _scale(sample, self.reference_width)
        a = np.deg2rad(angle)
        dx, dy = int(round(r * np.cos(a))), int(round(r * np.sin(a)))
        d4 = np.array([dx, dy, dx, dy], np.float64)
        changes: dict = {"image": _shift(sample.image, dx, dy)}
        moved_box = sample.bbox + d4
        if self.box == "follow":
            changes["bbox"] = moved_box
        if sample.landmarks is not None:
            changes["landmarks"] = sample.landmarks + [dx, dy]
        if sample.K is not None:
            K = sample.K.copy()
            K[0, 2] += dx
            K[1, 2] += dy
            changes["K"] = K
        if sample.depth is not None and sample.depth_bbox is None and sample.depth.shape == sample.image.shape[:2]:
            changes["depth"] = _shift(sample.depth, dx, dy)
        record = {"factor": self.factor, "level": self.shift, "direction_deg": angle, "shift_px": [dx, dy],
                  "box": self.box}
        out = _with_record(sample, record, **changes)
        if self.box == "stay":
            out.meta["face_bbox"] = moved_box
        return out


@dataclass(frozen=True)
class GaussianBlur:
    """Gaussian blur, ``sigma`` px at ``reference_width`` (0 = none)."""

    sigma: float
    reference_width: float = REFERENCE_WIDTH
    factor: ClassVar[str] = "gaussian_blur"
    random: ClassVar[bool] = False

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        sigma = self.sigma * _scale(sample, self.reference_width)
        image = apply_effects(sample.image, Effects(gaussian_sigma=sigma))
        return _with_record(sample, {"factor": self.factor, "level": self.sigma, "sigma_px": sigma}, image=image)


@dataclass(frozen=True)
class MotionBlur:
    """Motion blur of ``length`` px at ``reference_width`` along a random direction (< 2 px: none)."""

    length: float
    reference_width: float = REFERENCE_WIDTH
    factor: ClassVar[str] = "motion_blur"
    random: ClassVar[bool] = True

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        angle = float(rng.uniform(0.0, 180.0))
        length = self.length * _scale(sample, self.reference_width)
        image = apply_effects(sample.image, Effects(motion_length=length, motion_angle=angle))
        return _with_record(sample, {"factor": self.factor, "level": self.length, "length_px": length,
                                     "angle_deg": angle}, image=image)


@dataclass(frozen=True)
class Noise:
    """Gaussian noise, ``sigma`` on the 0..255 scale, from a seed drawn per sample."""

    sigma: float
    factor: ClassVar[str] = "noise"
    random: ClassVar[bool] = True

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        seed = int(rng.integers(0, 2**31 - 1))
        image = apply_effects(sample.image, Effects(noise_sigma=float(self.sigma), noise_seed=seed))
        return _with_record(sample, {"factor": self.factor, "level": self.sigma, "noise_seed": seed}, image=image)


@dataclass(frozen=True)
class Jpeg:
    """JPEG re-encoding at ``quality`` 1..100."""

    quality: int
    factor: ClassVar[str] = "jpeg"
    random: ClassVar[bool] = False

    def __post_init__(self):
        if not 1 <= int(self.quality) <= 100:
            raise ValueError(f"jpeg quality {self.quality!r}: fix: give 1..100")

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        image = apply_effects(sample.image, Effects(jpeg_quality=int(self.quality)))
        return _with_record(sample, {"factor": self.factor, "level": self.quality}, image=image)


@dataclass(frozen=True)
class Downsample:
    """Low resolution: shrink by ``downscale`` (area) and scale back (bilinear); 1 = none."""

    downscale: float
    factor: ClassVar[str] = "downsample"
    random: ClassVar[bool] = False

    def __post_init__(self):
        if not self.downscale >= 1:
            raise ValueError(f"downsample factor {self.downscale!r}: fix: give a factor >= 1")

    def apply(self, sample: Sample, rng: np.random.Generator) -> Sample:
        image = apply_effects(sample.image, Effects(downsample=float(self.downscale)))
        return _with_record(sample, {"factor": self.factor, "level": self.downscale}, image=image)


Corruption = Occlusion | Translation | GaussianBlur | MotionBlur | Noise | Jpeg | Downsample

#: factor -> (constructor from a level and options, unit string of the levels).
CORRUPTIONS = {
    "occlusion": (lambda level, **o: Occlusion(str(level), **o), "occluder (px at 640 wide)"),
    "translation": (lambda level, **o: Translation(float(level), **o), "shift, px at 640 wide"),
    "gaussian_blur": (lambda level, **o: GaussianBlur(float(level), **o), "sigma, px at 640 wide"),
    "motion_blur": (lambda level, **o: MotionBlur(float(level), **o), "length, px at 640 wide"),
    "noise": (lambda level, **o: Noise(float(level), **o), "sigma (0-255)"),
    "jpeg": (lambda level, **o: Jpeg(int(level), **o), "JPEG quality"),
    "downsample": (lambda level, **o: Downsample(float(level), **o), "downscale factor"),
}


def make_corruption(factor: str, level, **options) -> Corruption:
    """The corruption of ``factor`` at ``level``; options are the dataclass's other fields
    (e.g. ``box="stay"``, ``reference_width=450``, ``image_folder=...``). ValueError naming the fix."""
    if factor not in CORRUPTIONS:
        raise ValueError(f"unknown corruption factor {factor!r}; fix: use one of {', '.join(CORRUPTIONS)} "
                         "(lighting factors need re-rendering: see synth.robustness)")
    if isinstance(level, bool) or (factor != "occlusion" and isinstance(level, str)):
        raise ValueError(f"{factor} level {level!r}: fix: give a number")
    try:
        return CORRUPTIONS[factor][0](level, **options)
    except TypeError as exc:
        raise ValueError(f"{factor}: bad option ({exc}); fix: use the fields of its dataclass") from None


@dataclass(frozen=True)
class CorruptedDataset:
    """``reader`` with ``corruption`` applied: ``len``, ``ds[i]`` -> Sample (``meta["corruption"]`` added)."""

    reader: SampleReader
    corruption: Corruption
    seed: int = 0
    repeat: int = 0

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int) -> Sample:
        i = int(i)
        if i < 0:
            i += len(self)
        out = self.corruption.apply(self.reader[i], corruption_rng(self.seed, self.repeat, i))
        out.meta["corruption"] = dict(out.meta["corruption"], seed=self.seed, repeat=self.repeat)
        return out


@dataclass(frozen=True)
class CorruptedSuite:
    """One factor at several levels over a reader, with seeded repeats.

    datasets[j][r]: level j, repeat r (a :class:`CorruptedDataset`). repeats: repeats per level
    (1 for factors without randomness: blur, JPEG, downsampling give the same images every time).
    """

    factor: str
    units: str
    levels: tuple
    repeats: int
    seed: int
    datasets: tuple

    def level(self, j: int) -> tuple:
        """The repeats of level ``j``."""
        return self.datasets[j]


def corrupted_suite(reader: SampleReader, factor: str, levels: Sequence, repeats: int = 5, seed: int = 0,
                    **options) -> CorruptedSuite:
    """Per-level corrupted views of ``reader`` (see :class:`CorruptedSuite` and the module doc)."""
    if repeats < 1:
        raise ValueError(f"repeats={repeats}: fix: give at least 1")
    if not levels:
        raise ValueError("levels: empty; fix: give at least one level")
    corruptions = [make_corruption(factor, level, **options) for level in levels]
    n_rep = repeats if corruptions[0].random else 1
    datasets = tuple(tuple(CorruptedDataset(reader, c, seed=int(seed), repeat=r) for r in range(n_rep))
                     for c in corruptions)
    return CorruptedSuite(factor=factor, units=CORRUPTIONS[factor][1], levels=tuple(levels), repeats=n_rep,
                          seed=int(seed), datasets=datasets)
