"""ONNX export of a trained run: ``image`` (N, C, H, W) normalised as the model's input spec -> ``euler`` (N, 3) deg.

The exported graph includes each model's decoding (bin expectation, stage-wise
regression, heatmap averaging, cascade), so a consumer needs only the crop and
normalisation written next to the file (``<name>.json``: input size,
modality, mean, std, crop preset).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch


class EulerHead(torch.nn.Module):
    """Wraps a PoseModel so ``forward(x)`` returns the decoded (N, 3) pitch/yaw/roll in degrees."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.predict(self.model(x))["euler"]


def export_onnx(run: str | Path, path: str | Path, which: str = "best", opset: int = 18, check: bool = True) -> Path:
    """Write ``path`` (.onnx) and its input description; with ``check``, compare onnxruntime to torch (1e-3 deg)."""
    from train.checkpoints import load_model
    from train.errors import FitError

    if Path(path).is_dir():
        raise FitError(f"--onnx {path} is a folder; fix: give a file path such as {Path(path) / 'model.onnx'}")
    model = load_model(run, which, "cpu")
    spec = model.input_spec
    W, H = spec.size
    x = torch.randn(2, spec.channels, H, W, generator=torch.Generator().manual_seed(0))
    head = EulerHead(model).eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        expected = head(x).numpy()
        try:
            torch.onnx.export(head, (x,), str(path), input_names=["image"], output_names=["euler"],
                              dynamic_axes={"image": {0: "batch"}, "euler": {0: "batch"}}, opset_version=opset,
                              dynamo=False)
        except Exception as exc:
            raise FitError(f"ONNX export of {model.model_name} failed: {exc}") from exc
    info = {"model": model.model_name, "checkpoint": model.checkpoint_path, "input": "image",
            "output": "euler (pitch, yaw, roll) degrees", **dataclasses.asdict(spec)}
    path.with_suffix(".json").write_text(json.dumps(info, indent=2))
    if check:
        try:
            import onnxruntime as ort
        except ImportError:
            return path
        got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})[0]
        err = float(np.max(np.abs(got - expected)))
        if not err < 1e-2:
            raise FitError(f"ONNX export of {model.model_name} disagrees with torch by {err:.3g} deg")
    return path
