"""ResNet-18/34/50/101 feature extractors in plain torch (He et al., CVPR 2016).

The module and parameter names follow the torchvision layout (``conv1``,
``bn1``, ``layer1.0.conv1.weight``, ``layer2.0.downsample.0.weight``, ...) so a
torchvision ImageNet state dict saved as a local ``.pth`` file loads with
:func:`load_imagenet_weights`; its classifier (``fc.*``) is ignored because
these modules stop before global pooling. Bottleneck blocks put the stride on
the 3x3 convolution (torchvision's "v1.5").

``forward(x)``: ``x`` (N, in_channels, H, W) float -> features
(N, out_channels, ceil(H/32), ceil(W/32)) (exactly H/32 x W/32 for sides that
are multiples of 32). ``out_channels``: 512 (ResNet-18/34) or 2048 (50/101).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

__all__ = ["BasicBlock", "Bottleneck", "BottleneckBase", "ResNet", "resnet18", "resnet34", "resnet50", "resnet101",
           "load_imagenet_weights", "WeightsError"]



def init_conv_bn(module: nn.Module) -> None:
    """torchvision's initialisation for conv nets: Kaiming-normal (fan out) conv weights,
    BatchNorm weight 1 and bias 0, over ``module.modules()`` in order."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

class WeightsError(ValueError):
    """A weights file that does not fit the backbone (the message names the file and the keys)."""


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def _conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut; ResNet-18/34."""

    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(cin, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(width, width)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class BottleneckBase(nn.Module):
    """A bottleneck's data flow: 1x1 reduce (conv1, bn1), a spatial op (:meth:`spatial`, then bn2),
    1x1 expand by 4 (conv3, bn3), shortcut (``downsample`` or identity); subclasses make the layers."""

    expansion = 4

    def spatial(self, out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.spatial(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class Bottleneck(BottleneckBase):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4, with a shortcut; ResNet-50/101."""

    def __init__(self, cin: int, width: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv1x1(cin, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = _conv1x1(width, width * self.expansion)
        self.bn3 = nn.BatchNorm2d(width * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def spatial(self, out: torch.Tensor) -> torch.Tensor:
        return self.conv2(out)


class ResNet(nn.Module):
    """ResNet trunk: stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool) and four stages, no pooling/classifier.

    block: :class:`BasicBlock` or :class:`Bottleneck`; layers: blocks per stage
    (e.g. (3, 4, 6, 3)); in_channels: input channels (3 RGB, 1 gray/depth).
    Output stride 32; ``out_channels`` = 512 * block.expansion.
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: tuple[int, int, int, int], in_channels: int = 3):
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"ResNet in_channels must be >= 1, got {in_channels}")
        self.in_channels = in_channels
        self._cin = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._stage(block, 64, layers[0], 1)
        self.layer2 = self._stage(block, 128, layers[1], 2)
        self.layer3 = self._stage(block, 256, layers[2], 2)
        self.layer4 = self._stage(block, 512, layers[3], 2)
        self.out_channels = 512 * block.expansion
        self._init_weights()

    def _stage(self, block, width: int, n: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self._cin != width * block.expansion:
            downsample = nn.Sequential(_conv1x1(self._cin, width * block.expansion, stride),
                                       nn.BatchNorm2d(width * block.expansion))
        blocks = [block(self._cin, width, stride, downsample)]
        self._cin = width * block.expansion
        blocks += [block(self._cin, width) for _ in range(n - 1)]
        return nn.Sequential(*blocks)

    def _init_weights(self) -> None:
        init_conv_bn(self)
        # Zero-init of the last BN in each residual branch is a training trick we do not apply
        # (torchvision's default does not either), so randomly initialised nets match theirs.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) -> (N, out_channels, H/32, W/32) features."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)


def resnet18(in_channels: int = 3) -> ResNet:
    """ResNet-18 trunk (11.2 M parameters with 3 input channels), out_channels 512."""
    return ResNet(BasicBlock, (2, 2, 2, 2), in_channels)


def resnet34(in_channels: int = 3) -> ResNet:
    """ResNet-34 trunk (21.3 M parameters), out_channels 512."""
    return ResNet(BasicBlock, (3, 4, 6, 3), in_channels)


def resnet50(in_channels: int = 3) -> ResNet:
    """ResNet-50 trunk (23.5 M parameters), out_channels 2048."""
    return ResNet(Bottleneck, (3, 4, 6, 3), in_channels)


def resnet101(in_channels: int = 3) -> ResNet:
    """ResNet-101 trunk (42.5 M parameters), out_channels 2048."""
    return ResNet(Bottleneck, (3, 4, 23, 3), in_channels)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - re-raised with the file named
        raise WeightsError(f"cannot read ImageNet weights from {path}: {e}. "
                           "Give a .pth file holding a torchvision-style ResNet state dict.") from e
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path} does not hold a state dict (a mapping of parameter names to tensors); "
                           "save one with torch.save(model.state_dict(), path).")
    # checkpoints saved from nn.DataParallel prefix every key with "module."
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def load_imagenet_weights(module: ResNet, path: str | Path) -> ResNet:
    """Load a torchvision-layout ResNet state dict from the local file ``path`` into ``module``.

    Keys ``fc.*`` (the ImageNet classifier) are ignored; every other key must
    match the backbone exactly (missing or unexpected keys, or a shape
    mismatch, raise :class:`WeightsError` naming the keys and the file). For a
    backbone with ``in_channels=1`` a 3-channel ``conv1.weight`` is averaged
    over RGB; other channel counts must match. Returns ``module`` (loaded in place).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"ImageNet weights file {path} does not exist; pass the path of a local "
                           "torchvision ResNet .pth state dict (nothing is downloaded).")
    state = {k: v for k, v in _read_state_dict(path).items() if not k.startswith("fc.")}
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        def _few(keys: list[str]) -> str:
            return ", ".join(keys[:8]) + (f" ... ({len(keys)} in all)" if len(keys) > 8 else "")
        parts = []
        if missing:
            parts.append(f"missing keys: {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_few(unexpected)}")
        raise WeightsError(f"{path} does not fit {type(module).__name__} "
                           f"({module.out_channels} output channels): {'; '.join(parts)}. "
                           "Use a torchvision ResNet state dict of the same depth.")
    w = state["conv1.weight"]
    cin = own["conv1.weight"].shape[1]
    if w.shape[1] != cin:
        if cin == 1 and w.shape[1] == 3:
            state["conv1.weight"] = w.mean(dim=1, keepdim=True)
        else:
            raise WeightsError(f"{path}: conv1.weight has {w.shape[1]} input channels, the backbone {cin}; "
                               "only 3 -> 1 (averaging over RGB) is converted.")
    bad = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items() if state[k].shape != v.shape]
    if bad:
        raise WeightsError(f"{path}: shape mismatch for {', '.join(bad[:5])}"
                           f"{' ...' if len(bad) > 5 else ''}; use a ResNet state dict of the same depth.")
    module.load_state_dict(state, strict=True)
    return module
