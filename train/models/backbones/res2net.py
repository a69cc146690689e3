"""Res2Net (Gao et al., TPAMI 2021) feature extractors in plain torch: Res2Net-101, scale 4, base width 26.

A Res2Net bottleneck replaces ResNet's single 3x3 convolution by a hierarchy
over ``scale`` channel groups of ``width = floor(planes * base_width / 64)``
channels (26 in the first stage): after the 1x1 reduction to
``width * scale`` channels the groups x_1..x_s are processed as

    y_1 = K_1(x_1),  y_i = K_i(x_i + y_{i-1}) for 1 < i < s,  y_s = x_s

(K_i = 3x3 conv + BN + ReLU), concatenated and expanded by a 1x1 convolution
to ``4 * planes``. In the first block of a stage (stride 2 and/or a width
change) the groups do not cascade (``y_i = K_i(x_i)``) and the untouched last
group is average-pooled (3x3, the block's stride) so its size matches.

Stem, stage layout (3, 4, 23, 3), projection shortcuts (1x1 conv with the
stride + BN) and output stride 32 are those of ResNet-101, so the API equals
``backbones.resnet``: ``forward(x)``: (N, in_channels, H, W) -> (N, 2048,
ceil(H/32), ceil(W/32)); ``out_channels`` = 2048. Parameter names follow the
authors' release (``layer1.0.convs.0.weight``, ``layer1.0.bns.0.*``,
``layer1.0.conv3``, ``downsample.0``), so their ImageNet state dict for
res2net101_26w_4s, saved locally, loads with
``backbones.resnet.load_imagenet_weights`` (its ``fc.*`` keys are ignored).
"""
from __future__ import annotations

import torch
from torch import nn

from .resnet import init_conv_bn

__all__ = ["Bottle2neck", "Res2Net", "res2net101_26w_4s", "res2net50_26w_4s"]


class Bottle2neck(nn.Module):
    """Res2Net bottleneck (module doc): cin -> 4 * planes channels, stride on the 3x3 group convolutions."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 base_width: int = 26, scale: int = 4, first: bool = False):
        super().__init__()
        if scale < 2:
            raise ValueError(f"Res2Net scale must be >= 2, got {scale}")
        width = planes * base_width // 64
        self.width, self.scale, self.first = width, scale, first
        self.conv1 = nn.Conv2d(cin, width * scale, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width * scale)
        self.convs = nn.ModuleList(nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False) for _ in range(scale - 1))
        self.bns = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(scale - 1))
        self.pool = nn.AvgPool2d(3, stride=stride, padding=1) if first else None
        self.conv3 = nn.Conv2d(width * scale, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        groups = torch.split(self.relu(self.bn1(self.conv1(x))), self.width, dim=1)
        outs, y = [], None
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            inp = groups[i] if (i == 0 or self.first) else groups[i] + y
            y = self.relu(bn(conv(inp)))
            outs.append(y)
        outs.append(self.pool(groups[-1]) if self.first else groups[-1])
        out = self.bn3(self.conv3(torch.cat(outs, dim=1)))
        return self.relu(out + identity)


class Res2Net(nn.Module):
    """Res2Net trunk: ResNet stem, four stages of :class:`Bottle2neck`, no pooling/classifier; output stride 32."""

    def __init__(self, layers: tuple[int, int, int, int], in_channels: int = 3, base_width: int = 26, scale: int = 4):
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"Res2Net in_channels must be >= 1, got {in_channels}")
        self.in_channels = in_channels
        self.base_width, self.scale = base_width, scale
        self._cin = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._stage(64, layers[0], 1)
        self.layer2 = self._stage(128, layers[1], 2)
        self.layer3 = self._stage(256, layers[2], 2)
        self.layer4 = self._stage(512, layers[3], 2)
        self.out_channels = 512 * Bottle2neck.expansion
        init_conv_bn(self)

    def _stage(self, planes: int, n: int, stride: int) -> nn.Sequential:
        cout = planes * Bottle2neck.expansion
        downsample = None
        if stride != 1 or self._cin != cout:
            downsample = nn.Sequential(nn.Conv2d(self._cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        blocks = [Bottle2neck(self._cin, planes, stride, downsample, self.base_width, self.scale, first=True)]
        self._cin = cout
        blocks += [Bottle2neck(cout, planes, 1, None, self.base_width, self.scale) for _ in range(n - 1)]
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) -> (N, 2048, ceil(H/32), ceil(W/32))."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def res2net101_26w_4s(in_channels: int = 3) -> Res2Net:
    """Res2Net-101, scale 4, base width 26 (43.2 M parameters without a classifier), out_channels 2048."""
    return Res2Net((3, 4, 23, 3), in_channels)


def res2net50_26w_4s(in_channels: int = 3) -> Res2Net:
    """Res2Net-50, scale 4, base width 26 (23.7 M parameters), out_channels 2048."""
    return Res2Net((3, 4, 6, 3), in_channels)
