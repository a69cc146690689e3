"""The synthetic -> real augmentation (train.data.photo_augment): labels move only where they must."""
from __future__ import annotations

import numpy as np
import pytest

from train.data.photo_augment import PhotoAugment, color_jitter, jpeg_roundtrip, random_erase
from train.data.sample import Sample
from synth.pose import rotation_from_euler


def _sample(seed: int = 0) -> Sample:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, size=(96, 80, 3), dtype=np.uint8)
    R = rotation_from_euler(10.0, 25.0, -5.0)
    lm = np.column_stack([np.linspace(20, 60, 68), np.linspace(30, 70, 68)])
    return Sample(image=img, rotation=R, euler=np.array([10.0, 25.0, -5.0]), bbox=np.array([20.0, 30.0, 60.0, 70.0]),
                  landmarks=lm, source="synth", path="x#0")


OFF = dict(box_scale=(1.0, 1.0), box_shift=0.0, border_p=0.0, flip_p=0.0, color_p=0.0, gray_p=0.0, blur_p=0.0,
           jpeg_p=0.0, erase_p=0.0)


@pytest.mark.parametrize("field", ["color_p", "gray_p", "blur_p", "jpeg_p", "erase_p"])
def test_appearance_changes_pixels_not_labels(field):
    s = _sample()
    out = PhotoAugment(**{**OFF, field: 1.0})(s, np.random.default_rng(3))
    assert not np.array_equal(out.image, s.image) and out.image.shape == s.image.shape
    np.testing.assert_array_equal(out.euler, s.euler)
    np.testing.assert_array_equal(out.rotation, s.rotation)
    np.testing.assert_array_equal(out.bbox, s.bbox)
    np.testing.assert_array_equal(out.landmarks, s.landmarks)


def test_flip_moves_the_labels():
    s = _sample()
    out = PhotoAugment(**{**OFF, "flip_p": 1.0})(s, np.random.default_rng(0))
    np.testing.assert_allclose(out.euler, [10.0, -25.0, 5.0], atol=1e-9)
    np.testing.assert_array_equal(out.image, s.image[:, ::-1])
    np.testing.assert_allclose(out.bbox, [80 - 60, 30, 80 - 20, 70])


def test_pre_crop_moves_the_box_and_keeps_pose_and_face():
    s = _sample()
    aug = PhotoAugment(**{**OFF, "box_scale": (0.8, 1.2), "box_shift": 0.1, "border_p": 1.0, "border_zero_p": 1.0})
    moved = [aug.pre_crop(s, np.random.default_rng(k)) for k in range(20)]
    assert len({tuple(np.round(m.bbox, 3)) for m in moved}) == 20
    for m in moved:
        np.testing.assert_array_equal(m.euler, s.euler)
        np.testing.assert_array_equal(m.landmarks, s.landmarks)
        w, h = s.bbox[2] - s.bbox[0], s.bbox[3] - s.bbox[1]
        assert 0.8 * w - 1e-9 <= m.bbox[2] - m.bbox[0] <= 1.2 * w + 1e-9 and abs((m.bbox[3] - m.bbox[1]) / h - (m.bbox[2] - m.bbox[0]) / w) < 1e-9
        x0, y0, x1, y1 = s.bbox.astype(int)
        np.testing.assert_array_equal(m.image[y0:y1, x0:x1], s.image[y0:y1, x0:x1])   # the face is never cut
    # some border was blacked out beside the face
    assert any((m.image == 0).all(axis=2).sum() > 50 for m in moved)


def test_same_rng_same_output_and_overrides_are_checked():
    aug = PhotoAugment()
    a = aug(aug.pre_crop(_sample(), np.random.default_rng(7)), np.random.default_rng(7))
    b = aug(aug.pre_crop(_sample(), np.random.default_rng(7)), np.random.default_rng(7))
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.euler, b.euler)
    with pytest.raises(ValueError, match="unknown photo augment field"):
        PhotoAugment.from_overrides({"colour_p": 0.5})
    with pytest.raises(ValueError, match="gray_p"):
        PhotoAugment.from_overrides({"gray_p": 2})
    with pytest.raises(ValueError, match="brightness"):
        PhotoAugment.from_overrides({"brightness": [1.4, 0.6]})


def test_the_helpers_do_what_they_say():
    img = np.full((32, 32, 3), 100, np.uint8)
    img[:, :16] = (200, 50, 50)
    assert color_jitter(img, 1.5, 1.0, 1.0, 0.0).mean() > img.mean() * 1.3
    grey = color_jitter(img, 1.0, 1.0, 0.0, 0.0)
    assert np.ptp(grey.astype(int), axis=2).max() <= 1
    assert np.abs(jpeg_roundtrip(img, 50).astype(int) - img).mean() < 10
    erased = random_erase(img, 0.25, 1.0, np.array([0.0, 0.0]), np.array([1, 2, 3]), False, np.random.default_rng(0))
    assert (erased == [1, 2, 3]).all(axis=2).sum() == 16 * 16
