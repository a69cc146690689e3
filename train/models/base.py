"""The interface every registered model implements (one engine trains them all).

A model is an ``nn.Module`` with:

- ``input_spec`` (:class:`~train.models.spec.InputSpec`): what ``forward`` takes.
- ``forward(x)``: ``x`` is (N, C, H, W) float32 normalised by the input spec;
  returns a dict of tensors (model specific: logits, raw regressions, heatmaps).
- ``loss(outputs, batch)`` -> ``(scalar tensor, {name: float})``: ``batch`` is the
  collated dict from ``train.data.transforms.ToTensor`` on the model's device:
  ``euler`` (N, 3) degrees (pitch, yaw, roll, canonical convention),
  ``rotation`` (N, 3, 3), ``bbox`` (N, 4) face box in input pixels,
  ``landmarks`` (N, 68, 2) (NaN when absent). Models derive their own targets
  (bins, coarse categories, heatmaps) from these.
- ``predict(outputs)`` -> dict with ``euler`` (N, 3) degrees, and ``coarse``
  (N,) int64 categories for models that classify (``synth.pose.coarse_category``).
- ``check_input(x)``: raises :class:`ModelInputError` naming the expected shape.
"""
from __future__ import annotations

import torch
from torch import nn

from .spec import InputSpec


class ModelError(ValueError):
    """A bad model name or configuration (the message lists what is allowed)."""


class ModelInputError(ModelError):
    """An input tensor the model cannot take."""


class PoseModel(nn.Module):
    """Base class: stores the input spec and checks inputs; subclasses define forward/loss/predict."""

    #: spatial sizes the model accepts besides ``input_spec.size``: None = any size that is a
    #: multiple of ``size_multiple`` and at least ``min_size``; subclasses tighten it.
    size_multiple: int = 1
    min_size: int = 1
    fixed_size: bool = False

    def __init__(self, input_spec: InputSpec):
        super().__init__()
        self.input_spec = input_spec

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ModelInputError unless ``x`` is (N, C, H, W) with the spec's channels and an allowed size."""
        name = type(self).__name__
        c = self.input_spec.channels
        W, H = self.input_spec.size
        if x.ndim != 4 or x.shape[1] != c:
            raise ModelInputError(f"{name} takes (N, {c}, H, W) {self.input_spec.modality} input, got {tuple(x.shape)}")
        h, w = int(x.shape[2]), int(x.shape[3])
        if self.fixed_size and (w, h) != (W, H):
            raise ModelInputError(f"{name} takes {W}x{H} inputs only (crop preset {self.input_spec.crop!r}), got {w}x{h}")
        if h < self.min_size or w < self.min_size or h % self.size_multiple or w % self.size_multiple:
            raise ModelInputError(
                f"{name} takes inputs of at least {self.min_size}px with sides divisible by {self.size_multiple} "
                f"(default {W}x{H}), got {w}x{h}")

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:  # pragma: no cover
        raise NotImplementedError

    def predict(self, outputs: dict) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def param_groups(self, lr: float) -> list[dict]:
        """Optimizer parameter groups (default: one group at ``lr``); models with per-part LRs override."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": lr}]
