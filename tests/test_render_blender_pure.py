"""Tests of the Blender Cycles backend's pure parts (synth.render.blender_math, the gl/blender mix).

Camera and light conversions, welding and winding, compositing, the neck blend, the environment
lobe, the mix choice, config and CLI wiring and the missing-bpy message: no ``bpy`` and no OpenGL
needed, so they run everywhere. The renders themselves are tested in ``test_render_blender.py``.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from synth.render.blender_math import (
    ENV_MAX_RATIO,
    camera_params,
    consistent_winding,
    environment_lobe,
    neck_blend_positions,
    over,
    pose_matrix,
    srgb_decode,
    srgb_encode,
    sun_matrix,
    weld,
)
from synth.render.blender_mix import MixRenderer, uses_blender
from synth.render.testmeshes import uv_sphere
from synth.scene import Background, Camera, HeadInstance, Light, SceneSpec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def unit(v) -> np.ndarray:
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


def rot_y(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])


def make_spec(cam, t, rotation=None, light_dir=(0.3, -0.4, -1.0), intensity=0.8, color=(1.0, 0.95, 0.9),
              ambient=0.35, background=None, render_scale=1.0, index=0, seed=0):
    return SceneSpec(
        index=index, seed=seed, camera=cam,
        head=HeadInstance(0, np.eye(3) if rotation is None else rotation, np.asarray(t, float)),
        light=Light(unit(light_dir), intensity, np.asarray(color, float), ambient),
        background=background or Background("solid", np.array([0.2, 0.3, 0.4])),
        render_scale=render_scale)





@pytest.mark.parametrize("cam", [Camera(256, 256, 300.0, 300.0, 128.0, 128.0),
                                 Camera(320, 200, 500.0, 450.0, 100.0, 140.0),
                                 Camera(200, 320, 410.0, 520.0, 120.5, 90.25)])
def test_camera_params_blender_formulas(cam):
    """Blender's view-plane formulas (horizontal sensor fit) applied to our params give back K."""
    p = camera_params(cam)
    assert p.pixel_aspect_x >= 1.0 and p.pixel_aspect_y >= 1.0 and min(p.pixel_aspect_x, p.pixel_aspect_y) == 1.0
    ycor = p.pixel_aspect_y / p.pixel_aspect_x
    fx = p.lens * p.width / p.sensor_width
    fy = fx / ycor
    cx = p.width / 2.0 - p.shift_x * p.width
    cy = p.height / 2.0 + p.shift_y * p.width / ycor
    np.testing.assert_allclose([fx, fy, cx, cy], [cam.fx, cam.fy, cam.cx, cam.cy], rtol=1e-12)
    assert (p.clip_start, p.clip_end) == (cam.near, cam.far)


def test_sun_matrix_points_local_z_at_the_light():
    for d in ([0, 0, -1], [0.3, -0.4, -1.0], [0, 1, 0], [0, -5, 0.01], [1, 0, 0]):
        m = sun_matrix(np.array(d, float))
        R = m[:3, :3]
        np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-12)
        assert np.isclose(np.linalg.det(R), 1.0)
        np.testing.assert_allclose(R[:, 2], unit(d), atol=1e-12)  # the sun shines along local -z = -d
    with pytest.raises(ValueError, match="non-zero"):
        sun_matrix(np.zeros(3))


def test_pose_matrix():
    R, t = rot_y(30.0), np.array([1.0, 2.0, 900.0])
    m = pose_matrix(R, t)
    p = np.array([10.0, -20.0, 30.0])
    np.testing.assert_allclose((m @ np.append(p, 1.0))[:3], R @ p + t)


def test_weld_merges_seams_and_keeps_corners():
    pos, nrm, uvs, idx = uv_sphere(50.0, 12, 24)
    topo = weld(pos, uvs, idx)
    welded = pos[topo.first]
    assert len(welded) == len(np.unique(pos, axis=0)) < len(pos)
    kept = idx  # uv_sphere drops its pole slivers: no triangle collapses
    assert topo.n_faces == len(kept)
    np.testing.assert_array_equal(welded[topo.corner_vertex], pos[kept.reshape(-1)])
    np.testing.assert_array_equal(topo.corner_uv, uvs[kept.reshape(-1)])
    # a triangle that collapses after welding is dropped
    pos2 = np.concatenate([pos, pos[:1]])
    idx2 = np.concatenate([idx, [[0, len(pos), 1]]]).astype(np.uint32)
    uvs2 = np.concatenate([uvs, uvs[:1]])
    assert weld(pos2, uvs2, idx2).n_faces == len(idx)


def test_consistent_winding_turns_a_patch_wound_against_its_neighbours():
    pos, _, uvs, idx = uv_sphere(50.0, 12, 24)
    topo = weld(pos, uvs, idx)
    tri = topo.corner_vertex.reshape(-1, 3).astype(np.int64)
    assert not consistent_winding(tri).any()                    # a closed sphere is already consistent
    centres = pos[topo.first][tri].mean(1)
    patch = centres[:, 0] > 30.0                                # a cap of triangles, turned over
    assert 0 < patch.sum() < len(tri) // 2
    bad = tri.copy()
    bad[patch] = bad[patch][:, [0, 2, 1]]
    np.testing.assert_array_equal(consistent_winding(bad), patch)   # the minority turns back
    # pieces are independent: beside it, a second sphere turned all but the patch keeps that majority
    mostly = tri.copy()
    mostly[~patch] = mostly[~patch][:, [0, 2, 1]]
    flip = consistent_winding(np.concatenate([bad, mostly + tri.max() + 1]))
    np.testing.assert_array_equal(flip, np.concatenate([patch, patch]))
    # weld(consistent=True) applies it to the split mesh, UVs following their corners
    idx_bad = idx.copy()
    idx_bad[patch] = idx[patch][:, [0, 2, 1]]
    fixed, plain = weld(pos, uvs, idx_bad, consistent=True), weld(pos, uvs, idx)
    np.testing.assert_array_equal(fixed.corner_vertex, plain.corner_vertex)
    np.testing.assert_array_equal(fixed.corner_uv, plain.corner_uv)
    assert fixed.key != weld(pos, uvs, idx_bad).key


def test_srgb_and_over():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    np.testing.assert_allclose(srgb_encode(srgb_decode(x)), x, atol=2e-6)
    assert abs(srgb_encode(np.float32(1 / np.pi)) * 255 - 153.1) < 0.2  # Cycles: 1/pi -> byte 153
    fg = np.zeros((2, 2, 4), np.uint8)
    fg[..., :3] = 200
    fg[..., 3] = [[255, 0], [128, 255]]
    bg = np.full((2, 2, 3), 40, np.uint8)
    out = over(fg, bg)
    assert (out[0, 0] == 200).all() and (out[0, 1] == 40).all() and (out[1, 1] == 200).all()
    assert 40 < out[1, 0, 0] < 200
    # blended in linear light: half coverage is brighter than the sRGB midpoint
    assert out[1, 0, 0] > (200 + 40) / 2


def test_neck_blend_positions_put_vertices_where_the_rasterizer_does():
    """Placed with the head's pose [R t], the moved head-frame positions are gl.py's
    (1 - w)(R p + t) + w (B p + t_body), t_body = R c + t - B c; w = 0 rows keep their bytes."""
    from synth.pose import rotation_from_euler

    rng = np.random.default_rng(3)
    p = rng.uniform(-150, 150, (500, 3)).astype(np.float32)
    w = np.where(rng.random(500) < 0.4, 0.0, rng.random(500)).astype(np.float32)
    w[:5] = 1.0
    R, B = rotation_from_euler(-10.0, 50.0, 5.0), rotation_from_euler(3.0, 12.0, -4.0)
    t, c = np.array([20.0, -15.0, 900.0]), np.array([0.0, 90.0, -0.6])
    local = neck_blend_positions(p, w, R, B, c)
    assert local.dtype == np.float32 and local.shape == p.shape
    p64, w64 = p.astype(np.float64), w.astype(np.float64)[:, None]
    want = (1 - w64) * (p64 @ R.T + t) + w64 * (p64 @ B.T + (R @ c + t - B @ c))
    np.testing.assert_allclose(local.astype(np.float64) @ R.T + t, want, atol=1e-3)
    np.testing.assert_array_equal(local[w == 0], p[w == 0])
    # the torso-rigid rows (w = 1) turned about the pivot by R^T B: distances to the pivot kept
    np.testing.assert_allclose(np.linalg.norm(local[:5] - c, axis=1), np.linalg.norm(p[:5] - c, axis=1), rtol=1e-5)
    np.testing.assert_array_equal(neck_blend_positions(p, w, R, R, c), p)   # no turn: no move


def _sphere_mean(f, n: int = 400):
    """(1/4pi) integral of f(w) over the unit sphere (midpoint rule in cos(theta) and phi)."""
    ct = (np.arange(n) + 0.5) / n * 2 - 1
    ph = (np.arange(2 * n) + 0.5) / (2 * n) * 2 * np.pi
    ct, ph = np.meshgrid(ct, ph, indexing="ij")
    st = np.sqrt(1 - ct ** 2)
    w = np.stack([st * np.cos(ph), st * np.sin(ph), ct], -1)
    return f(w).mean(axis=(0, 1))


def test_environment_lobe_gives_the_rasterizer_ambient_and_gradient():
    d = unit([0.3, -1.0, 0.2])
    # linear regime (env <= 2/3 ambient): the Lambertian irradiance is gl.py's ambient + env (n . d) exactly
    def sky(lobe, w):
        """World radiance (..., 3) along unit directions w (..., 3)."""
        return np.maximum(0.0, lobe[0] + lobe[1] * (w @ d)[..., None])

    A, E = np.array([0.3, 0.25, 0.2]), np.array([0.12, 0.1, 0.0])
    lobe = environment_lobe(A, E)
    for n in (d, -d, unit([1.0, 0.2, -0.3]), unit([0.0, 0.0, -1.0])):
        irr = 4 * _sphere_mean(lambda w, n=n: sky(lobe, w) * np.maximum(0.0, w @ n)[..., None])  # (1/pi) int L cos
        np.testing.assert_allclose(irr, A + E * (n @ d), atol=2e-4)
    np.testing.assert_allclose(environment_lobe(A, np.zeros(3))[0], A)     # no environment: uniform ambient
    # clamped regime: mean and first moment still match, the sky is never negative, the ratio is capped
    for A, E in ((0.15, 0.25), (0.2, 0.39), (0.1, 0.5), (0.3, -0.3)):
        lobe = environment_lobe([A] * 3, [E] * 3)
        m0 = _sphere_mean(lambda w, lobe=lobe: sky(lobe, w))
        m1 = _sphere_mean(lambda w, lobe=lobe: sky(lobe, w) * (w @ d)[..., None])
        np.testing.assert_allclose(m0, A, rtol=2e-3)
        np.testing.assert_allclose(m1, np.sign(E) * min(abs(E) / 2, ENV_MAX_RATIO * A), rtol=2e-3)


def test_texture_luminance_per_decode():
    from synth.render.texture import texture_luminance

    img = np.zeros((4, 4, 4), np.uint8)
    img[..., :3] = [128, 64, 255]
    img[..., 3] = 255
    img[0, :, :3], img[0, :, 3] = 255, 0                    # cut-out texels do not count
    x = np.array([128, 64, 255]) / 255.0
    w = np.array([0.2126, 0.7152, 0.0722])
    assert texture_luminance(img) == pytest.approx(float((x * x) @ w))          # gl.py: squared
    assert texture_luminance(img, srgb_decode) == pytest.approx(float(srgb_decode(x) @ w), rel=1e-6)
    assert texture_luminance(np.zeros((2, 2, 4), np.uint8)) == 1.0


# ---------------------------------------------------------------------------- mix choice

def test_mix_choice_is_a_pure_function_with_the_ratio():
    n = 4000
    picks = np.array([uses_blender(7, i, 0.25) for i in range(n)])
    assert (picks == np.array([uses_blender(7, i, 0.25) for i in range(n)])).all()
    assert abs(picks.mean() - 0.25) < 4 * np.sqrt(0.25 * 0.75 / n)
    other_seed = np.array([uses_blender(8, i, 0.25) for i in range(n)])
    assert (picks != other_seed).any()
    # nested: raising the ratio only adds Cycles samples (one uniform draw per sample)
    more = np.array([uses_blender(7, i, 0.6) for i in range(n)])
    assert (more[picks]).all() and more.sum() > picks.sum()
    assert not any(uses_blender(7, i, 0.0) for i in range(50))
    assert all(uses_blender(7, i, 1.0) for i in range(50))
    with pytest.raises(ValueError, match="blender_ratio"):
        uses_blender(0, 0, 1.5)


class _FakeRenderer:
    def __init__(self, name):
        self.name, self.version, self.calls, self.closed = name, "v1", [], False

    def render(self, spec, head):
        self.calls.append(spec.index)
        cam = spec.camera
        mask = np.zeros((cam.height, cam.width), bool)
        return {"rgb": np.zeros((cam.height, cam.width, 3), np.uint8), "depth": np.zeros(mask.shape, np.float32),
                "mask": mask,
                "landmarks": np.full((68, 2), np.nan, np.float32), "landmarks_visible": np.zeros(68, bool),
                "bbox": np.zeros(4, np.float32)}

    def close(self):
        self.closed = True


def test_mix_renderer_dispatch_and_label_record():
    from synth.pipeline import label_sample

    gl, bl = _FakeRenderer("gl-fake"), _FakeRenderer("blender-fake")
    mix = MixRenderer(gl, bl, 0.5)
    cam = Camera(16, 16, 20.0, 20.0, 8.0, 8.0)
    for i in range(40):
        spec = make_spec(cam, [0, 0, 500.0], index=i, seed=3)
        out = mix.render(spec, None)
        want = "blender-fake" if uses_blender(3, i, 0.5) else "gl-fake"
        assert out["renderer"] == want
        assert label_sample(spec, out, out["rgb"])["params"]["renderer"] == want
    assert sorted(gl.calls + bl.calls) == list(range(40)) and gl.calls and bl.calls
    assert "blender_ratio 0.5" in mix.version and mix.name == "mix(gl-fake+blender-fake)"
    mix.close()
    assert gl.closed and bl.closed


# ---------------------------------------------------------------------------- config, CLI, missing bpy

def test_config_renderer_keys():
    from synth.config import ConfigError, load_config

    cfg = load_config(os.path.join(ROOT, "pipeline.yaml"), preset="photoreal")
    assert cfg.renderer.backend == "blender" and cfg.renderer.cycles_samples >= 1
    cfg = load_config(None, overrides=["renderer.backend=mix", "renderer.blender_ratio=0.4"])
    assert (cfg.renderer.backend, cfg.renderer.blender_ratio) == ("mix", 0.4)
    for bad, msg in (("renderer.backend=vulkan", "renderer.backend"),
                     ("renderer.blender_ratio=1.2", "renderer.blender_ratio"),
                     ("renderer.cycles_samples=0", "renderer.cycles_samples"),
                     ("renderer.cycles_device=metal", "renderer.cycles_device"),
                     ("renderer.cycles_filter_px=0", "renderer.cycles_filter_px"),
                     ("renderer.cycles_threads=-1", "renderer.cycles_threads")):
        with pytest.raises(ConfigError, match=msg):
            load_config(None, overrides=[bad])


def test_cli_renderer_flag_sets_the_backend(monkeypatch):
    import synth.cli as cli

    seen = {}

    def fake_sample(args):
        seen["cfg"] = cli._load(args)
        return 0

    monkeypatch.setattr(cli, "cmd_sample", fake_sample)
    config = os.path.join(ROOT, "pipeline.yaml")
    assert cli.main(["sample", "--index", "0", "--renderer", "mix", "--config", config]) == 0
    assert seen["cfg"].renderer.backend == "mix"
    # an explicit --set wins over --renderer
    cli.main(["sample", "--index", "0", "--renderer", "mix", "--set", "renderer.backend=gl"])
    assert seen["cfg"].renderer.backend == "gl"


def test_missing_bpy_gives_the_install_command(monkeypatch):
    from synth.config import ConfigError, load_config
    from synth.pipeline import build_renderer
    from synth.render.blender import import_bpy

    monkeypatch.setitem(sys.modules, "bpy", None)  # makes `import bpy` raise ImportError
    with pytest.raises(ImportError, match=r"pip install -e '\.\[blender\]'"):
        import_bpy()
    with pytest.raises(ConfigError, match=r"renderer.backend='blender'.*\[blender\]"):
        build_renderer(load_config(None, overrides=["renderer.backend=blender"]))


def test_setup_installs_the_pinned_extra():
    """setup.sh (CI) installs bpy from the pin of pyproject's [blender] extra."""
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        extra = tomllib.load(f)["project"]["optional-dependencies"]["blender"]
    assert len(extra) == 1 and extra[0].startswith("bpy==")
    with open(os.path.join(ROOT, "setup.sh")) as f:
        setup = f.read()
    assert "['optional-dependencies']['blender']" in setup and "--no-deps" in setup
