"""Head-pose evaluation metrics (pure numpy) and the ``EvalResult`` record they fill.

Inputs
------
Euler angles are ``(N, 3)`` float arrays in degrees, columns ``(pitch, yaw,
roll)`` in the canonical benchmark convention of :mod:`synth.pose`
(+pitch looks up, +yaw turns toward the image's left, +roll is clockwise in
the image). Any finite values are accepted; differences are wrapped, so a
prediction of -179 deg against a label of +179 deg is a 2 deg error.
Rotation matrices are ``(N, 3, 3)`` canonical rotations (head -> OpenCV
camera). The convention itself -- Euler angles to rotations, the geodesic
angle, the coarse categories -- is :mod:`synth.pose`'s, called here on whole
arrays; this module checks inputs, scores and records.

Metrics
-------
* per-angle absolute error ``min(|d| mod 360, 360 - (|d| mod 360))`` in
  [0, 180] deg, its mean (MAE) per angle and the mean of the three;
* per-angle signed error ``wrap(pred - true)`` in (-180, 180] deg, its mean
  (ME, the bias) and standard deviation (STD, population, ``ddof=0``): the
  quantities of the coarse-to-fine paper's robustness tables (Wang et al.,
  "A deep Coarse-to-Fine network for head pose estimation from synthetic
  data", Pattern Recognition 94, 2019, Tables 6-7);
* geodesic error: the angle in degrees of ``R_pred^T R_true`` in [0, 180],
  :func:`synth.pose.geodesic_distance_deg` of each pair;
* criterion II: the fraction of samples whose three absolute errors are all
  strictly below a threshold, as a curve over thresholds (default 0..30 deg
  step 0.5) plus the values at 5, 10, ..., 30 deg;
* criterion III: the MAE of each angle restricted to samples whose true
  |angle| lies in a range, with each range's share of samples (see
  ``DEFAULT_RANGES`` for the choice of ranges);
* coarse accuracy over the four pitch/yaw sign categories of
  :func:`synth.pose.coarse_category` with the 4x4 confusion matrix;
* runtime per image (:func:`time_per_image`).

What is *not* here: the |angle| <= 99 deg filter that the AFLW2000 / BIWI
benchmark protocols apply is a property of the test set, not of the metric.
It lives in :mod:`train.data.protocols` (``angle_filter``) and must be
applied when the evaluation set is built; these functions score whatever
samples they are given.
"""
from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from synth.pose import coarse_category, geodesic_distance_deg, rotation_from_euler, wrap_degrees

#: column order of every (N, 3) Euler array.
ANGLE_NAMES = ("pitch", "yaw", "roll")

#: criterion II thresholds of the curve, degrees: 0, 0.5, ..., 30.
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(float(t) for t in np.arange(0.0, 30.0 + 1e-9, 0.5))
#: criterion II values reported as numbers, degrees.
DEFAULT_POINTS: tuple[float, ...] = (5.0, 10.0, 15.0, 20.0, 25.0, 30.0)

#: criterion III ranges of the true |angle|, degrees; ``[lo, hi)`` except the last, which is ``[lo, hi]``.
#:
#: The coarse-to-fine paper (criterion III) and the Bernoulli-heatmap paper
#: (Hu et al., 2020) both break the error down by pose range, but their exact
#: band edges could not be confirmed from the sources available while writing
#: this module, so the default is uniform 30 deg bands of |angle|, the same
#: small / medium / large split ([0, 30], [30, 60], [60, 90] of |yaw|) used for
#: AFLW2000-3D, plus a [90, 180] band that only fills on wide-range data
#: (Panoptic, the synthetic wide preset). Pass ``ranges=`` to reproduce a
#: paper's table with its own edges.
DEFAULT_RANGES: tuple[tuple[float, float], ...] = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.0), (90.0, 180.0))

N_COARSE = 4


# --- input checks -----------------------------------------------------------------------------

def _describe_nonfinite(a: np.ndarray, what: str, columns: Sequence[str] | None = None) -> str:
    """Message naming how many entries of ``a`` are NaN/inf and in which rows (first 10)."""
    bad = ~np.isfinite(a)
    rows = np.flatnonzero(bad.reshape(len(a), -1).any(axis=1))
    parts = []
    for r in rows[:10]:
        cols = np.flatnonzero(bad.reshape(len(a), -1)[r])
        if columns is not None:
            parts.append(f"row {r} ({', '.join(columns[c] for c in cols)})")
        else:
            parts.append(f"row {r}")
    more = f" and {len(rows) - 10} more rows" if len(rows) > 10 else ""
    return f"{what} has {int(bad.sum())} NaN/inf values in {len(rows)} rows: {'; '.join(parts)}{more}"


def as_euler(a, what: str = "euler") -> np.ndarray:
    """``a`` as a finite (N, 3) float64 array (degrees); a single (3,) triple becomes (1, 3)."""
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1 and arr.shape == (3,):
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{what} must have shape (N, 3) = (pitch, yaw, roll) in degrees, got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{what} is empty: need at least one sample")
    if not np.all(np.isfinite(arr)):
        raise ValueError(_describe_nonfinite(arr, what, ANGLE_NAMES))
    return arr


def _pair(pred, true) -> tuple[np.ndarray, np.ndarray]:
    p, t = as_euler(pred, "pred_euler"), as_euler(true, "true_euler")
    if p.shape != t.shape:
        raise ValueError(f"pred_euler has shape {p.shape} but true_euler has {t.shape}: one row per sample in both")
    return p, t


# --- per-angle errors -------------------------------------------------------------------------

def signed_errors(pred, true) -> np.ndarray:
    """(N, 3) signed error ``wrap(pred - true)`` in (-180, 180] degrees."""
    p, t = _pair(pred, true)
    return wrap_degrees(p - t)


def abs_errors(pred, true) -> np.ndarray:
    """(N, 3) wrap-aware absolute error in [0, 180] degrees: ``min(|d| mod 360, 360 - that)``."""
    p, t = _pair(pred, true)
    d = np.mod(np.abs(p - t), 360.0)
    return np.minimum(d, 360.0 - d)


def mae(pred, true) -> np.ndarray:
    """(3,) mean absolute error per angle (pitch, yaw, roll), degrees."""
    return abs_errors(pred, true).mean(axis=0)


def mean_error(pred, true) -> np.ndarray:
    """(3,) mean signed error (ME, bias) per angle, degrees; positive = predicted too large."""
    return signed_errors(pred, true).mean(axis=0)


def error_std(pred, true) -> np.ndarray:
    """(3,) standard deviation (ddof=0) of the signed error per angle, degrees."""
    return signed_errors(pred, true).std(axis=0)


# --- geodesic error ---------------------------------------------------------------------------

def rotations_from_euler(euler) -> np.ndarray:
    """(N, 3, 3) canonical rotations of (N, 3) Euler angles in degrees (:func:`synth.pose.rotation_from_euler`)."""
    e = as_euler(euler)
    return rotation_from_euler(e[:, 0], e[:, 1], e[:, 2])


def _as_rotations(R, what: str, atol: float = 1e-3) -> np.ndarray:
    arr = np.asarray(R, dtype=np.float64)
    if arr.ndim == 2 and arr.shape == (3, 3):
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (3, 3):
        raise ValueError(f"{what} must have shape (N, 3, 3) (rotation matrices), got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{what} is empty: need at least one sample")
    if not np.all(np.isfinite(arr)):
        raise ValueError(_describe_nonfinite(arr, what))
    gram = np.einsum("nji,njk->nik", arr, arr)
    bad = ~(np.all(np.abs(gram - np.eye(3)) <= atol, axis=(1, 2)) & (np.linalg.det(arr) > 0))
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(f"{what} has {len(rows)} matrices that are not rotations (orthonormal within {atol}, "
                         f"det +1): rows {rows[:10].tolist()}")
    return arr


def geodesic_errors(R_pred, R_true) -> np.ndarray:
    """(N,) angle in degrees, in [0, 180], of the rotation taking each ``R_pred`` to ``R_true``.

    R_pred, R_true: (N, 3, 3) rotations, checked, then :func:`synth.pose.geodesic_distance_deg`
    (the atan2 form, accurate for tiny errors).
    """
    A, B = _as_rotations(R_pred, "R_pred"), _as_rotations(R_true, "R_true")
    if A.shape != B.shape:
        raise ValueError(f"R_pred has shape {A.shape} but R_true has {B.shape}: one matrix per sample in both")
    return geodesic_distance_deg(A, B)


def geodesic_errors_from_euler(pred, true) -> np.ndarray:
    """(N,) geodesic error in degrees of (N, 3) predicted against (N, 3) true Euler angles."""
    p, t = _pair(pred, true)
    return geodesic_errors(rotations_from_euler(p), rotations_from_euler(t))


# --- criterion II: fraction of samples with all errors under a threshold -----------------------

@dataclass(frozen=True)
class ThresholdCurve:
    """Criterion II: share of samples whose pitch, yaw and roll errors are all < threshold.

    thresholds: degrees, increasing; fractions: same length, each in [0, 1];
    points: threshold (deg) -> fraction at the reported thresholds (5..30 by default).
    """

    thresholds: tuple[float, ...]
    fractions: tuple[float, ...]
    points: dict[float, float]

    def to_dict(self) -> dict:
        return {"thresholds": list(self.thresholds), "fractions": list(self.fractions),
                "points": [[t, f] for t, f in self.points.items()]}

    @classmethod
    def from_dict(cls, d: dict) -> "ThresholdCurve":
        _require_keys(d, ("thresholds", "fractions", "points"), "criterion2")
        return cls(tuple(float(x) for x in d["thresholds"]), tuple(float(x) for x in d["fractions"]),
                   {float(t): float(f) for t, f in d["points"]})


def _fraction_under(max_err: np.ndarray, thresholds: Sequence[float]) -> list[float]:
    s = np.sort(max_err)
    return [float(np.searchsorted(s, t, side="left") / len(s)) for t in thresholds]


def criterion2(pred, true, thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
               points: Sequence[float] = DEFAULT_POINTS) -> ThresholdCurve:
    """Criterion II curve: for each threshold t (deg), the fraction of samples with max(|errors|) < t."""
    th = [float(t) for t in thresholds]
    if not th or any(b <= a for a, b in zip(th, th[1:])):
        raise ValueError(f"criterion II thresholds must be a non-empty increasing sequence, got {th[:8]}...")
    max_err = abs_errors(pred, true).max(axis=1)
    pts = [float(p) for p in points]
    return ThresholdCurve(tuple(th), tuple(_fraction_under(max_err, th)),
                          dict(zip(pts, _fraction_under(max_err, pts))))


# --- criterion III: MAE per range of the true |angle| ------------------------------------------

@dataclass(frozen=True)
class RangeTable:
    """Criterion III: per-angle MAE over samples whose true |angle| falls in each range.

    ranges: R pairs (lo, hi) in degrees, ``lo <= |angle| < hi`` (the last one includes hi);
    counts[a][r]: samples of angle a (0 pitch, 1 yaw, 2 roll) in range r;
    mae[a][r]: their MAE in degrees, ``None`` when the range is empty; n: all samples.
    """

    ranges: tuple[tuple[float, float], ...]
    counts: tuple[tuple[int, ...], ...]
    mae: tuple[tuple[float | None, ...], ...]
    n: int

    def share(self, angle: int, r: int) -> float:
        """Fraction in [0, 1] of all samples whose true |angle| falls in range ``r``."""
        return self.counts[angle][r] / self.n

    def to_dict(self) -> dict:
        return {"ranges": [list(r) for r in self.ranges], "counts": [list(c) for c in self.counts],
                "mae": [list(m) for m in self.mae], "n": self.n}

    @classmethod
    def from_dict(cls, d: dict) -> "RangeTable":
        _require_keys(d, ("ranges", "counts", "mae", "n"), "criterion3")
        return cls(tuple((float(lo), float(hi)) for lo, hi in d["ranges"]),
                   tuple(tuple(int(c) for c in row) for row in d["counts"]),
                   tuple(tuple(None if m is None else float(m) for m in row) for row in d["mae"]),
                   int(d["n"]))


def _check_ranges(ranges) -> tuple[tuple[float, float], ...]:
    out = tuple((float(lo), float(hi)) for lo, hi in ranges)
    if not out:
        raise ValueError("criterion III needs at least one (lo, hi) range")
    for lo, hi in out:
        if not (0.0 <= lo < hi):
            raise ValueError(f"criterion III range ({lo}, {hi}) must satisfy 0 <= lo < hi (degrees of |angle|)")
    for (_, hi), (lo, _) in zip(out, out[1:]):
        if lo < hi:
            raise ValueError(f"criterion III ranges must be increasing and not overlap, got {out}")
    return out


def criterion3(pred, true, ranges: Sequence[tuple[float, float]] = DEFAULT_RANGES) -> RangeTable:
    """Criterion III table: MAE of each angle per range of its true |angle| (wrapped into [0, 180])."""
    rs = _check_ranges(ranges)
    err = abs_errors(pred, true)
    absolute = np.abs(wrap_degrees(as_euler(true, "true_euler")))
    counts, maes = [], []
    for a in range(3):
        c_row, m_row = [], []
        for k, (lo, hi) in enumerate(rs):
            upper = absolute[:, a] <= hi if k == len(rs) - 1 else absolute[:, a] < hi
            sel = (absolute[:, a] >= lo) & upper
            c_row.append(int(sel.sum()))
            m_row.append(float(err[sel, a].mean()) if sel.any() else None)
        counts.append(tuple(c_row))
        maes.append(tuple(m_row))
    return RangeTable(rs, tuple(counts), tuple(maes), len(err))


# --- coarse categories -------------------------------------------------------------------------

def coarse_categories(euler) -> np.ndarray:
    """(N,) int64 coarse-to-fine category 0..3 of (N, 3) Euler angles (degrees, wrapped first):
    :func:`synth.pose.coarse_category` of the pitch and yaw columns."""
    e = wrap_degrees(as_euler(euler))
    return coarse_category(e[:, 0], e[:, 1])


@dataclass(frozen=True)
class CoarseResult:
    """Coarse classification: accuracy in [0, 1] and the 4x4 confusion (rows true, columns predicted)."""

    accuracy: float
    confusion: tuple[tuple[int, ...], ...]

    def to_dict(self) -> dict:
        return {"accuracy": self.accuracy, "confusion": [list(r) for r in self.confusion]}

    @classmethod
    def from_dict(cls, d: dict) -> "CoarseResult":
        _require_keys(d, ("accuracy", "confusion"), "coarse")
        return cls(float(d["accuracy"]), tuple(tuple(int(c) for c in row) for row in d["confusion"]))


def _as_labels(a, what: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim == 2 and arr.shape[1] == N_COARSE:  # scores / logits / probabilities
        if not np.all(np.isfinite(arr)):
            raise ValueError(_describe_nonfinite(arr.astype(np.float64), what))
        return np.argmax(arr, axis=1)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be (N,) category indices 0..3 or (N, 4) scores, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError(_describe_nonfinite(arr, what))
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{what} holds non-integer values; pass category indices 0..3 or (N, 4) scores")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{what} must be integers 0..3, got dtype {arr.dtype}")
    lab = arr.astype(np.int64)
    bad = np.flatnonzero((lab < 0) | (lab >= N_COARSE))
    if len(bad):
        raise ValueError(f"{what} has {len(bad)} values outside 0..3, e.g. row {bad[0]} = {lab[bad[0]]}")
    return lab


def coarse_accuracy(pred_coarse, true_coarse) -> CoarseResult:
    """Accuracy and confusion of predicted coarse categories ((N,) indices or (N, 4) scores)."""
    p, t = _as_labels(pred_coarse, "pred_coarse"), _as_labels(true_coarse, "true_coarse")
    if p.shape != t.shape:
        raise ValueError(f"pred_coarse has {len(p)} samples but true_coarse has {len(t)}")
    if len(p) == 0:
        raise ValueError("pred_coarse is empty: need at least one sample")
    conf = np.zeros((N_COARSE, N_COARSE), dtype=np.int64)
    np.add.at(conf, (t, p), 1)
    return CoarseResult(float(np.mean(p == t)), tuple(tuple(int(c) for c in row) for row in conf))


# --- runtime -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RuntimeStats:
    """Milliseconds per image: median and mean over ``repeats`` timed calls (``images`` per call).

    ``images`` and ``repeats`` are ``None`` when the figure was measured elsewhere and passed in.
    """

    median_ms: float
    mean_ms: float
    images: int | None = None
    repeats: int | None = None

    def to_dict(self) -> dict:
        return {"median_ms": self.median_ms, "mean_ms": self.mean_ms, "images": self.images, "repeats": self.repeats}

    @classmethod
    def from_dict(cls, d: dict) -> "RuntimeStats":
        _require_keys(d, ("median_ms", "mean_ms"), "runtime")
        return cls(float(d["median_ms"]), float(d["mean_ms"]), d.get("images"), d.get("repeats"))


def _batch_len(inputs) -> int:
    shape = getattr(inputs, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    try:
        return len(inputs)
    except TypeError:
        raise ValueError("inputs must be a batch with a first axis counting images (array, tensor or list)") from None


def time_per_image(fn: Callable[[Any], Any], inputs, warmup: int = 3, repeats: int = 10,
                   sync: Callable[[], Any] | None = None) -> RuntimeStats:
    """Wall-clock milliseconds per image of ``fn(inputs)``.

    inputs: one batch whose first axis counts the images (e.g. a (B, C, H, W)
    array or tensor; use B = 1 for single-image latency). ``fn`` runs
    ``warmup`` times untimed, then ``repeats`` times timed; each timed call's
    duration is divided by B. ``sync`` (e.g. ``torch.cuda.synchronize``) runs
    after every call so asynchronous devices are timed to completion.
    """
    if warmup < 0 or repeats < 1:
        raise ValueError(f"need warmup >= 0 and repeats >= 1, got warmup={warmup}, repeats={repeats}")
    n = _batch_len(inputs)
    if n < 1:
        raise ValueError("inputs is an empty batch: need at least one image to time")
    for _ in range(warmup):
        fn(inputs)
        if sync is not None:
            sync()
    per_image = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(inputs)
        if sync is not None:
            sync()
        per_image.append((time.perf_counter() - t0) * 1000.0 / n)
    return RuntimeStats(float(statistics.median(per_image)), float(statistics.fmean(per_image)), n, repeats)


# --- the evaluation record -----------------------------------------------------------------------

@dataclass(frozen=True)
class AngleTriple:
    """One value per angle, degrees.

    Also readable by key: ``t["pitch"]``, ``t["yaw"]``, ``t["roll"]``, and
    ``t["mean"]`` for the mean of the three (e.g. ``result.mae["mean"]`` is
    ``result.mae_mean``).
    """

    pitch: float
    yaw: float
    roll: float

    @classmethod
    def of(cls, values: Sequence[float]) -> "AngleTriple":
        p, y, r = (float(v) for v in values)
        return cls(p, y, r)

    @property
    def mean(self) -> float:
        """Mean of the three values, degrees."""
        return (self.pitch + self.yaw + self.roll) / 3.0

    def __getitem__(self, key: str) -> float:
        if key in ANGLE_NAMES or key == "mean":
            return getattr(self, key)
        raise KeyError(f"{key!r}: use one of {ANGLE_NAMES + ('mean',)}")

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.pitch, self.yaw, self.roll)

    def to_dict(self) -> dict:
        return {"pitch": self.pitch, "yaw": self.yaw, "roll": self.roll}

    @classmethod
    def from_dict(cls, d: dict, what: str = "angles") -> "AngleTriple":
        _require_keys(d, ANGLE_NAMES, what)
        return cls(float(d["pitch"]), float(d["yaw"]), float(d["roll"]))


def _require_keys(d: dict, keys: Sequence[str], what: str) -> None:
    if not isinstance(d, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(d).__name__}")
    missing = [k for k in keys if k not in d]
    if missing:
        raise ValueError(f"{what} is missing keys {missing}; was it written by train.metrics.EvalResult.to_dict?")


RESULT_FORMAT = 1


@dataclass(frozen=True)
class EvalResult:
    """Every metric of one evaluated set; degrees unless a name says otherwise.

    name: the set's label in reports; n: samples scored; mae / me / std: per
    angle (see module docstring); mae_mean: mean of the three MAEs;
    geodesic_mean / geodesic_median: degrees; criterion2 / criterion3: see
    :class:`ThresholdCurve` / :class:`RangeTable`; coarse: present when coarse
    predictions were given; runtime: ms per image when measured; meta:
    free-form JSON-serialisable facts (model, checkpoint, data, protocol).
    """

    name: str
    n: int
    mae: AngleTriple
    mae_mean: float
    me: AngleTriple
    std: AngleTriple
    geodesic_mean: float
    geodesic_median: float
    criterion2: ThresholdCurve
    criterion3: RangeTable
    coarse: CoarseResult | None = None
    runtime: RuntimeStats | None = None
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-ready dict (strict JSON: no NaN); ``from_dict(json.loads(json.dumps(d)))`` gives it back."""
        return {
            "format": RESULT_FORMAT, "name": self.name, "n": self.n,
            "mae": self.mae.to_dict(), "mae_mean": self.mae_mean, "me": self.me.to_dict(), "std": self.std.to_dict(),
            "geodesic_mean": self.geodesic_mean, "geodesic_median": self.geodesic_median,
            "criterion2": self.criterion2.to_dict(), "criterion3": self.criterion3.to_dict(),
            "coarse": None if self.coarse is None else self.coarse.to_dict(),
            "runtime": None if self.runtime is None else self.runtime.to_dict(),
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "EvalResult":
        _require_keys(d, ("name", "n", "mae", "mae_mean", "me", "std", "geodesic_mean", "geodesic_median",
                          "criterion2", "criterion3"), "EvalResult")
        fmt = d.get("format", RESULT_FORMAT)
        if fmt != RESULT_FORMAT:
            raise ValueError(f"EvalResult format {fmt} is not readable by this version (expects {RESULT_FORMAT})")
        return cls(
            name=str(d["name"]), n=int(d["n"]),
            mae=AngleTriple.from_dict(d["mae"], "mae"), mae_mean=float(d["mae_mean"]),
            me=AngleTriple.from_dict(d["me"], "me"), std=AngleTriple.from_dict(d["std"], "std"),
            geodesic_mean=float(d["geodesic_mean"]), geodesic_median=float(d["geodesic_median"]),
            criterion2=ThresholdCurve.from_dict(d["criterion2"]), criterion3=RangeTable.from_dict(d["criterion3"]),
            coarse=None if d.get("coarse") is None else CoarseResult.from_dict(d["coarse"]),
            runtime=None if d.get("runtime") is None else RuntimeStats.from_dict(d["runtime"]),
            meta=dict(d.get("meta") or {}),
        )


def evaluate(pred_euler, true_euler, pred_coarse=None, true_coarse=None,
             runtime_ms: float | RuntimeStats | None = None, name: str = "", meta: dict | None = None,
             thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
             ranges: Sequence[tuple[float, float]] = DEFAULT_RANGES) -> EvalResult:
    """Score (N, 3) predicted against (N, 3) true Euler angles (degrees) and return an :class:`EvalResult`.

    pred_coarse: (N,) categories 0..3 or (N, 4) scores; when given, coarse
    accuracy is computed against ``true_coarse`` or, when that is ``None``, the
    categories of ``true_euler``. runtime_ms: ms per image (a float, taken as
    both median and mean) or a :class:`RuntimeStats`. meta must be
    JSON-serialisable. Apply benchmark filters (|angle| <= 99) before calling.
    """
    p, t = _pair(pred_euler, true_euler)
    if true_coarse is not None and pred_coarse is None:
        raise ValueError("true_coarse was given without pred_coarse: pass the model's coarse predictions too")
    meta = dict(meta or {})
    try:
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"meta must be JSON-serialisable (strings, numbers, lists, dicts): {exc}") from None
    if isinstance(runtime_ms, RuntimeStats):
        runtime = runtime_ms
    elif runtime_ms is not None:
        ms = float(runtime_ms)
        if not math.isfinite(ms) or ms < 0:
            raise ValueError(f"runtime_ms must be a finite, non-negative number of milliseconds, got {runtime_ms}")
        runtime = RuntimeStats(ms, ms)
    else:
        runtime = None

    signed = wrap_degrees(p - t)
    err = np.abs(signed)  # equals abs_errors: |wrap(d)| = min(|d| mod 360, 360 - that)
    geo = geodesic_errors_from_euler(p, t)
    coarse = None
    if pred_coarse is not None:
        truth = coarse_categories(t) if true_coarse is None else true_coarse
        coarse = coarse_accuracy(pred_coarse, truth)
        if sum(map(sum, coarse.confusion)) != len(p):
            raise ValueError(f"coarse predictions cover {sum(map(sum, coarse.confusion))} samples "
                             f"but the Euler arrays have {len(p)}")
    per_angle_mae = AngleTriple.of(err.mean(axis=0))
    return EvalResult(
        name=str(name), n=len(p),
        mae=per_angle_mae, mae_mean=per_angle_mae.mean,
        me=AngleTriple.of(signed.mean(axis=0)), std=AngleTriple.of(signed.std(axis=0)),
        geodesic_mean=float(geo.mean()), geodesic_median=float(np.median(geo)),
        criterion2=criterion2(p, t, thresholds), criterion3=criterion3(p, t, ranges),
        coarse=coarse, runtime=runtime, meta=meta,
    )
