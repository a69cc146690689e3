"""From data specs and a model's input spec to torch datasets and network inputs.

A data spec entry is ``KIND:PATH[:WEIGHT]`` (``train.data.mixing``). Training
sources are mixed at their weights with the model's training crop and a
light augmentation; evaluation sets are kept separate (one result per set)
with the model's test crop. Both end in ``ToTensor`` with the model's
mean/std, grayscale for ``gray`` models and the [0, 1] depth crop for
``depth`` models, and are resized to the model's input size when the crop
preset gives another size (e.g. ``full_frame`` for a 128x96 network).

The |angle| <= 99 deg filter (``train.data.protocols``) is applied to the
real sets whose papers use it (``FILTERED_KINDS``) unless ``angle_limit`` is
None. BIWI sources can be restricted to a committed split
(``biwi_split="biwi_16_8_seed0"``: its ``train`` videos for training, its
``test`` videos for evaluation); AFLW2000-3D sources likewise to a committed
image split (``aflw_split="aflw2000_dev_500_seed0"``: ``dev-train`` for
training, ``dev-test`` for evaluation).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from train.data.crops import CropPreset, crop_resize, get_preset
from train.data.errors import DatasetError
from train.data.mixing import READERS, MixedDataset, ReaderDataset, Source, parse_mix_spec
from train.data.photo_augment import PhotoAugment
from train.data.protocols import ANGLE_LIMIT_DEG, filtered_indices, load_split, split_names
from train.data.sample import Sample
from train.data.transforms import RandomAugment, ToTensor
from train.models.spec import InputSpec

#: dataset kinds whose benchmark protocol drops samples with any |angle| > 99 deg.
FILTERED_KINDS = ("300wlp", "aflw2000", "biwi")


class IndexedReader:
    """A reader restricted to ``indices`` (same ``len`` / ``[i]`` interface)."""

    def __init__(self, reader, indices: list[int]):
        self.reader, self.indices = reader, list(indices)
        self.source = getattr(reader, "source", "")
        self.path = getattr(reader, "path", "")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Sample:
        return self.reader[self.indices[i]]

    def label(self, i: int) -> dict:
        return self.reader.label(self.indices[i])


def to_tensor_for(spec: InputSpec) -> ToTensor:
    """The ToTensor step matching a model's input spec (mean/std, gray, depth)."""
    if spec.modality == "depth":
        return ToTensor(gray=True, depth=True)
    return ToTensor(spec.mean, spec.std, gray=spec.modality == "gray")


def model_input(batch: dict, spec: InputSpec) -> torch.Tensor:
    """The network input of a collated batch: ``image`` (N, C, H, W), or ``depth`` (N, 1, H, W) for depth models."""
    if spec.modality == "depth":
        if "depth" not in batch:
            raise DatasetError("a depth model needs depth crops; build its data with train.inputs (ToTensor(depth=True))")
        return batch["depth"]
    return batch["image"]


def _resize_sample(sample: Sample, size: tuple[int, int], gray: bool) -> Sample:
    out = crop_resize(sample, np.array([0.0, 0.0, sample.width, sample.height]), size, gray=gray)
    if "depth01" in sample.meta:
        out.meta["depth01"] = cv2.resize(np.asarray(sample.meta["depth01"], np.float32), size, interpolation=cv2.INTER_NEAREST)
    return out


def sized_preset(name: str, size: tuple[int, int]) -> CropPreset:
    """Crop preset ``name``, followed by a resize to ``size`` = (W, H) when the preset gives another size."""
    base = get_preset(name)
    if base.size == tuple(size):
        return base

    def fn(sample: Sample, rng: np.random.Generator | None = None) -> Sample:
        return _resize_sample(base(sample, rng), tuple(size), base.gray)

    return CropPreset(f"{name}@{size[0]}x{size[1]}", fn, tuple(size), gray=base.gray, train=base.train)


@dataclass(frozen=True)
class DataOptions:
    """How readers are opened: the angle filter (deg, None = off), a BIWI split name/path, a per-set sample cap,
    an AFLW2000-3D image split name/path."""

    angle_limit: float | None = ANGLE_LIMIT_DEG
    biwi_split: str | None = None
    limit: int | None = None
    aflw_split: str | None = None


def open_reader(kind: str, path: Path, options: DataOptions, part: str):
    """Open one reader; apply the BIWI / AFLW2000 split (``part`` = ``train`` | ``test``), the angle filter and the cap."""
    kwargs = {}
    if kind == "biwi" and options.biwi_split:
        kwargs["sequences"] = load_split(options.biwi_split)[part]
    if kind == "aflw2000" and options.aflw_split:
        kwargs["names"] = split_names(options.aflw_split, "aflw2000", part)
    reader = READERS[kind](path, **kwargs)
    if options.angle_limit is not None and kind in FILTERED_KINDS:
        keep = filtered_indices(reader, options.angle_limit)
        if not keep:
            raise DatasetError(f"no sample of {path} passes the |angle| <= {options.angle_limit} filter", path)
        if len(keep) != len(reader):
            reader = IndexedReader(reader, keep)
    if options.limit is not None and len(reader) > options.limit:
        reader = IndexedReader(reader, range(options.limit))
    return reader


def default_augment() -> RandomAugment:
    """Training augmentation of real photos: horizontal flip (labels follow) and a little blur, as Hopenet's reference."""
    return RandomAugment(flip_p=0.5, blur_p=0.05)


def build_train_set(entries: list[str], spec: InputSpec, seed: int = 0, epoch_size: int | None = None,
                    options: DataOptions = DataOptions(),
                    augment: Callable | None = None, synth_augment: PhotoAugment | None = None) -> MixedDataset:
    """A seeded mix of the ``entries`` with the model's training crop (see module doc).

    augment: ``f(sample, rng)`` on every cropped real sample (and synthetic ones without ``synth_augment``);
    synth_augment: framing before and appearance after the crop of ``synth`` sources.
    """
    preset = sized_preset(spec.train_crop_name, spec.size)
    sources, seen = [], {}
    for sp in parse_mix_spec(entries):
        seen[sp.kind] = seen.get(sp.kind, 0) + 1
        name = sp.kind if seen[sp.kind] == 1 else f"{sp.kind}#{seen[sp.kind]}"
        reader = open_reader(sp.kind, sp.path, options, "train")
        if sp.kind == "synth" and synth_augment is not None:
            sources.append(Source(name, reader, sp.weight, preset, synth_augment, pre_crop=synth_augment.pre_crop))
        else:
            sources.append(Source(name, reader, sp.weight, preset, augment))
    return MixedDataset(sources, length=epoch_size, seed=seed, to_tensor=to_tensor_for(spec))


@dataclass
class EvalSet:
    """One evaluation set: a display name (``kind:path``), its kind and a torch Dataset."""

    name: str
    kind: str
    dataset: ReaderDataset


def build_eval_sets(entries: list[str], spec: InputSpec, options: DataOptions = DataOptions()) -> list[EvalSet]:
    """One dataset per entry (weights ignored) with the model's test crop, no augmentation."""
    preset = sized_preset(spec.crop, spec.size)
    out = []
    for sp in parse_mix_spec(entries):
        reader = open_reader(sp.kind, sp.path, options, "test")
        out.append(EvalSet(f"{sp.kind}:{sp.path}", sp.kind, ReaderDataset(reader, preset, to_tensor=to_tensor_for(spec))))
    return out


def collate(items: list[dict]) -> dict:
    """Stack tensors; keep strings (``source``, ``path``) as lists."""
    out = {}
    for k in items[0]:
        vals = [it[k] for it in items]
        if isinstance(vals[0], torch.Tensor):
            out[k] = torch.stack(vals)
        elif isinstance(vals[0], (int, float, bool)):
            out[k] = torch.tensor(vals)
        else:
            out[k] = vals
    return out
