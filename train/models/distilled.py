"""``distill``: a student trained on the mean softmax of teacher runs (EHPNet's recipe), as a registered model.

``create_model("distill", student="ehpnet_r18", teachers=["runs/t-r101", ...])``
loads each teacher from its run folder (best checkpoint) and wraps them with
the student in :class:`train.models.distill.DistillModel`, so ``train fit`` /
``train distill`` train it like any model. Its checkpoints hold the student
only; ``train.checkpoints.load_model`` turns them back into the student model.
"""
from __future__ import annotations

from typing import Sequence

from .base import PoseModel
from .ehpnet import _RECIPE as EHPNET_RECIPE
from .registry import create_model, register_model


@register_model("distill", recipe=EHPNET_RECIPE, paper="EHPNet ensemble distillation (arXiv 2210.13705)")
def distill(student: str = "ehpnet_r18", teachers: Sequence[str] = (), temperature: float = 1.0,
            hard_weight: float = 0.0, student_cfg: dict | None = None, which: str = "best") -> PoseModel:
    """student: registered name; teachers: run folders or checkpoint files; temperature, hard_weight: see
    ``train.models.distill``; student_cfg: the student's options; which: teacher checkpoint (best | last)."""
    from train.checkpoints import load_model

    from .base import ModelError
    from .distill import DistillModel

    if not teachers:
        raise ModelError("distill needs teachers: --teachers RUN1,RUN2,... (run folders written by `train fit`)")
    loaded = [load_model(t, which) for t in teachers]
    return DistillModel.from_models(create_model(student, **(student_cfg or {})), loaded, temperature=temperature,
                                    hard_weight=hard_weight, teacher_sources=[str(t) for t in teachers])
