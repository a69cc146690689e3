"""Shipped target pose distributions for ``pose.mode: histogram`` (``pose.histogram_file: NAME``).

A target is a 3-D histogram of (pitch, yaw, roll) in degrees, benchmark convention
(``synth.pose``), stored as ``synth/data/pose_<NAME>.npz`` with ``edges`` (B+1,) bin edges shared by
the three axes and ``probs`` (B, B, B) bin probabilities (summing to 1). ``synth.sampling`` picks a
bin by its probability and draws the angles uniformly inside it.

``faces`` -- where faces in photos are (the 300W-LP / AFLW2000-3D kind of picture), with profiles
still covered. Independent marginals, each a mixture of a peak and a uniform floor, on 5-degree bins:

* yaw: 0.70 N(0, 25) + 0.30 U(-90, 90), within [-90, 90] -- most faces within +-30 deg,
  a quarter of them turned beyond 40 deg, the floor keeps every profile angle drawn;
* pitch: 0.85 N(-5, 14) + 0.15 U(-60, 60), within [-60, 60] -- photographed faces look
  slightly down on average (AFLW2000's pitch mean is about -5 deg);
* roll: 0.85 N(0, 12) + 0.15 U(-45, 45), within [-45, 45].

The numbers are round values chosen from the published character of in-the-wild face sets, not
fitted to any evaluation set. Regenerate the shipped file with ``python -m synth.pose_target``;
``tests/test_sampling.py`` checks the file equals what this module computes.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import norm

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Marginal:
    """``peak`` N(mean, sd) + (1 - peak) U(-limit, limit), truncated to [-limit, limit] (degrees)."""

    mean: float
    sd: float
    peak: float
    limit: float

    def bin_mass(self, edges: np.ndarray) -> np.ndarray:
        """(B,) probability of each bin between ``edges`` (0 outside the limit), normalised to sum 1."""
        e = np.clip(edges, -self.limit, self.limit)
        gauss = np.diff(norm.cdf((e - self.mean) / self.sd))
        flat = np.diff(e) / (2.0 * self.limit)
        m = self.peak * gauss / gauss.sum() + (1.0 - self.peak) * flat
        return m / m.sum()


#: name -> (pitch, yaw, roll) marginals of the shipped targets (see the module doc).
TARGETS: dict[str, tuple[Marginal, Marginal, Marginal]] = {
    "faces": (Marginal(-5.0, 14.0, 0.85, 60.0), Marginal(0.0, 25.0, 0.70, 90.0), Marginal(0.0, 12.0, 0.85, 45.0)),
}
#: bin width of the shipped targets, degrees
BIN_DEG = 5.0


def target_histogram(name: str, bin_deg: float = BIN_DEG) -> tuple[np.ndarray, np.ndarray]:
    """(edges (B+1,), probs (B, B, B) float64) of target ``name`` on bins of ``bin_deg`` over [-90, 90]."""
    edges = np.arange(-90.0, 90.0 + bin_deg / 2, bin_deg)
    p, y, r = (m.bin_mass(edges) for m in TARGETS[name])
    return edges, np.einsum("i,j,k->ijk", p, y, r)


def shipped_path(name: str) -> Path:
    """Where the shipped target ``name`` lives (``synth/data/pose_<name>.npz``)."""
    return DATA_DIR / f"pose_{name}.npz"


def write_target(name: str) -> Path:
    """Write target ``name`` to its shipped path (float32 probabilities) and return the path."""
    edges, probs = target_histogram(name)
    path = shipped_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, edges=edges.astype(np.float32), probs=probs.astype(np.float32))
    return path


if __name__ == "__main__":
    for _name in TARGETS:
        print(write_target(_name))
