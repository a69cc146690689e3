"""Inference on single images: ``Predictor(run).predict(image, box=None)`` and pose-axis drawing.

There is no face detector in the toolkit: pass the face box (x0, y0, x1, y1
pixels) when the image holds more than a face; without one the whole image
is taken as the face box, which suits face crops. The box goes through the
model's own test crop (e.g. Hopenet's loose crop, FSA-Net's margin crop), as
in evaluation, so predictions match ``train eval``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from synth.pose import rotation_from_euler
from train.data.sample import Sample
from train.inputs import collate, model_input, sized_preset, to_tensor_for


@dataclass(frozen=True)
class Prediction:
    """One estimate: Euler angles in degrees (canonical: +pitch up, +yaw toward image-left, +roll clockwise),
    the (3, 3) rotation head -> camera, the face box used, and the coarse category when the model has one."""

    pitch: float
    yaw: float
    roll: float
    rotation: np.ndarray
    box: tuple[float, float, float, float]
    coarse: int | None = None


class Predictor:
    """A trained model ready for single images. ``run``: a run folder (best checkpoint) or a ``.pt`` file."""

    def __init__(self, run: str | Path, device: str = "cpu", which: str = "best"):
        from train.checkpoints import load_model

        self.device = torch.device(device)
        self.model = load_model(run, which, self.device)
        self.spec = self.model.input_spec
        self.preset = sized_preset(self.spec.crop, self.spec.size)
        self.to_tensor = to_tensor_for(self.spec)

    @torch.no_grad()
    def predict(self, image: np.ndarray, box=None, depth: np.ndarray | None = None) -> Prediction:
        """Estimate the head pose in ``image`` ((H, W, 3) uint8 RGB; (H, W) gray is accepted).

        box: face box (x0, y0, x1, y1) in pixels, or None for the whole image.
        depth: (H, W) uint16 mm registered to ``image``, required by depth models.
        """
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"predict() takes an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
        if self.spec.modality == "depth" and depth is None:
            raise ValueError(f"{self.model.model_name} is a depth model: pass depth=(H, W) uint16 millimetres")
        H, W = image.shape[:2]
        box = np.array([0.0, 0.0, W, H] if box is None else box, dtype=np.float64)
        if box.shape != (4,) or not (box[2] > box[0] and box[3] > box[1]):
            raise ValueError(f"box must be (x0, y0, x1, y1) with x1 > x0 and y1 > y0, got {box.tolist()}")
        sample = Sample(image=image, rotation=np.eye(3), euler=np.zeros(3), bbox=box, source="predict",
                        path="<image>", depth=depth)
        batch = collate([self.to_tensor(self.preset(sample, None))])
        x = model_input(batch, self.spec).to(self.device)
        out = self.model.predict(self.model(x))
        p, y, r = (float(v) for v in out["euler"][0].cpu())
        coarse = int(out["coarse"][0]) if "coarse" in out else None
        return Prediction(p, y, r, rotation_from_euler(p, y, r), tuple(float(v) for v in box), coarse)


#: colours of the drawn head axes: x (subject's left) red, y (down) green, forward (out of the face) blue.
AXIS_COLOURS = ((230, 40, 40), (40, 200, 40), (40, 90, 255))


def draw_pose(image: np.ndarray, pred: Prediction, length: float | None = None) -> np.ndarray:
    """``image`` with the head's axes drawn from the box centre (orthographic) and the angles written."""
    im = Image.fromarray(np.asarray(image)).convert("RGB")
    d = ImageDraw.Draw(im)
    x0, y0, x1, y1 = pred.box
    c = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    length = length or 0.5 * max(x1 - x0, y1 - y0)
    R = pred.rotation
    for axis, colour in zip((R[:, 0], R[:, 1], -R[:, 2]), AXIS_COLOURS):
        end = c + length * axis[:2]
        d.line((tuple(c), tuple(end)), fill=colour, width=max(2, int(length / 40)))
    d.rectangle(pred.box, outline=(255, 255, 0))
    d.text((x0 + 2, y0 + 2), f"P {pred.pitch:+.1f} Y {pred.yaw:+.1f} R {pred.roll:+.1f}", fill=(255, 255, 0))
    return np.asarray(im)
