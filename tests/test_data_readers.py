"""Dataset readers: facts of ../shared/realdata/README.md on the real samples, and self-made fixtures."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixtures_real as fx  # noqa: E402

from synth.pose import euler_from_rotation, is_rotation  # noqa: E402
from train.data.aflw import AFLW2000Reader, Pose300WLPReader, read_pose_mat  # noqa: E402
from train.data.biwi import BIWIReader, read_calibration, read_depth, read_pose  # noqa: E402
from train.data.errors import DatasetError  # noqa: E402
from train.data.panoptic import PanopticReader  # noqa: E402
from train.data.pointing04 import Pointing04Reader, parse_name  # noqa: E402
from train.data.protocols import filtered_indices  # noqa: E402
from train.data.synth_shards import SynthShardReader  # noqa: E402

from conftest import REALDATA  # noqa: E402 - one place says where ../shared/realdata is
needs_real = pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real samples not found at {REALDATA} (set HEADPOSE_REALDATA)")


# --- real samples -----------------------------------------------------------------------------

@needs_real
def test_aflw2000_image00002_angles():
    r = AFLW2000Reader(REALDATA / "aflw2000-dev")
    s = r[r.names.index("image00002")]
    np.testing.assert_allclose(s.euler, [-22.8742, 1.0443, 4.9089], atol=1e-4)
    np.testing.assert_allclose(euler_from_rotation(s.rotation), s.euler, atol=1e-6)
    assert s.image.shape == (450, 450, 3) and s.landmarks.shape == (68, 2)
    x0, y0, x1, y1 = s.bbox
    assert 0 <= x0 < x1 <= 450 and 0 <= y0 < y1 <= 450


@needs_real
def test_aflw2000_image00004_if_present():
    if not (REALDATA / "aflw2000-dev" / "image00004.mat").exists():
        pytest.skip("image00004 is in the held-out half (only every other AFLW2000 file is in aflw2000-dev)")
    lab = read_pose_mat(REALDATA / "aflw2000-dev" / "image00004.mat")
    np.testing.assert_allclose(lab["euler"], [26.9327, 68.1552, 17.2437], atol=1e-4)


@needs_real
def test_aflw2000_filter_on_dev_half():
    r = AFLW2000Reader(REALDATA / "aflw2000-dev")
    keep = filtered_indices(r)
    # 1969 of the full 2000 pass; the 1000-image dev half keeps 979 (measured).
    assert len(r) == 1000 and len(keep) == 979
    extremes = [np.abs(r.label(i)["euler"]).max() for i in range(len(r)) if i not in set(keep)]
    assert min(extremes) > 99


@needs_real
def test_300wlp_sample():
    s = Pose300WLPReader(REALDATA / "300wlp-sample")[0]
    assert s.landmarks.shape == (68, 2) and s.source == "300wlp"
    np.testing.assert_allclose(euler_from_rotation(s.rotation), s.euler, atol=1e-6)


@needs_real
def test_biwi_sample_frame():
    r = BIWIReader(REALDATA / "biwi-sample")
    s = r[0]
    pitch, yaw, roll = s.euler
    assert (round(yaw, 3), round(pitch, 3), round(roll, 3)) == (3.291, 7.607, -1.567)
    np.testing.assert_allclose(s.meta["center_depth"], [51.9358, 38.2631, 881.756])
    valid = s.depth[s.depth > 0]
    assert s.depth.shape == (480, 640) and valid.size == 56336 and valid.min() == 782 and valid.max() == 997
    # the projected face box lies inside opal23's published (looser) box of this frame
    x0, y0, x1, y1 = s.bbox
    assert 270 <= x0 < x1 <= 414 and 177 <= y0 < y1 <= 355
    img2pose = (REALDATA / "labels" / "img2pose_BIWI_annotations.txt").read_text().splitlines()[0].split()
    np.testing.assert_allclose(s.euler, [float(v) for v in img2pose[1:4]], atol=1e-4)


@needs_real
def test_panoptic_full_range_yaw():
    r = PanopticReader(REALDATA / "panoptic-sample")
    assert len(r) == 4
    yaws = []
    for i in range(len(r)):
        s = r[i]
        assert s.image.shape == (1080, 1920, 3) and is_rotation(s.rotation)
        assert abs(s.euler[0]) <= 90 and abs(s.euler[2]) <= 90
        yaws.append(s.euler[1])
        np.testing.assert_allclose(s.euler[1], -r.rows[i]["yaw"], atol=1e-6)  # opal23 yaw is the negative of ours
    assert max(np.abs(yaws)) > 170  # full range, not folded into +-90


# --- fixtures in the real formats -------------------------------------------------------------

def test_fixture_mat_readers(tmp_path):
    fx.make_mat_dataset(tmp_path / "AFLW2000", "aflw2000")
    fx.make_mat_dataset(tmp_path / "300W_LP", "300wlp")
    for reader, src in ((AFLW2000Reader(tmp_path / "AFLW2000"), "aflw2000"), (Pose300WLPReader(tmp_path / "300W_LP"), "300wlp")):
        assert len(reader) == 2
        s = reader[0]
        np.testing.assert_allclose(s.euler, [-22.87, 1.04, 4.91], atol=1e-4)
        np.testing.assert_allclose(euler_from_rotation(s.rotation), s.euler, atol=1e-4)
        assert s.source == src and s.landmarks.shape == (68, 2) and s.image.shape == (96, 96, 3)


def test_fixture_biwi_and_depth_roundtrip(tmp_path):
    hpdb = fx.make_biwi(tmp_path / "BIWI", sequences=("01", "02"))
    r = BIWIReader(tmp_path / "BIWI")  # parent of hpdb accepted
    assert len(r) == 4 and r.sequences == ["01", "02"]
    s = r[0]
    np.testing.assert_allclose(s.euler, [7.607, 3.291, -1.567], atol=1e-3)
    np.testing.assert_array_equal(s.depth, fx.biwi_fixture_depth())
    assert s.meta["subject"] == "F01" and s.K[0, 0] == pytest.approx(517.679)
    cal = read_calibration(hpdb / "01" / "rgb.cal")
    assert cal.size == (640, 480) and cal.T[0] == pytest.approx(-24.0198)
    assert BIWIReader(hpdb, sequences=["02"]).frames == [("02", "00003"), ("02", "00004")]


def test_fixture_pointing04(tmp_path):
    fx.make_pointing04(tmp_path / "P04")
    assert parse_name("personne01146+15-30.jpg") == {"person": 1, "series": 1, "number": 46, "tilt": 15, "pan": -30}
    r = Pointing04Reader(tmp_path / "P04")
    by_name = {Path(r[i].path).name: r[i] for i in range(len(r))}
    s = by_name["personne01146+15-30.jpg"]
    np.testing.assert_allclose(s.euler, [15, 30, 0])  # pitch = tilt, yaw = -pan
    np.testing.assert_allclose(euler_from_rotation(s.rotation), s.euler, atol=1e-9)
    np.testing.assert_allclose(s.bbox, [150, 90, 230, 190])
    np.testing.assert_allclose(by_name["personne01100-90+0.jpg"].euler, [-90, 0, 0])


def test_fixture_panoptic(tmp_path):
    ann = fx.make_panoptic(tmp_path / "pan")
    r = PanopticReader(tmp_path / "pan", ann.name)
    s = r[1]
    assert s.euler[1] == pytest.approx(174.77, abs=1e-6)
    np.testing.assert_allclose(s.bbox, [10, 8, 40, 36])


def test_synth_shard_adapter(tmp_path, monkeypatch):
    fx.install_fake_shards(monkeypatch)
    run = tmp_path / "run"
    run.mkdir()
    fx.make_shard_h5(run / "shard-00000.h5", n=3, seed=0)
    fx.make_shard_h5(run / "shard-00001.h5", n=2, seed=1)
    one = SynthShardReader(run / "shard-00000.h5")
    both = SynthShardReader(run)
    assert len(one) == 3 and len(both) == 5
    s = both[4]
    assert s.source == "synth" and s.image.shape == (64, 64, 3) and s.depth.dtype == np.uint16
    np.testing.assert_allclose(euler_from_rotation(s.rotation), s.euler, atol=1e-3)
    assert s.landmarks.shape == (68, 2) and s.K.shape == (3, 3)


# --- clear errors naming the file -------------------------------------------------------------

def test_wrong_root_folder(tmp_path):
    for cls in (AFLW2000Reader, Pose300WLPReader, BIWIReader, Pointing04Reader, PanopticReader):
        with pytest.raises(DatasetError, match="nowhere"):
            cls(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="wrong root"):
        AFLW2000Reader(tmp_path / "empty")
    with pytest.raises(DatasetError, match="wrong root"):
        BIWIReader(tmp_path / "empty")


def test_missing_mat_names_the_file(tmp_path):
    mats = fx.make_mat_dataset(tmp_path / "A", "aflw2000")
    mats[1].unlink()
    with pytest.raises(DatasetError, match=r"image00004\.mat"):
        AFLW2000Reader(tmp_path / "A")
    with pytest.raises(DatasetError, match="nope.mat"):
        read_pose_mat(tmp_path / "nope.mat")


def test_truncated_depth_names_the_file(tmp_path):
    hpdb = fx.make_biwi(tmp_path / "B", frames=(3,))
    f = hpdb / "01" / "frame_00003_depth.bin"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(DatasetError, match=r"frame_00003_depth\.bin.*truncated"):
        read_depth(f)
    with pytest.raises(DatasetError, match="frame_00003_depth.bin"):
        BIWIReader(hpdb)[0]
    f.write_bytes(b"\x01\x00")
    with pytest.raises(DatasetError, match="truncated"):
        read_depth(f)


def test_bad_pose_and_cal_name_the_file(tmp_path):
    hpdb = fx.make_biwi(tmp_path / "B", frames=(3,))
    (hpdb / "01" / "frame_00003_pose.txt").write_text("1 0 0\n0 1 0\n")
    with pytest.raises(DatasetError, match="frame_00003_pose.txt"):
        read_pose(hpdb / "01" / "frame_00003_pose.txt")
    (hpdb / "01" / "rgb.cal").unlink()
    with pytest.raises(DatasetError, match="rgb.cal"):
        read_calibration(hpdb / "01" / "rgb.cal")


def test_shard_missing_path(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        SynthShardReader(tmp_path / "missing-run")
