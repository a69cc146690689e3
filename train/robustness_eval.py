"""Evaluate a trained model on a robustness sweep: one result per level of the swept factor.

Two sources of sweeps:

* a synthetic suite folder written by ``synth robustness`` (``evaluate_suite``):
  samples are grouped by level with ``synth.robustness.suite_levels``;
* a real test set corrupted on the fly (``evaluate_corrupted``): the levels
  of a suite in ``pipeline.yaml`` applied by ``train.data.corruptions`` with
  seeded repeats (five by default, as the Bernoulli-heatmap paper); the
  repeats' predictions are pooled, so a level's MAE is the mean over repeats.

Translation: the shard's face box moves with the head, and a crop around it
would re-centre the face and hide the shift from crop-based models. Like a
face tracker that has not caught up, the evaluation crops at the unshifted
box (``translation_crop="stay"``, the default); ``"follow"`` crops at the
moved box. Full-frame models see the shift either way.

Each level's row holds per-angle MAE, ME and STD, coarse accuracy for
coarse-to-fine models and runtime (ms/image at batch 1); the report is
written by ``train.report.write_robustness_report`` (Markdown + plot).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from train.data.mixing import READERS, ReaderDataset, parse_mix_spec
from train.data.sample import Sample
from train.engine import predict_dataset, runtime_ms_per_image
from train.inputs import DataOptions, open_reader, sized_preset, to_tensor_for

REPO = Path(__file__).resolve().parents[1]


class UnshiftedBoxReader:
    """A suite reader whose face boxes are moved back by each sample's recorded ``shift_px`` (translation suites)."""

    def __init__(self, reader, shifts: np.ndarray):
        self.reader, self.shifts = reader, np.asarray(shifts, dtype=np.float64)
        self.source, self.path = reader.source, reader.path

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int) -> Sample:
        s = self.reader[i]
        dx, dy = self.shifts[i]
        return s.replace(bbox=s.bbox - np.array([dx, dy, dx, dy]))


def _suite_shifts(folder: Path, n: int) -> np.ndarray:
    from synth.shards import open_dataset

    ds = open_dataset(folder)
    shifts = np.zeros((n, 2))
    for i in range(n):
        rec = ds[i]["params"].get("robustness", {})
        shifts[i] = rec.get("shift_px", (0.0, 0.0))
    return shifts


def _level_result(model, dataset, device, name: str, level, batch_size: int, extra_meta: dict):
    from train.metrics import evaluate

    p = predict_dataset(model, dataset, device, batch_size)
    ms = runtime_ms_per_image(model, dataset, device, n=10)
    return evaluate(p["pred"], p["true"], pred_coarse=p["coarse"], runtime_ms=ms, name=name,
                    meta={"level": level, **extra_meta})


def evaluate_suite(model, folder: str | Path, device: torch.device, report: str | Path | None = None,
                   batch_size: int = 64, translation_crop: str = "stay") -> Path:
    """Evaluate ``model`` on every level of a ``synth robustness`` folder; write the report; return its path."""
    from synth.robustness import suite_levels
    from train.data.synth_shards import SynthShardReader
    from train.report import write_robustness_report

    folder = Path(folder)
    index = suite_levels(folder)
    reader = SynthShardReader(folder)
    if index.factor == "translation" and translation_crop == "stay":
        reader = UnshiftedBoxReader(reader, _suite_shifts(folder, len(reader)))
    spec = model.input_spec
    dataset = ReaderDataset(reader, sized_preset(spec.crop, spec.size), to_tensor=to_tensor_for(spec))
    results = []
    for level, idx in zip(index.levels, index.indices_per_level):
        sub = torch.utils.data.Subset(dataset, [int(i) for i in idx])
        results.append(_level_result(model, sub, device, f"{index.factor}={level}", level, batch_size,
                                     {"suite": index.suite, "folder": str(folder)}))
    report = Path(report) if report else folder / f"robustness-{model.model_name}.md"
    return write_robustness_report(report, index.factor, list(index.levels), results, index.units)


class _ListDataset(torch.utils.data.Dataset):
    """Concatenation of the repeats of one level (each a Sample reader) through the model's crop and ToTensor."""

    def __init__(self, readers: list, preset, to_tensor):
        self.parts = [ReaderDataset(r, preset, to_tensor=to_tensor) for r in readers]
        self.offsets = np.cumsum([0] + [len(p) for p in self.parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: int) -> dict:
        j = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return self.parts[j][i - int(self.offsets[j])]


def evaluate_corrupted(model, entry: str, suite: str, device: torch.device, report: str | Path,
                       repeats: int = 5, seed: int = 0, options: DataOptions = DataOptions(),
                       batch_size: int = 64, config: str | Path | None = None) -> Path:
    """Evaluate ``model`` on the real set ``entry`` (``KIND:PATH``) corrupted at the levels of ``suite``.

    ``suite`` names a suite of ``pipeline.yaml``'s ``robustness:`` section; its factor must be an
    image-space one (occlusion, translation, blur, noise, JPEG, downsample).
    """
    from synth.robustness_config import load_robustness_config
    from train.data.corruptions import CORRUPTIONS, corrupted_suite
    from train.report import write_robustness_report

    rc = load_robustness_config(config or REPO / "pipeline.yaml")
    if suite not in rc.suites:
        raise ValueError(f"unknown suite {suite!r}; suites in pipeline.yaml: {', '.join(sorted(rc.suites))}")
    sc = rc.suites[suite]
    if sc.factor not in CORRUPTIONS:
        raise ValueError(f"suite {suite!r} sweeps {sc.factor}, which needs re-rendering; real data takes: "
                         f"{', '.join(sorted(CORRUPTIONS))}")
    (sp,) = parse_mix_spec([entry])
    if sp.kind not in READERS:
        raise ValueError(f"unknown dataset kind {sp.kind!r}")
    reader = open_reader(sp.kind, sp.path, options, "test")
    opts = dict(sc.options)
    if sc.factor == "translation":
        opts.setdefault("box", "stay")   # crop where the face was, as for the synthetic suite
    cs = corrupted_suite(reader, sc.factor, list(sc.levels), repeats=repeats, seed=seed, **opts)
    spec = model.input_spec
    preset, to_tensor = sized_preset(spec.crop, spec.size), to_tensor_for(spec)
    results = []
    for level, per_repeat in zip(cs.levels, cs.datasets):
        data = _ListDataset(list(per_repeat), preset, to_tensor)
        results.append(_level_result(model, data, device, f"{sc.factor}={level}", level, batch_size,
                                     {"data": entry, "repeats": cs.repeats, "seed": seed}))
    return write_robustness_report(Path(report), sc.factor, list(cs.levels), results, cs.units)
