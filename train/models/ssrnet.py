"""SSR-Net-MD: the two-stream network with soft stage-wise regression (the FSA-Net paper's baseline).

SSR-Net (Yang et al., IJCAI 2018) regresses a value by *soft stage-wise
regression* (SSR): stage k has ``s_k`` bins and predicts, per angle, a bin
distribution ``p_k`` (ReLU outputs, not normalised, as the reference), a
dynamic-range factor ``Delta_k`` in (-1, 1) (tanh) and a shift ``eta_k`` in
(-1, 1) (tanh). With ``d_k = s_k * (1 + lambda_d * Delta_k)`` the output is::

    angle = V * sum_k  sum_i (i - floor(s_k / 2) + eta_k) * p_k[i] / (d_1 * ... * d_k)

``V = 99`` deg (the benchmark's |angle| <= 99 range), ``lambda_d = 1`` and
``s = (3, 3, 3)`` in the FSA-Net reference code (``lib/FSANET_model.py``,
``SSRLayer``; its training script ``FSANET_train.py``). As there, the shift
``eta_k`` is one value per angle and stage (shared by the stage's bins).

The FSA-Net paper's "SSR-Net-MD" is the reference's ``SSR_net_MT``: the same
two streams as FSA-Net (separable 3x3 conv + BN, ReLU / average pooling in
one stream, tanh / max pooling in the other; 16 | 32, 32 | 64, 64 | 128, 128
channels), then per stage a 1x1 conv to 64 channels on each stream (tanh /
ReLU), 2x2 pooling, their product flattened, and dense heads for
``Delta`` (6 tanh -> 3 tanh), ``eta`` (6 tanh -> 3 tanh) and ``p`` (3 * s_k, ReLU).
Stage 1 (coarsest) reads the deepest features, stage 3 the shallowest.

Input: 64x64 RGB crops (preset ``fsanet``) with raw 0-255 pixel values, as the
reference feeds them (``mean = 0, std = 1/255``). Layers use Keras's defaults
(Glorot-uniform kernels, zero biases, BatchNorm eps 1e-3 / momentum 0.99) so
training behaves like the original.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import ModelError, PoseModel
from .losses import angle_l1_loss
from .registry import register_model
from .spec import InputSpec, Recipe

#: raw 0-255 pixels, as the FSA-Net / SSR-Net reference code feeds its 64x64 crops.
RAW_PIXELS_SPEC = InputSpec(size=(64, 64), modality="rgb", mean=(0.0, 0.0, 0.0),
                            std=(1 / 255, 1 / 255, 1 / 255), crop="fsanet")

#: FSANET_train.py: Adam (Keras defaults, lr 1e-3), 90 epochs, batch 16, LR x0.1 at epochs 30 and 60; MAE loss.
FSA_RECIPE = Recipe(optimizer="adam", lr=1e-3, betas=(0.9, 0.999), schedule="multistep", milestones=(30, 60),
                    gamma=0.1, epochs=90, batch_size=16)

#: Keras BatchNormalization defaults (momentum 0.99 = torch momentum 0.01; epsilon 1e-3).
BN_EPS, BN_MOMENTUM = 1e-3, 0.01


@dataclass(frozen=True)
class SSRConfig:
    """Soft stage-wise regression: bins per stage, the Delta weight lambda_d, the output scale V (deg)."""

    stage_bins: tuple[int, ...] = (3, 3, 3)
    lambda_d: float = 1.0
    scale: float = 99.0

    def __post_init__(self) -> None:
        if not self.stage_bins or any(s < 1 for s in self.stage_bins):
            raise ModelError(f"SSR stage_bins must be positive bin counts, got {self.stage_bins}")
        if not 0.0 <= self.lambda_d < 1.0 + 1e-9:
            # |Delta| < 1 (tanh), so 1 + lambda_d * Delta > 0 needs lambda_d <= 1
            raise ModelError(f"SSR lambda_d must be in [0, 1] so stage widths stay positive, got {self.lambda_d}")


def ssr_decode(p: list[torch.Tensor], delta: list[torch.Tensor], eta: list[torch.Tensor], cfg: SSRConfig) -> torch.Tensor:
    """Soft stage-wise regression (see the module docstring).

    p[k]: (N, A, s_k) stage-k bin weights (>= 0); delta[k], eta[k]: (N, A) in (-1, 1).
    Returns (N, A) values in units of ``cfg.scale`` (degrees here).
    """
    if not (len(p) == len(delta) == len(eta) == len(cfg.stage_bins)):
        raise ModelError(f"ssr_decode needs {len(cfg.stage_bins)} stages of p, delta and eta, "
                         f"got {len(p)}, {len(delta)}, {len(eta)}")
    p, delta, eta = [t.float() for t in p], [t.float() for t in delta], [t.float() for t in eta]  # float32 under autocast
    out = torch.zeros_like(delta[0])
    width = torch.ones_like(delta[0])
    for k, s in enumerate(cfg.stage_bins):
        idx = torch.arange(s, device=p[k].device, dtype=p[k].dtype) - (s // 2)
        width = width * (s * (1.0 + cfg.lambda_d * delta[k]))
        out = out + ((idx + eta[k].unsqueeze(-1)) * p[k]).sum(dim=-1) / width
    return out * cfg.scale


def keras_init_(module: nn.Module) -> None:
    """Keras defaults on every conv / linear below ``module``: Glorot-uniform weights, zero biases.

    (Glorot depends on fan_in + fan_out only, which is the same for torch's and
    Keras's depthwise kernel layouts.)
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class SeparableConvBlock(nn.Sequential):
    """Keras ``SeparableConv2D(cout, 3, padding='same')`` + BatchNorm + activation: (N, cin, H, W) -> (N, cout, H, W)."""

    def __init__(self, cin: int, cout: int, act: str):
        super().__init__(
            nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),   # depthwise, no bias (Keras)
            nn.Conv2d(cin, cout, 1, bias=True),                          # pointwise with the layer's bias
            nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM),
            nn.ReLU() if act == "relu" else nn.Tanh(),
        )


class _Stream(nn.Module):
    def __init__(self, in_channels: int, act: str, pool: type[nn.Module]):
        super().__init__()
        self.block1 = SeparableConvBlock(in_channels, 16, act)
        self.block2 = nn.Sequential(SeparableConvBlock(16, 32, act), SeparableConvBlock(32, 32, act))
        self.block3 = nn.Sequential(SeparableConvBlock(32, 64, act), SeparableConvBlock(64, 64, act))
        self.block4 = nn.Sequential(SeparableConvBlock(64, 128, act), SeparableConvBlock(128, 128, act))
        self.pool = pool(2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        l1 = self.pool(self.block1(x))
        l2 = self.pool(self.block2(l1))
        l3 = self.pool(self.block3(l2))
        l4 = self.block4(l3)
        return [l4, l3, l2]


class TwoStream(nn.Module):
    """FSA-Net / SSR-Net-MD feature streams on a 64x64 input.

    forward(x (N, C, 64, 64)) -> list over stages k = 1..3 of (x_k, s_k) pairs,
    deepest first: stage 1 (N, 128, 8, 8), stage 2 (N, 64, 8, 8), stage 3
    (N, 32, 16, 16); ``x`` from the ReLU / average-pooling stream, ``s`` from the
    tanh / max-pooling stream.
    """

    channels = (128, 64, 32)

    def __init__(self, in_channels: int = 3):
        super().__init__()
        self.x_stream = _Stream(in_channels, "relu", nn.AvgPool2d)
        self.s_stream = _Stream(in_channels, "tanh", nn.MaxPool2d)

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return list(zip(self.x_stream(x), self.s_stream(x)))


class _SSRMDStage(nn.Module):
    """One SSR-Net-MD stage: fused stream features -> (p (N, 3, s), delta (N, 3), eta (N, 3))."""

    def __init__(self, cin: int, feat_hw: int, bins: int, n_angles: int = 3):
        super().__init__()
        self.x_conv = nn.Conv2d(cin, 64, 1)
        self.s_conv = nn.Conv2d(cin, 64, 1)
        self.x_pool, self.s_pool = nn.AvgPool2d(2), nn.MaxPool2d(2)
        dim = 64 * (feat_hw // 2) ** 2
        self.delta = nn.Sequential(nn.Linear(dim, 2 * n_angles), nn.Tanh(), nn.Linear(2 * n_angles, n_angles), nn.Tanh())
        self.eta = nn.Sequential(nn.Linear(dim, 2 * n_angles), nn.Tanh(), nn.Linear(2 * n_angles, n_angles), nn.Tanh())
        self.p = nn.Sequential(nn.Linear(dim, bins * n_angles), nn.ReLU())
        self.bins, self.n_angles = bins, n_angles

    def forward(self, xs: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, s = xs
        f = self.x_pool(torch.relu(self.x_conv(x))) * self.s_pool(torch.tanh(self.s_conv(s)))
        f = f.flatten(1)
        p = self.p(f).view(-1, self.n_angles, self.bins)
        return p, self.delta(f), self.eta(f)


class SSRNetMD(PoseModel):
    """SSR-Net-MD (two streams + soft stage-wise regression, no structure aggregation).

    forward(x (N, 3, 64, 64) raw 0-255 pixels) -> {"euler": (N, 3) deg (pitch, yaw, roll)}.
    Loss: mean absolute error over the batch and the three angles (the reference's ``mae``).
    """

    fixed_size = True

    def __init__(self, ssr: SSRConfig = SSRConfig()):
        super().__init__(RAW_PIXELS_SPEC)
        self.ssr = ssr
        if len(ssr.stage_bins) != 3:
            raise ModelError(f"SSR-Net-MD has 3 stages, got stage_bins={ssr.stage_bins}")
        self.streams = TwoStream(self.input_spec.channels)
        hw = (8, 8, 16)   # stage feature sizes on a 64x64 input
        self.stages = nn.ModuleList(_SSRMDStage(c, h, b) for c, h, b in zip(TwoStream.channels, hw, ssr.stage_bins))
        keras_init_(self)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.check_input(x)
        outs = [stage(f) for stage, f in zip(self.stages, self.streams(x))]
        p, delta, eta = (list(t) for t in zip(*outs))
        return {"euler": ssr_decode(p, delta, eta, self.ssr)}

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        return angle_l1_loss(outputs["euler"], batch["euler"])

    def predict(self, outputs: dict) -> dict[str, torch.Tensor]:
        return {"euler": outputs["euler"]}


@register_model("ssrnet_md", recipe=FSA_RECIPE,
                paper="SSR-Net-MD as in FSA-Net (Yang et al., CVPR 2019); SSR-Net (Yang et al., IJCAI 2018)")
def ssrnet_md(stage_bins: tuple[int, ...] = (3, 3, 3), lambda_d: float = 1.0) -> SSRNetMD:
    """SSR-Net-MD on 64x64 RGB (raw 0-255) crops; ``stage_bins`` and ``lambda_d`` as the reference (3, 3, 3) and 1."""
    return SSRNetMD(SSRConfig(tuple(stage_bins), lambda_d))
