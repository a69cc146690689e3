"""What a model expects as input and how the papers train it.

``InputSpec`` travels with every model so evaluation builds the right
transforms without being told; ``Recipe`` is the paper's default optimiser
and schedule, overridable from ``train fit``.
"""
from __future__ import annotations

from dataclasses import dataclass, field


def input_size_pair(input_size) -> tuple[int, int]:
    """A factory's ``input_size`` option (any 2-sequence, e.g. a YAML list) as a (W, H) int pair;
    ValueError naming the option otherwise."""
    try:
        w, h = input_size
        return int(w), int(h)
    except (TypeError, ValueError):
        raise ValueError(f"input_size must be two ints (W, H), e.g. [64, 64]; got {input_size!r}") from None


@dataclass(frozen=True)
class InputSpec:
    """The tensor a model takes.

    size: (W, H) pixels of the network input.
    modality: ``"rgb"`` (3 channels), ``"gray"`` (1 channel, from the crop's
        grayscale image) or ``"depth"`` (1 channel, the crop's depth normalised
        to [0, 1] by ``synth.depth.normalise_depth01``).
    mean, std: per-channel normalisation applied to values in [0, 1]
        (``(x - mean) / std``); length = channels.
    crop: crop preset (``train.data.crops.PRESETS``) for evaluation.
    train_crop: crop preset for training (defaults to ``crop``).
    """

    size: tuple[int, int]
    modality: str = "rgb"
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    crop: str = "hopenet_test"
    train_crop: str | None = None

    def __post_init__(self) -> None:
        if self.modality not in ("rgb", "gray", "depth"):
            raise ValueError(f"InputSpec.modality must be rgb, gray or depth, got {self.modality!r}")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"InputSpec mean/std need {self.channels} values for modality {self.modality!r}")

    @property
    def channels(self) -> int:
        return 3 if self.modality == "rgb" else 1

    @property
    def train_crop_name(self) -> str:
        return self.train_crop or self.crop


@dataclass(frozen=True)
class Recipe:
    """A paper's training defaults (the engine's starting point; CLI flags override).

    optimizer: ``"adam"`` | ``"adamw"`` | ``"sgd"``; lr; weight_decay; momentum (SGD);
    betas (Adam); schedule: ``"none"`` | ``"step"`` (every ``step_size`` epochs by
    ``gamma``) | ``"multistep"`` (at ``milestones``) | ``"cosine"`` (to 0 over
    ``epochs``); epochs; batch_size.
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "none"
    step_size: int = 10
    milestones: tuple[int, ...] = field(default_factory=tuple)
    gamma: float = 0.1
    epochs: int = 25
    batch_size: int = 32
