"""GoogLeNet (Inception v1, Szegedy et al., CVPR 2015) in plain torch, split where the coarse-to-fine model needs it.

The coarse-to-fine head-pose network (Wang et al., Pattern Recognition 2019)
shares "the first 21 convolutional layers" of GoogLeNet between its coarse
classifier and its four regressors. We read that as the first 21
*convolution layers* in network order:

====================  ==========  ==============================
block                 conv layers  running total
====================  ==========  ==============================
conv1 7x7/2           1            1
conv2 1x1 (reduce)    1            2
conv3 3x3             1            3
inception 3a          6            9
inception 3b          6            15
inception 4a          6            21
====================  ==========  ==============================

(each inception module holds six convolutions: the 1x1 branch, the 3x3
reduce and 3x3, the 5x5 reduce and 5x5, and the pool projection). The cut
falls exactly after inception 4a, which is also where GoogLeNet attaches its
first auxiliary classifier, so :func:`googlenet_trunk` is conv1 .. inception
4a: 512 channels at output stride 16 (16x16 for the paper's 256x256 crops).
:func:`googlenet_tail` is the rest of the ImageNet network (inception 4b ..
5b, 1024 channels at stride 32), which the coarse classifier uses. (The other
common count, "22 layers deep" = GoogLeNet's layers with parameters with each
inception module as two, would put the cut after inception 5b, leaving 8x8
maps for three more 5x5 conv + 2x2 pool stages; we judged that the less
likely reading.)

Deviations from the 2015 network, as in torchvision's port: every convolution
is followed by batch normalisation (eps 1e-3) instead of local response
normalisation, so the net trains from scratch without auxiliary classifiers.
Unlike torchvision (which uses a 3x3 kernel there), the "5x5" branch really is
5x5, as in the paper. Max-pools use ``ceil_mode=True`` as Caffe does.
Module names follow torchvision's (``conv1.conv``, ``inception3a.branch2.1.bn``,
...).

Shapes: ``trunk(x)``: (N, in_channels, H, W) -> (N, 512, ceil(H/16), ceil(W/16))
for H, W >= 32; ``tail(f)``: (N, 512, h, w) -> (N, 1024, ceil(h/2), ceil(w/2)).
"""
from __future__ import annotations

import torch
from torch import nn

from .resnet import init_conv_bn

__all__ = ["BasicConv2d", "Inception", "GoogLeNetTrunk", "GoogLeNetTail", "googlenet_trunk", "googlenet_tail",
           "INCEPTION_CONFIG", "count_conv_layers"]

#: (in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj) per module, Table 1 of the GoogLeNet paper.
INCEPTION_CONFIG: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


class BasicConv2d(nn.Module):
    """Convolution (no bias) -> BatchNorm (eps 1e-3) -> ReLU."""

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four parallel branches concatenated on channels: 1x1 | 1x1->3x3 | 1x1->5x5 | 3x3 max-pool->1x1.

    Output channels = c1 + c3 + c5 + pool_proj; spatial size unchanged.
    """

    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool_proj: int):
        super().__init__()
        self.branch1 = BasicConv2d(cin, c1, 1)
        self.branch2 = nn.Sequential(BasicConv2d(cin, c3r, 1), BasicConv2d(c3r, c3, 3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(cin, c5r, 1), BasicConv2d(c5r, c5, 5, padding=2))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), BasicConv2d(cin, pool_proj, 1))
        self.out_channels = c1 + c3 + c5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


def _inception(name: str) -> Inception:
    return Inception(*INCEPTION_CONFIG[name])


class GoogLeNetTrunk(nn.Module):
    """conv1 .. inception 4a: the first 21 convolution layers (see module doc); output stride 16, 512 channels."""

    def __init__(self, in_channels: int = 3):
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"GoogLeNetTrunk in_channels must be >= 1, got {in_channels}")
        self.in_channels = in_channels
        self.conv1 = BasicConv2d(in_channels, 64, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, 1)
        self.conv3 = BasicConv2d(64, 192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = _inception("3a")
        self.inception3b = _inception("3b")
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = _inception("4a")
        self.out_channels = self.inception4a.out_channels
        self.stride = 16
        init_conv_bn(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) -> (N, 512, ceil(H/16), ceil(W/16))."""
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        return self.inception4a(x)


class GoogLeNetTail(nn.Module):
    """inception 4b .. 5b (with the 3x3/2 max-pool between 4e and 5a): 512 -> 1024 channels, stride x2."""

    def __init__(self):
        super().__init__()
        self.inception4b = _inception("4b")
        self.inception4c = _inception("4c")
        self.inception4d = _inception("4d")
        self.inception4e = _inception("4e")
        self.maxpool4 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception5a = _inception("5a")
        self.inception5b = _inception("5b")
        self.in_channels = INCEPTION_CONFIG["4b"][0]
        self.out_channels = self.inception5b.out_channels
        init_conv_bn(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 512, h, w) -> (N, 1024, ceil(h/2), ceil(w/2))."""
        x = self.inception4e(self.inception4d(self.inception4c(self.inception4b(x))))
        return self.inception5b(self.inception5a(self.maxpool4(x)))


def googlenet_trunk(in_channels: int = 3) -> GoogLeNetTrunk:
    """The coarse-to-fine shared trunk: GoogLeNet's first 21 convolution layers (1.05 M parameters for 1 channel)."""
    return GoogLeNetTrunk(in_channels)


def googlenet_tail() -> GoogLeNetTail:
    """The remainder of GoogLeNet after :func:`googlenet_trunk` (inception 4b .. 5b; 4.93 M parameters)."""
    return GoogLeNetTail()


def count_conv_layers(module: nn.Module) -> int:
    """Number of ``nn.Conv2d`` layers inside ``module``."""
    return sum(isinstance(m, nn.Conv2d) for m in module.modules())
