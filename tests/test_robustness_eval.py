"""`train eval --suite` and `--corrupt`: one row per level, grouped right, with the report written."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO
from synth.robustness import load_suite_config, render_suite, suite_levels
from train.models import create_model
from train.robustness_eval import UnshiftedBoxReader, _suite_shifts, evaluate_corrupted, evaluate_suite

SPHERE = "synth.runner:sphere_sample_maker"
SMALL = ["output.width=96", "output.height=96", "heads.pool_size=3"]


def _suite(tmp_path: Path, name: str, n_base: int = 3) -> Path:
    cfg = load_suite_config(REPO / "pipeline.yaml", name, n_base=n_base, overrides=SMALL, base_maker=SPHERE)
    out = tmp_path / name
    render_suite(cfg, out, progress=False, log=lambda m: None)
    return out


def _rows(md: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in md.splitlines() if line.startswith("|")]


def test_suite_report_has_one_row_per_level_with_each_levels_samples(tmp_path):
    folder = _suite(tmp_path, "occlusion")
    torch.manual_seed(0)
    model = create_model("ssrnet_md").eval()
    report = evaluate_suite(model, folder, torch.device("cpu"), report=tmp_path / "occ.md")
    md = report.read_text()
    index = suite_levels(folder)
    for level in index.levels:
        assert any(level in row[0] for row in _rows(md)), level
    assert re.search(r"\]\(([^)]+\.png)\)", md)
    png = re.search(r"\]\(([^)]+\.png)\)", md).group(1)
    assert (report.parent / png).exists()
    # each level holds the 3 base scenes
    assert [len(i) for i in index.indices_per_level] == [3] * len(index.levels)


def test_translation_suite_is_cropped_where_the_face_was(tmp_path):
    folder = _suite(tmp_path, "translation", n_base=2)
    from train.data.synth_shards import SynthShardReader

    reader = SynthShardReader(folder)
    shifts = _suite_shifts(folder, len(reader))
    index = suite_levels(folder)
    assert np.allclose(shifts[index.indices_per_level[0]], 0)          # level 0: no shift
    moved = index.indices_per_level[-1]
    assert np.all(np.linalg.norm(shifts[moved], axis=1) > 50)
    unshifted = UnshiftedBoxReader(reader, shifts)
    for i in moved:
        base = int(index.indices_per_level[0][list(index.base_index[index.indices_per_level[0]]).index(index.base_index[i])])
        assert np.allclose(unshifted[int(i)].bbox, reader[base].bbox, atol=1e-3)


def test_corrupted_real_set_pools_seeded_repeats(tmp_path, realdata):
    aflw = realdata / "aflw2000-dev"
    torch.manual_seed(0)
    model = create_model("ssrnet_md").eval()
    from train.inputs import DataOptions

    report = evaluate_corrupted(model, f"aflw2000:{aflw}", "occlusion", torch.device("cpu"), tmp_path / "r.md",
                                repeats=2, options=DataOptions(limit=6))
    md = report.read_text()
    assert "black-60x120" in md and "none" in md
    with pytest.raises(ValueError, match="needs re-rendering"):
        evaluate_corrupted(model, f"aflw2000:{aflw}", "illumination-angle", torch.device("cpu"), tmp_path / "x.md")


def test_cli_eval_suite(tmp_path, rendered_set):
    from train.cli import main
    from train.distributed import fit
    from train.engine import FitConfig

    run = tmp_path / "run"
    fit(FitConfig(model="ssrnet_md", data=[f"synth:{rendered_set.train}"], out=str(run), epochs=1, epoch_size=32,
                  batch_size=16, progress=False), log=lambda m: None)
    folder = _suite(tmp_path, "illumination-angle", n_base=2)
    assert main(["eval", str(run), "--suite", str(folder), "--report", str(tmp_path / "ia.md"), "--device", "cpu"]) == 0
    assert (tmp_path / "ia.md").exists()
    assert json.loads((run / "config.json").read_text())["fit"]["model"] == "ssrnet_md"
