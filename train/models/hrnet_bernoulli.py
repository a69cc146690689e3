"""Bernoulli-heatmap head pose network (Hu, Xing, Lv, Hang, Liu, arXiv 2005.11780, 2020).

The network (``backbones.hrnet``: HRNet-W32 layout with channel-wise fusion
weights and LeakyReLU 0.2, fully convolutional) ends in a 1x1 convolution to
four maps at 1/4 of the input resolution:

- three **Bernoulli heatmaps**, one per angle (pitch, yaw, roll): inside a disc
  of radius ``radius`` (heatmap pixels) around the head centre every pixel holds
  the angle value, everywhere else 0;
- one **weight heatmap**: a Gaussian ``exp(-d^2 / (2 sigma^2))`` with
  ``sigma = 0.6 * radius`` around the head centre (peak 1).

Decoding (``decode``): the estimate of each angle is the mean of its map over
the pixels whose weight exceeds 0.5, weighted by the weight map. Those pixels
lie within ``sigma * sqrt(2 ln 2) = 0.71 radius`` of the centre, inside the
disc, so an exact target decodes to the exact angle. When no pixel exceeds
0.5 (an untrained net) the single highest-weight pixel is used.

Head centre: the centre of ``batch["bbox"]`` (the face box in input pixels),
mapped to heatmap coordinates as ``u = x / stride - 0.5`` (input pixel ``k``
spans ``[k, k+1)``; heatmap pixel ``j`` is centred on input ``(j + 0.5) * stride``;
stride 4).

Angle scaling and loss (our choices; the paper's text was not available to
check them): the maps hold ``angle / angle_scale`` (default 90 deg, so values
are about [-1.1, 1.1] and the background 0 sits at a frontal pose); the
outputs are linear (no activation). The loss is HRNet's heatmap regression
loss applied to every map: the pixel-mean squared error of the three angle
maps plus that of the weight map against their targets (no per-pixel
reweighting). The head is HRNet's pose head (a 1x1 conv on the
highest-resolution branch).

Variants: ``hrnet_bernoulli_bg`` takes the full frame with background (128 x 96
input, crop preset ``full_frame``, the engine resizes frames to 128 x 96);
``hrnet_bernoulli`` takes 64 x 64 face crops without background: crop preset
``ehpnet`` (the face box grown to a square about its centre, so the crop holds
the face and almost nothing around it, unlike ``fsanet``'s 60 % margin),
resized by the engine from 112 to 64. ``input_size=(W, H)`` builds either for
another size (the engine resizes to it); sides must be multiples of 32.
``init`` picks the HRNet's initialisation: ``"hrnet"`` (default, the HRNet
reference's N(0, 0.001^2) convs) or ``"torch"``, which trains far faster in
short runs (``backbones.hrnet`` module doc).

Recipe (as given for the paper): Adam 1e-3, halved at epochs 15 and 30;
epochs (40) and batch size (32) are our choice.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .backbones.hrnet import INITS, HRNet
from .base import ModelError, PoseModel
from .registry import register_model
from .spec import InputSpec, Recipe, input_size_pair

ANGLE_NAMES = ("pitch", "yaw", "roll")
#: sigma of the weight heatmap as a fraction of the disc radius.
SIGMA_PER_RADIUS = 0.6
WEIGHT_THRESHOLD = 0.5
#: default input sizes (W, H): full frames (``hrnet_bernoulli_bg``) and face crops (``hrnet_bernoulli``).
BG_INPUT_SIZE = (128, 96)
CROP_INPUT_SIZE = (64, 64)


def head_centers(bbox: torch.Tensor, stride: float) -> torch.Tensor:
    """Face-box centres in heatmap pixel coordinates: bbox (N, 4) x0, y0, x1, y1 input px -> (N, 2) (u, v)."""
    if bbox.ndim != 2 or bbox.shape[1] != 4:
        raise ValueError(f"head_centers takes bbox (N, 4) x0, y0, x1, y1, got {tuple(bbox.shape)}")
    cx = (bbox[:, 0] + bbox[:, 2]) / 2
    cy = (bbox[:, 1] + bbox[:, 3]) / 2
    return torch.stack([cx / stride - 0.5, cy / stride - 0.5], dim=1)


def bernoulli_targets(values: torch.Tensor, centers: torch.Tensor, hw: tuple[int, int], radius: float,
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Target maps for a batch.

    values: (N, 3) (scaled) angle values; centers: (N, 2) (u, v) heatmap px; hw: (h, w) heatmap size;
    radius: disc radius in heatmap px. Returns (angle maps (N, 3, h, w): value inside the disc
    ``d <= radius``, 0 outside; weight map (N, 1, h, w): ``exp(-d^2 / (2 (0.6 r)^2))``).
    """
    if radius <= 0:
        raise ValueError(f"Bernoulli heatmap radius must be > 0 heatmap pixels, got {radius}")
    h, w = hw
    ys = torch.arange(h, device=values.device, dtype=values.dtype)
    xs = torch.arange(w, device=values.device, dtype=values.dtype)
    du = xs[None, None, :] - centers[:, 0, None, None].to(values.dtype)     # (N, 1, w)
    dv = ys[None, :, None] - centers[:, 1, None, None].to(values.dtype)     # (N, h, 1)
    d2 = du ** 2 + dv ** 2                                                   # (N, h, w)
    disc = (d2 <= radius ** 2).to(values.dtype)
    sigma = SIGMA_PER_RADIUS * radius
    weight = torch.exp(-d2 / (2 * sigma ** 2))
    return values[:, :, None, None] * disc[:, None], weight[:, None]


def decode(angle_maps: torch.Tensor, weight_map: torch.Tensor, threshold: float = WEIGHT_THRESHOLD,
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean of each angle map over pixels with weight > ``threshold``.

    angle_maps (N, 3, h, w), weight_map (N, 1, h, w) -> (values (N, 3), found (N,) bool: at least one
    pixel above the threshold; samples without one use their highest-weight pixel alone).
    """
    w = weight_map.flatten(1)                                   # (N, h*w)
    a = angle_maps.flatten(2)                                   # (N, 3, h*w)
    above = w > threshold
    found = above.any(dim=1)
    m = torch.where(above, w, torch.zeros_like(w))
    fallback = F.one_hot(w.argmax(dim=1), w.shape[1]).to(w.dtype)
    m = torch.where(found[:, None], m, fallback)
    return (a * m[:, None]).sum(dim=2) / m.sum(dim=1, keepdim=True), found


@dataclass(frozen=True)
class BernoulliConfig:
    """radius: disc radius in heatmap pixels (1/4 input); angle_scale: degrees per map unit;
    size: (W, H) input; crop: crop preset; modules_per_stage: HRNet modules in stages 2-4;
    init: the HRNet's weight initialisation (``backbones.hrnet.INITS``: ``"hrnet"``, ``"torch"``)."""

    radius: float = 4.0
    angle_scale: float = 90.0
    size: tuple[int, int] = CROP_INPUT_SIZE
    crop: str = "ehpnet"
    modules_per_stage: tuple[int, int, int] = (1, 4, 3)
    init: str = "hrnet"

    def __post_init__(self) -> None:
        if not self.radius > 0:
            raise ModelError(f"radius must be > 0 heatmap pixels, got {self.radius}")
        if not self.angle_scale > 0:
            raise ModelError(f"angle_scale must be > 0 degrees, got {self.angle_scale}")
        if len(self.size) != 2 or any(s % 32 or s < 32 for s in self.size):
            raise ModelError(f"Bernoulli-heatmap input_size must be (W, H) with both sides multiples of 32 "
                             f"(the lowest HRNet branch is at stride 32), got {self.size}")
        if self.init not in INITS:
            raise ModelError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")


class BernoulliHeatmapNet(PoseModel):
    """HRNet + 1x1 conv head to three Bernoulli angle maps and a weight map (module doc).

    forward(x): x (N, 3, H, W) -> {"angle_maps": (N, 3, H/4, W/4) angle / angle_scale,
    "weight_map": (N, 1, H/4, W/4)}.
    """

    size_multiple = 32
    min_size = 32

    def __init__(self, cfg: BernoulliConfig = BernoulliConfig()):
        super().__init__(InputSpec(size=tuple(cfg.size), modality="rgb", crop=cfg.crop))
        self.cfg = cfg
        self.backbone = HRNet(3, modules_per_stage=tuple(cfg.modules_per_stage), init=cfg.init)
        self.head = nn.Conv2d(self.backbone.out_channels, 4, 1)
        nn.init.normal_(self.head.weight, std=0.001)     # HRNet's heatmap-head init: maps start near 0
        nn.init.zeros_(self.head.bias)
        self.stride = self.backbone.stride

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        y = self.head(self.backbone(x))
        return {"angle_maps": y[:, :3], "weight_map": y[:, 3:]}

    def targets(self, batch: dict, hw: tuple[int, int], dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """(angle maps (N, 3, h, w), weight map (N, 1, h, w)) for ``batch["euler"]`` and ``batch["bbox"]``."""
        values = batch["euler"].to(dtype) / self.cfg.angle_scale
        centers = head_centers(batch["bbox"].to(dtype), self.stride)
        return bernoulli_targets(values, centers, hw, self.cfg.radius)

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """Pixel-mean MSE of the angle maps + of the weight map. Logs: loss, mse_angle, mse_weight,
        mae_<angle> (decoded, deg), found (fraction of samples with a pixel above 0.5)."""
        amap, wmap = outputs["angle_maps"], outputs["weight_map"]
        at, wt = self.targets(batch, tuple(amap.shape[-2:]), amap.dtype)
        mse_a = F.mse_loss(amap, at)
        mse_w = F.mse_loss(wmap, wt)
        loss = mse_a + mse_w
        with torch.no_grad():
            vals, found = decode(amap, wmap)
            mae = (vals * self.cfg.angle_scale - batch["euler"].to(vals.dtype)).abs().mean(dim=0)
            logs = {"loss": float(loss), "mse_angle": float(mse_a), "mse_weight": float(mse_w),
                    "found": float(found.float().mean())}
            logs |= {f"mae_{a}": float(mae[i]) for i, a in enumerate(ANGLE_NAMES)}
        return loss, logs

    def predict(self, outputs: dict) -> dict[str, torch.Tensor]:
        """{"euler": (N, 3) degrees}: the weighted mean over pixels with weight > 0.5, times angle_scale."""
        vals, _ = decode(outputs["angle_maps"], outputs["weight_map"])
        return {"euler": vals * self.cfg.angle_scale}


_RECIPE = Recipe(optimizer="adam", lr=1e-3, schedule="multistep", milestones=(15, 30), gamma=0.5, epochs=40, batch_size=32)
_PAPER = "Hu et al., Deep Convolutional Neural Network-based Bernoulli Heatmap for Head Pose Estimation (arXiv 2005.11780)"


@register_model("hrnet_bernoulli_bg", recipe=_RECIPE, paper=_PAPER)
def hrnet_bernoulli_bg(radius: float = 2.0, angle_scale: float = 90.0,
                       modules_per_stage: tuple[int, int, int] = (1, 4, 3),
                       input_size: tuple[int, int] = BG_INPUT_SIZE, init: str = "hrnet") -> BernoulliHeatmapNet:
    """Full frames with background, 128 x 96 input unless ``input_size`` = (W, H) says otherwise (multiples of 32;
    crop preset ``full_frame``, frames resized to the input size); radius in heatmap px (1/4 input); ``init``:
    the HRNet's initialisation (``backbones.hrnet``)."""
    return BernoulliHeatmapNet(BernoulliConfig(radius, angle_scale, input_size_pair(input_size), "full_frame",
                                               tuple(modules_per_stage), init))


@register_model("hrnet_bernoulli", recipe=_RECIPE, paper=_PAPER)
def hrnet_bernoulli(radius: float = 4.0, angle_scale: float = 90.0,
                    modules_per_stage: tuple[int, int, int] = (1, 4, 3),
                    input_size: tuple[int, int] = CROP_INPUT_SIZE, init: str = "hrnet") -> BernoulliHeatmapNet:
    """Face crops without background, 64 x 64 unless ``input_size`` = (W, H) says otherwise (multiples of 32; crop
    preset ``ehpnet``: tight square face box, resized); radius in heatmap px; ``init``: the HRNet's initialisation."""
    return BernoulliHeatmapNet(BernoulliConfig(radius, angle_scale, input_size_pair(input_size), "ehpnet",
                                               tuple(modules_per_stage), init))


def weight_radius(radius: float, threshold: float = WEIGHT_THRESHOLD) -> float:
    """Distance (heatmap px) within which the weight map exceeds ``threshold``: ``0.6 r sqrt(-2 ln t)``."""
    return SIGMA_PER_RADIUS * radius * math.sqrt(-2.0 * math.log(threshold))
