"""Corruptions of test samples: labels move correctly, boxes land on faces, repeats are seeded."""
from __future__ import annotations

import numpy as np
import pytest

from synth.pose import euler_from_rotation, rotation_from_euler
from train.data.corruptions import (CorruptedDataset, corrupted_suite, corruption_rng, make_corruption)
from train.data.sample import Sample


def synthetic_sample(width: int = 160, height: int = 120, seed: int = 0) -> Sample:
    rng = np.random.default_rng(seed)
    image = rng.integers(1, 256, size=(height, width, 3), dtype=np.uint8)   # no zero pixels: fill is visible
    bbox = np.array([50.0, 40.0, 110.0, 100.0])
    landmarks = rng.uniform([55, 45], [105, 95], size=(68, 2))
    R = rotation_from_euler(10.0, -30.0, 5.0)
    K = np.array([[200.0, 0.0, width / 2], [0.0, 200.0, height / 2], [0.0, 0.0, 1.0]])
    depth = rng.integers(500, 1500, size=(height, width)).astype(np.uint16)
    return Sample(image=image, rotation=R, euler=euler_from_rotation(R), bbox=bbox, landmarks=landmarks,
                  depth=depth, translation=np.array([10.0, -5.0, 900.0]), K=K, source="test", path=f"mem#{seed}")


def reader(n: int = 3, width: int = 160) -> list:
    return [synthetic_sample(width=width, seed=i) for i in range(n)]


def assert_pose_unchanged(a: Sample, b: Sample) -> None:
    np.testing.assert_array_equal(a.rotation, b.rotation)
    np.testing.assert_array_equal(a.euler, b.euler)
    np.testing.assert_array_equal(a.translation, b.translation)


@pytest.mark.parametrize("box", ["follow", "stay"])
def test_translation_moves_image_and_labels_together(box):
    s = synthetic_sample()
    out = make_corruption("translation", 30, box=box, reference_width=160).apply(s, corruption_rng(0, 0, 0))
    dx, dy = out.meta["corruption"]["shift_px"]
    assert isinstance(dx, int) and isinstance(dy, int) and np.hypot(dx, dy) == pytest.approx(30, abs=1)
    H, W = s.height, s.width
    # every pixel moved by (dx, dy); vacated pixels are 0
    moved = out.image[max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)]
    np.testing.assert_array_equal(moved, s.image[max(-dy, 0):H - max(dy, 0), max(-dx, 0):W - max(dx, 0)])
    vacated = (out.image == 0).all(axis=2).sum()
    assert vacated == H * W - moved.shape[0] * moved.shape[1] > 0
    np.testing.assert_array_equal(out.landmarks, s.landmarks + [dx, dy])
    np.testing.assert_array_equal(out.K[:2, 2], s.K[:2, 2] + [dx, dy])
    np.testing.assert_array_equal(out.depth[max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)],
                                  s.depth[max(-dy, 0):H - max(dy, 0), max(-dx, 0):W - max(dx, 0)])
    assert_pose_unchanged(s, out)
    moved_box = s.bbox + [dx, dy, dx, dy]
    if box == "follow":
        np.testing.assert_array_equal(out.bbox, moved_box)
    else:
        np.testing.assert_array_equal(out.bbox, s.bbox)
        np.testing.assert_array_equal(out.meta["face_bbox"], moved_box)
    # a landmark's pixel colour travels with it
    x, y = np.floor(s.landmarks[0]).astype(int)
    assert (out.image[y + dy, x + dx] == s.image[y, x]).all()


def test_translation_with_the_box_following_gives_the_same_face_crop():
    from train.data.crops import get_preset

    s = synthetic_sample()
    out = make_corruption("translation", 12, reference_width=160).apply(s, corruption_rng(0, 0, 0))
    a, b = get_preset("ehpnet")(s), get_preset("ehpnet")(out)
    np.testing.assert_array_equal(a.image, b.image)       # the face box moved with the face
    np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-9)


def test_occlusion_boxes_land_on_the_face_box_and_scale_with_the_frame():
    for width, ref in ((160, 160.0), (320, 160.0)):
        s = synthetic_sample(width=width, height=120)
        for i in range(20):
            out = make_corruption("occlusion", "black-20x40", reference_width=ref).apply(s, corruption_rng(1, 0, i))
            x, y, w, h = out.meta["corruption"]["box_px"]
            assert (w, h) == pytest.approx((20 * width / ref, 40 * width / ref))
            cx, cy = x + w / 2, y + h / 2
            assert s.bbox[0] <= cx <= s.bbox[2] and s.bbox[1] <= cy <= s.bbox[3]
            x0, y0 = max(0, round(x)), max(0, round(y))
            x1, y1 = min(width, round(x + w)), min(120, round(y + h))
            assert (out.image[y0:y1, x0:x1] == 0).all()
            outside = np.ones(out.image.shape[:2], bool)
            outside[y0:y1, x0:x1] = False
            np.testing.assert_array_equal(out.image[outside], s.image[outside])
            np.testing.assert_array_equal(out.bbox, s.bbox)
            np.testing.assert_array_equal(out.landmarks, s.landmarks)
            assert_pose_unchanged(s, out)


@pytest.mark.parametrize("texture", ["noise", "stripes"])
def test_textured_occluders_paint_a_texture(texture):
    s = synthetic_sample()
    out = make_corruption("occlusion", f"{texture}-30x30", reference_width=160).apply(s, corruption_rng(0, 0, 0))
    x, y, w, h = out.meta["corruption"]["box_px"]
    patch = out.image[max(0, round(y)):round(y + h), max(0, round(x)):round(x + w)].reshape(-1, 3)
    assert len(np.unique(patch, axis=0)) >= 2 and not (patch == 0).all()
    assert out.meta["corruption"]["texture"] == texture


def test_image_occluders_take_patches_from_a_folder(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((8, 8, 3), (10, 200, 30), np.uint8)).save(tmp_path / "tiny.png")
    s = synthetic_sample()
    out = make_corruption("occlusion", "image-20x20", reference_width=160,
                          image_folder=str(tmp_path)).apply(s, corruption_rng(0, 0, 0))
    x, y, w, h = out.meta["corruption"]["box_px"]
    patch = out.image[max(0, round(y)):round(y + h), max(0, round(x)):round(x + w)]
    assert (patch == (10, 200, 30)).all()          # the small picture, scaled up to the box
    with pytest.raises(ValueError, match="image_folder"):
        make_corruption("occlusion", "image-20x20")


def test_repeats_differ_yet_are_reproducible_and_levels_are_paired():
    data = reader(4)
    levels = ["none", "black-20x20", "black-20x40"]
    suite = corrupted_suite(data, "occlusion", levels, repeats=5, seed=3, reference_width=160)
    assert suite.repeats == 5 and len(suite.datasets) == 3 and all(len(d) == 5 for d in suite.datasets)
    boxes = [suite.level(1)[r][2].meta["corruption"]["box_px"] for r in range(5)]
    assert len({tuple(np.round(b, 6)) for b in boxes}) == 5                       # repeats differ
    again = corrupted_suite(data, "occlusion", levels, repeats=5, seed=3, reference_width=160)
    for r in range(5):
        np.testing.assert_array_equal(suite.level(2)[r][1].image, again.level(2)[r][1].image)
    other = corrupted_suite(data, "occlusion", levels, repeats=1, seed=4, reference_width=160)
    assert not np.array_equal(other.level(1)[0][0].image, suite.level(1)[0][0].image)
    for r in range(5):                                                            # same centre at both sizes
        x1, y1, w1, h1 = suite.level(1)[r][0].meta["corruption"]["box_px"]
        x2, y2, w2, h2 = suite.level(2)[r][0].meta["corruption"]["box_px"]
        assert (x1 + w1 / 2, y1 + h1 / 2) == pytest.approx((x2 + w2 / 2, y2 + h2 / 2))
    np.testing.assert_array_equal(suite.level(0)[0][1].image, data[1].image)      # "none" is the original
    rec = suite.level(1)[2][3].meta["corruption"]
    assert (rec["seed"], rec["repeat"], rec["level"]) == (3, 2, "black-20x20")


@pytest.mark.parametrize("factor,levels,options", [("gaussian_blur", [0, 1, 3], {"reference_width": 160}),
                                                   ("motion_blur", [0, 5, 15], {"reference_width": 160}),
                                                   ("noise", [0, 4, 16], {}), ("jpeg", [90, 30, 5], {}),
                                                   ("downsample", [1, 2, 4], {})])
def test_pixel_corruptions_change_pixels_only(factor, levels, options):
    data = reader(2)
    suite = corrupted_suite(data, factor, levels, repeats=3, seed=0, **options)
    random = factor in ("motion_blur", "noise")
    assert suite.repeats == (3 if random else 1)
    diffs = []
    for j in range(len(levels)):
        out = suite.level(j)[0][0]
        assert_pose_unchanged(data[0], out)
        np.testing.assert_array_equal(out.bbox, data[0].bbox)
        np.testing.assert_array_equal(out.landmarks, data[0].landmarks)
        np.testing.assert_array_equal(out.K, data[0].K)
        diffs.append(np.abs(out.image.astype(int) - data[0].image.astype(int)).mean())
    if factor != "jpeg":
        assert diffs[0] == 0                       # the mildest level is the original (JPEG 90 is not)
    assert diffs[-1] > diffs[1] > 0               # stronger levels change more
    if random:
        a, b = suite.level(2)[0][0].image, suite.level(2)[1][0].image
        assert not np.array_equal(a, b)


def test_bad_corruptions_name_the_fix():
    with pytest.raises(ValueError, match="light_azimuth.*re-rendering|unknown corruption factor"):
        make_corruption("light_azimuth", 10)
    with pytest.raises(ValueError, match="TEXTURE-WxH"):
        make_corruption("occlusion", "black-60")
    with pytest.raises(ValueError, match="give a number"):
        make_corruption("noise", "loud")
    with pytest.raises(ValueError, match="'follow' or 'stay'"):
        make_corruption("translation", 10, box="drift")
    with pytest.raises(ValueError, match="1..100"):
        make_corruption("jpeg", 0)
    with pytest.raises(ValueError, match="bad option"):
        make_corruption("noise", 3, reference_width=640)
    with pytest.raises(ValueError, match="repeats"):
        corrupted_suite(reader(1), "noise", [1], repeats=0)


def test_real_biwi_and_aflw_frames(realdata):
    from train.data.aflw import AFLW2000Reader
    from train.data.biwi import BIWIReader

    biwi = BIWIReader(realdata / "biwi-sample")
    s = biwi[0]
    suite = corrupted_suite(biwi, "translation", [0, 40], repeats=5, seed=0)
    shifts = set()
    for r in range(5):
        out = suite.level(1)[r][0]
        dx, dy = out.meta["corruption"]["shift_px"]
        shifts.add((dx, dy))
        np.testing.assert_array_equal(out.bbox, s.bbox + [dx, dy, dx, dy])
        np.testing.assert_array_equal(out.K[:2, 2], s.K[:2, 2] + [dx, dy])
        assert_pose_unchanged(s, out)
        if s.depth is not None:                    # BIWI depth has its own frame: left as it is
            np.testing.assert_array_equal(out.depth, s.depth)
            np.testing.assert_array_equal(out.depth_bbox, s.depth_bbox)
    assert len(shifts) == 5
    occ = corrupted_suite(biwi, "occlusion", ["black-60x60", "black-60x120"], repeats=5, seed=0)
    for r in range(5):
        x, y, w, h = occ.level(1)[r][0].meta["corruption"]["box_px"]
        assert (w, h) == (60.0, 120.0)             # BIWI frames are 640 wide: the papers' sizes as they are
        assert s.bbox[0] <= x + w / 2 <= s.bbox[2] and s.bbox[1] <= y + h / 2 <= s.bbox[3]

    aflw = AFLW2000Reader(realdata / "aflw2000-dev")
    sub = [aflw[i] for i in range(3)]
    moved = CorruptedDataset(sub, make_corruption("translation", 25), seed=1)
    for i, a in enumerate(sub):
        out = moved[i]
        dx, dy = out.meta["corruption"]["shift_px"]
        assert np.hypot(dx, dy) == pytest.approx(25 * a.width / 640, abs=1)
        np.testing.assert_array_equal(out.landmarks, a.landmarks + [dx, dy])
        np.testing.assert_array_equal(out.euler, a.euler)
