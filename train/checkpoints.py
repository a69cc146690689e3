"""Checkpoint files of ``train fit``: what they hold, and writing and reading them safely.

A checkpoint is ``torch.save`` of one dict (format :data:`CHECKPOINT_FORMAT`) that holds
tensors and plain values only (dict, list, tuple, str, int, float, bool, None):

* ``format`` (int); ``model_name`` (str, a registered model); ``model_cfg`` (dict of its options);
* ``model``: the model's state dict (parameter name -> tensor);
* ``optimizer``, ``scheduler``: their state dicts (in ``last.pt``; None in ``best.pt``);
* ``epoch``: the last finished epoch, counted from 0; ``history``: one dict of numbers per
  epoch; ``best``: ``{"epoch", "score"}``; ``config``: the FitConfig as a dict;
* ``torch_rng`` (uint8 tensor), ``cuda_rng`` (list of uint8 tensors, or None).

Reading (:func:`read_checkpoint`) goes through ``torch.load(weights_only=True)`` only: a
pickle naming any other Python object (``os.system``, a class of some module) is refused
before anything in it runs, with a :class:`CheckpointError` naming the file and the object.
Checkpoints are shared between people, and unpickling anything else can run code. The one
extension is numeric numpy scalars and arrays (bool, int, uint, float), which earlier
versions could leave in a history row: they are let through and come back as Python
numbers and tensors. Objects of any other kind are never loaded; there is no fallback.

Writing (:func:`write_checkpoint`) turns numpy values into Python numbers and tensors,
writes atomically (temporary file + rename) and checks that the file names no Python
object, so every checkpoint written here reads back under those rules.

:func:`save_checkpoint` writes one from a fit's state; :func:`load_model` builds the model
of a run folder or checkpoint file (``train eval``, ``train export``, prediction, the
``distill`` model's teachers). This module depends on torch and ``train.models`` only.
"""
from __future__ import annotations

import dataclasses
import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from train.errors import CheckpointError
from train.models import ModelError, PoseModel, create_model

CHECKPOINT_FORMAT = 1
#: suffixes taken as a checkpoint file (not a run folder) even when the file does not exist
CHECKPOINT_SUFFIXES = (".pt", ".pth")
#: keys (and their types) that building the model needs; ``model_cfg`` defaults to {}
MODEL_KEYS = {"model_name": str, "model": dict}
#: keys (and their types) that resuming a fit from ``last.pt`` needs besides :data:`MODEL_KEYS`
RESUME_KEYS = {"optimizer": dict, "scheduler": dict, "epoch": int, "history": list, "best": dict, "config": dict,
               "torch_rng": torch.Tensor}
_NUMPY_DTYPES = ("BoolDType", "Int8DType", "Int16DType", "Int32DType", "Int64DType", "UInt8DType", "UInt16DType",
                 "UInt32DType", "UInt64DType", "Float16DType", "Float32DType", "Float64DType", "LongDType",
                 "ULongDType", "LongLongDType", "ULongLongDType", "ByteDType", "UByteDType", "ShortDType",
                 "UShortDType", "IntDType", "UIntDType")


def _numpy_numbers() -> list:
    """The numpy globals a numeric numpy scalar or array pickles through (numpy 1 and 2 names)."""
    core = getattr(np, "_core", None) or np.core
    allowed: list = [np.ndarray, np.dtype]
    for fn in (core.multiarray.scalar, core.multiarray._reconstruct):
        allowed += [fn, (fn, f"numpy.core.multiarray.{fn.__name__}"), (fn, f"numpy._core.multiarray.{fn.__name__}")]
    dtypes = getattr(np, "dtypes", None)
    allowed += [getattr(dtypes, n) for n in _NUMPY_DTYPES if hasattr(dtypes, n)]
    return allowed


def plain(value):
    """``value`` with numpy scalars as Python numbers and numpy arrays as tensors (dicts, lists, tuples walked).

    Raises CheckpointError for an object array (it could hold anything).
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise CheckpointError(f"cannot store a numpy array of dtype {value.dtype} in a checkpoint")
        return torch.from_numpy(np.ascontiguousarray(value))
    if type(value) is dict:
        return {k: plain(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(plain(v) for v in value)
    return value


def _blocked_object(exc: BaseException) -> str | None:
    """Why a weights-only load refused the file (naming e.g. ``posix.system``), or None for another failure
    (truncated, not a torch file)."""
    text = str(exc)
    if not isinstance(exc, pickle.UnpicklingError) or "Weights only load failed" not in text:
        return None
    found = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"but got <class '([\w.]+)'>", text)
    if found:
        return f"refers to the Python object {found.group(1)}, where a checkpoint holds only tensors and plain values"
    detail = text.split("WeightsUnpickler error:")[-1].strip().splitlines()
    return f"holds pickle data other than tensors and plain values ({detail[0][:80] if detail else 'unknown'})"


def _first_sentence(exc: BaseException) -> str:
    text = str(exc).strip()
    first = re.split(r"(?<=\.)\s", text.splitlines()[0])[0][:160] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _unsafe_in_file(path: Path) -> list[str]:
    """Names of the Python objects a written checkpoint's pickle refers to (empty for a safe file)."""
    allowed = {f"{o.__module__}.{o.__qualname__}" for o in _numpy_numbers() if not isinstance(o, tuple)}
    return [g for g in torch.serialization.get_unsafe_globals_in_checkpoint(path) if g not in allowed]


def write_checkpoint(path: str | Path, state: dict) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file + rename) with numpy values converted (:func:`plain`).

    Raises CheckpointError when the state holds an object that reading would refuse.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    try:
        torch.save(plain(state), tmp)
        unsafe = _unsafe_in_file(tmp)
        if unsafe:
            raise CheckpointError(f"refusing to write {path}: the state holds {', '.join(unsafe)}, which "
                                  "read_checkpoint would refuse; store tensors and plain values only")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _fill_model_keys(state: dict) -> None:
    """Checkpoints of early versions lack ``model_name``/``model_cfg`` at the top: take them from ``config``."""
    config = state.get("config")
    if "model_name" not in state and isinstance(config, dict) and isinstance(config.get("model"), str):
        state["model_name"] = config["model"]
        state.setdefault("model_cfg", config.get("model_cfg") or {})
    state.setdefault("model_cfg", {})


def _check_keys(path: Path, state: dict, need: dict) -> None:
    for key, kind in {**need, "model_cfg": dict}.items():
        if key not in state:
            raise CheckpointError(f"checkpoint {path} lacks {key!r}, so it was not written by `train fit` or is "
                                  "damaged; fix: pass a run folder (or its checkpoints/best.pt or last.pt) "
                                  "written by `train fit`")
        if not isinstance(state[key], kind) or (kind is int and isinstance(state[key], bool)):
            raise CheckpointError(f"checkpoint {path}: {key!r} is a {type(state[key]).__name__}, expected a "
                                  f"{kind.__name__}; the file is damaged or not written by `train fit`")
    weights = state["model"]
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()):
        raise CheckpointError(f"checkpoint {path}: 'model' must map parameter names to tensors; the file is "
                              "damaged or not written by `train fit`")


def read_checkpoint(path: str | Path, need: dict | None = None) -> dict:
    """Load a checkpoint dict on CPU (tensors and plain values only, see the module doc).

    need: keys (-> types) the caller uses besides :data:`MODEL_KEYS` (e.g. :data:`RESUME_KEYS`).
    Raises CheckpointError naming the file when it is missing, unreadable, refers to a Python
    object (refused, nothing in it runs), or lacks a key.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found; fix: pass a run folder written by `train fit` or a "
                              ".pt file")
    try:
        with torch.serialization.safe_globals(_numpy_numbers()), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # torch's note on the pickle protocol of foreign files
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file; each is named below
        blocked = _blocked_object(exc)
        if blocked is not None and "Python object" not in blocked and not zipfile.is_zipfile(path):
            raise CheckpointError(f"{path} is not a checkpoint (torch.save writes a zip archive); fix: pass a run "
                                  "folder written by `train fit` or its checkpoints/best.pt") from None
        if blocked is not None:
            raise CheckpointError(f"checkpoint {path} {blocked}; refused without loading it (unpickling it could "
                                  "run code); fix: use a checkpoint written by `train fit`, from a source you "
                                  "trust") from None
        raise CheckpointError(f"checkpoint {path} cannot be read ({_first_sentence(exc)}); it may be truncated: "
                              "rerun the fit (it resumes from the last complete epoch) or delete the file") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a checkpoint of this toolkit (format {CHECKPOINT_FORMAT}); fix: pass "
                              "a run folder written by `train fit` or its checkpoints/best.pt")
    state = plain(state)
    _fill_model_keys(state)
    _check_keys(path, state, {**MODEL_KEYS, **(need or {})})
    return state


def checkpoint_path(run: str | Path, which: str = "best") -> Path:
    """A run folder's ``checkpoints/<which>.pt`` (``last.pt`` when ``best.pt`` is absent), or ``run`` itself
    when it is a file or names one (``.pt``/``.pth``)."""
    run = Path(run)
    if run.is_file() or (run.suffix in CHECKPOINT_SUFFIXES and not run.is_dir()):
        return run
    if not run.is_dir():
        raise CheckpointError(f"{run}: no such run folder or checkpoint file; fix: pass a run folder written by "
                              "`train fit` or a .pt file")
    path = run / "checkpoints" / f"{which}.pt"
    if not path.is_file() and which == "best":
        path = run / "checkpoints" / "last.pt"
    return path


def save_checkpoint(path: Path, model: PoseModel, optimizer, scheduler, epoch: int, history: list[dict], cfg,
                    best: dict) -> None:
    """Atomically write a checkpoint (contents: the module doc; tensors and plain values only).

    model: the PoseModel itself (not a DDP wrapper); optimizer / scheduler: None in ``best.pt``;
    epoch: the last finished one, from 0; cfg: the run's ``train.engine.FitConfig`` (a dataclass).
    """
    write_checkpoint(path, {
        "format": CHECKPOINT_FORMAT,
        "model_name": cfg.model,
        "model_cfg": cfg.model_cfg,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "epoch": epoch,
        "history": history,
        "best": best,
        "config": dataclasses.asdict(cfg),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    })


def load_model(run: str | Path, which: str = "best", device: str | torch.device = "cpu") -> PoseModel:
    """The model of a run folder (``best.pt``, else ``last.pt``) or checkpoint file, in eval mode.

    The weights come from the checkpoint alone: a ``pretrained`` path in its model_cfg (the
    ImageNet file of the training machine) is not followed. CheckpointError names the file
    when its model cannot be built or its weights do not fit.
    """
    path = checkpoint_path(run, which)
    state = read_checkpoint(path)
    name, model_cfg = state["model_name"], state["model_cfg"]
    if name == "distill":   # a distillation checkpoint holds the student only (train.models.distill)
        name, model_cfg = model_cfg.get("student", "ehpnet_r18"), model_cfg.get("student_cfg") or {}
        if not isinstance(name, str) or not isinstance(model_cfg, dict):
            raise CheckpointError(f"checkpoint {path}: model_cfg's student / student_cfg are not a model name and "
                                  "a mapping; the file is damaged or not written by `train fit`")
    if model_cfg.get("pretrained") is not None:
        model_cfg = dict(model_cfg, pretrained=None)
    try:
        model = create_model(name, **model_cfg)
    except ModelError as exc:
        raise CheckpointError(f"checkpoint {path}: {exc}") from None
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path}: its weights do not fit model {name!r} "
                              f"({str(exc).strip().splitlines()[0][:200]}); the file is damaged or was edited") from None
    model.checkpoint_path = str(path)
    return model.to(device).eval()
