"""Scene and light statistics of images (synth.photo_stats): each figure reads what it says."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from synth.photo_stats import FACE_PX, PhotoStats, content_box, photo_stats, summarize


def face_landmarks(x0: float, y0: float, size: float) -> np.ndarray:
    """(68, 2) points spread over a size x size face box at (x0, y0)."""
    t = np.linspace(0.0, 1.0, 68)
    return np.stack([x0 + size * t, y0 + size * (0.5 + 0.5 * np.sin(7.0 * t))], 1)


def scene(surround, face=(150, 120, 100), size=200, box=(70, 60, 60)) -> tuple[np.ndarray, np.ndarray]:
    img = np.empty((size, size, 3), np.uint8)
    img[:] = surround
    x0, y0, s = box
    img[y0:y0 + s, x0:x0 + s] = face
    return img, face_landmarks(x0, y0, s)


def test_plain_white_backdrop_is_bright_grey_and_flat():
    st = photo_stats(*scene((250, 250, 250)))
    assert st.surround_luma == pytest.approx(250, abs=1)
    assert st.surround_saturation == pytest.approx(0.0, abs=0.01) and st.surround_colourfulness < 1.0
    assert st.surround_edges < 0.5 and st.grayscale == 0.0      # the face is coloured
    assert st.face_luma == pytest.approx(0.299 * 150 + 0.587 * 120 + 0.114 * 100, abs=1)
    assert st.face_contrast < 0.05 and st.face_asymmetry < 0.01 and st.face_edges < 0.5


def test_face_edges_read_the_face_detail_not_its_outline():
    rng = np.random.default_rng(1)
    img, lm = scene((128, 128, 128))
    detailed = img.copy()
    detailed[60:120, 70:130] = np.clip(detailed[60:120, 70:130] + rng.normal(0, 12, (60, 60, 1)), 0, 255)
    soft = detailed.copy()
    soft[60:120, 70:130] = cv2.GaussianBlur(detailed, (0, 0), 1.5)[60:120, 70:130]
    flat, rough, smooth = (photo_stats(x, lm).face_edges for x in (img, detailed, soft))
    assert flat < 0.5 < smooth < rough and rough > 10     # the face box's own edge is outside the region


def test_colourful_busy_surround_and_grayscale_images():
    rng = np.random.default_rng(0)
    img, lm = scene((0, 0, 0))
    noise = rng.integers(0, 256, img.shape, dtype=np.uint8)
    keep = np.zeros(img.shape[:2], bool)
    keep[60:120, 70:130] = True
    img = np.where(keep[..., None], img, noise)
    st = photo_stats(img, lm)
    assert st.surround_saturation > 0.3 and st.surround_colourfulness > 50 and st.surround_edges > 50
    gray = np.repeat(img.mean(2, keepdims=True).astype(np.uint8), 3, 2)
    assert photo_stats(gray, lm).grayscale == 1.0 and st.grayscale == 0.0


def test_black_padding_is_not_scene():
    img, lm = scene((128, 128, 128), size=240)
    padded = img.copy()
    padded[:50] = 3          # a crop that ran off its photo: black rows at the top
    padded[:, -30:] = 0
    assert content_box(padded) == (0, 50, 210, 240)
    st, ref = photo_stats(padded, lm), photo_stats(img, lm)
    assert st.surround_luma == pytest.approx(128, abs=1) == ref.surround_luma
    assert st.surround_edges < 0.5      # the padding's edge is outside the measured surround


def test_side_light_and_scale_do_not_depend_on_resolution():
    img, lm = scene((90, 90, 90))
    img[60:120, 70:100] = (200, 170, 150)  # the face's left half lit
    st = photo_stats(img, lm)
    lit, unlit = 0.299 * 200 + 0.587 * 170 + 0.114 * 150, 0.299 * 150 + 0.587 * 120 + 0.114 * 100
    assert st.face_asymmetry == pytest.approx((lit - unlit) / ((lit + unlit) / 2), abs=0.02)
    assert st.face_contrast > 0.25
    big = np.repeat(np.repeat(img, 3, 0), 3, 1)
    st3 = photo_stats(big, lm * 3 + 1.0)
    for k in ("surround_luma", "face_luma", "face_asymmetry"):
        assert getattr(st3, k) == pytest.approx(getattr(st, k), rel=0.05, abs=1.0), k
    assert FACE_PX > 0


def test_summary_shares_and_tight_frames():
    dark, bright = photo_stats(*scene((20, 20, 20))), photo_stats(*scene((230, 230, 230)))
    tight = photo_stats(*scene((230, 230, 230), size=70, box=(5, 5, 60)))   # no surround left
    assert np.isnan(tight.surround_luma) and np.isfinite(tight.face_luma)
    out = summarize([dark, bright, bright, tight])
    assert out["dark_surround_share"] == pytest.approx(1 / 3) and out["bright_surround_share"] == pytest.approx(2 / 3)
    assert out["images"] == 4 and out["grayscale_share"] == 0.0
    assert out["surround_luma_p10"] < out["surround_luma_median"] <= out["surround_luma_p90"]
    assert isinstance(dark, PhotoStats)
    with pytest.raises(ValueError, match="landmarks"):
        photo_stats(np.zeros((10, 10, 3), np.uint8), np.full((68, 2), np.nan))


def test_real_photos_give_finite_figures(realdata):
    from train.data.aflw import read_pose_mat

    mats = sorted((realdata / "aflw2000-dev").glob("image*.mat"))[:8]
    stats = [photo_stats(cv2.cvtColor(cv2.imread(str(m.with_suffix(".jpg"))), cv2.COLOR_BGR2RGB),
                         read_pose_mat(m)["landmarks"]) for m in mats]
    assert len(stats) == 8 and all(np.isfinite(s.face_luma) for s in stats)
    assert 40 < summarize(stats)["face_luma_median"] < 230
