"""Hopenet (Ruiz, Chong, Rehg, CVPRW 2018): "Fine-Grained Head Pose Estimation Without Keypoints".

A ResNet trunk, global average pooling and three fully connected heads, one
per angle, each classifying into 66 bins of 3 deg over [-99, 99). Loss per angle:
cross-entropy on the bin + alpha * MSE of the softmax expectation against the
angle (``train.models.losses.binned_pose_loss``; alpha 1 or 2 in the paper, 1 here by
default). Prediction: the softmax expectation over the bin *centres* (the
reference uses the lower edges, 1.5 deg lower; see ``train.models.losses``).

Training recipe (paper section 4 and ``code/train_hopenet.py``): Adam with
lr 1e-5 (betas 0.9 / 0.999), 25 epochs, batch 128 (the authors' answer in the
repository's issue #55; the script's default is 16), ImageNet-initialised
ResNet-50, the three FC heads at 5x the LR, and the stem (``conv1``/``bn1``) at
LR 0. The reference script also leaves most BatchNorm layers in eval mode (a
side effect of matching module names containing "bn"), i.e. training uses
the ImageNet running statistics; ``freeze_bn_stats`` does this for every
backbone BatchNorm (theirs misses ``bn1`` and the shortcut BNs, an artefact of
the name matching). Both freezes default to on exactly when ImageNet weights
are loaded: freezing a randomly initialised stem or its statistics is useless.

Input: 224x224 RGB, ImageNet mean/std, crops ``hopenet_train`` (loose random
crop) / ``hopenet_test``. The trunk is fully convolutional and pooled globally,
so any side >= 32 px works (sides that are not multiples of 32 are handled by
the strided convolutions' padding).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .backbones.resnet import ResNet, load_imagenet_weights, resnet18, resnet34, resnet50, resnet101
from .base import ModelError, PoseModel
from .losses import ANGLE_NAMES, HOPENET_BINS, BinSpec, binned_pose_loss, softmax_expectation
from .registry import register_model
from .spec import InputSpec, Recipe

HOPENET_SPEC = InputSpec(size=(224, 224), modality="rgb", crop="hopenet_test", train_crop="hopenet_train")

#: paper: Adam lr 1e-5, 25 epochs; batch 128 per the authors (issue #55).
HOPENET_RECIPE = Recipe(optimizer="adam", lr=1e-5, betas=(0.9, 0.999), schedule="none", epochs=25, batch_size=128)

_BACKBONES: dict[str, Callable[..., ResNet]] = {
    "resnet18": resnet18, "resnet34": resnet34, "resnet50": resnet50, "resnet101": resnet101}


class Hopenet(PoseModel):
    """ResNet + global average pool + three ``Linear(C, n_bins)`` heads (pitch, yaw, roll).

    forward(x (N, 3, H, W), ImageNet-normalised) -> {"logits": (N, 3, n_bins)}
    (angle order pitch, yaw, roll); predict -> {"euler": (N, 3) deg in
    [centre_0, centre_last] = [-97.5, 97.5] for the default bins}.

    alpha: weight of the regression (MSE, deg^2) term. head_lr_mult: LR factor of
    the heads in ``param_groups``. freeze_stem / freeze_bn_stats: see the module
    docstring (None = on iff ``pretrained``). pretrained: local torchvision
    ImageNet ResNet state dict (.pth). out_of_range: ``"clip"`` | ``"ignore"``
    (``train.models.losses.binned_pose_loss``).
    """

    size_multiple = 1
    min_size = 32

    def __init__(self, backbone: str = "resnet50", alpha: float = 1.0, bins: BinSpec = HOPENET_BINS,
                 pretrained: str | None = None, head_lr_mult: float = 5.0, freeze_stem: bool | None = None,
                 freeze_bn_stats: bool | None = None, out_of_range: str = "clip"):
        super().__init__(HOPENET_SPEC)
        if backbone not in _BACKBONES:
            raise ModelError(f"Hopenet backbone must be one of {', '.join(_BACKBONES)}, got {backbone!r}")
        if alpha < 0:
            raise ModelError(f"Hopenet alpha (regression weight) must be >= 0, got {alpha}")
        if head_lr_mult <= 0:
            raise ModelError(f"Hopenet head_lr_mult must be > 0, got {head_lr_mult}")
        if out_of_range not in ("clip", "ignore"):
            raise ModelError(f"Hopenet out_of_range must be 'clip' or 'ignore', got {out_of_range!r}")
        self.alpha, self.bins, self.head_lr_mult, self.out_of_range = float(alpha), bins, float(head_lr_mult), out_of_range
        self.backbone = _BACKBONES[backbone](in_channels=self.input_spec.channels)
        if pretrained is not None:
            load_imagenet_weights(self.backbone, pretrained)
        self.freeze_stem = pretrained is not None if freeze_stem is None else bool(freeze_stem)
        self.freeze_bn_stats = pretrained is not None if freeze_bn_stats is None else bool(freeze_bn_stats)
        if self.freeze_stem:
            for p in (*self.backbone.conv1.parameters(), *self.backbone.bn1.parameters()):
                p.requires_grad_(False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        c = self.backbone.out_channels
        self.heads = nn.ModuleDict({a: nn.Linear(c, bins.n_bins) for a in ANGLE_NAMES})
        self.train()

    def train(self, mode: bool = True) -> "Hopenet":
        """Set training mode; with ``freeze_bn_stats`` the backbone's BatchNorms stay in eval mode."""
        super().train(mode)
        if mode and getattr(self, "freeze_bn_stats", False):
            for m in self.backbone.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.check_input(x)
        f = self.pool(self.backbone(x)).flatten(1)
        return {"logits": torch.stack([self.heads[a](f) for a in ANGLE_NAMES], dim=1)}

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        return binned_pose_loss(outputs["logits"], batch["euler"], self.bins, self.alpha, self.out_of_range)

    def predict(self, outputs: dict) -> dict[str, torch.Tensor]:
        return {"euler": softmax_expectation(outputs["logits"], self.bins)}

    def param_groups(self, lr: float) -> list[dict]:
        """Backbone at ``lr`` (frozen stem left out), the three heads at ``lr * head_lr_mult``."""
        backbone = [p for p in self.backbone.parameters() if p.requires_grad]
        heads = [p for p in self.heads.parameters() if p.requires_grad]
        return [{"params": backbone, "lr": lr, "name": "backbone"},
                {"params": heads, "lr": lr * self.head_lr_mult, "name": "heads"}]


_PAPER = "Fine-Grained Head Pose Estimation Without Keypoints (Ruiz, Chong, Rehg, CVPRW 2018)"


@register_model("hopenet_r50", recipe=HOPENET_RECIPE, paper=_PAPER)
def hopenet_r50(alpha: float = 1.0, pretrained: str | None = None, head_lr_mult: float = 5.0,
                freeze_stem: bool | None = None, freeze_bn_stats: bool | None = None,
                out_of_range: str = "clip") -> Hopenet:
    """Hopenet as in the paper: ResNet-50, 66 bins over [-99, 99), alpha 1 (paper's best: 1 and 2)."""
    return Hopenet("resnet50", alpha, HOPENET_BINS, pretrained, head_lr_mult, freeze_stem, freeze_bn_stats, out_of_range)


@register_model("hopenet_r18", recipe=HOPENET_RECIPE, paper=_PAPER + "; ResNet-18 trunk (smaller variant)")
def hopenet_r18(alpha: float = 1.0, pretrained: str | None = None, head_lr_mult: float = 5.0,
                freeze_stem: bool | None = None, freeze_bn_stats: bool | None = None,
                out_of_range: str = "clip") -> Hopenet:
    """Hopenet with a ResNet-18 trunk (11 M parameters, ~4x cheaper); same heads, loss and recipe."""
    return Hopenet("resnet18", alpha, HOPENET_BINS, pretrained, head_lr_mult, freeze_stem, freeze_bn_stats, out_of_range)
