"""Backbones in plain torch (no torchvision): ResNet, GoogLeNet, HRNet parts, Res2Net, BoTNet."""
