"""A tiny end-to-end fit of each model beats the trivial predictor on held-out renders.

For every model below: ``train.engine.fit`` on the 384 training renders of ``rendered_set``
(seed 0), then ``load_model`` + ``predict_dataset`` on the 128 held-out renders (seed 1, never
seen in training and not used to pick a checkpoint: the fits run without ``val`` so
``best.pt`` is simply the last epoch). The bar: the mean MAE (pitch, yaw, roll) must be below
``MARGIN`` times that of the trivial predictor, which answers the training set's mean Euler
angles for every sample (about 30 deg on these paper-range renders), and every prediction
must be finite.

Budget: one CPU thread, the whole file in about 19 minutes on a 2-core machine, so each fit
is a few hundred samples at a reduced size where the model takes one (``FITS``; the measured
numbers are in the comments there): EHPNet teachers at 32x32, the student at its 112x112, the
Bernoulli HRNet at 64x64 with one module per stage, the coarse-to-fine models at 128x128. Not
here yet: ``hrnet_bernoulli_bg`` (full frames; with one module per stage, 3-6 epochs at 128x96
or 64x64 and radii 3-8 it stayed at 0.88-1.0x: it must also find the head in the frame).

The distillation student learns from the ``ehpnet_r18`` run of this file as its teacher: a
teacher must see the student's input size, and the 101-layer teachers here run at 32x32
(a 3-teacher ensemble at one size is what ``train distill`` does at full scale).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from train.engine import FitConfig, fit, load_model, predict_dataset
from train.inputs import DataOptions, build_eval_sets
from train.metrics import mae

pytestmark = pytest.mark.slow

#: a model passes when its held-out mean MAE is below MARGIN x the trivial predictor's.
MARGIN = 0.9

#: model -> (create kwargs, FitConfig overrides). Measured on a 2-core machine with one torch thread
#: (another process busy on the other core); "Nx" = held-out mean MAE / the trivial predictor's
#: (30.2 deg: P 28.6, Y 35.1, R 26.9). Fit times include nothing else; predicting the 128
#: held-out renders adds 2-3 s (ehpnet_r18) to ~10 s (HRNet).
FITS: dict[str, tuple[dict, dict]] = {
    # 2 x 384 samples, ~45 s: 0.70x (21.1 deg: P 19.0, Y 19.4, R 24.9). With the default alpha 1 (the
    # MSE term in deg^2 swamps the bin cross-entropy) one epoch reached only ~0.85-0.9x.
    "ehpnet_r18": ({"alpha": 0.01}, dict(epochs=2, batch_size=8, lr=1e-3)),
    # student of the ehpnet_r18 run above on its soft labels only (hard_weight 0), 2 x 384, ~60 s:
    # 0.76x (23.0 deg). One epoch: 0.83x; one epoch at lr 2e-3: 0.85x; T = 2: 0.88x.
    "distill": ({"student": "ehpnet_r18", "temperature": 1.0}, dict(epochs=2, batch_size=8, lr=1e-3)),
    # BoTNet-101 built for 32x32 input, ~30 samples/s: 7 x 384, ~115 s: 0.84x (25.4 deg: P 28.4,
    # Y 21.0, R 26.8). It plateaus there (6 and 8 epochs: 0.84x; 4 epochs: 0.90x).
    "ehpnet_t_botnet101": ({"alpha": 0.01, "input_size": (32, 32)}, dict(epochs=7, batch_size=16, lr=2e-3)),
    # ResNet-101 / Res2Net-101 teachers at 32x32 with BoTNet's settings (at their paper size, 112x112,
    # ~4.5 samples/s, one 384-sample epoch reached only 0.97x).
    "ehpnet_t_r101": ({"alpha": 0.01, "input_size": (32, 32)}, dict(epochs=7, batch_size=16, lr=2e-3)),
    "ehpnet_t_res2net101": ({"alpha": 0.01, "input_size": (32, 32)}, dict(epochs=7, batch_size=16, lr=2e-3)),
    # measured: 7 x 384, ~140 s each: ResNet-101 0.839x (25.4 deg), Res2Net-101 0.834x (25.2 deg).
    # HRNet with one module per stage (~25 samples/s at 64x64): 2 x 384: 1.00x; 3 epochs: 0.97x;
    # 6 epochs (~96 s): 0.89x; 10 epochs (~160 s): 0.838x (25.3 deg: P 28.5, Y 20.3, R 27.1).
    "hrnet_bernoulli": ({"modules_per_stage": (1, 1, 1), "angle_scale": 45.0, "radius": 8.0},
                        dict(epochs=10, batch_size=16, lr=2e-3, recipe={"schedule": "cosine"})),
    # coarse-to-fine built for 128x128 (the renders' size; the paper's 256x256 runs ~3 samples/s and needed
    # ~4000 samples), Euclidean term x10 and no FC dropout so the regressors move within a few epochs, Adam.
    # Depth, 3 x 384, ~146 s: 0.59x (17.8 deg: P 15.7, Y 15.7, R 22.2), coarse accuracy 0.85 (4 epochs:
    # 0.54x; 2 epochs: 0.87x, coarse 0.52). Before the augmentation fix of meta["depth01"] 4 epochs gave 1.01x.
    "c2f_depth": ({"input_size": (128, 128), "reg_weight": 10.0, "dropout": 0.0},
                  dict(epochs=3, batch_size=16, lr=1e-3, recipe={"optimizer": "adam", "schedule": "cosine",
                                                                 "weight_decay": 0.0})),
    # Grey, 6 x 384, ~280 s: 0.76x (22.9 deg: P 25.0, Y 17.1, R 26.6), coarse accuracy 0.66 (4 epochs: 0.81x;
    # 1 epoch with the paper's settings: 1.00x, the classifier at chance). Shading is a weaker cue than depth.
    "c2f_gray": ({"input_size": (128, 128), "reg_weight": 10.0, "dropout": 0.0},
                 dict(epochs=6, batch_size=16, lr=1e-3, recipe={"optimizer": "adam", "schedule": "cosine",
                                                                "weight_decay": 0.0})),
}


@pytest.fixture(autouse=True, scope="module")
def _single_thread():
    """One intra-op thread (as tests/test_models_seed_more.py): far faster than OpenMP threads
    spinning on a shared machine; restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@dataclass(frozen=True)
class Baseline:
    """The held-out truth and what the trivial predictor scores on it."""

    val_true: np.ndarray        # (128, 3) deg
    trivial: np.ndarray         # (3,) MAE of the training-mean predictor per angle


@pytest.fixture(scope="module")
def baseline(rendered_set) -> Baseline:
    from train.data.synth_shards import SynthShardReader

    train, val = SynthShardReader(rendered_set.train), SynthShardReader(rendered_set.val)
    train_mean = np.mean([train[i].euler for i in range(len(train))], axis=0)
    val_true = np.array([val[i].euler for i in range(len(val))])
    trivial = mae(np.repeat(train_mean[None], len(val_true), 0), val_true)
    return Baseline(val_true, trivial)


def _fit(rendered_set, out: Path, model: str, extra_cfg: dict | None = None) -> Path:
    model_cfg, overrides = FITS[model]
    cfg = FitConfig(model=model, data=[f"synth:{rendered_set.train}"], out=str(out),
                    model_cfg={**model_cfg, **(extra_cfg or {})}, seed=0, progress=False, **overrides)
    fit(cfg, log=lambda m: None)
    return out


def _held_out(run: Path, rendered_set, base: Baseline) -> dict:
    """Predictions of the run's checkpoint on the held-out renders (pred, true)."""
    model = load_model(run)
    sets = build_eval_sets([f"synth:{rendered_set.val}"], model.input_spec, DataOptions())
    p = predict_dataset(model, sets[0].dataset, torch.device("cpu"))
    assert np.allclose(p["true"], base.val_true, atol=1e-4)
    return p


def _assert_beats_trivial(name: str, p: dict, base: Baseline) -> float:
    assert np.isfinite(p["pred"]).all(), f"{name}: non-finite predictions"
    got = mae(p["pred"], p["true"])
    ratio = float(got.mean() / base.trivial.mean())
    print(f"{name}: held-out MAE {got.mean():.2f} deg (P {got[0]:.1f} Y {got[1]:.1f} R {got[2]:.1f}), "
          f"trivial {base.trivial.mean():.2f} deg, ratio {ratio:.3f}")
    assert ratio < MARGIN, (
        f"{name}: held-out MAE {got.mean():.2f} deg (P {got[0]:.1f} Y {got[1]:.1f} R {got[2]:.1f}) = {ratio:.3f}x the "
        f"training-mean predictor's {base.trivial.mean():.2f} deg (P {base.trivial[0]:.1f} Y {base.trivial[1]:.1f} "
        f"R {base.trivial[2]:.1f}); the bar is {MARGIN}x")
    return ratio


@pytest.fixture(scope="module")
def r18_run(rendered_set, tmp_path_factory) -> Path:
    """The ehpnet_r18 fit: its own test and the distillation teacher."""
    return _fit(rendered_set, tmp_path_factory.mktemp("fit") / "ehpnet_r18", "ehpnet_r18")


def test_ehpnet_r18_beats_the_trivial_predictor(r18_run, rendered_set, baseline):
    _assert_beats_trivial("ehpnet_r18", _held_out(r18_run, rendered_set, baseline), baseline)


def test_distilled_student_beats_the_trivial_predictor(r18_run, rendered_set, baseline, tmp_path):
    run = _fit(rendered_set, tmp_path / "distill", "distill", {"teachers": [str(r18_run)]})
    student = load_model(run)
    assert student.model_name == "ehpnet_r18"   # a distillation checkpoint is a plain student checkpoint
    p = _held_out(run, rendered_set, baseline)
    _assert_beats_trivial("distill", p, baseline)
    teacher = _held_out(r18_run, rendered_set, baseline)
    assert not np.allclose(p["pred"], teacher["pred"]), "the student is a copy of its teacher"


@pytest.mark.parametrize("name", ["ehpnet_t_botnet101", "ehpnet_t_r101", "ehpnet_t_res2net101",
                                  "hrnet_bernoulli", "c2f_depth", "c2f_gray"])
def test_fit_beats_the_trivial_predictor(name, rendered_set, baseline, tmp_path):
    run = _fit(rendered_set, tmp_path / name, name)
    _assert_beats_trivial(name, _held_out(run, rendered_set, baseline), baseline)
