"""EHPNet: an efficient head pose network distilled from an ensemble (Thai, Tran, Bui, Ninh, Tran:
"An Effective Deep Network for Head Pose Estimation without Keypoints", arXiv 2210.13705, 2022).

Every variant is a backbone (global average pooled) with three linear heads
classifying pitch, yaw and roll into 62 bins of 3 deg over [-93, 93)
(``EHPNET_BINS``); the angle is the softmax expectation over the bin centres
(``train.models.losses``). Loss with hard labels: per angle CE + ``alpha`` * MSE of the
expectation (``train.models.losses.binned_pose_loss``, alpha 1).

Variants (input: 112 x 112 RGB by default, ``input_size=(W, H)`` for smaller
runs; ImageNet normalisation, crop preset ``ehpnet``: the face box padded to a
square, resized):

- teachers, trained with hard labels: ``ehpnet_t_r101`` (ResNet-101),
  ``ehpnet_t_botnet101`` (BoTNet-101; its attention is built for the input
  size, so it takes 112 x 112 only unless ``input_size`` says otherwise),
  ``ehpnet_t_res2net101`` (Res2Net-101 26w x 4s);
- the student ``ehpnet_r18`` (ResNet-18), trained with hard labels like the
  teachers or distilled from their ensemble by ``train.models.distill.DistillModel``.

``pretrained``: path of a local ImageNet state dict for the backbone
(torchvision ResNet layout; the Res2Net authors' layout for Res2Net; a
torchvision ResNet-101 for BoTNet's non-attention layers). Nothing is
downloaded.

Recipe: Adam 1e-4 with cosine annealing, as the paper; 100 epochs and batch
64 are our choice (not verified from the paper).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .backbones import botnet, res2net, resnet
from .base import ModelError, PoseModel
from .losses import BinSpec, binned_pose_loss, softmax_expectation
from .registry import register_model
from .spec import InputSpec, Recipe, input_size_pair

#: EHPNet's bins: 62 x 3 deg over [-93, 93).
EHPNET_BINS = BinSpec(62, -93.0, 93.0)
INPUT_SIZE = (112, 112)


class EHPNet(PoseModel):
    """Backbone -> global average pool -> three linear heads of ``bins.n_bins`` logits (pitch, yaw, roll).

    forward(x): x (N, 3, H, W) -> {"logits": (N, 3, n_bins)}; predict -> {"euler": (N, 3) deg}.
    """

    min_size = 32

    def __init__(self, backbone: nn.Module, bins: BinSpec = EHPNET_BINS, alpha: float = 1.0,
                 fixed_size: bool = False, input_size: tuple[int, int] = INPUT_SIZE):
        super().__init__(InputSpec(size=tuple(input_size), modality="rgb", crop="ehpnet"))
        self.backbone = backbone
        self.bins, self.alpha = bins, float(alpha)
        self.fixed_size = fixed_size
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.heads = nn.ModuleList(nn.Linear(backbone.out_channels, bins.n_bins) for _ in range(3))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.pool(self.backbone(x)).flatten(1)
        return {"logits": torch.stack([h(f) for h in self.heads], dim=1)}

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Hard-label loss: per angle CE + alpha * MSE(expectation, angle), summed over the angles."""
        return binned_pose_loss(outputs["logits"], batch["euler"], self.bins, alpha=self.alpha)

    def predict(self, outputs: dict) -> dict[str, torch.Tensor]:
        return {"euler": softmax_expectation(outputs["logits"], self.bins)}


def _build(make_backbone: Callable[[], nn.Module], load: Callable | None, pretrained: str | None, alpha: float,
           fixed_size: bool = False, input_size: tuple[int, int] = INPUT_SIZE) -> EHPNet:
    backbone = make_backbone()
    if pretrained is not None:
        if load is None:
            raise ModelError("this EHPNet variant has no ImageNet weight loader; leave pretrained unset")
        load(backbone, pretrained)
    return EHPNet(backbone, EHPNET_BINS, alpha, fixed_size, input_size)


_RECIPE = Recipe(optimizer="adam", lr=1e-4, schedule="cosine", epochs=100, batch_size=64)
_PAPER = "Thai et al., An Effective Deep Network for Head Pose Estimation without Keypoints (arXiv 2210.13705)"


@register_model("ehpnet_r18", recipe=_RECIPE, paper=_PAPER)
def ehpnet_r18(pretrained: str | None = None, alpha: float = 1.0,
               input_size: tuple[int, int] = INPUT_SIZE) -> EHPNet:
    """The EHPNet student: ResNet-18 (``pretrained``: local torchvision ResNet-18 state dict)."""
    return _build(resnet.resnet18, resnet.load_imagenet_weights, pretrained, alpha, input_size=input_size_pair(input_size))


@register_model("ehpnet_t_r101", recipe=_RECIPE, paper=_PAPER)
def ehpnet_t_r101(pretrained: str | None = None, alpha: float = 1.0,
                  input_size: tuple[int, int] = INPUT_SIZE) -> EHPNet:
    """Teacher: ResNet-101 (``pretrained``: local torchvision ResNet-101 state dict)."""
    return _build(resnet.resnet101, resnet.load_imagenet_weights, pretrained, alpha, input_size=input_size_pair(input_size))


@register_model("ehpnet_t_res2net101", recipe=_RECIPE, paper=_PAPER)
def ehpnet_t_res2net101(pretrained: str | None = None, alpha: float = 1.0,
                        input_size: tuple[int, int] = INPUT_SIZE) -> EHPNet:
    """Teacher: Res2Net-101 26w x 4s (``pretrained``: the authors' res2net101_26w_4s state dict, local)."""
    return _build(res2net.res2net101_26w_4s, resnet.load_imagenet_weights, pretrained, alpha, input_size=input_size_pair(input_size))


@register_model("ehpnet_t_botnet101", recipe=_RECIPE, paper=_PAPER)
def ehpnet_t_botnet101(pretrained: str | None = None, alpha: float = 1.0,
                       input_size: tuple[int, int] = INPUT_SIZE) -> EHPNet:
    """Teacher: BoTNet-101 built for ``input_size`` (W, H) inputs only (``pretrained``: a local torchvision
    ResNet-101 state dict for the non-attention layers)."""
    size = input_size_pair(input_size)
    return _build(lambda: botnet.botnet101(size), botnet.load_resnet_weights, pretrained, alpha,
                  fixed_size=True, input_size=size)
