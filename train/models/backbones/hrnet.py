"""HRNet with channel-wise fusion weights, as the Bernoulli-heatmap head-pose paper uses it (plain torch).

Hu, Xing, Lv, Hang, Liu: "Deep Convolutional Neural Network-based Bernoulli
Heatmap for Head Pose Estimation" (arXiv 2005.11780, 2020),
building on HRNet (Sun et al., CVPR 2019).

Layout (Table I of the head-pose paper; module counts per stage as HRNet-W32):

- stem: two 3x3 stride-2 convolutions of 64 channels (input / 4);
- stage 1: four bottleneck blocks at 64 channels (256 out);
- stages 2, 3, 4: 2, 3, 4 parallel branches of 32, 64, 128, 256 channels at
  strides 4, 8, 16, 32; each module has four basic blocks per branch followed
  by a multi-scale fusion; ``modules_per_stage`` = (1, 4, 3) modules;
- a transition before each of stages 2-4 adds the new lower-resolution branch
  (3x3 stride-2 conv from the previous lowest branch).

Fusion: output branch ``i`` = LeakyReLU(sum_j g_ij(f_ij(x_j))) where f_ij
brings branch ``j`` to branch ``i``'s resolution and width (identity for
i = j; 1x1 conv + BN + nearest upsampling for j > i; a chain of 3x3 stride-2
conv + BN for j < i) and g_ij is the paper's channel-wise fusion weight in
squeeze-excitation form: ``w = sigmoid(fc2(relu(fc1(avgpool(y)))))``,
``g(y) = y * (1 + w)`` (the hidden width is ``max(c // reduction, 4)``). So each
incoming term gets learned per-channel weights in [1, 2] instead of the plain
equal-weight sum of HRNet.

Every activation is LeakyReLU with slope 0.2. There are no fully connected
layers. The network's output is the highest-resolution branch after the
last fusion (HRNet's pose-estimation head): ``forward(x)`` (N, in_channels,
H, W) -> (N, 32, H/4, W/4); H and W must be multiples of 32 (the lowest
branch is at stride 32). ``out_channels`` = 32, ``stride`` = 4.

Initialisation (``init``): ``"hrnet"`` (default) is HRNet's reference code:
every conv ~ N(0, 0.001^2), BN weight 1 / bias 0. ``"torch"`` keeps PyTorch's
default conv init (Kaiming-uniform) and zero-initialises the last BN of every
residual block, so each block starts as its shortcut (torchvision's
``zero_init_residual``). Both give the same train-mode activations (the BNs
normalise the conv outputs), but with Adam the update per step is ~lr whatever
the weight's size, so lr 1e-3..2e-3 on weights of std 0.001 rewrites them
almost completely every step early on: measured on 384 clean 64 x 64 face
crops (``hrnet_bernoulli``, one module per stage, Adam 2e-3 cosine), 4 epochs
stay at the trivial predictor with ``"hrnet"`` (~6 epochs to 0.89x, 10 to
0.84x) and reach 0.73x with ``"torch"`` (0.88x with the PyTorch conv init but
no zero-initialised BNs). For short runs use ``"torch"``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HRNet", "hrnet_w32", "ChannelFusionWeight", "HRModule", "LEAKY_SLOPE", "INITS"]

LEAKY_SLOPE = 0.2
#: weight initialisations (module doc).
INITS = ("hrnet", "torch")


def _act() -> nn.LeakyReLU:
    return nn.LeakyReLU(LEAKY_SLOPE, inplace=True)


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout)]


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN with an identity shortcut (same width in and out), LeakyReLU 0.2."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(channels, channels, 3), _act(), *_conv_bn(channels, channels, 3))
        self.act = _act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + x)


class Bottleneck(nn.Module):
    """1x1 (width), 3x3 (width), 1x1 (4 x width) with BN, LeakyReLU 0.2; projection shortcut when widths differ."""

    def __init__(self, cin: int, width: int):
        super().__init__()
        cout = 4 * width
        self.body = nn.Sequential(*_conv_bn(cin, width, 1), _act(), *_conv_bn(width, width, 3), _act(), *_conv_bn(width, cout, 1))
        self.shortcut = nn.Identity() if cin == cout else nn.Sequential(*_conv_bn(cin, cout, 1))
        self.act = _act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class ChannelFusionWeight(nn.Module):
    """Squeeze-excitation channel weights applied as ``y * (1 + w)``, w in (0, 1) per (sample, channel)."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        w = torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(y, 1)))))
        return y * (1.0 + w)


class HRModule(nn.Module):
    """One HRNet module: ``blocks`` basic blocks on each branch, then the weighted multi-scale fusion.

    channels: width of each branch, highest resolution first. ``n_out`` output branches (all, or only
    the first for the network's last module). Inputs/outputs: lists of (N, c_i, H_i, W_i) with H_i = H_0 / 2^i.
    """

    def __init__(self, channels: tuple[int, ...], blocks: int = 4, n_out: int | None = None, reduction: int = 16):
        super().__init__()
        nb = len(channels)
        self.n_out = nb if n_out is None else n_out
        self.branches = nn.ModuleList(nn.Sequential(*[BasicBlock(c) for _ in range(blocks)]) for c in channels)
        self.transforms = nn.ModuleList()
        self.weights = nn.ModuleList()
        for i in range(self.n_out):
            row_t, row_w = nn.ModuleList(), nn.ModuleList()
            for j in range(nb):
                if j == i:
                    row_t.append(nn.Identity())
                elif j > i:   # lower resolution -> 1x1 conv to branch i's width, upsample in forward
                    row_t.append(nn.Sequential(*_conv_bn(channels[j], channels[i], 1)))
                else:         # higher resolution -> (i - j) stride-2 3x3 convs
                    steps: list[nn.Module] = []
                    for s in range(i - j):
                        last = s == i - j - 1
                        cout = channels[i] if last else channels[j]
                        steps += _conv_bn(channels[j], cout, 3, stride=2)
                        if not last:
                            steps.append(_act())
                    row_t.append(nn.Sequential(*steps))
                row_w.append(ChannelFusionWeight(channels[i], reduction))
            self.transforms.append(row_t)
            self.weights.append(row_w)
        self.act = _act()

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [b(x) for b, x in zip(self.branches, xs)]
        out = []
        for i in range(self.n_out):
            size = xs[i].shape[-2:]
            acc = None
            for j, x in enumerate(xs):
                y = self.transforms[i][j](x)
                if j > i:
                    y = F.interpolate(y, size=size, mode="nearest")
                y = self.weights[i][j](y)
                acc = y if acc is None else acc + y
            out.append(self.act(acc))
        return out


class HRNet(nn.Module):
    """HRNet trunk (module doc): (N, in_channels, H, W) -> (N, widths[0], H/4, W/4); H, W multiples of 32."""

    def __init__(self, in_channels: int = 3, widths: tuple[int, int, int, int] = (32, 64, 128, 256),
                 modules_per_stage: tuple[int, int, int] = (1, 4, 3), blocks: int = 4, reduction: int = 16,
                 init: str = "hrnet"):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"HRNet init must be one of {', '.join(INITS)}, got {init!r}")
        if in_channels < 1:
            raise ValueError(f"HRNet in_channels must be >= 1, got {in_channels}")
        if len(widths) != 4 or len(modules_per_stage) != 3 or min(modules_per_stage) < 1:
            raise ValueError(f"HRNet needs 4 branch widths and 3 module counts >= 1, got {widths}, {modules_per_stage}")
        self.in_channels = in_channels
        self.stem = nn.Sequential(*_conv_bn(in_channels, 64, 3, 2), _act(), *_conv_bn(64, 64, 3, 2), _act())
        self.layer1 = nn.Sequential(Bottleneck(64, 64), *[Bottleneck(256, 64) for _ in range(blocks - 1)])
        self.transition1 = nn.ModuleList([nn.Sequential(*_conv_bn(256, widths[0], 3), _act()),
                                          nn.Sequential(*_conv_bn(256, widths[1], 3, 2), _act())])
        self.stages = nn.ModuleList()
        self.transitions = nn.ModuleList()   # transition k adds branch k+2 before stage k+3
        for s, n_mod in enumerate(modules_per_stage):
            nb = s + 2
            chans = tuple(widths[:nb])
            last_stage = s == len(modules_per_stage) - 1
            mods = [HRModule(chans, blocks, n_out=1 if (last_stage and m == n_mod - 1) else None, reduction=reduction)
                    for m in range(n_mod)]
            self.stages.append(nn.ModuleList(mods))
            if not last_stage:
                self.transitions.append(nn.Sequential(*_conv_bn(widths[nb - 1], widths[nb], 3, 2), _act()))
        self.out_channels = widths[0]
        self.stride = 4
        self.init = init
        self._init_weights(init)

    def _init_weights(self, init: str = "hrnet") -> None:
        # "hrnet": HRNet's own initialisation, every conv ~ N(0, 0.001^2); the BNs rescale the trunk's convs,
        # the fusion gates start near w = 0.5. "torch": PyTorch's conv init, each residual block's last BN
        # zeroed (module doc). In train mode the trunk's output has std ~35-70 either way (the identity paths
        # and fusion sums grow it per module); a head on top starts near 0 through its own small init.
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and init == "hrnet":
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if init == "torch":
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(m.body[-1].weight)     # the block's last BN: the block starts as its shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) -> (N, out_channels, H/4, W/4)."""
        if x.shape[-1] % 32 or x.shape[-2] % 32:
            raise ValueError(f"HRNet needs input sides that are multiples of 32, got {tuple(x.shape[-2:])} (H, W)")
        y = self.layer1(self.stem(x))
        xs = [t(y) for t in self.transition1]
        for s, stage in enumerate(self.stages):
            for mod in stage:
                xs = mod(xs)
            if s < len(self.transitions):
                xs = xs + [self.transitions[s](xs[-1])]
        return xs[0]


def hrnet_w32(in_channels: int = 3, modules_per_stage: tuple[int, int, int] = (1, 4, 3), init: str = "hrnet") -> HRNet:
    """HRNet-W32 layout with channel-wise fusion weights and LeakyReLU 0.2 (module doc)."""
    return HRNet(in_channels, (32, 64, 128, 256), modules_per_stage, init=init)
