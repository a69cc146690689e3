"""Evaluation protocols as data: the |angle| <= 99 filter, BIWI protocol 1 and frozen BIWI video splits.

* ``angle_filter``: keep samples whose pitch, yaw and roll all satisfy
  |angle| <= 99 deg (inclusive). On the full AFLW2000-3D this keeps 1969 of
  2000 images (Hopenet / FSA-Net protocol); use it on the raw Pose_Para
  angles (``Sample.euler`` or ``MatFaceReader.label``).
* ``PROTOCOLS``: named train/test recipes (``aflw2000``: train 300W-LP, test
  AFLW2000 filtered; ``biwi_p1``: train 300W-LP, test all 24 BIWI videos,
  filtered; ``biwi_16_8`` / ``biwi_12_12`` / ``biwi_8_16``: train and test on
  BIWI videos from a committed split file; ``*_id`` variants are
  identity-disjoint).
* Split files (``train/splits/biwi_<ntrain>_<ntest>[_id]_seed<seed>.json``,
  ``train/splits/aflw2000_dev_<ntrain>_seed<seed>.json``) are written by
  :func:`make_biwi_split` / :func:`make_image_split` and never regenerated silently;
  ``tests/test_data_protocols.py`` checks that the committed files equal
  what the recorded rule produces.

Split rules (recorded in each file's ``rule`` field):
  video split:   ``perm = numpy.random.default_rng(seed).permutation(["01", ..., "24"])``;
                 train = sorted(perm[:n_train]), test = the rest, sorted.
  identity split: subjects from ``biwi.BIWI_SUBJECTS`` (20 people; 02/21, 03/15, 05/18,
                 07/22 are the same person); ``perm = default_rng(seed).permutation(sorted subjects)``;
                 walk perm adding a subject's videos to train while they fit in n_train
                 (others go to test); train and test share no person.
  image split:   ``names = sorted image stems of the folder``; ``perm = default_rng(seed).permutation(names)``;
                 train = sorted(perm[:n_train]), test = the rest, sorted. ``aflw2000_dev_500_seed0``
                 splits the 1000-image AFLW2000-3D dev half (``../shared/realdata/aflw2000-dev``) into
                 ``dev-train`` (500) and ``dev-test`` (500) for the scarce-real-data protocol
                 (``bench/sim2real.py``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from .biwi import BIWI_SEQUENCES, BIWI_SUBJECTS
from .errors import DatasetError

ANGLE_LIMIT_DEG = 99.0
SPLITS_DIR = Path(__file__).resolve().parents[1] / "splits"

VIDEO_RULE = ("perm = numpy.random.default_rng(seed).permutation(sorted BIWI videos '01'..'24'); "
              "train = sorted(perm[:n_train]); test = sorted(perm[n_train:])")
IDENTITY_RULE = ("subjects = sorted(set(BIWI_SUBJECTS.values())); perm = numpy.random.default_rng(seed).permutation(subjects); "
                 "for s in perm: add s's videos to train if len(train) + len(videos) <= n_train else to test; "
                 "lists sorted; no subject in both")


def within_limit(euler: Iterable[float], limit: float = ANGLE_LIMIT_DEG) -> bool:
    """True when every |angle| <= limit (degrees); NaN fails."""
    a = np.abs(np.asarray(list(euler), dtype=np.float64))
    return bool(np.all(a <= limit))


def angle_filter(eulers: np.ndarray, limit: float = ANGLE_LIMIT_DEG) -> np.ndarray:
    """(N,) bool mask of rows of (N, 3) Euler angles (deg) with all |angle| <= limit."""
    e = np.abs(np.asarray(eulers, dtype=np.float64).reshape(-1, 3))
    return np.all(e <= limit, axis=1)


def filtered_indices(reader, limit: float = ANGLE_LIMIT_DEG) -> list[int]:
    """Indices of a reader's items passing the filter, from labels only when the reader has ``label(i)``."""
    keep = []
    for i in range(len(reader)):
        euler = reader.label(i)["euler"] if hasattr(reader, "label") else reader[i].euler
        if within_limit(euler, limit):
            keep.append(i)
    return keep


def make_biwi_split(n_train: int, seed: int = 0, identity_disjoint: bool = False) -> dict:
    """The split dict (see module doc for the rules); deterministic in (n_train, seed, identity_disjoint)."""
    if not 0 < n_train < len(BIWI_SEQUENCES):
        raise ValueError(f"n_train must be in 1..23, got {n_train}")
    rng = np.random.default_rng(seed)
    if not identity_disjoint:
        perm = [str(v) for v in rng.permutation(list(BIWI_SEQUENCES))]
        train, test = sorted(perm[:n_train]), sorted(perm[n_train:])
        rule = VIDEO_RULE
    else:
        by_subject: dict[str, list[str]] = {}
        for seq, subj in sorted(BIWI_SUBJECTS.items()):
            by_subject.setdefault(subj, []).append(seq)
        train, test = [], []
        for subj in rng.permutation(sorted(by_subject)):
            vids = by_subject[str(subj)]
            (train if len(train) + len(vids) <= n_train else test).extend(vids)
        train, test = sorted(train), sorted(test)
        if len(train) != n_train:
            raise RuntimeError(f"identity split could not reach {n_train} training videos (got {len(train)})")
        rule = IDENTITY_RULE
    n_test = len(BIWI_SEQUENCES) - n_train
    return {
        "name": f"biwi_{n_train}_{n_test}{'_id' if identity_disjoint else ''}_seed{seed}",
        "dataset": "biwi",
        "unit": "video",
        "seed": seed,
        "n_train": n_train,
        "n_test": n_test,
        "identity_disjoint": identity_disjoint,
        "rule": rule,
        "subjects": {s: BIWI_SUBJECTS[s] for s in BIWI_SEQUENCES},
        "subjects_source": "Hugging Face datasets BIWI loading script (_sequence_to_subject_map); not verified on the images",
        "train": train,
        "test": test,
    }


IMAGE_RULE = ("names = sorted image stems (imageNNNNN) of the folder; perm = numpy.random.default_rng(seed)"
              ".permutation(names); train = sorted(perm[:n_train]); test = sorted(perm[n_train:])")


def make_image_split(names: Iterable[str], n_train: int, seed: int, dataset: str, name: str, source: str) -> dict:
    """A split of image ``names`` (stems) into ``n_train`` training and the remaining test images (``IMAGE_RULE``).

    dataset: the reader kind it applies to (``aflw2000``); source: the folder the names were listed from.
    """
    names = sorted(str(n) for n in names)
    if not 0 < n_train < len(names):
        raise ValueError(f"n_train must be in 1..{len(names) - 1}, got {n_train}")
    perm = [str(v) for v in np.random.default_rng(seed).permutation(names)]
    return {"name": name, "dataset": dataset, "unit": "image", "seed": seed, "n_train": n_train,
            "n_test": len(names) - n_train, "rule": IMAGE_RULE, "source": source,
            "train": sorted(perm[:n_train]), "test": sorted(perm[n_train:])}


#: the committed AFLW2000-3D dev-half split (dev-train / dev-test) of the scarce-real-data protocol.
AFLW_DEV_SPLIT = "aflw2000_dev_500_seed0"


def split_path(n_train: int, seed: int = 0, identity_disjoint: bool = False) -> Path:
    """Path of the committed split file for these parameters."""
    return SPLITS_DIR / (make_biwi_split(n_train, seed, identity_disjoint)["name"] + ".json")


def load_split(name_or_path: str | Path) -> dict:
    """Load a split by file path or by name (``biwi_16_8_seed0``) from ``train/splits``."""
    p = Path(name_or_path)
    if not p.suffix:
        p = SPLITS_DIR / f"{name_or_path}.json"
    if not p.is_file():
        known = ", ".join(sorted(q.stem for q in SPLITS_DIR.glob("*.json")))
        raise DatasetError(f"split file {p} not found; committed splits: {known}", p)
    try:
        split = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"split file {p} is not valid JSON: {exc}", p) from exc
    for key in ("train", "test", "seed", "rule"):
        if key not in split:
            raise DatasetError(f"split file {p} lacks {key!r}", p)
    return split


def write_split(split: dict, folder: Path = SPLITS_DIR) -> Path:
    """Write a split dict as ``<name>.json`` (sorted keys, trailing newline)."""
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f"{split['name']}.json"
    p.write_text(json.dumps(split, indent=1, sort_keys=True) + "\n")
    return p


#: (n_train, n_test) of the published BIWI video protocols.
BIWI_SPLIT_SIZES = ((16, 8), (12, 12), (8, 16))


@dataclass(frozen=True)
class Protocol:
    """A train/test recipe. ``train``/``test`` are dataset kinds; ``split`` names a committed split file
    whose ``train``/``test`` video lists select BIWI sequences; ``angle_limit`` filters the test set (None = off)."""

    name: str
    train: str
    test: str
    split: str | None = None
    angle_limit: float | None = ANGLE_LIMIT_DEG
    note: str = ""


PROTOCOLS: dict[str, Protocol] = {
    "aflw2000": Protocol("aflw2000", "300wlp", "aflw2000", note="train 300W-LP, test AFLW2000 with |angle| <= 99 (1969 of 2000)"),
    "biwi_p1": Protocol("biwi_p1", "300wlp", "biwi", note="train 300W-LP, test all 24 BIWI videos with |angle| <= 99"),
}
for _tr, _te in BIWI_SPLIT_SIZES:
    for _id in (False, True):
        _n = f"biwi_{_tr}_{_te}{'_id' if _id else ''}"
        PROTOCOLS[_n] = Protocol(_n, "biwi", "biwi", split=f"{_n}_seed0", angle_limit=None,
                                 note=f"BIWI {_tr}/{_te} videos{' (identity-disjoint)' if _id else ''}, seed 0")


def split_names(split_name: str | None, dataset: str, part: str) -> list[str] | None:
    """The ``part`` (``train`` | ``test``) list of a committed split for reader kind ``dataset``; None without a split.

    Raises DatasetError when the split was made for another dataset."""
    if not split_name:
        return None
    split = load_split(split_name)
    if split.get("dataset", dataset) != dataset:
        raise DatasetError(f"split {split_name} is a {split['dataset']} split, not one of {dataset}; "
                           f"fix: give a {dataset} split", Path(str(split_name)))
    return list(split[part])


if __name__ == "__main__":  # regenerate the committed split files: python -m train.data.protocols [AFLW_DEV_FOLDER]
    import sys

    for _tr, _ in BIWI_SPLIT_SIZES:
        for _id in (False, True):
            print(write_split(make_biwi_split(_tr, 0, _id)))
    if len(sys.argv) > 1:   # the AFLW2000-3D dev half (1000 images) -> aflw2000_dev_500_seed0
        _stems = [p.stem for p in Path(sys.argv[1]).glob("image*.jpg")]
        print(write_split(make_image_split(_stems, 500, 0, "aflw2000", AFLW_DEV_SPLIT,
                                           "../shared/realdata/aflw2000-dev (the AFLW2000-3D dev half)")))
