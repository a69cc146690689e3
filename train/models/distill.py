"""Knowledge distillation from an ensemble of binned-pose teachers (EHPNet, arXiv 2210.13705).

The teachers' soft labels are the mean of their softmax outputs per angle;
the student is trained to match them with the KL divergence
``KL(p_ensemble || p_student)`` per angle (zero exactly when the two
distributions agree), summed over pitch, yaw and roll and averaged over the
batch. With a temperature T both distributions are softened by T and the
loss is scaled by T^2 (Hinton et al.) so its gradients keep their size; the
default T = 1 is the plain KL.

EHPNet trains the student on the ensemble's pseudo labels only, so the
hard-label term (the student's own loss, CE + MSE of the expectation) has
weight 0 by default; ``hard_weight`` > 0 adds it.

:class:`DistillModel` wraps a student and frozen teachers behind the
:class:`~train.models.base.PoseModel` interface, so the ordinary engine
trains it. The teachers are **not** submodules: they are kept outside the
module tree (moved along by ``.to()`` / ``.cuda()``, always in eval mode,
``requires_grad`` off), so ``parameters()``, ``state_dict()`` and
``load_state_dict()`` are exactly the student's. A distillation checkpoint is
therefore a plain student checkpoint (loadable into ``create_model(student
name)`` for evaluation), and resuming rebuilds the teachers from their run
folders (``teacher_sources`` records them for the run's config).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch
import torch.nn.functional as F

from .base import ModelError, PoseModel

ANGLE_NAMES = ("pitch", "yaw", "roll")


def ensemble_probs(teacher_logits: Sequence[torch.Tensor], temperature: float = 1.0) -> torch.Tensor:
    """Mean of the teachers' ``softmax(logits / T)``: each (N, 3, n_bins) -> (N, 3, n_bins), rows sum to 1."""
    if not teacher_logits:
        raise ValueError("ensemble_probs needs at least one teacher's logits")
    shape = teacher_logits[0].shape
    if any(t.shape != shape for t in teacher_logits):
        raise ValueError(f"teacher logits differ in shape: {[tuple(t.shape) for t in teacher_logits]}; "
                         "every teacher must use the student's bins")
    return torch.stack([(t.float() / temperature).softmax(dim=-1) for t in teacher_logits]).mean(dim=0)


def kd_loss_per_angle(student_logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """(3,) batch-mean ``T^2 * KL(teacher_probs || softmax(student_logits / T))`` for each angle.

    student_logits, teacher_probs: (N, 3, n_bins); teacher_probs already softened by the same T.
    """
    if temperature <= 0:
        raise ValueError(f"kd_loss temperature must be > 0, got {temperature}")
    if student_logits.shape != teacher_probs.shape:
        raise ValueError(f"kd_loss: student logits {tuple(student_logits.shape)} and teacher probabilities "
                         f"{tuple(teacher_probs.shape)} differ; use (N, 3, n_bins) for both with the same bins")
    log_ps = F.log_softmax(student_logits.float() / temperature, dim=-1)
    pt = teacher_probs.float()
    # xlogy gives 0 * log 0 = 0 for bins the teachers rule out
    kl = (torch.xlogy(pt, pt) - pt * log_ps).sum(dim=-1)           # (N, 3)
    return kl.mean(dim=0) * temperature ** 2


def kd_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Scalar KD loss: the per-angle KL divergences (:func:`kd_loss_per_angle`) summed over the three angles.

    Zero when the student's softened distribution equals the ensemble's, positive otherwise.
    """
    return kd_loss_per_angle(student_logits, teacher_probs, temperature).sum()


class DistillModel(PoseModel):
    """A student distilled from frozen teachers (module doc); same interface as any PoseModel.

    forward(x): {**student outputs (incl. "logits" (N, 3, n_bins)), "teacher_probs": (N, 3, n_bins)}.
    loss: ``kd_loss`` + ``hard_weight`` * the student's own loss. predict: the student's.
    """

    def __init__(self, student: PoseModel, teachers: Sequence[PoseModel], temperature: float = 1.0,
                 hard_weight: float = 0.0, teacher_sources: Sequence[str] = ()):
        super().__init__(student.input_spec)
        if not teachers:
            raise ModelError("DistillModel needs at least one teacher")
        if temperature <= 0:
            raise ModelError(f"DistillModel temperature must be > 0, got {temperature}")
        if hard_weight < 0:
            raise ModelError(f"DistillModel hard_weight must be >= 0, got {hard_weight}")
        s = student.input_spec
        for i, t in enumerate(teachers):
            ts = t.input_spec
            if (ts.modality, tuple(ts.mean), tuple(ts.std), ts.crop) != (s.modality, tuple(s.mean), tuple(s.std), s.crop):
                raise ModelError(f"teacher {i} ({getattr(t, 'model_name', type(t).__name__)}) takes {ts.modality} input "
                                 f"with crop {ts.crop!r} and mean/std {ts.mean}/{ts.std}; the student takes {s.modality} "
                                 f"with crop {s.crop!r} and {s.mean}/{s.std}: every teacher must see the student's input")
        self.student = student
        self._teachers: tuple[PoseModel, ...] = tuple(teachers)
        for t in self._teachers:
            t.eval()
            t.requires_grad_(False)
        self.temperature = float(temperature)
        self.hard_weight = float(hard_weight)
        self.teacher_sources = tuple(str(p) for p in teacher_sources)
        self.size_multiple = max([student.size_multiple, *(t.size_multiple for t in self._teachers)])
        self.min_size = max([student.min_size, *(t.min_size for t in self._teachers)])
        self.fixed_size = student.fixed_size or any(t.fixed_size for t in self._teachers)
        if hasattr(student, "model_name"):
            self.model_name = student.model_name
            self.model_cfg = dict(getattr(student, "model_cfg", {}))

    @classmethod
    def from_models(cls, student: PoseModel, teachers: Iterable[PoseModel], **kwargs) -> "DistillModel":
        """Wrap ``student`` and the (already trained) ``teachers``; kwargs: temperature, hard_weight, teacher_sources."""
        return cls(student, list(teachers), **kwargs)

    @property
    def teachers(self) -> tuple[PoseModel, ...]:
        """The frozen teachers (not part of ``parameters()`` or ``state_dict()``)."""
        return self._teachers

    # -- the teachers live outside the module tree: move them along, keep them in eval mode ------------
    def _apply(self, fn, recurse: bool = True):
        super()._apply(fn, recurse)
        for t in self._teachers:
            t._apply(fn, recurse)
        return self

    def train(self, mode: bool = True) -> "DistillModel":
        super().train(mode)
        for t in self._teachers:
            t.eval()
        return self

    # -- checkpoints hold the student only ------------------------------------------------------------
    def state_dict(self, *args, **kwargs):
        return self.student.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        return self.student.load_state_dict(state_dict, strict=strict, assign=assign)

    def param_groups(self, lr: float) -> list[dict]:
        return self.student.param_groups(lr)

    def check_input(self, x: torch.Tensor) -> None:
        self.student.check_input(x)
        for t in self._teachers:
            t.check_input(x)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = dict(self.student(x))
        if "logits" not in out:
            raise ModelError(f"DistillModel needs a binned student whose outputs have 'logits' (N, 3, n_bins); "
                             f"{type(self.student).__name__} gives {sorted(out)}")
        with torch.no_grad():
            logits = [t(x)["logits"] for t in self._teachers]
            out["teacher_probs"] = ensemble_probs(logits, self.temperature).to(out["logits"].dtype)
        return out

    def loss(self, outputs: dict, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        """KD loss (+ hard_weight * the student's loss). Logs: loss, kd, kd_<angle>, mae_<angle> (student vs
        labels, deg), teacher_mae_<angle> (the expectation of the ensemble's
        distribution at the distillation temperature vs labels), and hard_* when used."""
        per = kd_loss_per_angle(outputs["logits"], outputs["teacher_probs"], self.temperature)
        loss = per.sum()
        logs: dict[str, float] = {}
        if self.hard_weight > 0:
            hard, hard_logs = self.student.loss(outputs, batch)
            loss = loss + self.hard_weight * hard
            logs |= {f"hard_{k}": v for k, v in hard_logs.items()}
        with torch.no_grad():
            euler = batch["euler"].to(outputs["logits"].dtype)
            student = self.student.predict(outputs)["euler"]
            bins = getattr(self.student, "bins", None)
            logs |= {"loss": float(loss), "kd": float(per.sum())}
            for i, a in enumerate(ANGLE_NAMES):
                logs[f"kd_{a}"] = float(per[i])
                logs[f"mae_{a}"] = float((student[:, i] - euler[:, i]).abs().mean())
            if bins is not None:
                centers = bins.centers_tensor(outputs["teacher_probs"])
                teacher = (outputs["teacher_probs"] * centers).sum(dim=-1)
                for i, a in enumerate(ANGLE_NAMES):
                    logs[f"teacher_mae_{a}"] = float((teacher[:, i] - euler[:, i]).abs().mean())
        return loss, logs

    def predict(self, outputs: dict) -> dict[str, torch.Tensor]:
        return self.student.predict(outputs)
