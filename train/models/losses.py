"""Loss pieces shared by the pose models: binned classification + expectation regression, and L1.

Angles are degrees in the canonical order (pitch, yaw, roll) of ``synth.pose``.

Binned heads (Hopenet, EHPNet, ...) classify each angle into ``n_bins`` equal
bins over ``[lo, hi)`` and regress the softmax expectation over the bin
*centres* ``lo + width * (i + 0.5)``. The Hopenet reference code computes the
expectation as ``3 * idx - 99``, i.e. over the bins' lower edges, which biases
every prediction by -1.5 deg (half a bin); we use the true centres, the same
ones ``synth.pose.bin_centers`` gives.

Labels outside ``[lo, hi)`` (the benchmark protocols drop |angle| > 99 in the
data filter; synthetic sets may go beyond): the classification target is the
clipped first/last bin (as ``synth.pose.angle_bins``), and the regression
target is clamped to ``[lo, hi]``. The expectation can never leave
``[centre_0, centre_last]``, so an unclamped target (say yaw 150 deg) would add
an irreducible squared error of thousands of deg^2 that swamps the batch while
pushing in the same direction the clamped one does. ``out_of_range="ignore"``
instead drops such labels from both terms (per angle), mirroring the
reference's data filter without changing the batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn.functional as F

ANGLE_NAMES = ("pitch", "yaw", "roll")


@dataclass(frozen=True)
class BinSpec:
    """Equal-width angle bins: ``n_bins`` over ``[lo, hi)`` degrees.

    Hopenet: ``BinSpec(66, -99, 99)`` (3 deg bins); EHPNet: ``BinSpec(62, -93, 93)``.
    """

    n_bins: int
    lo: float
    hi: float

    def __post_init__(self) -> None:
        if self.n_bins < 2:
            raise ValueError(f"BinSpec.n_bins must be >= 2, got {self.n_bins}")
        if not self.hi > self.lo:
            raise ValueError(f"BinSpec needs hi > lo, got lo={self.lo}, hi={self.hi}")

    @property
    def width(self) -> float:
        """Bin width in degrees."""
        return (self.hi - self.lo) / self.n_bins

    @property
    def centers(self) -> np.ndarray:
        """(n_bins,) float64 bin centres in degrees."""
        return self.lo + self.width * (np.arange(self.n_bins) + 0.5)

    def centers_tensor(self, like: torch.Tensor) -> torch.Tensor:
        """(n_bins,) bin centres on ``like``'s device and dtype."""
        return torch.as_tensor(self.centers, dtype=like.dtype, device=like.device)


#: Hopenet's bins: 66 x 3 deg over [-99, 99).
HOPENET_BINS = BinSpec(66, -99.0, 99.0)


def binned_targets(euler: torch.Tensor, spec: BinSpec) -> torch.Tensor:
    """Bin index (int64, same shape as ``euler``) of each angle in degrees; outside ``[lo, hi)`` clipped to the end bins."""
    idx = torch.floor((euler.double() - spec.lo) / spec.width).long()
    return idx.clamp_(0, spec.n_bins - 1)


def softmax_expectation(logits: torch.Tensor, spec: BinSpec) -> torch.Tensor:
    """Expected angle in degrees: ``sum_i softmax(logits)_i * centre_i`` over the last axis.

    logits: (..., n_bins) -> (...) degrees in ``[centre_0, centre_last]``.
    """
    if logits.shape[-1] != spec.n_bins:
        raise ValueError(f"softmax_expectation: logits have {logits.shape[-1]} bins, the BinSpec {spec.n_bins}")
    return (logits.softmax(dim=-1) * spec.centers_tensor(logits)).sum(dim=-1)


def _stack_logits(logits_per_angle: torch.Tensor | Sequence[torch.Tensor], spec: BinSpec) -> torch.Tensor:
    logits = logits_per_angle if isinstance(logits_per_angle, torch.Tensor) else torch.stack(list(logits_per_angle), dim=1)
    if logits.ndim != 3 or logits.shape[1] != 3 or logits.shape[2] != spec.n_bins:
        raise ValueError(f"binned_pose_loss takes logits (N, 3, {spec.n_bins}) or three (N, {spec.n_bins}) tensors "
                         f"in pitch, yaw, roll order, got {tuple(logits.shape)}")
    return logits


def binned_pose_loss(logits_per_angle: torch.Tensor | Sequence[torch.Tensor], euler: torch.Tensor, spec: BinSpec,
                     alpha: float = 1.0, out_of_range: Literal["clip", "ignore"] = "clip",
                     ) -> tuple[torch.Tensor, dict[str, float]]:
    """Hopenet's multi-loss: per angle ``CE(logits, bin) + alpha * MSE(expectation, angle)``, summed over the three.

    logits_per_angle: (N, 3, n_bins) or three (N, n_bins) tensors, order pitch, yaw, roll.
    euler: (N, 3) degrees. CE and MSE are batch means (MSE in deg^2).
    out_of_range: ``"clip"`` (end bin, regression target clamped to [lo, hi]) or
    ``"ignore"`` (labels outside [lo, hi) left out of both terms); see the module docstring.
    Returns (scalar loss, logs) with logs ``ce_<angle>``, ``mse_<angle>``, ``mae_<angle>``
    (deg, of the expectation against the label as given) and ``loss``.
    """
    if out_of_range not in ("clip", "ignore"):
        raise ValueError(f"binned_pose_loss: out_of_range must be 'clip' or 'ignore', got {out_of_range!r}")
    logits = _stack_logits(logits_per_angle, spec).float()   # float32 even under bf16 autocast
    if euler.shape != (logits.shape[0], 3):
        raise ValueError(f"binned_pose_loss: euler must be ({logits.shape[0]}, 3) degrees, got {tuple(euler.shape)}")
    euler = euler.float()
    bins = binned_targets(euler, spec)
    expect = softmax_expectation(logits, spec)                       # (N, 3)
    target = euler.clamp(spec.lo, spec.hi)
    if out_of_range == "ignore":
        keep = ((euler >= spec.lo) & (euler < spec.hi)).to(logits.dtype)
    else:
        keep = torch.ones_like(euler)
    ce = F.cross_entropy(logits.transpose(1, 2), bins, reduction="none")   # (N, 3)
    se = (expect - target) ** 2
    count = keep.sum(dim=0).clamp_min(1.0)                           # (3,) kept labels per angle
    ce_mean = (ce * keep).sum(dim=0) / count
    mse_mean = (se * keep).sum(dim=0) / count
    per_angle = ce_mean + alpha * mse_mean
    loss = per_angle.sum()
    with torch.no_grad():   # one device -> host copy for all logs
        mae = (expect - euler).abs().mean(dim=0)
        ce_l, mse_l, mae_l = torch.stack([ce_mean, mse_mean, mae]).detach().cpu().tolist()
    logs = {"loss": sum(ce_l) + alpha * sum(mse_l)}
    for i, a in enumerate(ANGLE_NAMES):
        logs[f"ce_{a}"], logs[f"mse_{a}"], logs[f"mae_{a}"] = ce_l[i], mse_l[i], mae_l[i]
    return loss, logs


def angle_l1_loss(pred: torch.Tensor, euler: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean absolute error in degrees over the batch and the three angles (FSA-Net's / SSR-Net's ``mae`` loss).

    pred, euler: (N, 3) degrees (pitch, yaw, roll). Returns (scalar loss, logs with
    ``loss`` and ``mae_<angle>``).
    """
    if pred.shape != euler.shape or pred.ndim != 2 or pred.shape[1] != 3:
        raise ValueError(f"angle_l1_loss takes pred and euler of shape (N, 3), got {tuple(pred.shape)} and {tuple(euler.shape)}")
    err = (pred.float() - euler.float()).abs()   # float32 even under bf16 autocast
    loss = err.mean()
    per = err.detach().mean(dim=0).cpu().tolist()
    logs = {"loss": sum(per) / 3.0} | {f"mae_{a}": per[i] for i, a in enumerate(ANGLE_NAMES)}
    return loss, logs
