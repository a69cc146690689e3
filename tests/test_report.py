"""Markdown reports: content, and image links that point at PNG files PIL can open."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from train import metrics as m
from train.report import write_eval_report, write_robustness_report, write_training_curves

IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")


def _result(seed: int, noise: float, name: str, coarse: bool = True, runtime: float | None = None) -> m.EvalResult:
    rng = np.random.default_rng(seed)
    true = rng.uniform(-99, 99, (60, 3))
    pred = true + rng.normal(0.5, noise, (60, 3))
    return m.evaluate(pred, true, pred_coarse=m.coarse_categories(pred) if coarse else None,
                      runtime_ms=runtime, name=name)


def _linked_pngs(md: Path) -> list[Path]:
    links = IMAGE_LINK.findall(md.read_text(encoding="utf-8"))
    assert links, f"{md} links no image"
    out = []
    for link in links:
        assert not Path(link).is_absolute(), f"image link {link} should be relative"
        png = md.parent / link
        assert png.is_file(), f"{md} links {link}, which does not exist"
        with Image.open(png) as im:
            assert im.format == "PNG"
            im.load()
            assert im.size[0] > 100 and im.size[1] > 100
        out.append(png)
    return out


def test_eval_report_tables_and_plots(tmp_path):
    a = _result(0, 4.0, "aflw2000", runtime=2.5)
    b = _result(1, 6.0, "biwi", coarse=False)
    md = write_eval_report(tmp_path / "reports" / "eval.md", [a, b], "Hopenet on the benchmarks",
                           {"model": "hopenet_r50", "checkpoint": "runs/x/best.pt", "data": ["aflw2000", "biwi"],
                            "command": "train eval runs/x --data aflw2000:datasets/AFLW2000"})
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# Hopenet on the benchmarks")
    assert "- **model**: hopenet_r50" in text and "`train eval runs/x" in text
    mae_row = next(line for line in text.splitlines() if line.startswith("| aflw2000 | 60 |"))
    assert f"{a.mae.pitch:.2f}" in mae_row and f"{a.mae_mean:.2f}" in mae_row
    assert f"{100 * a.criterion2.points[10.0]:.1f}%" in text
    assert "### biwi" in text and "Coarse classification" in text and "Runtime" in text
    assert text.count("true \\ pred") == 1  # only the set with coarse predictions gets a confusion table
    pngs = _linked_pngs(md)
    assert {p.name for p in pngs} == {"eval_criterion2.png", "eval_criterion3.png"}


def test_eval_report_without_optional_sections(tmp_path):
    md = write_eval_report(tmp_path / "plain.md", [_result(2, 3.0, "", coarse=False)], "Plain", {})
    text = md.read_text(encoding="utf-8")
    assert "set 1" in text and "Coarse classification" not in text and "## Runtime" not in text
    _linked_pngs(md)
    with pytest.raises(ValueError, match="at least one"):
        write_eval_report(tmp_path / "empty.md", [], "Empty", {})


def test_training_curves_plot_numeric_columns(tmp_path):
    # the engine's history.csv columns; "note" is text and is skipped, empty cells leave gaps
    csv_path = tmp_path / "history.csv"
    csv_path.write_text("epoch,train_loss,lr,seconds,samples_per_s,val_mae,val_pitch,val_yaw,val_roll,note\n"
                        "1,2.5,0.001,30.1,800,12.0,11,13,12,warm\n"
                        "2,1.9,0.001,29.8,810,9.5,9,10,9.5,\n"
                        "3,1.4,0.0001,29.9,805,,,,,x\n", encoding="utf-8")
    png = write_training_curves(tmp_path / "curves.png", csv_path)
    with Image.open(png) as im:  # 5 panels (loss, validation, lr, seconds, samples_per_s) on a 3 x 2 grid
        assert im.format == "PNG" and im.size[0] > 3 * 400 and im.size[1] > 2 * 300
    only_loss = tmp_path / "loss.csv"
    only_loss.write_text("epoch,train_loss\n1,1.0\n2,0.5\n", encoding="utf-8")
    with Image.open(write_training_curves(tmp_path / "loss.png", only_loss)) as im:
        assert im.size[0] < 600 and im.size[1] < 400
    with pytest.raises(FileNotFoundError, match="not found"):
        write_training_curves(tmp_path / "x.png", tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("epoch,train_loss\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no rows"):
        write_training_curves(tmp_path / "y.png", empty)
    text_only = tmp_path / "text.csv"
    text_only.write_text("epoch,note\n1,a\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no numeric columns"):
        write_training_curves(tmp_path / "z.png", text_only)


def test_robustness_report_numeric_levels(tmp_path):
    levels = [60, 0, 30]
    results = [_result(i, 2.0 + lv / 10, f"elev {lv}", runtime=1.0) for i, lv in enumerate(levels)]
    md = write_robustness_report(tmp_path / "illum.md", "light elevation", levels, results, units="deg")
    text = md.read_text(encoding="utf-8")
    assert "| light elevation (deg) | N | ME Pitch | STD Pitch |" in text
    row = next(line for line in text.splitlines() if line.startswith("| 60 | 60 |"))
    assert f"{results[0].me.pitch:.2f}" in row and f"{results[0].std.roll:.2f}" in row
    assert "Coarse accuracy" in text and "ms/image" in text
    assert [p.name for p in _linked_pngs(md)] == ["illum_light-elevation.png"]


def test_robustness_report_categorical_levels(tmp_path):
    levels = ["white", "red", "blue"]
    results = [_result(i, 3.0, c, coarse=False) for i, c in enumerate(levels)]
    md = write_robustness_report(tmp_path / "colour.md", "light colour", levels, results)
    text = md.read_text(encoding="utf-8")
    assert "| red |" in text and "Coarse accuracy" not in text
    _linked_pngs(md)
    with pytest.raises(ValueError, match="3 levels but 2 results"):
        write_robustness_report(tmp_path / "bad.md", "light colour", levels, results[:2])
