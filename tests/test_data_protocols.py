"""Protocols: the angle filter, BIWI protocols, and the committed seeded split files."""
from __future__ import annotations

import json

import numpy as np
import pytest

from train.data.biwi import BIWI_SEQUENCES, BIWI_SUBJECTS
from train.data.errors import DatasetError
from train.data.protocols import (BIWI_SPLIT_SIZES, PROTOCOLS, SPLITS_DIR, angle_filter, load_split, make_biwi_split,
                                  split_path, within_limit)


def test_angle_filter_inclusive():
    e = np.array([[0, 99, -99], [0, 99.01, 0], [-972, 0, 0], [np.nan, 0, 0]])
    np.testing.assert_array_equal(angle_filter(e), [True, False, False, False])
    assert within_limit([10, -20, 30]) and not within_limit([10, 894, 0])


@pytest.mark.parametrize("n_train,n_test", BIWI_SPLIT_SIZES)
@pytest.mark.parametrize("identity", [False, True])
def test_committed_split_files_match_the_rule(n_train, n_test, identity):
    path = split_path(n_train, 0, identity)
    assert path.is_file(), f"committed split {path} missing: run python -m train.data.protocols"
    committed = json.loads(path.read_text())
    assert committed == make_biwi_split(n_train, 0, identity)
    assert committed["seed"] == 0 and committed["rule"]
    tr, te = committed["train"], committed["test"]
    assert len(tr) == n_train and len(te) == n_test and sorted(tr + te) == list(BIWI_SEQUENCES)
    if identity:
        assert not {BIWI_SUBJECTS[v] for v in tr} & {BIWI_SUBJECTS[v] for v in te}


def test_subject_map_has_20_people_4_twice():
    subjects = list(BIWI_SUBJECTS.values())
    assert len(subjects) == 24 and len(set(subjects)) == 20
    twice = sorted(s for s in set(subjects) if subjects.count(s) == 2)
    assert twice == ["F02", "F03", "F05", "M01"]


def test_splits_depend_on_seed_only():
    assert make_biwi_split(16, 0) == make_biwi_split(16, 0)
    assert make_biwi_split(16, 0)["train"] != make_biwi_split(16, 1)["train"]


def test_load_split_errors(tmp_path):
    assert load_split("biwi_16_8_seed0")["n_train"] == 16
    with pytest.raises(DatasetError, match="committed splits"):
        load_split("biwi_1_23_seed9")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(DatasetError, match="bad.json"):
        load_split(bad)


def test_protocol_table():
    assert PROTOCOLS["biwi_p1"].train == "300wlp" and PROTOCOLS["biwi_p1"].test == "biwi"
    assert PROTOCOLS["aflw2000"].angle_limit == 99
    for name, p in PROTOCOLS.items():
        if p.split:
            assert (SPLITS_DIR / f"{p.split}.json").is_file(), name


def test_committed_aflw_dev_split_matches_the_rule(realdata):
    from train.data.protocols import AFLW_DEV_SPLIT, make_image_split

    folder = realdata / "aflw2000-dev"
    committed = load_split(AFLW_DEV_SPLIT)
    stems = [p.stem for p in folder.glob("image*.jpg")]
    assert committed == make_image_split(stems, 500, 0, "aflw2000", AFLW_DEV_SPLIT, committed["source"])
    assert len(committed["train"]) == 500 and not set(committed["train"]) & set(committed["test"])


def test_aflw_split_selects_its_part_and_refuses_another_datasets_split(realdata):
    from train.data.protocols import AFLW_DEV_SPLIT, split_names
    from train.inputs import DataOptions, open_reader

    folder = realdata / "aflw2000-dev"
    test = open_reader("aflw2000", folder, DataOptions(angle_limit=None, aflw_split=AFLW_DEV_SPLIT), "test")
    assert sorted(test.names) == sorted(load_split(AFLW_DEV_SPLIT)["test"])
    with pytest.raises(DatasetError, match="biwi split"):
        split_names("biwi_16_8_seed0", "aflw2000", "train")
