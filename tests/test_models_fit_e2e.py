"""A tiny end-to-end fit of each model beats the trivial predictor on held-out renders.

For every model below: ``train.distributed.fit`` on the 384 training renders of ``rendered_set``
(seed 0), then ``load_model`` + ``predict_dataset`` on the 128 held-out renders (seed 1, never
seen in training and not used to pick a checkpoint: the fits run without ``val`` so
``best.pt`` is simply the last epoch). The bar: the mean MAE (pitch, yaw, roll) must be below
``MARGIN`` times that of the trivial predictor, which answers the training set's mean Euler
angles for every sample (about 30 deg on these paper-range renders), and every prediction
must be finite.

Budget: one CPU thread, the whole file in about 17 minutes on a 2-core machine, so each fit
is a few hundred samples at a reduced size where the model takes one (``FITS``; the measured
numbers are in the comments there): EHPNet teachers at 32x32, the student at its 112x112; the
coarse-to-fine models at 128x128, the smallest size their regressors take, instead of the
paper's 256x256 (~3 samples/s there: a private run needed ~4000 samples, ~20 CPU-minutes, to
reach 0.66x; ~10 samples/s at 128x128), with Adam and a cosine schedule instead of the paper's
SGD recipe; the Bernoulli HRNets with one module per stage and the ``"torch"`` initialisation
(with HRNet's reference N(0, 0.001^2) convs Adam rewrites the tiny weights every step and a few
epochs learn nothing; ``train.models.backbones.hrnet``): ``hrnet_bernoulli`` at its 64x64,
``hrnet_bernoulli_bg`` on 64x64 full frames instead of the paper's 128x96 (~8 samples/s there,
where 3-4 epochs stayed at the trivial predictor with either init: the net must find the head in
the frame before the angles; ~17-20 samples/s at 64x64, which also keeps the square renders'
aspect).

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

from train.checkpoints import load_model
from train.distributed import fit
from train.engine import FitConfig, predict_dataset
from train.inputs import DataOptions, build_eval_sets
from train.metrics import mae
from train.models.c2f import coarse_category_tensor

pytestmark = pytest.mark.slow

#: a model passes when its held-out mean MAE is below MARGIN x the trivial predictor's.
MARGIN = 0.9

#: the synthetic sources' augmentation in these fits: flip and a little blur, as before the photo augmentation
#: of the sim-to-real recipe existed. That recipe (colour, grey, framing, JPEG, erasing; on by default) is for
#: long runs that must transfer to photos; on these few-hundred-sample fits it keeps every model near the
#: trivial predictor (ehpnet_r18: 0.99x with it, 0.74x without), and what is tested here is that each model
#: learns, not the recipe (tests/test_photo_augment.py tests that).
FIT_AUGMENT = {"box_scale": (1.0, 1.0), "box_shift": 0.0, "border_p": 0.0, "color_p": 0.0, "gray_p": 0.0,
               "jpeg_p": 0.0, "erase_p": 0.0, "blur_p": 0.3}   # blur: on here as in the recorded run below

#: Last full run of this file (2026-12-05, FIT_AUGMENT, 11.4 min with another job on the other core): ehpnet_r18
#: 0.769x, distill 0.819x, botnet101 0.851x, r101 0.839x, res2net101 0.765x (9 epochs), hrnet_bernoulli 0.656x,
#: hrnet_bernoulli_bg 0.843x, c2f_depth 0.594x, c2f_gray 0.869x. The fits are seeded and single-threaded: the same
#: code gives the same ratios on another machine of this kind (CI reproduced 0.989x to the digit).
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
    # ~4.5 samples/s, one 384-sample epoch reached only 0.97x). ResNet-101 gets 9 epochs: at 7 it sat
    # at the bar's edge -- 0.839x on one render set, 0.919x after texture filtering changed the
    # renders by 0.1 grey levels on average; 9 epochs, ~180 s: 0.847x (25.6 deg: P 27.8, Y 22.9, R 26.0).
    "ehpnet_t_r101": ({"alpha": 0.01, "input_size": (32, 32)}, dict(epochs=9, batch_size=16, lr=2e-3)),
    "ehpnet_t_res2net101": ({"alpha": 0.01, "input_size": (32, 32)}, dict(epochs=9, batch_size=16, lr=2e-3)),
    # measured: 7 x 384, ~140 s each: ResNet-101 0.839x (25.4 deg, earlier renders), Res2Net-101 0.834x (25.2 deg);
    # on the renders of 2026-12-05 (head frame v3, AFLW-placed jaw points) Res2Net-101 at 7 epochs: 0.936x, at 9: 0.765x.
    # HRNet with one module per stage (~22 samples/s at 64x64). With the default (HRNet) init: 2 x 384:
    # 1.00x; 3 epochs: 0.97x; 4 epochs (lr 5e-4, 2e-3 or 4e-3): 0.99-1.00x; 6 epochs: 0.89x; 10 epochs
    # (~160 s): 0.838x. With init "torch", 4 x 384, ~80 s: 0.726x (21.9 deg: P 25.4, Y 18.9, R 21.4);
    # PyTorch's conv init without the zeroed block BNs: 0.88x.
    "hrnet_bernoulli": ({"modules_per_stage": (1, 1, 1), "angle_scale": 45.0, "radius": 8.0, "init": "torch"},
                        dict(epochs=4, batch_size=16, lr=2e-3, recipe={"schedule": "cosine"})),
    # full frames at 64x64 (module doc), init "torch", ~17 samples/s at batch 8: 6 x 384, ~140 s: 0.807x
    # (24.4 deg: P 24.0, Y 29.2, R 19.9). The weight map localises first (a pixel > 0.5 for ~90 % of the
    # samples after 3-4 epochs), then the angles move. Radius 2: 0.86x; radius 4 at batch 16, lr 2e-3:
    # 0.88x; radius 8: 0.98x; angle_scale 30: 0.80x; batch 16, lr 2e-3, 7 epochs: 0.87x. At 128x96
    # (~8 samples/s): radius 4, 6 or 8, 3-4 epochs, either init: 0.98-1.00x.
    "hrnet_bernoulli_bg": ({"modules_per_stage": (1, 1, 1), "angle_scale": 45.0, "radius": 3.0, "init": "torch",
                            "input_size": (64, 64)},
                           dict(epochs=6, batch_size=8, lr=1e-3, recipe={"schedule": "cosine"})),
    # coarse-to-fine built for 128x128 (~10 samples/s), Adam + cosine, Euclidean term x10 (on [0, 1]
    # outputs it is small next to the cross-entropy) and no regressor dropout so the regressors move
    # within a few epochs. A wrong coarse category picks a regressor of the wrong signs, so the
    # classifier is the bottleneck; the test prints its held-out accuracy. Depth, 3 x 384, ~130 s:
    # 0.581x (17.6 deg: P 15.1, Y 15.5, R 22.0), coarse accuracy 0.89 (2 epochs: 0.87x, 0.52; 4 epochs:
    # 0.54x, 0.88; those two with a per-epoch validation, which shifts the torch RNG: 3 epochs gave 0.59x).
    # Before the fix that flips / turns meta["depth01"] with the image in augmentation
    # (train.data.transforms), 4 epochs gave 1.01x (yaw 50 deg: half the samples mirrored labels only).
    "c2f_depth": ({"input_size": (128, 128), "reg_weight": 10.0, "dropout": 0.0},
                  dict(epochs=3, batch_size=16, lr=1e-3, recipe={"optimizer": "adam", "schedule": "cosine",
                                                                 "weight_decay": 0.0})),
    # Grey (shading is a weaker cue than depth) also without classifier dropout, 4 x 384, ~180 s: 0.787x
    # (23.8 deg: P 25.2, Y 18.6, R 27.5), coarse accuracy 0.66. With cls_dropout 0.4: 0.81x (0.59); 6 epochs:
    # 0.76x (0.66, ~280 s); 3 epochs: 0.97x (0.42); reg_weight 3 / 30: 0.84x / 0.83x; batch 8: 0.85x;
    # lr 2e-3: 1.43x, lr 3e-3 at batch 8: 1.2x (the classifier stays at chance); SGD 1e-2: 1.13x; the
    # paper's SGD 1e-3, 1 epoch: 1.00x.
    "c2f_gray": ({"input_size": (128, 128), "reg_weight": 10.0, "dropout": 0.0, "cls_dropout": 0.0},
                 dict(epochs=4, batch_size=16, lr=1e-3, recipe={"optimizer": "adam", "schedule": "cosine",
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
                    model_cfg={**model_cfg, **(extra_cfg or {})}, seed=0, progress=False, photo_augment=FIT_AUGMENT,
                    **overrides)
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
                                  "hrnet_bernoulli", "hrnet_bernoulli_bg", "c2f_depth", "c2f_gray"])
def test_fit_beats_the_trivial_predictor(name, rendered_set, baseline, tmp_path):
    run = _fit(rendered_set, tmp_path / name, name)
    p = _held_out(run, rendered_set, baseline)
    if p["coarse"] is not None:   # coarse-to-fine: the cascade is only as good as its classifier
        acc = float(np.mean(p["coarse"] == coarse_category_tensor(torch.as_tensor(p["true"])).numpy()))
        print(f"{name}: held-out coarse accuracy {acc:.3f}")
    _assert_beats_trivial(name, p, baseline)
