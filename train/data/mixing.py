"""Synth + real mixing: ``"synth:PATH:0.7,300wlp:PATH:0.3"`` -> one seeded torch Dataset.

Spec grammar: comma-separated ``KIND:PATH[:WEIGHT]`` (the weight is the
text after the last ``:`` when it parses as a float, else 1.0; weights are
normalised). KIND is one of ``READERS`` (``synth``, ``300wlp``, ``aflw2000``,
``biwi``, ``pointing04``, ``panoptic``). Malformed specs, unknown kinds,
non-positive weights and missing paths raise :class:`MixSpecError` naming
the entry.

:class:`MixedDataset` draws ``length`` items per epoch: each source gets
exactly ``round(length * weight)`` (largest remainder), the source order is
a seeded shuffle, and within a source items walk a seeded permutation of
that source (repeated when the source is smaller than its share). Item ``i``
of epoch ``e`` depends only on ``(seed, e, i)`` (its augmentation rng is
``default_rng([seed, e, i])``), so results do not depend on worker count.
``composition()`` reports the counts drawn per source.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .aflw import AFLW2000Reader, Pose300WLPReader
from .biwi import BIWIReader
from .crops import IMAGENET_MEAN, IMAGENET_STD, CropPreset, get_preset
from .errors import MixSpecError
from .panoptic import PanopticReader
from .pointing04 import Pointing04Reader
from .sample import Sample
from .synth_shards import SynthShardReader
from .transforms import ToTensor

#: kind -> reader factory ``f(path) -> indexable of Sample``.
READERS: dict[str, Callable[[Path], Any]] = {
    "synth": SynthShardReader,
    "300wlp": Pose300WLPReader,
    "aflw2000": AFLW2000Reader,
    "biwi": BIWIReader,
    "pointing04": Pointing04Reader,
    "panoptic": PanopticReader,
}


@dataclass(frozen=True)
class SourceSpec:
    """One parsed spec entry: kind, path and (unnormalised) weight."""

    kind: str
    path: Path
    weight: float


def parse_mix_spec(spec: str | list[str], check_paths: bool = True) -> list[SourceSpec]:
    """Parse ``"kind:path[:weight],..."`` (or a list of entries, e.g. repeated ``--data`` flags)."""
    entries = [e.strip() for e in (spec.split(",") if isinstance(spec, str) else spec)]
    if not entries or any(not e for e in entries):
        raise MixSpecError(f"empty entry in mixing spec {spec!r}; expected KIND:PATH[:WEIGHT],...")
    out = []
    for e in entries:
        kind, sep, rest = e.partition(":")
        if not sep or not rest:
            raise MixSpecError(f"mixing entry {e!r} lacks a path; expected KIND:PATH[:WEIGHT]")
        kind = kind.strip().lower()
        if kind not in READERS:
            raise MixSpecError(f"unknown dataset kind {kind!r} in {e!r}; known: {', '.join(sorted(READERS))}")
        path_s, weight = rest, 1.0
        head, sep, tail = rest.rpartition(":")
        if sep:
            try:
                weight = float(tail)
                path_s = head
            except ValueError:
                pass
        if not path_s:
            raise MixSpecError(f"mixing entry {e!r} has an empty path")
        if not np.isfinite(weight) or weight <= 0:
            raise MixSpecError(f"mixing entry {e!r}: weight must be a positive number, got {weight}")
        path = Path(path_s).expanduser()
        if check_paths and not path.exists():
            raise MixSpecError(f"mixing entry {e!r}: path {path} does not exist", path)
        out.append(SourceSpec(kind, path, weight))
    return out


def exact_counts(weights: np.ndarray, total: int) -> np.ndarray:
    """Integer counts summing to ``total`` proportional to ``weights`` (largest remainder)."""
    w = np.asarray(weights, dtype=np.float64)
    raw = w / w.sum() * total
    counts = np.floor(raw).astype(np.int64)
    for j in np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]:
        counts[j] += 1
    return counts


@dataclass
class Source:
    """A resolved source: name, reader, weight, crop preset, optional augmentation ``f(sample, rng)`` of the
    cropped sample and ``pre_crop(sample, rng)`` of the uncropped one (framing: box jitter, photo borders)."""

    name: str
    reader: Any
    weight: float
    preset: CropPreset
    augment: Callable[[Sample, np.random.Generator], Sample] | None = None
    extra: dict = field(default_factory=dict)
    pre_crop: Callable[[Sample, np.random.Generator], Sample] | None = None


class MixedDataset(torch.utils.data.Dataset):
    """Torch Dataset over several sources drawn at fixed ratios (see module doc).

    sources: list of :class:`Source`. length: items per epoch (default: the
    sum of source lengths). seed: the run seed. to_tensor: final step
    (default ImageNet-normalised RGB). ``ds[i]`` -> dict from ToTensor plus
    ``source_id`` (int) and ``index`` (int, within the source).
    """

    def __init__(self, sources: list[Source], length: int | None = None, seed: int = 0,
                 to_tensor: ToTensor | None = None):
        if not sources:
            raise MixSpecError("a mixed dataset needs at least one source")
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise MixSpecError(f"source names must be unique, got {names}")
        self.sources = sources
        self.length = int(length if length is not None else sum(len(s.reader) for s in sources))
        self.seed = int(seed)
        self.to_tensor = to_tensor or ToTensor(IMAGENET_MEAN, IMAGENET_STD)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Rebuild the draw schedule for ``epoch`` (call before each epoch, in the main process)."""
        self.epoch = int(epoch)
        rng = np.random.default_rng([self.seed, self.epoch, 0x5EED])
        counts = exact_counts(np.array([s.weight for s in self.sources]), self.length)
        source_id = np.repeat(np.arange(len(self.sources)), counts)
        rng.shuffle(source_id)
        index = np.empty(self.length, dtype=np.int64)
        for j, s in enumerate(self.sources):
            n, m = int(counts[j]), len(s.reader)
            reps = -(-n // m) if n else 0
            perm = np.concatenate([rng.permutation(m) for _ in range(reps)])[:n] if n else np.empty(0, np.int64)
            index[source_id == j] = perm
        self.source_id, self.index, self.counts = source_id, index, counts

    def composition(self) -> dict[str, int]:
        """Counts drawn per source name in the current epoch (they sum to ``len(self)``)."""
        return {s.name: int(c) for s, c in zip(self.sources, self.counts)}

    def __len__(self) -> int:
        return self.length

    def sample(self, i: int) -> Sample:
        """Item ``i`` as a cropped/augmented Sample (before ToTensor)."""
        j, k = int(self.source_id[i]), int(self.index[i])
        src = self.sources[j]
        rng = np.random.default_rng([self.seed, self.epoch, int(i)])
        s = src.reader[k]
        if src.pre_crop is not None:
            s = src.pre_crop(s, rng)
        s = src.preset(s, rng)
        if src.augment is not None:
            s = src.augment(s, rng)
        return s

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.length:
            raise IndexError(i)
        out = self.to_tensor(self.sample(i))
        out["source_id"] = int(self.source_id[i])
        out["index"] = int(self.index[i])
        return out


def build_mixed_dataset(spec: str | list[str], presets: dict[str, str] | str = "hopenet_train",
                        augment: dict[str, Callable] | Callable | None = None, length: int | None = None,
                        seed: int = 0, to_tensor: ToTensor | None = None,
                        reader_kwargs: dict[str, dict] | None = None) -> MixedDataset:
    """Parse ``spec``, open each source's reader and return a :class:`MixedDataset`.

    presets: one preset name for all sources, or ``{kind: preset}`` (kinds
    not listed use ``"hopenet_train"``). augment: one callable or
    ``{kind: callable}``. reader_kwargs: ``{kind: kwargs}`` for the readers
    (e.g. ``{"biwi": {"sequences": split["train"]}}``). Source names are the
    kinds, suffixed ``#2``, ``#3`` when a kind repeats.
    """
    specs = parse_mix_spec(spec)
    sources, seen = [], {}
    for sp in specs:
        seen[sp.kind] = seen.get(sp.kind, 0) + 1
        name = sp.kind if seen[sp.kind] == 1 else f"{sp.kind}#{seen[sp.kind]}"
        reader = READERS[sp.kind](sp.path, **(reader_kwargs or {}).get(sp.kind, {}))
        preset = get_preset(presets if isinstance(presets, str) else presets.get(sp.kind, "hopenet_train"))
        aug = augment.get(sp.kind) if isinstance(augment, dict) else augment
        sources.append(Source(name, reader, sp.weight, preset, aug))
    return MixedDataset(sources, length=length, seed=seed, to_tensor=to_tensor)


class ReaderDataset(torch.utils.data.Dataset):
    """A single reader as a torch Dataset: crop preset, optional augmentation, ToTensor; rng per (seed, epoch, i)."""

    def __init__(self, reader, preset: str | CropPreset = "hopenet_test", augment=None, seed: int = 0,
                 to_tensor: ToTensor | None = None, indices: list[int] | None = None):
        self.reader = reader
        self.preset = get_preset(preset) if isinstance(preset, str) else preset
        self.augment, self.seed, self.epoch = augment, int(seed), 0
        self.to_tensor = to_tensor or ToTensor(IMAGENET_MEAN, IMAGENET_STD)
        self.indices = list(range(len(reader))) if indices is None else list(indices)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, int(i)])
        s = self.preset(self.reader[self.indices[i]], rng)
        if self.augment is not None:
            s = self.augment(s, rng)
        return self.to_tensor(s)
