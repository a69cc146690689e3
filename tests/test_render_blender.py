"""Tests of the Blender Cycles backend's renders (synth.render.blender) and its parity with the rasterizer.

Renders need ``bpy`` (``pip install -e '.[blender]'``) and skip with that reason otherwise; parity
tests also need an OpenGL context for the rasterizer. Renders use few samples and small images:
these tests check geometry and wiring, not noise levels. Slow: the MakeHuman parity test and the
500-frame memory test. The pure parts (conversions, mix choice, config and CLI wiring) are in
``test_render_blender_pure.py``.
"""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from synth.heads.mesh import HEAD_CLASSES
from synth.render.base import RENDER_OUTPUT_KEYS
from synth.render.blender_math import srgb_decode, srgb_encode
from synth.render.blender_mix import uses_blender
from synth.render.testmeshes import checker_texture, sphere_head, uv_sphere
from synth.scene import Background, Camera, HeadInstance, Light, SceneSpec
from test_render import interior  # mask erosion shared with the rasterizer tests
from test_render_blender_pure import make_spec, rot_y, unit  # scene helpers shared with the pure tests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bpy_available() -> bool:
    from synth.render.blender import bpy_available

    return bpy_available()


needs_bpy = pytest.mark.skipif(not _bpy_available(),
                               reason="bpy (Blender as a Python module) is not installed; "
                                      "install it with: pip install -e '.[blender]'")


def analytic_sphere(cam: Camera, centre, r):
    """Planar z (mm) of the ray through each pixel centre hitting the sphere, NaN where it misses."""
    dx = ((np.arange(cam.width) + 0.5 - cam.cx) / cam.fx)[None, :]
    dy = ((np.arange(cam.height) + 0.5 - cam.cy) / cam.fy)[:, None]
    c = np.asarray(centre, float)
    dd = 1.0 + dx ** 2 + dy ** 2
    dc = dx * c[0] + dy * c[1] + c[2]
    disc = dc ** 2 - dd * (c @ c - r * r)
    with np.errstate(invalid="ignore"):
        t = (dc - np.sqrt(disc)) / dd
    return np.where(disc > 0, t, np.nan)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


# ---------------------------------------------------------------------------- pure helpers
# ---------------------------------------------------------------------------- renders (need bpy)

@pytest.fixture(scope="module")
def blender():
    if not _bpy_available():
        pytest.skip("bpy (Blender as a Python module) is not installed; install it with: pip install -e '.[blender]'")
    from synth.render.blender import BlenderRenderer

    r = BlenderRenderer(samples=4, denoise=False)
    yield r
    r.close()


@pytest.fixture(scope="module")
def gl():
    try:
        from synth.render.gl import GLRenderer

        r = GLRenderer("auto")
    except Exception as exc:
        pytest.skip(f"no OpenGL context for the rasterizer: {exc}")
    yield r
    r.close()


@needs_bpy
def test_output_contract(blender):
    cam = Camera(96, 80, 120.0, 120.0, 48.0, 40.0)
    out = blender.render(make_spec(cam, [0, 0, 500.0]), sphere_head(80.0))
    assert set(out) == set(RENDER_OUTPUT_KEYS) | {"seg"}  # Cycles draws part classes too
    assert out["rgb"].shape == (80, 96, 3) and out["rgb"].dtype == np.uint8
    assert out["seg"].dtype == np.uint8 and set(np.unique(out["seg"])) == {0, 1}   # background, skin
    np.testing.assert_array_equal(out["seg"] > 0, out["depth"] > 0)
    assert out["depth"].shape == (80, 96) and out["depth"].dtype == np.float32
    assert out["mask"].dtype == bool and out["mask"].any() and not out["mask"].all()
    np.testing.assert_array_equal(out["mask"], out["depth"] > 0)
    assert out["landmarks"].shape == (68, 2) and out["landmarks_visible"].shape == (68,)
    assert out["bbox"].shape == (4,)
    np.testing.assert_array_equal(out["rgb"][0, 0], [51, 77, 102])  # solid background, exact bytes
    assert blender.name == "blender-cycles" and blender.version.startswith("bpy ")


@needs_bpy
def test_depth_exact(blender):
    cam = Camera(128, 128, 150.0, 150.0, 64.0, 64.0)
    r, tz = 80.0, 500.0
    tx = (70.5 - cam.cx) * (tz - r) / cam.fx   # front point on the centre of pixel (70, 55)
    ty = (55.5 - cam.cy) * (tz - r) / cam.fy
    out = blender.render(make_spec(cam, [tx, ty, tz]), sphere_head(r))
    assert abs(out["depth"][55, 70] - (tz - r)) < 0.05
    z_ref = analytic_sphere(cam, [tx, ty, tz], r)
    inner = interior(out["mask"] & np.isfinite(z_ref), 2)
    assert inner.sum() > 1000
    dz = np.abs(out["depth"][inner] - z_ref[inner])
    assert np.median(dz) < 0.05 and dz.max() < 1.0, (np.median(dz), dz.max())
    assert (out["mask"] ^ np.isfinite(z_ref)).sum() < 0.03 * out["mask"].sum()


@needs_bpy
def test_projection_off_centre_anisotropic(blender):
    cam = Camera(160, 120, 300.0, 260.0, 60.0, 75.0)
    centre = np.array([40.0, -30.0, 700.0])
    out = blender.render(make_spec(cam, centre), sphere_head(15.0))
    m = out["mask"]
    assert m.sum() > 100
    ys, xs = np.nonzero(m)
    expected = cam.project(centre[None])[0]
    assert np.abs(np.array([xs.mean() + 0.5, ys.mean() + 0.5]) - expected).max() < 0.5
    assert (m ^ np.isfinite(analytic_sphere(cam, centre, 15.0))).sum() <= 0.1 * m.sum()


@needs_bpy
def test_light_direction_intensity_and_colour(blender):
    """A light from image right brightens the right half; intensity and colour scale the image."""
    cam = Camera(96, 96, 130.0, 130.0, 48.0, 48.0)
    head = dataclasses.replace(sphere_head(80.0), parts=(dataclasses.replace(
        sphere_head(80.0).parts[0], texture=checker_texture(64, 2, ((200, 200, 200), (200, 200, 200))),
        texture_key="flat-grey"),))

    def lum(**kw):
        out = blender.render(make_spec(cam, [0, 0, 500.0], ambient=0.05, **kw), head)
        return out["rgb"].astype(float), out["mask"]

    right, m = lum(light_dir=(1.0, 0.0, -0.3))
    left_half, right_half = m.copy(), m.copy()
    left_half[:, 48:] = False
    right_half[:, :48] = False
    assert right[right_half].mean() > right[left_half].mean() + 40
    dim, _ = lum(light_dir=(0, 0, -1), intensity=0.3)
    bright, _ = lum(light_dir=(0, 0, -1), intensity=1.0)
    assert bright[m].mean() > dim[m].mean() + 30
    red, _ = lum(light_dir=(0, 0, -1), color=(1.0, 0.25, 0.25))
    assert red[m][:, 0].mean() > red[m][:, 1].mean() + 40
    # calibration: a grey diffuse-ish sphere facing a light at the camera is about as bright as gl.py's
    # Lambert model predicts at its centre (specular and subsurface add a little)
    c = bright[44:52, 44:52].mean()
    albedo = srgb_decode(np.float32(200 / 255))
    expect = srgb_encode(albedo * (1.0 + 0.05)) * 255
    assert abs(c - expect) < 25, (c, expect)


def _grey_sphere():
    h = sphere_head(80.0)
    return dataclasses.replace(h, parts=(dataclasses.replace(
        h.parts[0], texture=checker_texture(64, 2, ((200, 200, 200), (200, 200, 200))), texture_key="flat-grey"),))


@needs_bpy
def test_fill_light_and_environment_match_the_rasterizer(blender, gl):
    """The fill light (a second sun) and the environment gradient (the world) light a grey sphere
    where and about as strongly as gl.py's Lambert fill and first-order environment term."""
    cam = Camera(96, 96, 130.0, 130.0, 48.0, 48.0)   # the sphere covers about rows/columns 27..69
    head = _grey_sphere()
    bands = {"top": np.s_[30:38, 44:52], "bottom": np.s_[58:66, 44:52],
             "left": np.s_[44:52, 30:38], "right": np.s_[44:52, 58:66]}

    def render(**light):
        kw = {"direction": np.array([0.0, 0.0, -1.0]), "intensity": 0.0, "color": np.ones(3), "ambient": 0.05,
              **light}
        spec = SceneSpec(0, 0, cam, HeadInstance(0, np.eye(3), np.array([0.0, 0.0, 500.0])), Light(**kw),
                         Background("solid", np.zeros(3)))
        return [{k: float(o["rgb"][v][..., 1].mean()) for k, v in bands.items()}
                for o in (gl.render(spec, head), blender.render(spec, head))]

    g, b = render(fill_direction=np.array([1.0, 0.0, 0.0]), fill_intensity=0.8)   # fill from image right
    assert b["right"] > b["left"] + 40 and abs(b["top"] - b["bottom"]) < 10, b
    # (like the key light's calibration: sRGB vs gl.py's gamma 2, subsurface and Fresnel gloss at grazing angles)
    assert abs(b["right"] - g["right"]) < 20 and abs(b["left"] - g["left"]) < 12, (g, b)
    # environment brighter toward image up (-y), in its linear regime (env <= 2/3 ambient): exact if unoccluded
    g, b = render(ambient=0.3, env_direction=np.array([0.0, -1.0, 0.0]), env_strength=0.18)
    assert b["top"] > b["bottom"] + 15 and abs(b["left"] - b["right"]) < 8, b
    for k in bands:
        assert abs(b[k] - g[k]) < 12, (k, g, b)


@needs_bpy
def test_render_scale_and_noise_background(blender):
    cam = Camera(96, 96, 130.0, 130.0, 48.0, 48.0)
    bg = Background("noise", np.array([0.4, 0.5, 0.6]), seed=5)
    full = blender.render(make_spec(cam, [0, 0, 500.0], background=bg), sphere_head(60.0))
    half = blender.render(make_spec(cam, [0, 0, 500.0], background=bg, render_scale=0.5), sphere_head(60.0))
    assert half["rgb"].shape == full["rgb"].shape and half["depth"].shape == full["depth"].shape
    assert iou(half["mask"], full["mask"]) > 0.9
    from synth.render.background import make_background

    ref = np.asarray(make_background(bg, 96, 96))
    away = interior(~full["mask"], 2)
    assert away.sum() > 0.5 * away.size
    np.testing.assert_array_equal(full["rgb"][away], ref[away])


@needs_bpy
def test_two_renderers_and_close_remove_their_datablocks():
    from synth.render.blender import BlenderRenderer, import_bpy

    bpy = import_bpy()

    before = {c: len(getattr(bpy.data, c)) for c in ("objects", "meshes", "materials", "images", "scenes")}
    cam = Camera(48, 48, 60.0, 60.0, 24.0, 24.0)
    a, b = BlenderRenderer(samples=1, denoise=False), BlenderRenderer(samples=1, denoise=False)
    oa = a.render(make_spec(cam, [0, 0, 500.0]), sphere_head(80.0))
    ob = b.render(make_spec(cam, [20, 0, 500.0]), sphere_head(40.0))
    oa2 = a.render(make_spec(cam, [0, 0, 500.0]), sphere_head(80.0))
    np.testing.assert_array_equal(oa["mask"], oa2["mask"])
    assert ob["mask"].sum() < oa["mask"].sum()
    folders = (a.folder, b.folder)
    a.close(), b.close(), a.close()
    after = {c: len(getattr(bpy.data, c)) for c in before}
    assert after == before
    assert not any(os.path.exists(f) for f in folders)
    with pytest.raises(RuntimeError, match="closed"):
        a.render(make_spec(cam, [0, 0, 500.0]), sphere_head(80.0))


@needs_bpy
def test_device_selection_falls_back_to_cpu():
    from synth.render.blender import BlenderRenderer

    r = BlenderRenderer(samples=1, denoise=False, device="auto")
    try:
        assert r.device in ("CPU", "OPTIX", "CUDA")
        if not os.path.exists("/dev/nvidia0"):
            assert r.device == "CPU" and "Cycles CPU" in r.version
    finally:
        r.close()
    if not os.path.exists("/dev/nvidia0"):
        with pytest.raises(RuntimeError, match="no CUDA device.*cycles_device"):
            BlenderRenderer(samples=1, denoise=False, device="cuda")


# ---------------------------------------------------------------------------- parity with the rasterizer

def _parity(gl_out: dict, bl_out: dict) -> dict:
    both = gl_out["mask"] & bl_out["mask"]
    dz = np.abs(gl_out["depth"][both] - bl_out["depth"][both])
    return {"iou": iou(gl_out["mask"], bl_out["mask"]), "within_1mm": float((dz <= 1.0).mean()),
            "median_mm": float(np.median(dz))}


def _assert_parity(gl_out, bl_out):
    p = _parity(gl_out, bl_out)
    assert p["iou"] >= 0.95, p
    assert p["within_1mm"] >= 0.99 and p["median_mm"] < 0.05, p
    np.testing.assert_array_equal(gl_out["landmarks"], bl_out["landmarks"])
    np.testing.assert_array_equal(gl_out["bbox"], bl_out["bbox"])
    vis = (gl_out["landmarks_visible"] == bl_out["landmarks_visible"]).mean()
    assert vis >= 0.95, vis
    return p


@needs_bpy
@pytest.mark.parametrize("yaw,scale", [(0.0, 1.0), (35.0, 1.0), (-60.0, 0.5)])
def test_parity_with_rasterizer_sphere(blender, gl, yaw, scale):
    cam = Camera(128, 128, 200.0, 200.0, 64.0, 64.0)
    spec = make_spec(cam, [15.0, -10.0, 600.0], rotation=rot_y(yaw), render_scale=scale,
                     background=Background("noise", np.array([0.5, 0.4, 0.3]), seed=2))
    head = sphere_head(70.0)
    _assert_parity(gl.render(spec, head), blender.render(spec, head))


@needs_bpy
@pytest.mark.slow
def test_parity_with_rasterizer_makehuman(gl):
    """The bar: real heads (skin + eyes + cut-out eyebrows) at several poses, IoU >= 0.95,
    identical landmarks, depth within 1 mm on >= 99 % of the head."""
    pytest.importorskip("anny")
    from synth.heads import build_head_bank
    from synth.pose import rotation_from_euler
    from synth.render.blender import BlenderRenderer

    bank = build_head_bank("makehuman", pool_size=3, seed=0)
    cam = Camera(160, 160, 400.0, 400.0, 80.0, 80.0)
    r = BlenderRenderer(samples=4, denoise=False)
    try:
        for i, (pitch, yaw, roll) in enumerate([(0, 0, 0), (10, 40, 0), (-25, -70, 15), (35, 10, -20)]):
            spec = SceneSpec(index=i, seed=0, camera=cam,
                             head=HeadInstance(i % 3, rotation_from_euler(pitch, yaw, roll),
                                               np.array([0.0, 0.0, 900.0])),
                             light=Light(unit([0.5, -0.5, -1.0]), 0.9, np.ones(3), 0.3),
                             background=Background("solid", np.array([0.3, 0.3, 0.3])))
            head = bank.get(i % 3)
            _assert_parity(gl.render(spec, head), r.render(spec, head))
    finally:
        r.close()


@needs_bpy
@pytest.mark.parametrize("kind", ["leaves", "clutter", "outdoor"])
def test_photo_backgrounds_are_the_rasterizers_bytes(blender, gl, kind):
    """Dead leaves, clutter and outdoor scenes (defocused) come through make_background in Cycles too: the same
    bytes as the rasterizer's away from the head, and the head itself still agrees."""
    from synth.render.background import make_background

    cam = Camera(96, 96, 130.0, 130.0, 48.0, 48.0)
    bg = Background(kind, np.array([0.4, 0.5, 0.6]), seed=5, blur=0.01)
    spec = make_spec(cam, [0, 0, 500.0], background=bg)
    head = sphere_head(60.0)
    bl, g = blender.render(spec, head), gl.render(spec, head)
    ref = np.asarray(make_background(bg, 96, 96))
    away = interior(~bl["mask"], 2) & interior(~g["mask"], 2)
    assert away.sum() > 0.5 * away.size
    np.testing.assert_array_equal(bl["rgb"][away], ref[away])
    np.testing.assert_array_equal(g["rgb"][away], ref[away])
    _assert_parity(g, bl)


def _seg_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of the pixels where both part-class images have a class on which the classes agree."""
    both = (a > 0) & (b > 0)
    return float((a[both] == b[both]).mean())


@needs_bpy
@pytest.mark.slow
def test_parity_with_rasterizer_people(blender, gl):
    """Dressed people (hair, body, clothes, a hat; fill light and environment of the `faces` preset):
    the same mask (IoU >= 0.95) and part classes (>= 0.9 where both have one) in both backends,
    identical landmarks, and the torso turned by the neck blend the same way."""
    pytest.importorskip("anny")
    from test_people import EVERYTHING

    from synth.config import load_config
    from synth.heads.identity import IdentitySettings
    from synth.heads.makehuman import AnnyHeadBank
    from synth.pose import rotation_from_euler
    from synth.render.geometry import scaled_camera
    from synth.sampling import sample_scene

    bank = AnnyHeadBank(4, 0, settings=IdentitySettings(outfit=EVERYTHING))
    heads = {i: bank.get(i) for i in (0, 3)}   # pool seed 0: 0 = long curly hair + top, 3 = hat + teeth + top
    names = {p.name for h in heads.values() for p in h.parts}
    assert {"hair", "body", "top", "hat", "eyelashes"} <= names, names
    cfg = load_config(os.path.join(ROOT, "pipeline.yaml"), preset="faces", overrides=["heads.pool_size=4"])
    specs = []
    for k, i in enumerate(heads):
        s = sample_scene(cfg, 0, 4 + 3 * k)
        # rasterised at the full 128x128 (the preset draws at 0.45-0.72x): edge pixels stay a fixed share
        specs.append(dataclasses.replace(s, camera=scaled_camera(s.camera, 128, 128), render_scale=1.0,
                                         head=dataclasses.replace(s.head, identity=i)))
    assert any(s.light.fill_intensity > 0 and s.light.env_strength > 0 for s in specs)
    for spec in specs:
        head = heads[spec.head.identity]
        g, b = gl.render(spec, head), blender.render(spec, head)
        np.testing.assert_array_equal(b["seg"] > 0, b["depth"] > 0)
        np.testing.assert_array_equal(b["mask"], np.isin(b["seg"], HEAD_CLASSES))
        assert iou(g["mask"], b["mask"]) >= 0.95, iou(g["mask"], b["mask"])
        assert _seg_agreement(g["seg"], b["seg"]) >= 0.9
        for c in (1, 2, 7) + ((8,) if spec.head.identity == 3 else ()):     # skin, hair, clothes, the hat
            assert iou(g["seg"] == c, b["seg"] == c) >= 0.8, (c, iou(g["seg"] == c, b["seg"] == c))
        np.testing.assert_array_equal(g["landmarks"], b["landmarks"])
        np.testing.assert_array_equal(g["bbox"], b["bbox"])
    # the neck blend, framed down to the chest: a head turned 40 degrees over a frontal torso, and the
    # same head with a rigid torso
    R = rotation_from_euler(-5.0, 40.0, 0.0)
    spec = dataclasses.replace(specs[1], camera=Camera(96, 128, 170.0, 170.0, 48.0, 44.0), render_scale=1.0)
    head = heads[spec.head.identity]
    torso = {}
    for name, body in (("turned", np.eye(3)), ("rigid", R)):
        s = dataclasses.replace(spec, head=dataclasses.replace(spec.head, rotation=R, body_rotation=body,
                                                               translation=np.array([0.0, 0.0, 1000.0])))
        torso[name] = [np.isin(o["seg"], (6, 7)) for o in (gl.render(s, head), blender.render(s, head))]
    assert min(t.sum() for ts in torso.values() for t in ts) > 2000
    agree = [iou(*torso[name]) for name in ("turned", "rigid")]
    moved = [iou(torso["turned"][k], torso["rigid"][k]) for k in (0, 1)]
    assert min(agree) >= 0.95 and max(moved) < min(agree) - 0.1, (agree, moved)   # moved, and alike


# ---------------------------------------------------------------------------- pipeline and memory

@needs_bpy
def test_mix_run_records_the_backend_per_sample(tmp_path):
    """`synth render --renderer mix`: each stored sample's params name the backend (seed, index) chose."""
    pytest.importorskip("moderngl")
    from synth.cli import main
    from synth.shards import open_dataset

    out = tmp_path / "run"
    rc = main(["render", "--n", "8", "--out", str(out), "--workers", "0", "--shard-size", "8", "--no-progress",
               "--maker", "synth.runner:sphere_sample_maker", "--renderer", "mix", "--seed", "11",
               "--set", "renderer.blender_ratio=0.5", "--set", "renderer.cycles_samples=2",
               "--set", "renderer.cycles_denoise=false", "--set", "output.width=48", "--set", "output.height=48",
               "--set", "heads.pool_size=2"])
    assert rc == 0
    ds = open_dataset(str(out))
    names = []
    for i in range(8):
        s = ds[i]
        params = s["params"] if isinstance(s["params"], dict) else json.loads(s["params"])
        names.append(params["renderer"])
        assert (params["renderer"] == "blender-cycles") == uses_blender(11, int(s["index"]), 0.5)
    assert len(set(names)) == 2, names


@needs_bpy
def test_faces_run_with_photo_scenes_in_both_backends(tmp_path):
    """`synth render --preset faces --renderer mix` with the new background kinds and every photo
    effect on: both backends render, and each sample records its kind, distractors and camera effects."""
    pytest.importorskip("moderngl")
    from synth.cli import main
    from synth.shards import open_dataset

    out = tmp_path / "run"
    rc = main(["render", "--n", "6", "--out", str(out), "--workers", "0", "--shard-size", "6", "--no-progress",
               "--maker", "synth.runner:sphere_sample_maker", "--renderer", "mix", "--seed", "3", "--preset", "faces",
               "--set", "renderer.blender_ratio=0.5", "--set", "renderer.cycles_samples=2",
               "--set", "renderer.cycles_denoise=false", "--set", "output.width=48", "--set", "output.height=48",
               "--set", "heads.pool_size=2", "--set", "background.solid=0", "--set", "background.noise=0",
               "--set", "effects.distractors.probability=1", "--set", "effects.white_balance.probability=1"])
    assert rc == 0
    ds = open_dataset(str(out))
    seen = set()
    for i in range(6):
        s = ds[i]
        params = s["params"] if isinstance(s["params"], dict) else json.loads(s["params"])
        seen.add((params["renderer"], params["background"]["kind"]))
        assert params["effects"]["distractors"] and params["effects"]["wb_temperature"] != 0
        assert s["rgb"].shape == (48, 48, 3) and s["rgb"].std() > 5
    assert len({r for r, _ in seen}) == 2
    assert {k for _, k in seen} <= {"leaves", "clutter", "studio", "outdoor"} and len({k for _, k in seen}) >= 2


@needs_bpy
@pytest.mark.slow
def test_memory_flat_over_500_frames():
    """RSS after 500 frames within 10 % of RSS after 50 (heads, topologies, textures, sizes, lights, torso
    turns and tints vary)."""
    from synth.render.blender import BlenderRenderer

    heads = []
    for k in range(6):
        h = sphere_head(50.0 + 5 * k, identity=k, n_lat=24 + 8 * (k % 2), n_lon=48 + 16 * (k % 2), texture_size=64)
        col = ((40 * k, 120, 200 - 30 * k), (220, 180, 150))
        part = dataclasses.replace(h.parts[0], texture=checker_texture(64, 4, col), texture_key=f"mem-{k}")
        pos, nrm, uvs, idx = uv_sphere(30.0, 12, 24)     # a tinted "top" below, following the torso
        top = dataclasses.replace(part, name="top", positions=pos + np.float32([0, 60, 0]), normals=nrm, uvs=uvs,
                                  indices=idx, blend=np.clip((pos[:, 1] + 30) / 60, 0, 1).astype(np.float32),
                                  tint=(0.1 * k, 0.3, 0.5))
        heads.append(dataclasses.replace(h, parts=(part, top) if k % 3 else (part,), neck_pivot=np.float32([0, 40, 0])))
    r = BlenderRenderer(samples=1, denoise=False, max_textures=4)
    rng = np.random.default_rng(0)
    rss = {}
    try:
        for i in range(500):
            size = (40, 40) if i % 3 else (48, 36)
            cam = Camera(size[0], size[1], 60.0, 60.0, size[0] / 2, size[1] / 2)
            spec = make_spec(cam, [rng.uniform(-20, 20), rng.uniform(-20, 20), 500.0],
                             rotation=rot_y(rng.uniform(-90, 90)),
                             light_dir=rng.normal(size=3) + [0, 0, -2], intensity=rng.uniform(0.3, 1.2),
                             color=rng.uniform(0.3, 1.0, 3), index=i,
                             background=Background("noise" if i % 2 else "solid", rng.uniform(0, 1, 3), seed=i),
                             render_scale=0.5 if i % 4 == 0 else 1.0)
            spec = dataclasses.replace(spec, head=dataclasses.replace(
                spec.head, body_rotation=rot_y(rng.uniform(-30, 30)) if i % 5 else None))
            r.render(spec, heads[i % len(heads)])
            if i + 1 in (50, 500):
                rss[i + 1] = rss_bytes()
    finally:
        r.close()
    assert rss[500] <= 1.10 * rss[50], {k: v / 2 ** 20 for k, v in rss.items()}
