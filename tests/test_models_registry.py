"""Every registered model, whoever added it: builds, runs forward/backward on CPU, predicts angles, checks inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from synth.pose import rotation_from_euler
from train.models import ModelError, create_model, list_models
from train.models.registry import get_entry

#: models built from other runs rather than from scratch (tested in test_engine / test_models_seed_more)
NEEDS_RUNS = {"distill"}
MODELS = [m for m in list_models() if m not in NEEDS_RUNS]


def small_size(model) -> tuple[int, int]:
    """The smallest convenient (W, H) the model accepts: its own size when fixed, else ~64 px."""
    if model.fixed_size:
        return tuple(model.input_spec.size)
    side = max(64, model.min_size)
    side = -(-side // model.size_multiple) * model.size_multiple
    return side, side


def fake_batch(n: int, W: int, H: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    euler = rng.uniform(-60, 60, size=(n, 3))
    return {
        "euler": torch.tensor(euler, dtype=torch.float32),
        "rotation": torch.tensor(np.stack([rotation_from_euler(*e) for e in euler]), dtype=torch.float32),
        "bbox": torch.tensor([[W * 0.25, H * 0.2, W * 0.75, H * 0.8]] * n, dtype=torch.float32),
        "landmarks": torch.full((n, 68, 2), float("nan")),
    }


def test_registry_is_not_empty_and_names_are_unique():
    names = list_models()
    assert len(names) == len(set(names)) >= 10
    for name in names:
        assert get_entry(name).paper, f"{name} cites no paper"


@pytest.mark.parametrize("name", MODELS)
def test_forward_backward_predict(name):
    torch.manual_seed(0)
    model = create_model(name)
    spec = model.input_spec
    assert len(spec.mean) == len(spec.std) == spec.channels
    W, H = small_size(model)
    x = torch.randn(2, spec.channels, H, W)
    model.check_input(x)
    model.train()
    out = model(x)
    assert isinstance(out, dict) and out
    loss, logs = model.loss(out, fake_batch(2, W, H))
    assert loss.ndim == 0 and torch.isfinite(loss), name
    assert all(np.isfinite(v) for v in logs.values()), logs
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads), f"{name}: no gradient reached the weights"
    model.eval()
    with torch.no_grad():
        pred = model.predict(model(x))
    assert pred["euler"].shape == (2, 3) and torch.isfinite(pred["euler"]).all()
    assert pred["euler"].abs().max() <= 180
    if "coarse" in pred:
        assert pred["coarse"].shape == (2,) and set(pred["coarse"].tolist()) <= {0, 1, 2, 3}


@pytest.mark.parametrize("name", MODELS)
def test_wrong_channels_are_refused_by_name(name):
    from train.models import ModelInputError

    model = create_model(name)
    W, H = small_size(model)
    wrong = 1 if model.input_spec.channels == 3 else 3
    with pytest.raises(ModelInputError, match=type(model).__name__):
        model.check_input(torch.zeros(1, wrong, H, W))


def test_unknown_names_and_options_are_refused():
    with pytest.raises(ModelError, match="Did you mean"):
        create_model("hopenet_r5")
    with pytest.raises(ModelError, match="does not take"):
        create_model("ssrnet_md", no_such_option=1)
