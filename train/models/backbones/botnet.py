"""BoTNet (Bottleneck Transformers, Srinivas et al., CVPR 2021) feature extractors in plain torch.

BoTNet-101 is ResNet-101 (``backbones.resnet``) whose last stage's three
bottleneck blocks have their 3x3 convolution replaced by multi-head
self-attention (MHSA, 4 heads) over the whole feature map with 2-D relative
position encodings: the attention logit of query position (y, x) and key
position (y', x') is

    q . k / sqrt(d)  +  q . (r^h_{y'-y} + r^w_{x'-x}) / sqrt(d)

with learned per-offset embeddings r^h (2H-1, d), r^w (2W-1, d) shared by the
heads (d = channels per head). In the stage's first (stride 2) block the
attention runs at the incoming resolution and a 2x2 average pool with stride
2 follows it (``ceil_mode`` so odd maps give the same size as the 1x1
stride-2 shortcut, e.g. 7 -> 4). Each MHSA is followed by BN + ReLU where the
convolution had them.

The relative embeddings are sized for one feature map, so the input size is
fixed at construction: ``input_size`` = (W, H) of the network input; the
attention runs at ceil(H/16) x ceil(W/16) (first block) and ceil(H/32) x
ceil(W/32) (the other two), e.g. 7x7 and 4x4 for EHPNet's 112x112 crops.

API as ``backbones.resnet``: ``forward(x)``: (N, in_channels, H, W) ->
(N, 2048, ceil(H/32), ceil(W/32)); ``out_channels`` = 2048. Names follow
torchvision's ResNet (the attention of block i is ``layer4.i.mhsa``), and
:func:`load_resnet_weights` initialises every non-attention layer from a
local torchvision ResNet state dict (there is no public BoTNet-101 ImageNet
checkpoint; the attention layers keep their random initialisation).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .resnet import Bottleneck, BottleneckBase, ResNet, load_imagenet_weights

__all__ = ["RelPosMHSA", "BoTBlock", "BoTNet", "botnet101", "botnet50", "load_resnet_weights", "stage_sizes"]


def _half_up(n: int) -> int:
    return (n + 1) // 2


def stage_sizes(input_size: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """((h, w) entering the last stage, (h, w) after it) for a network input ``input_size`` = (W, H)."""
    W, H = input_size
    h, w = H, W
    for _ in range(4):          # conv1 /2, max-pool /2, layer2 /2, layer3 /2, each ceil(n/2)
        h, w = _half_up(h), _half_up(w)
    return (h, w), (_half_up(h), _half_up(w))


class RelPosMHSA(nn.Module):
    """All-to-all multi-head self-attention with 2-D relative position logits on a fixed (h, w) map.

    (N, dim, h, w) -> (N, dim, h, w); ``dim`` must divide by ``heads``.
    """

    def __init__(self, dim: int, fmap_hw: tuple[int, int], heads: int = 4):
        super().__init__()
        if dim % heads:
            raise ValueError(f"RelPosMHSA: dim {dim} is not divisible by heads {heads}")
        h, w = fmap_hw
        if h < 1 or w < 1:
            raise ValueError(f"RelPosMHSA: feature map {fmap_hw} is empty")
        self.heads, self.dim_head, self.fmap_hw = heads, dim // heads, (h, w)
        self.scale = self.dim_head ** -0.5
        self.qkv = nn.Conv2d(dim, 3 * dim, 1, bias=False)
        self.rel_height = nn.Parameter(torch.randn(2 * h - 1, self.dim_head) * self.scale)
        self.rel_width = nn.Parameter(torch.randn(2 * w - 1, self.dim_head) * self.scale)
        # index[q, k] = k - q + (n - 1): the embedding row of offset k - q
        self.register_buffer("idx_h", torch.arange(h)[None, :] - torch.arange(h)[:, None] + h - 1, persistent=False)
        self.register_buffer("idx_w", torch.arange(w)[None, :] - torch.arange(w)[:, None] + w - 1, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        if (H, W) != self.fmap_hw:
            raise ValueError(f"BoTNet attention was built for {self.fmap_hw[0]}x{self.fmap_hw[1]} feature maps, got "
                             f"{H}x{W}; build the model for this input size (input_size)")
        n, d = self.heads, self.dim_head
        q, k, v = self.qkv(x).reshape(B, 3, n, d, H * W).unbind(1)          # each (B, n, d, L)
        q = q * self.scale
        logits = torch.einsum("bndi,bndj->bnij", q, k)                       # (B, n, L, L)
        qs = q.reshape(B, n, d, H, W).permute(0, 1, 3, 4, 2)                 # (B, n, H, W, d)
        lh = torch.einsum("bnyxd,md->bnyxm", qs, self.rel_height)             # (B, n, H, W, 2H-1)
        lw = torch.einsum("bnyxd,md->bnyxm", qs, self.rel_width)              # (B, n, H, W, 2W-1)
        lh = torch.gather(lh, 4, self.idx_h[None, None, :, None, :].expand(B, n, H, W, H))   # (B, n, H, W, H')
        lw = torch.gather(lw, 4, self.idx_w[None, None, None, :, :].expand(B, n, H, W, W))   # (B, n, H, W, W')
        rel = (lh[..., :, None] + lw[..., None, :]).reshape(B, n, H * W, H * W)
        attn = (logits + rel).softmax(dim=-1)
        out = torch.einsum("bnij,bndj->bndi", attn, v)
        return out.reshape(B, C, H, W)


class BoTBlock(BottleneckBase):
    """Bottleneck with MHSA in place of the 3x3 conv: 1x1 (width), MHSA [+ 2x2 avg-pool], 1x1 (4 width), shortcut."""

    def __init__(self, cin: int, width: int, fmap_hw: tuple[int, int], stride: int = 1,
                 downsample: nn.Module | None = None, heads: int = 4):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.mhsa = RelPosMHSA(width, fmap_hw, heads)
        self.pool = nn.AvgPool2d(2, stride=2, ceil_mode=True) if stride == 2 else nn.Identity()
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def spatial(self, out: torch.Tensor) -> torch.Tensor:
        return self.pool(self.mhsa(out))


class BoTNet(nn.Module):
    """ResNet stem + stages 1-3 (torchvision layout) and a last stage of BoT blocks; fixed input size."""

    def __init__(self, layers: tuple[int, int, int, int], input_size: tuple[int, int], in_channels: int = 3, heads: int = 4):
        super().__init__()
        W, H = input_size
        if W < 32 or H < 32:
            raise ValueError(f"BoTNet input_size must be at least 32x32 (W, H), got {input_size}")
        self.input_size = (int(W), int(H))
        self.in_channels = in_channels
        base = ResNet(Bottleneck, layers, in_channels)
        self.conv1, self.bn1, self.relu, self.maxpool = base.conv1, base.bn1, base.relu, base.maxpool
        self.layer1, self.layer2, self.layer3 = base.layer1, base.layer2, base.layer3
        (h3, w3), (h4, w4) = stage_sizes(self.input_size)
        self.fmap_sizes = ((h3, w3), (h4, w4))
        cin, width = 1024, 512
        downsample = nn.Sequential(nn.Conv2d(cin, width * 4, 1, stride=2, bias=False), nn.BatchNorm2d(width * 4))
        blocks = [BoTBlock(cin, width, (h3, w3), 2, downsample, heads)]
        blocks += [BoTBlock(width * 4, width, (h4, w4), 1, None, heads) for _ in range(layers[3] - 1)]
        self.layer4 = nn.Sequential(*blocks)
        self.out_channels = width * 4
        for m in self.layer4.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) at the construction size -> (N, 2048, ceil(H/32), ceil(W/32))."""
        if (x.shape[-1], x.shape[-2]) != self.input_size:
            raise ValueError(f"this BoTNet was built for {self.input_size[0]}x{self.input_size[1]} inputs (W x H), got "
                             f"{x.shape[-1]}x{x.shape[-2]}; build it with input_size=({x.shape[-1]}, {x.shape[-2]})")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def botnet101(input_size: tuple[int, int] = (112, 112), in_channels: int = 3, heads: int = 4) -> BoTNet:
    """BoTNet-101 for ``input_size`` = (W, H) inputs (37.8 M parameters), out_channels 2048."""
    return BoTNet((3, 4, 23, 3), input_size, in_channels, heads)


def botnet50(input_size: tuple[int, int] = (224, 224), in_channels: int = 3, heads: int = 4) -> BoTNet:
    """BoTNet-50 (the paper's ImageNet model layout, without its ResNet-D / SE tweaks), out_channels 2048."""
    return BoTNet((3, 4, 6, 3), input_size, in_channels, heads)


def load_resnet_weights(module: BoTNet, path: str | Path, depth: int = 101) -> BoTNet:
    """Initialise every layer a ResNet has (stem, stages 1-3, the last stage's 1x1 convs, BNs and
    shortcut) from the torchvision ResNet-``depth`` state dict in the local file ``path``; the
    attention layers (``layer4.*.mhsa``) are left as they are. Returns ``module``."""
    layers = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
    if depth not in layers:
        raise ValueError(f"load_resnet_weights: depth must be 50 or 101, got {depth}")
    ref = load_imagenet_weights(ResNet(Bottleneck, layers[depth], module.in_channels), path).state_dict()
    own = module.state_dict()
    take = {k: v for k, v in ref.items() if k in own and own[k].shape == v.shape}
    skipped = sorted(k for k in ref if k not in take and not k.startswith("layer4."))
    if skipped:
        raise ValueError(f"{path}: ResNet-{depth} keys do not fit this BoTNet: {', '.join(skipped[:5])}; "
                         "use a state dict of the same depth")
    module.load_state_dict(take, strict=False)
    return module

