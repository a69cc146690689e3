"""Paired transforms and crop presets: labels move with the pixels; the flip test for every reader."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixtures_real as fx  # noqa: E402

from synth.pose import (biwi_from_rotation, euler_from_biwi, euler_from_rotation, panoptic_from_rotation,  # noqa: E402
                        pose_para_from_rotation, rotation_from_euler)
from train.data.aflw import AFLW2000Reader, Pose300WLPReader  # noqa: E402
from train.data.biwi import BIWIReader  # noqa: E402
from train.data.crops import PRESETS, crop_resize, get_preset, hopenet_box  # noqa: E402
from train.data.panoptic import PanopticReader  # noqa: E402
from train.data.pointing04 import Pointing04Reader  # noqa: E402
from train.data.sample import FLIP_68, Sample  # noqa: E402
from train.data.synth_shards import SynthShardReader  # noqa: E402
from train.data.transforms import (RandomAugment, ToTensor, add_noise, blur, downsample_upsample, hflip,  # noqa: E402
                                   jitter_box, rotate_inplane)

from conftest import REALDATA  # noqa: E402 - one place says where ../shared/realdata is


@pytest.fixture(scope="module")
def readers(tmp_path_factory):
    """One reader per dataset on fixtures (and on the real samples where present)."""
    tmp = tmp_path_factory.mktemp("fx")
    fx.make_mat_dataset(tmp / "A", "aflw2000")
    fx.make_mat_dataset(tmp / "L", "300wlp")
    fx.make_biwi(tmp / "B", frames=(3,))
    fx.make_pointing04(tmp / "P")
    fx.make_panoptic(tmp / "N")
    (tmp / "S").mkdir()
    fx.make_shard_h5(tmp / "S" / "s0.h5", n=2)
    out = {
        "aflw2000": AFLW2000Reader(tmp / "A"), "300wlp": Pose300WLPReader(tmp / "L"), "biwi": BIWIReader(tmp / "B"),
        "pointing04": Pointing04Reader(tmp / "P"), "panoptic": PanopticReader(tmp / "N", "annotations.txt"),
    }
    mp = pytest.MonkeyPatch()
    fx.install_fake_shards(mp)
    out["synth"] = SynthShardReader(tmp / "S")
    if REALDATA.is_dir():
        out["real_aflw2000"] = AFLW2000Reader(REALDATA / "aflw2000-dev", names=["image00002", "image00006"])
        out["real_300wlp"] = Pose300WLPReader(REALDATA / "300wlp-sample")
        out["real_biwi"] = BIWIReader(REALDATA / "biwi-sample")
        out["real_panoptic"] = PanopticReader(REALDATA / "panoptic-sample")
    yield out
    mp.undo()


def _back_to_dataset_convention(kind: str, R: np.ndarray) -> np.ndarray:
    """Convert a canonical rotation back to the dataset's own label numbers."""
    if kind.endswith(("aflw2000", "300wlp")):
        return np.rad2deg(pose_para_from_rotation(R))  # Pose_Para pitch, yaw, roll
    if kind.endswith("biwi"):
        return euler_from_biwi(biwi_from_rotation(R))
    if kind.endswith("panoptic"):
        return panoptic_from_rotation(R)  # yaw, pitch, roll (opal23)
    return euler_from_rotation(R)


def test_flip_every_reader(readers):
    for kind, reader in readers.items():
        s = reader[0]
        f = hflip(s)
        p, y, r = s.euler
        np.testing.assert_allclose(f.euler, [p, -y, -r], err_msg=kind)
        # the mirrored rotation converts back to the mirrored label in the dataset's own convention
        back, back_orig = _back_to_dataset_convention(kind, f.rotation), _back_to_dataset_convention(kind, s.rotation)
        if kind.endswith("panoptic"):
            np.testing.assert_allclose(back, [-back_orig[0], back_orig[1], -back_orig[2]], atol=1e-6, err_msg=kind)
        else:
            np.testing.assert_allclose(back, [back_orig[0], -back_orig[1], -back_orig[2]], atol=1e-6, err_msg=kind)
        np.testing.assert_allclose(euler_from_rotation(f.rotation), f.euler, atol=1e-4, err_msg=kind)
        W = s.width
        np.testing.assert_array_equal(f.image[:, 0], s.image[:, W - 1])
        np.testing.assert_allclose(f.bbox, [W - s.bbox[2], s.bbox[1], W - s.bbox[0], s.bbox[3]])
        if s.landmarks is not None:
            np.testing.assert_allclose(f.landmarks[45], [W - s.landmarks[36, 0], s.landmarks[36, 1]])
            np.testing.assert_allclose(f.landmarks[30], [W - s.landmarks[30, 0], s.landmarks[30, 1]])
        ff = hflip(f)  # an involution
        np.testing.assert_array_equal(ff.image, s.image)
        np.testing.assert_allclose(ff.rotation, s.rotation, atol=1e-12)
        np.testing.assert_allclose(ff.bbox, s.bbox)
        if s.depth is not None:
            np.testing.assert_array_equal(ff.depth, s.depth)


def test_flip_permutation_on_near_frontal_real_face():
    if not REALDATA.is_dir():
        pytest.skip(f"real samples not found at {REALDATA}")
    s = AFLW2000Reader(REALDATA / "aflw2000-dev", names=["image00002"])[0]  # yaw 1 deg, roll 4.9 deg
    f = hflip(s)

    def residual(lm):  # undo the mirrored roll (2 x roll about the centroid) and compare shapes
        th = np.deg2rad(2 * s.euler[2])
        M = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
        return np.abs((lm - lm.mean(0)) @ M.T - (s.landmarks - s.landmarks.mean(0))).max()

    assert residual(f.landmarks) < 15  # measured 11.7 px on a 450 px image (face not exactly symmetric)
    assert residual(f.landmarks[FLIP_68]) > 100  # without the permutation: 225 px


def test_flip_rotation_formula():
    R = rotation_from_euler(12.0, -33.0, 21.0)
    S = np.diag([-1.0, 1, 1])
    np.testing.assert_allclose(euler_from_rotation(S @ R @ S), [12.0, 33.0, -21.0], atol=1e-9)


def test_rotate_inplane_composes_with_roll(readers):
    s = readers["aflw2000"][0]
    frontal = s.replace(rotation=rotation_from_euler(0, 0, 5.0), euler=np.array([0, 0, 5.0]))
    r = rotate_inplane(frontal, 10.0)
    np.testing.assert_allclose(r.euler, [0, 0, 15.0], atol=1e-9)
    c = (s.bbox[:2] + s.bbox[2:]) / 2
    np.testing.assert_allclose((r.bbox[:2] + r.bbox[2:]) / 2, c)
    # a point right of the centre moves down (clockwise on screen) by the rotation
    v = r.landmarks[16] - c
    v0 = s.landmarks[16] - c
    assert v0[0] * v[1] - v0[1] * v[0] > 0
    back = rotate_inplane(r, -10.0)
    np.testing.assert_allclose(back.landmarks, s.landmarks, atol=1e-9)
    np.testing.assert_allclose(back.rotation, frontal.rotation, atol=1e-12)


def test_rotate_moves_pixels_with_landmarks():
    img = np.zeros((101, 101, 3), np.uint8)
    img[50, 80] = 255  # a dot right of the centre
    s = Sample(image=img, rotation=np.eye(3), euler=np.zeros(3), bbox=[0.5, 0.5, 100.5, 100.5], source="t", path="t",
               landmarks=np.tile([[80.5, 50.5]], (68, 1)))
    r = rotate_inplane(s, 90.0)
    y, x = np.unravel_index(r.image[..., 0].argmax(), r.image.shape[:2])
    np.testing.assert_allclose(r.landmarks[0], [x + 0.5, y + 0.5], atol=1.0)
    assert y > 70  # clockwise: right -> down


def test_flip_and_rotate_move_the_c2f_normalised_depth(readers):
    """The c2f preset stores the network's depth in ``meta["depth01"]`` (ToTensor reads it, not ``depth``), and
    training augments after cropping: a flip or turn must move it with the image and labels."""
    from synth.depth import normalise_depth01

    o = get_preset("c2f")(readers["biwi"][0])
    d = o.meta["depth01"]
    assert (d > 0).any() and not np.array_equal(d, d[:, ::-1])
    f = hflip(o)
    np.testing.assert_array_equal(f.meta["depth01"], d[:, ::-1])
    np.testing.assert_array_equal(f.meta["depth01"], normalise_depth01(f.depth))
    np.testing.assert_array_equal(ToTensor(gray=True, depth=True)(f)["depth"][0].numpy(), d[:, ::-1])
    r = rotate_inplane(o, 10.0)
    assert r.meta["depth01"].shape == d.shape and not np.array_equal(r.meta["depth01"], d)
    np.testing.assert_array_equal(r.meta["depth01"] > 0, r.depth > 0)   # turned with the depth, about the same centre


def test_jitter_blur_noise_downsample(readers):
    s = readers["aflw2000"][0]
    rng = np.random.default_rng(0)
    j = jitter_box(s, rng, scale=(1.5, 1.5), shift=0.0)
    w0, w1 = s.bbox[2] - s.bbox[0], j.bbox[2] - j.bbox[0]
    assert w1 == pytest.approx(1.5 * w0) and j.image is s.image
    for t in (blur(s, 2.0), add_noise(s, rng, 10.0), downsample_upsample(s, 6)):
        assert t.image.shape == s.image.shape and t.image.dtype == np.uint8 and not np.array_equal(t.image, s.image)
        np.testing.assert_array_equal(t.rotation, s.rotation)
    a, b = RandomAugment(rotate_deg=10, noise_p=1.0), np.random.default_rng
    np.testing.assert_array_equal(a(s, b(3)).image, a(s, b(3)).image)


def test_crop_presets_sizes_and_labels(readers):
    rng = np.random.default_rng(0)
    for kind, reader in readers.items():
        s = reader[0]
        for name, preset in PRESETS.items():
            o = preset(s, rng)
            if preset.size is not None:
                assert o.image.shape == (preset.size[1], preset.size[0], 3), (kind, name)
            np.testing.assert_array_equal(o.rotation, s.rotation)
            if preset.gray:
                assert (o.image[..., 0] == o.image[..., 1]).all()
    # c2f depth normalised to [0, 1] for depth sources
    o = get_preset("c2f")(readers["biwi"][0])
    d = o.meta["depth01"]
    assert d.shape == (256, 256) and d.min() >= 0 and d.max() <= 1 and (d > 0).any()
    # the same mapping synthetic depth gets: nearest point 1, 300 mm window, holes 0
    from synth.depth import normalise_depth01

    np.testing.assert_array_equal(d, normalise_depth01(o.depth))
    assert d.max() == 1.0 and (d[o.depth == 0] == 0).all()
    with pytest.raises(ValueError, match="known"):
        get_preset("nope")


def test_crop_maps_landmarks_to_pixels():
    img = np.zeros((100, 200, 3), np.uint8)
    img[40, 120] = 255
    s = Sample(image=img, rotation=np.eye(3), euler=np.zeros(3), bbox=[100, 20, 160, 80], source="t", path="t",
               landmarks=np.tile([[120.5, 40.5]], (68, 1)), K=np.array([[500, 0, 100], [0, 500, 50], [0, 0, 1.0]]))
    o = crop_resize(s, np.array([100, 20, 160, 80]), (120, 120))
    y, x = np.unravel_index(o.image[..., 0].argmax(), o.image.shape[:2])
    np.testing.assert_allclose(o.landmarks[0], [x + 1.0, y + 1.0], atol=1.5)
    np.testing.assert_allclose(o.K @ [0.0, 0.0, 1.0], [(100 - 100) * 2, (50 - 20) * 2, 1])
    np.testing.assert_allclose(o.bbox, [0, 0, 120, 120])


def test_hopenet_box_values():
    # test: k = 0.2, x +- 2k w (x1 measured after x0 moved), y0 -= 2k h, y1 += 0.6k h'
    np.testing.assert_allclose(hopenet_box(np.array([0, 0, 100, 100.0]), 0.2, train=False), [-40, -40, 156, 116.8])
    np.testing.assert_allclose(hopenet_box(np.array([0, 0, 100, 100.0]), 0.2, train=True), [-12, -40, 113.44, 116.8])


def test_to_tensor(readers):
    t = ToTensor(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), depth=True)
    out = t(get_preset("ehpnet")(readers["biwi"][0]))
    assert out["image"].shape == (3, 112, 112) and out["image"].dtype == torch.float32
    assert -1.0 <= float(out["image"].min()) and float(out["image"].max()) <= 1.0
    assert out["has_depth"] and out["depth"].shape == (1, 112, 112) and not out["has_landmarks"]
    g = ToTensor(gray=True)(get_preset("c2f")(readers["aflw2000"][0]))
    assert g["image"].shape == (1, 256, 256) and g["has_landmarks"]
