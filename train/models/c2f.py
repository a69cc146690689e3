"""Coarse-to-fine head pose network (Wang, Liang, Shen, Jia, Yu: "A deep Coarse-to-Fine network for head
pose estimation from synthetic data", Pattern Recognition 94, 2019).

Architecture (input: 256x256 grayscale or [0, 1] depth face crops, crop preset ``c2f``;
``input_size=(W, H)`` for smaller runs, see below):

- shared trunk: GoogLeNet's first 21 convolution layers (conv1 .. inception 4a;
  ``backbones.googlenet``), 512 x 16 x 16 features at 256 x 256 (stride 16);
- coarse classifier: the rest of GoogLeNet (inception 4b .. 5b), global
  average pooling, dropout 0.4, a linear layer over the 4 categories of
  ``synth.pose.coarse_category`` (signs of pitch and yaw; roll ignored;
  0 counts as positive): 0 = (+,+), 1 = (+,-), 2 = (-,+), 3 = (-,-);
- four regression networks, one per category, each three [5x5 conv, ReLU,
  2x2 max-pool] stages (16 -> 8 -> 4 -> 2 px at 256 x 256; ``reg_channels`` filters), two
  fully connected layers of 300 units with ReLU and dropout, and a linear
  layer to 3 sigmoid outputs, which map linearly onto each angle's range
  ``angle_range`` (degrees; default the paper's synthetic ranges pitch
  [-60, 60], yaw [-75, 75], roll [-50, 50]).

Joint training (``loss``): the batch is split by position. The first
``ceil(N/2)`` samples supervise the coarse classifier (cross-entropy on their
true category); the remaining ``floor(N/2)`` supervise *only the regressor of
their true category* (Caffe's Euclidean loss ``1/(2n) sum ||y_hat - y||^2``
on the sigmoid outputs against the targets normalised to [0, 1] by the
angle ranges, so no gradient reaches the other three regressors). Both halves
train the shared trunk. Total = CE + ``reg_weight`` * Euclidean. With a
shuffled loader the halves are random subsets. Labels outside the ranges are
clamped (``logs["clamped"]`` reports the fraction).

Test time (``predict``): cascade -- the argmax category picks its regressor.
``predict`` returns ``euler`` (N, 3) degrees and ``coarse`` (N,) int64.

``forward`` runs all four regressors on every sample (the category is not
known inside forward); the cost is small next to the trunk.

Input size: the paper's 256 x 256 by default. The regressors' first FC layer
is sized from the trunk maps (``input_size / 16``, halved by each of the three
pools), so a model takes the one size it was built for (``fixed_size``);
``input_size=(W, H)`` builds it for another: both sides multiples of 16 and at
least 128 (trunk maps of at least 8 x 8, 1 x 1 after the three pools), e.g.
128 x 128 for CPU-sized test fits. The engine resizes the ``c2f`` crop to the
model's size (``train.inputs.sized_preset``).

Details the paper does not fix, chosen here: batch normalisation inside the
GoogLeNet parts (``backbones.googlenet``); 64 filters per regression conv;
dropout 0.5 in the regressors; regressor outputs on each angle's full range
(not restricted to the category's quadrant, so a regressor can still be
right about a sign the classifier got wrong near zero). The recipe (SGD,
lr 1e-3, momentum 0.9, weight decay 5e-4, x0.1 every 10 epochs, 30 epochs,
batch 64) is our choice in the Caffe style of the time, not a figure
verified from the paper.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from synth.pose import coarse_category

from .backbones.googlenet import googlenet_tail, googlenet_trunk
from .base import ModelError, PoseModel
from .registry import register_model
from .spec import InputSpec, Recipe, input_size_pair

N_COARSE = 4
#: the paper's input size (W, H); ``input_size`` builds a model for another multiple of 16 of at least 128.
INPUT_SIZE = (256, 256)
SIZE_MULTIPLE = 16
MIN_INPUT = 128
#: the coarse-to-fine paper's synthetic pose ranges (deg): pitch, yaw, roll.
PAPER_ANGLE_RANGE: tuple[tuple[float, float], ...] = ((-60.0, 60.0), (-75.0, 75.0), (-50.0, 50.0))
ANGLE_NAMES = ("pitch", "yaw", "roll")


def coarse_category_tensor(euler: torch.Tensor) -> torch.Tensor:
    """``synth.pose.coarse_category`` of a batch: euler (N, 3) degrees -> (N,) int64 in 0..3.

    0: pitch >= 0, yaw >= 0; 1: pitch >= 0, yaw < 0; 2: pitch < 0, yaw >= 0; 3: pitch < 0, yaw < 0.
    """
    if euler.ndim != 2 or euler.shape[1] < 2:
        raise ValueError(f"coarse_category_tensor takes euler (N, 3) degrees, got {tuple(euler.shape)}")
    return coarse_category(euler[:, 0], euler[:, 1])


@dataclass(frozen=True)
class C2FConfig:
    """Coarse-to-fine options.

    modality: ``"gray"`` or ``"depth"`` (1 input channel either way).
    angle_range: per angle (pitch, yaw, roll) ``(lo, hi)`` degrees the sigmoid outputs span.
    reg_channels: filters of the three 5x5 regression convs. fc_units: the two FC layers' width.
    dropout: regression FC dropout; cls_dropout: before the coarse classifier's linear layer.
    reg_weight: weight of the Euclidean term against the cross-entropy.
    input_size: (W, H) of the network input: multiples of 16, each at least 128 (``MIN_INPUT``).
    """

    modality: str = "gray"
    angle_range: tuple[tuple[float, float], ...] = PAPER_ANGLE_RANGE
    reg_channels: tuple[int, int, int] = (64, 64, 64)
    fc_units: int = 300
    dropout: float = 0.5
    cls_dropout: float = 0.4
    reg_weight: float = 1.0
    input_size: tuple[int, int] = INPUT_SIZE

    def __post_init__(self) -> None:
        if self.modality not in ("gray", "depth"):
            raise ModelError(f"coarse-to-fine modality must be 'gray' or 'depth', got {self.modality!r}")
        rng = tuple(tuple(float(v) for v in r) for r in self.angle_range)
        if len(rng) != 3 or any(len(r) != 2 or not r[1] > r[0] for r in rng):
            raise ModelError(f"angle_range must be three (lo, hi) pairs with hi > lo (pitch, yaw, roll), got {self.angle_range!r}")
        object.__setattr__(self, "angle_range", rng)
        if len(self.reg_channels) != 3 or min(self.reg_channels) < 1:
            raise ModelError(f"reg_channels must be three positive ints, got {self.reg_channels!r}")
        object.__setattr__(self, "input_size", check_input_size(self.input_size))


def check_input_size(input_size) -> tuple[int, int]:
    """(W, H) ints of a valid coarse-to-fine input size; ModelError naming the allowed sizes otherwise."""
    try:
        w, h = input_size_pair(input_size)
        ok = (w, h) == tuple(input_size)  # whole numbers only: 128.5 is not rounded to 128
    except ValueError:
        ok = False
    if not ok or min(w, h) < MIN_INPUT or w % SIZE_MULTIPLE or h % SIZE_MULTIPLE:
        raise ModelError(
            f"coarse-to-fine input_size must be (W, H) with both sides multiples of {SIZE_MULTIPLE} and at least "
            f"{MIN_INPUT} (the regressors pool the stride-16 trunk maps three times), e.g. (256, 256) (the paper's) "
            f"or (128, 128); got {input_size!r}")
    return w, h


class RegressionNet(nn.Module):
    """One category's regressor: 3 x [5x5 conv, ReLU, 2x2 max-pool], FC-300, FC-300, FC-3, sigmoid.

    (N, cin, H/16, W/16) trunk features (``in_hw``) -> (N, 3) in (0, 1) (normalised pitch, yaw, roll).
    """

    def __init__(self, cin: int, channels: tuple[int, int, int], fc_units: int, dropout: float, in_hw: tuple[int, int]):
        super().__init__()
        layers, c = [], cin
        h, w = in_hw
        for cout in channels:
            layers += [nn.Conv2d(c, cout, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2)]
            c, h, w = cout, h // 2, w // 2
        if h < 1 or w < 1:
            raise ModelError(f"coarse-to-fine regressor needs trunk maps of at least 8x8, got {in_hw}")
        self.features = nn.Sequential(*layers)
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(c * h * w, fc_units), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(fc_units, fc_units), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(fc_units, 3),
        )

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc(self.features(f)))


class CoarseToFine(PoseModel):
    """Shared GoogLeNet trunk, 4-way coarse classifier, 4 regressors; see the module doc.

    forward(x): x (N, 1, H, W) (``cfg.input_size``, 256 x 256 by default) -> {"coarse_logits": (N, 4), "reg": (N, 4, 3) sigmoid outputs in (0, 1),
    regressor k's normalised (pitch, yaw, roll) in row k}.
    """

    fixed_size = True   # the regressors' first FC layer is sized for cfg.input_size

    def __init__(self, cfg: C2FConfig = C2FConfig()):
        spec = InputSpec(size=tuple(cfg.input_size), modality=cfg.modality,
                         mean=(0.5,) if cfg.modality == "gray" else (0.0,),
                         std=(0.5,) if cfg.modality == "gray" else (1.0,), crop="c2f")
        super().__init__(spec)
        self.cfg = cfg
        self.trunk = googlenet_trunk(in_channels=1)
        self.tail = googlenet_tail()
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(cfg.cls_dropout),
                                        nn.Linear(self.tail.out_channels, N_COARSE))
        W, H = cfg.input_size
        hw = (H // self.trunk.stride, W // self.trunk.stride)
        self.regressors = nn.ModuleList(
            RegressionNet(self.trunk.out_channels, cfg.reg_channels, cfg.fc_units, cfg.dropout, hw) for _ in range(N_COARSE))
        rng = torch.tensor(cfg.angle_range, dtype=torch.float32)   # (3, 2)
        self.register_buffer("range_lo", rng[:, 0].clone(), persistent=False)
        self.register_buffer("range_span", (rng[:, 1] - rng[:, 0]).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.trunk(x)
        return {"coarse_logits": self.classifier(self.tail(f)),
                "reg": torch.stack([r(f) for r in self.regressors], dim=1)}

    def to_degrees(self, reg01: torch.Tensor) -> torch.Tensor:
        """(..., 3) sigmoid outputs -> degrees on each angle's range."""
        return self.range_lo + reg01 * self.range_span

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Half/half joint loss (module doc). Logs: loss, ce, euclid, coarse_acc (classifier half),
        mae_<angle> (regression half, its true category's regressor, deg), clamped."""
        logits, reg = outputs["coarse_logits"], outputs["reg"]
        euler = batch["euler"].to(reg.dtype)
        n = euler.shape[0]
        if logits.shape[0] != n:
            raise ValueError(f"coarse-to-fine loss: {logits.shape[0]} outputs but {n} labels")
        cat = coarse_category_tensor(euler)
        n_cls = (n + 1) // 2
        ce = F.cross_entropy(logits[:n_cls], cat[:n_cls])
        idx = torch.arange(n_cls, n, device=reg.device)
        logs: dict[str, float] = {}
        if len(idx):
            pred = reg[idx, cat[idx]]                                    # (n_reg, 3): own category's regressor only
            target01 = (euler[idx] - self.range_lo) / self.range_span
            clamped = ((target01 < 0) | (target01 > 1)).float().mean()
            target01 = target01.clamp(0.0, 1.0)
            euclid = 0.5 * ((pred - target01) ** 2).sum(dim=1).mean()
            with torch.no_grad():
                mae = (self.to_degrees(pred) - euler[idx]).abs().mean(dim=0)
                logs |= {f"mae_{a}": float(mae[i]) for i, a in enumerate(ANGLE_NAMES)}
                logs["clamped"] = float(clamped)
        else:
            euclid = reg.sum() * 0.0                                     # batch of 1: classifier only
        loss = ce + self.cfg.reg_weight * euclid
        with torch.no_grad():
            logs |= {"loss": float(loss), "ce": float(ce), "euclid": float(euclid),
                     "coarse_acc": float((logits[:n_cls].argmax(dim=1) == cat[:n_cls]).float().mean())}
        return loss, logs

    def predict(self, outputs: dict) -> dict[str, torch.Tensor]:
        """Cascade: argmax category -> its regressor. {"euler": (N, 3) deg, "coarse": (N,) int64}."""
        coarse = outputs["coarse_logits"].argmax(dim=1)
        reg = outputs["reg"][torch.arange(coarse.shape[0], device=coarse.device), coarse]
        return {"euler": self.to_degrees(reg), "coarse": coarse}


_C2F_RECIPE = Recipe(optimizer="sgd", lr=1e-3, momentum=0.9, weight_decay=5e-4, schedule="step", step_size=10,
                     gamma=0.1, epochs=30, batch_size=64)
_C2F_PAPER = "Wang et al., A deep Coarse-to-Fine network for head pose estimation from synthetic data (Pattern Recognition 2019)"


def _config(modality: str, angle_range, reg_channels, fc_units, dropout, cls_dropout, reg_weight, input_size) -> C2FConfig:
    return C2FConfig(modality, tuple(tuple(r) for r in angle_range), tuple(reg_channels), fc_units, dropout, cls_dropout,
                     reg_weight, input_size)   # validated (and made ints) by C2FConfig


@register_model("c2f_gray", recipe=_C2F_RECIPE, paper=_C2F_PAPER)
def c2f_gray(angle_range: tuple[tuple[float, float], ...] = PAPER_ANGLE_RANGE, reg_channels: tuple[int, int, int] = (64, 64, 64),
             fc_units: int = 300, dropout: float = 0.5, cls_dropout: float = 0.4, reg_weight: float = 1.0,
             input_size: tuple[int, int] = INPUT_SIZE) -> CoarseToFine:
    """Coarse-to-fine on grayscale face crops (crop preset ``c2f``), 256x256 unless ``input_size`` = (W, H) says
    otherwise (multiples of 16, at least 128); options as :class:`C2FConfig`."""
    return CoarseToFine(_config("gray", angle_range, reg_channels, fc_units, dropout, cls_dropout, reg_weight, input_size))


@register_model("c2f_depth", recipe=_C2F_RECIPE, paper=_C2F_PAPER)
def c2f_depth(angle_range: tuple[tuple[float, float], ...] = PAPER_ANGLE_RANGE, reg_channels: tuple[int, int, int] = (64, 64, 64),
              fc_units: int = 300, dropout: float = 0.5, cls_dropout: float = 0.4, reg_weight: float = 1.0,
              input_size: tuple[int, int] = INPUT_SIZE) -> CoarseToFine:
    """Coarse-to-fine on depth face crops normalised to [0, 1] (crop preset ``c2f``), 256x256 unless ``input_size``
    = (W, H) says otherwise (multiples of 16, at least 128); options as :class:`C2FConfig`."""
    return CoarseToFine(_config("depth", angle_range, reg_channels, fc_units, dropout, cls_dropout, reg_weight, input_size))
