"""People, not mannequins: the outfit draw, the dressed head bank, the neck blend and the part segmentation."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from synth.heads.identity import IdentitySettings, draw_identity
from synth.heads.mesh import HEAD_CLASSES, PART_CLASSES
from synth.heads.wardrobe import CATALOGUE, HAIR, OutfitSettings, draw_outfit

REPO = Path(__file__).resolve().parents[1]
EVERYTHING = OutfitSettings(body=True, hair=True, top=True, glasses_share=0.3, hat_share=0.3, eyelashes=True,
                            teeth=True, gaze_deg=20, smile_share=0.5, blink_share=0.1)


def test_outfit_draw_is_deterministic_and_off_by_default():
    a = [draw_identity(0, i, [], IdentitySettings(outfit=EVERYTHING)).outfit for i in range(40)]
    b = [draw_identity(0, i, [], IdentitySettings(outfit=EVERYTHING)).outfit for i in range(40)]
    assert a == b
    plain = [draw_identity(0, i, [], IdentitySettings()).outfit for i in range(40)]
    assert all(o.parts() == [] and not o.gaze and not o.mouth for o in plain)
    # switching outfits on never changes the identity itself (drawn after every earlier value)
    for i in range(10):
        p, q = draw_identity(0, i, [], IdentitySettings()), draw_identity(0, i, [], IdentitySettings(outfit=EVERYTHING))
        assert (p.phenotypes, p.local_changes, p.skin, p.eye_colour, p.eyebrow) == \
               (q.phenotypes, q.local_changes, q.skin, q.eye_colour, q.eyebrow)


def test_outfit_shares_and_rules():
    rng_draws = [draw_outfit(np.random.default_rng(i), female=bool(i % 2), age_years=30 + i % 50, dark=0.3,
                             s=EVERYTHING) for i in range(600)]
    women = [o for i, o in enumerate(rng_draws) if i % 2]
    assert not any(o.facial_hair for o in women)                      # beards: men only
    assert 0.2 < np.mean([bool(o.hat) for o in rng_draws]) < 0.4     # hat_share 0.3
    assert 0.2 < np.mean([o.glasses for o in rng_draws]) < 0.4
    short = {h.name for h in HAIR if h.short}
    assert all(o.hair in short | {""} for o in rng_draws if o.hat)    # hats sit on short hair
    assert all(name in CATALOGUE for o in rng_draws for name in o.parts())
    assert 0.4 < np.mean([bool(o.mouth) for o in rng_draws]) < 0.7   # smiles (and blinks)
    grey = [o.hair_colour in ("grey", "white") for i, o in enumerate(rng_draws) if 30 + i % 50 >= 70]
    young = [o.hair_colour in ("grey", "white") for i, o in enumerate(rng_draws) if 30 + i % 50 < 40]
    assert np.mean(grey) > 0.4 and np.mean(young) == 0.0


@pytest.fixture(scope="module")
def people():
    """A dressed bank of 6 identities and the same identities bald (the default settings)."""
    from synth.heads.makehuman import AnnyHeadBank

    dressed = AnnyHeadBank(6, 0, settings=IdentitySettings(outfit=EVERYTHING))
    bald = AnnyHeadBank(6, 0, settings=IdentitySettings())
    return dressed, bald


def test_dressed_bank_parts_blend_and_labels(people):
    dressed, bald = people
    names = set()
    for i in range(6):
        h, b = dressed.get(i), bald.get(i)
        names |= {p.name for p in h.parts}
        outfit = json.loads(json.dumps(h.attributes["outfit"]))
        assert outfit["top"] and all(p.name in PART_CLASSES for p in h.parts)
        for p in h.parts:
            assert p.blend is None or (p.blend.shape == (len(p.positions),) and 0 <= p.blend.min() and p.blend.max() <= 1)
        skin = next(p for p in h.parts if p.name == "skin")
        # the face never moves with the torso: every vertex above the mouth is head-rigid
        assert np.all(skin.blend[skin.positions[:, 1] < h.landmarks[57, 1]] == 0)
        body = next(p for p in h.parts if p.name == "body")
        assert body.blend.max() == 1.0 and body.positions[:, 1].max() > h.landmarks[8, 1] + 150   # down to the chest
        # hair, clothes and a smile do not move the pose label's landmarks beyond the expression
        if not h.attributes["outfit"]["mouth"] and not h.attributes["outfit"]["gaze"]:
            np.testing.assert_allclose(h.landmarks, b.landmarks, atol=1e-4)
        assert np.linalg.norm(h.neck_pivot - np.array([0.0, 90.0, 0.0])) < 30   # below the ears, in the neck
    assert {"hair", "top", "body", "eyelashes"} <= names


def test_tinted_hair_has_the_drawn_colour(people):
    from synth.heads.wardrobe import HAIR_COLOURS

    dressed, _ = people
    for i in range(6):
        h = dressed.get(i)
        for p in h.parts:
            if p.name == "hair":
                assert p.tint == pytest.approx(HAIR_COLOURS[h.attributes["outfit"]["hair_colour"]][0])


def test_only_short_hair_is_one_sided(people):
    """Short styles' cards lie on the scalp and are drawn one-sided (their back faces show only at
    strand tips, bench/hair_sides.py); every other part keeps both sides unless culled by name."""
    from synth.heads.wardrobe import HAIR, ONE_SIDED_HAIR

    assert set(ONE_SIDED_HAIR) <= {w.name for w in HAIR if w.short}
    dressed, _ = people
    seen = set()
    for i in range(6):
        h = dressed.get(i)
        style = h.attributes["outfit"]["hair"]
        for p in h.parts:
            assert p.one_sided == (p.name == "hair" and style in ONE_SIDED_HAIR), (style, p.name)
            seen.add(p.one_sided)
    assert seen == {False, True}


@pytest.fixture(scope="module")
def renderer():
    from synth.render.gl import GLRenderer

    r = GLRenderer(backend="osmesa", lod_px=0.0)
    yield r
    r.close()


def _spec(identity: int, yaw: float = 20.0, body=None):
    from synth.config import load_config
    from synth.pose import rotation_from_euler
    from synth.sampling import sample_scene

    cfg = load_config(REPO / "pipeline.yaml", preset="faces", overrides=["heads.pool_size=6"])
    s = sample_scene(cfg, 0, 3)
    R = rotation_from_euler(-5.0, yaw, 0.0)
    # rasterised at the output size: a smaller render's resampling would blend torso into face pixels
    return dataclasses.replace(s, render_scale=1.0, head=dataclasses.replace(s.head, identity=identity, rotation=R,
                                                           body_rotation=R if body is None else body))


def test_segmentation_marks_every_part_and_the_mask_is_the_head(people, renderer):
    dressed, _ = people
    seen = set()
    for i in range(6):
        out = renderer.render(_spec(i), dressed.get(i))
        seg = out["seg"]
        assert seg.shape == out["mask"].shape and seg.dtype == np.uint8
        np.testing.assert_array_equal(out["mask"], np.isin(seg, HEAD_CLASSES))
        assert np.all((seg > 0) == (out["depth"] > 0))          # every drawn pixel has a class
        seen |= set(np.unique(seg).tolist())
        # labels: visible landmarks lie on the head
        lm = np.round(out["landmarks"][out["landmarks_visible"]]).astype(int)
        inside = (lm[:, 0] >= 0) & (lm[:, 0] < seg.shape[1]) & (lm[:, 1] >= 0) & (lm[:, 1] < seg.shape[0])
        assert out["mask"][lm[inside, 1], lm[inside, 0]].mean() > 0.9
    assert {0, 1, 2, 3, 6, 7} <= seen     # background, skin, hair, eyes, body, clothes


def test_neck_blend_turns_the_body_and_not_the_face(people, renderer):
    from synth.pose import rotation_from_euler

    dressed, _ = people
    head = dressed.get(0)
    still = renderer.render(_spec(0, yaw=40.0), head)
    turned = renderer.render(_spec(0, yaw=40.0, body=rotation_from_euler(0.0, 0.0, 0.0)), head)
    np.testing.assert_array_equal(still["landmarks"], turned["landmarks"])
    face = np.zeros_like(still["mask"])
    x0, y0, x1, y1 = np.round(still["bbox"]).astype(int)
    face[max(y0, 0):y1, max(x0, 0):x1] = True
    face &= np.isin(still["seg"], (1, 3, 4)) & ~np.isin(turned["seg"], (6, 7))
    np.testing.assert_array_equal(still["rgb"][face], turned["rgb"][face])
    clothes = (still["seg"] == 7) | (turned["seg"] == 7)
    assert (still["seg"][clothes] != turned["seg"][clothes]).mean() > 0.05      # the torso moved


def test_procedural_glasses_sit_in_front_of_the_eyes():
    from synth.heads.glasses import glasses_part, glasses_style
    from synth.heads.template import FACE_TEMPLATE_MM as lm

    for k in range(8):
        style = glasses_style(np.random.default_rng(k).random(6))
        g = glasses_part(lm, style, head_half_width=78.0)
        assert g.name == "glasses" and g.indices.max() < len(g.positions)
        p = g.positions
        eyes_z = lm[36:48, 2].min()
        lens = p[np.abs(p[:, 0]) < 45]                              # rims and bridge
        assert lens[:, 2].max() < eyes_z and lens[:, 2].min() > eyes_z - 40   # just in front of the eyes
        assert p[:, 1].min() > lm[17:27, 1].min() - 12 and p[:, 1].max() < lm[30, 1] + 10   # brow to nose
        assert 70 < np.abs(p[:, 0]).max() < 90                       # temples reach back to the ears
        np.testing.assert_allclose(np.linalg.norm(g.normals, axis=1), 1.0, atol=1e-3)


def test_samples_record_the_outfit_and_hair_hides_landmarks(people):
    """A dressed sample: params.outfit names what the identity wears, its hair shows in the
    segmentation, and landmarks the hair (or a hat or glasses) covers are stored as not visible."""
    from synth.config import load_config
    from synth.pipeline import SampleMaker

    dressed, _ = people
    cfg = load_config(REPO / "pipeline.yaml", preset="faces",
                      overrides=["heads.pool_size=6", "effects.distractors.probability=0"])
    maker = SampleMaker(cfg, head_bank=dressed)
    try:
        covered, shown, haired, hair_seen = 0, 0, 0, 0
        for i in range(24):
            s = maker.make(i)
            outfit = s["params"]["outfit"]
            assert outfit == dressed.get(s["identity"]).attributes["outfit"]
            seg = s["seg"]
            if outfit["hair"]:
                haired += 1
                hair_seen += int((seg == 2).sum() > 50)
            lm = np.round(s["landmarks"] - 0.5).astype(int)
            inside = (lm[:, 0] >= 0) & (lm[:, 0] < seg.shape[1]) & (lm[:, 1] >= 0) & (lm[:, 1] < seg.shape[0])
            cls = np.zeros(68, np.uint8)
            cls[inside] = seg[lm[inside, 1], lm[inside, 0]]
            over = np.isin(cls, (2, 8))
            covered += int(over.sum())
            shown += int((over & s["landmarks_visible"]).sum())
        assert haired > 10 and hair_seen >= 0.9 * haired
        assert covered > 20 and shown / covered < 0.2, (covered, shown)
    finally:
        maker.close()


@pytest.mark.slow
def test_faces_preset_is_the_same_bytes_with_one_and_two_workers(tmp_path):
    """People, photo camera and scenes draw every random choice from (seed, index): a `faces` run on two
    Ray workers writes what one process writes (real MakeHuman heads, every part and effect on)."""
    from synth.config import load_config
    from synth.runner import render_run
    from synth.shards import open_dataset

    cfg = load_config(REPO / "pipeline.yaml", preset="faces", overrides=[
        "heads.pool_size=3", "output.width=64", "output.height=64", "effects.distractors.probability=0.5",
        "heads.outfit.glasses_share=0.5", "heads.outfit.hat_share=0.3"])
    for name, workers in (("w1", 1), ("w2", 2)):
        render_run(cfg, tmp_path / name, 12, shard_size=4, workers=workers, progress=False, log=lambda m: None)
    a, b = open_dataset(tmp_path / "w1"), open_dataset(tmp_path / "w2")
    assert len(a) == len(b) == 12
    for i in range(12):
        x, y = a[i], b[i]
        assert set(x) == set(y) and "seg" in x
        for k in x:
            if k == "params":
                assert x[k] == y[k]
            else:
                assert np.asarray(x[k]).tobytes() == np.asarray(y[k]).tobytes(), (i, k)
