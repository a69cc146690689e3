"""Mixing synth + real sources at given ratios: parsing, composition, determinism, collation."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixtures_real as fx  # noqa: E402

from train.data.crops import get_preset  # noqa: E402
from train.data.errors import DatasetError, MixSpecError  # noqa: E402
from train.data.mixing import MixedDataset, ReaderDataset, Source, build_mixed_dataset, exact_counts, parse_mix_spec  # noqa: E402
from train.data.aflw import AFLW2000Reader  # noqa: E402
from train.data.transforms import RandomAugment, ToTensor  # noqa: E402


@pytest.fixture()
def data(tmp_path, monkeypatch):
    fx.install_fake_shards(monkeypatch)
    (tmp_path / "synth").mkdir()
    fx.make_shard_h5(tmp_path / "synth" / "s0.h5", n=5)
    fx.make_mat_dataset(tmp_path / "lp", "300wlp", angles_deg=[(0, 10 * k, 0) for k in range(3)])
    fx.make_biwi(tmp_path / "biwi", frames=(3,))
    return tmp_path


def test_parse_spec(data):
    specs = parse_mix_spec(f"synth:{data}/synth:0.7, 300wlp:{data}/lp:0.3")
    assert [(s.kind, s.weight) for s in specs] == [("synth", 0.7), ("300wlp", 0.3)]
    assert parse_mix_spec([f"aflw2000:{data}/lp"])[0].weight == 1.0  # weight optional
    for bad, msg in [("", "empty"), ("synth", "lacks a path"), (f"imagenet:{data}:1", "unknown dataset kind"),
                     (f"synth:{data}/synth:-1", "positive"), (f"synth:{data}/nope:0.5", "does not exist"),
                     (f"synth:{data}/synth:0.5,,", "empty")]:
        with pytest.raises(MixSpecError, match=msg):
            parse_mix_spec(bad)
    assert issubclass(MixSpecError, DatasetError) and issubclass(MixSpecError, ValueError)


def test_exact_counts():
    np.testing.assert_array_equal(exact_counts(np.array([0.7, 0.3]), 10), [7, 3])
    assert exact_counts(np.array([1, 1, 1]), 100).sum() == 100


def test_mixed_dataset_composition_and_determinism(data):
    spec = f"synth:{data}/synth:0.7,300wlp:{data}/lp:0.3"
    aug = RandomAugment(flip_p=0.5, noise_p=0.5)
    kw = dict(presets={"synth": "ehpnet", "300wlp": "ehpnet"}, augment=aug, length=40, seed=3,
              to_tensor=ToTensor(depth=True))
    ds = build_mixed_dataset(spec, **kw)
    assert len(ds) == 40 and ds.composition() == {"synth": 28, "300wlp": 12}
    drawn = {"synth": 0, "300wlp": 0}
    for i in range(len(ds)):
        drawn[ds.sources[ds.source_id[i]].name] += 1
    assert drawn == ds.composition()
    # every source item is used before any repeats (300wlp has 3 items for 12 draws -> each 4 times)
    assert np.bincount(ds.index[ds.source_id == 1]).tolist() == [4, 4, 4]
    ds2 = build_mixed_dataset(spec, **kw)
    a, b = ds[5], ds2[5]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["euler"], b["euler"])
    ds2.set_epoch(1)
    assert not np.array_equal(ds.source_id, ds2.source_id)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=8, num_workers=0)))
    assert batch["image"].shape == (8, 3, 112, 112) and batch["depth"].shape == (8, 1, 112, 112)
    assert len(batch["source"]) == 8


def test_mixed_with_biwi_split_and_missing(data):
    ds = build_mixed_dataset(f"biwi:{data}/biwi:1,300wlp:{data}/lp:1", presets="fsanet", length=10,
                             reader_kwargs={"biwi": {"sequences": ["01"]}})
    assert ds.composition() == {"biwi": 5, "300wlp": 5}
    assert ds[0]["image"].shape == (3, 64, 64)
    with pytest.raises(MixSpecError, match="does not exist"):
        build_mixed_dataset(f"biwi:{data}/nothing:1")
    with pytest.raises(DatasetError, match="missing"):
        build_mixed_dataset(f"biwi:{data}/biwi:1", reader_kwargs={"biwi": {"sequences": ["09"]}})


def test_reader_dataset(data):
    fx.make_mat_dataset(data / "A", "aflw2000")
    ds = ReaderDataset(AFLW2000Reader(data / "A"), "hopenet_test")
    out = ds[0]
    assert out["image"].shape == (3, 224, 224) and out["euler"].shape == (3,)
    with pytest.raises(MixSpecError):
        MixedDataset([])
    src = Source("a", AFLW2000Reader(data / "A"), 1.0, get_preset("full_frame"))
    with pytest.raises(MixSpecError, match="unique"):
        MixedDataset([src, src])
