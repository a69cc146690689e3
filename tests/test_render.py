"""Tests of the moderngl rasteriser (synth.render.gl) against analytic geometry.

Skipped with the reason when no OpenGL context can be created (no moderngl, no
libOSMesa / EGL). Scenes use the procedural sphere head of synth.render.testmeshes.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from synth.render.base import RENDER_OUTPUT_KEYS
from synth.render.outputs import range_image
from synth.render.testmeshes import sphere_head
from synth.scene import Background, Camera, HeadInstance, Light, SceneSpec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _make_renderer(backend: str, **kw):
    """A GLRenderer, or skip the test with the reason (no moderngl, no GL driver)."""
    try:
        from synth.render.gl import GLRenderer

        return GLRenderer(backend, **kw)
    except Exception as exc:
        pytest.skip(f"no OpenGL context for backend {backend!r}: {exc}")


@pytest.fixture(scope="module")
def renderer():
    r = _make_renderer("auto")
    yield r
    r.close()


def rot_y(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])


def make_spec(cam, t, rotation=None, background=None, render_scale=1.0, index=0):
    return SceneSpec(
        index=index, seed=0, camera=cam,
        head=HeadInstance(0, np.eye(3) if rotation is None else rotation, np.asarray(t, float)),
        light=Light(np.array([0.3, -0.4, -1.0]) / np.linalg.norm([0.3, -0.4, -1.0]), 0.8,
                    np.array([1.0, 0.95, 0.9]), 0.35),
        background=background or Background("solid", np.array([0.2, 0.3, 0.4])),
        render_scale=render_scale)


def analytic_sphere(cam: Camera, centre, r, scale: float = 1.0):
    """Planar z and range (mm) of the ray through each pixel centre hitting the sphere
    (NaN where it misses), on the pixel grid of cam (optionally scaled)."""
    w, h = round(cam.width * scale), round(cam.height * scale)
    u = (np.arange(w) + 0.5) / scale
    v = (np.arange(h) + 0.5) / scale
    dx = ((u - cam.cx) / cam.fx)[None, :]
    dy = ((v - cam.cy) / cam.fy)[:, None]
    c = np.asarray(centre, float)
    dd = 1.0 + dx ** 2 + dy ** 2
    dc = dx * c[0] + dy * c[1] + c[2]
    disc = dc ** 2 - dd * (c @ c - r * r)
    with np.errstate(invalid="ignore"):
        t = (dc - np.sqrt(disc)) / dd
    t = np.where(disc > 0, t, np.nan)
    return t, t * np.sqrt(dd)


def interior(mask: np.ndarray, margin: int) -> np.ndarray:
    """mask eroded by margin pixels (4-neighbourhood, repeated)."""
    m = mask.copy()
    for _ in range(margin):
        e = m.copy()
        e[1:] &= m[:-1]
        e[:-1] &= m[1:]
        e[:, 1:] &= m[:, :-1]
        e[:, :-1] &= m[:, 1:]
        m = e
    return m


def test_output_contract(renderer):
    cam = Camera(200, 160, 250.0, 250.0, 100.0, 80.0)
    spec = make_spec(cam, [0, 0, 500.0])
    out = renderer.render(spec, sphere_head(80.0))
    assert set(out) == set(RENDER_OUTPUT_KEYS) | {"seg"}  # the rasterizer also draws part classes
    assert out["rgb"].shape == (160, 200, 3) and out["rgb"].dtype == np.uint8
    rng = range_image(spec, out["depth"])
    for a in (out["depth"], rng):
        assert a.shape == (160, 200) and a.dtype == np.float32
    assert out["mask"].shape == (160, 200) and out["mask"].dtype == bool
    assert out["landmarks"].shape == (68, 2) and out["landmarks"].dtype == np.float32
    assert out["landmarks_visible"].shape == (68,) and out["landmarks_visible"].dtype == bool
    assert out["bbox"].shape == (4,) and out["bbox"].dtype == np.float32
    np.testing.assert_array_equal(out["mask"], out["depth"] > 0)
    assert (rng[~out["mask"]] == 0).all() and (out["depth"][~out["mask"]] == 0).all()
    assert renderer.name.startswith("moderngl-") and "moderngl" in renderer.version
    # solid background is exact away from the head
    np.testing.assert_array_equal(out["rgb"][0, 0], [51, 77, 102])


def test_depth_and_range_exact(renderer):
    cam = Camera(256, 256, 300.0, 300.0, 128.0, 128.0)
    r, tz = 80.0, 500.0
    # put the front point (0, 0, -r) on the centre of pixel (140, 110)
    tx = (140.5 - cam.cx) * (tz - r) / cam.fx
    ty = (110.5 - cam.cy) * (tz - r) / cam.fy
    spec = make_spec(cam, [tx, ty, tz])
    out = renderer.render(spec, sphere_head(r))
    rng = range_image(spec, out["depth"])
    assert abs(out["depth"][110, 140] - (tz - r)) < 0.05
    z_ref, range_ref = analytic_sphere(cam, [tx, ty, tz], r)
    inner = interior(out["mask"] & np.isfinite(z_ref), 3)
    assert inner.sum() > 5000
    dz = np.abs(out["depth"][inner] - z_ref[inner])
    dr = np.abs(rng[inner] - range_ref[inner])
    assert np.median(dz) < 0.05 and dz.max() < 1.0, (np.median(dz), dz.max())
    assert np.median(dr) < 0.05 and dr.max() < 1.0, (np.median(dr), dr.max())
    # range is the exact ray length for the rendered z
    f = np.sqrt(1 + ((np.arange(256) + 0.5 - cam.cx) / cam.fx)[None] ** 2
                + ((np.arange(256) + 0.5 - cam.cy) / cam.fy)[:, None] ** 2)
    np.testing.assert_allclose(rng, out["depth"] * f, rtol=1e-6, atol=1e-3)
    # silhouette: rendered and analytic masks differ only along the edge
    assert (out["mask"] ^ np.isfinite(z_ref)).sum() < 0.02 * out["mask"].sum()


def test_projection_off_centre_anisotropic(renderer):
    cam = Camera(256, 224, 500.0, 450.0, 100.0, 140.0)
    centre = np.array([60.0, -40.0, 700.0])
    out = renderer.render(make_spec(cam, centre), sphere_head(12.0))
    m = out["mask"]
    assert m.sum() > 200
    ys, xs = np.nonzero(m)
    centroid = np.array([xs.mean() + 0.5, ys.mean() + 0.5])
    expected = cam.project(centre[None])[0]
    assert np.abs(centroid - expected).max() < 0.5, (centroid, expected)
    z_ref, _ = analytic_sphere(cam, centre, 12.0)
    assert (m ^ np.isfinite(z_ref)).sum() <= 0.15 * m.sum()


def test_landmarks_yaw_and_visibility(renderer):
    cam = Camera(256, 256, 350.0, 350.0, 128.0, 128.0)
    r = 80.0
    head = sphere_head(r)
    lm = head.landmarks.copy()
    lm[0] = [0.0, 0.0, r]          # back of the head: hidden
    lm[16] = [0.0, -r, 0.0]        # top of the head, seen edge-on
    lm[5] = np.nan                 # absent landmark
    head = dataclasses.replace(head, landmarks=lm)
    t = np.array([10.0, 5.0, 550.0])
    out = renderer.render(make_spec(cam, t, rotation=rot_y(30.0)), head)
    uv, vis = out["landmarks"], out["landmarks_visible"]
    centre_u = cam.project(t[None])[0, 0]
    assert uv[30, 0] < centre_u - 20        # +30 deg yaw turns the nose toward image left
    expected = cam.project((lm[30:31].astype(float) @ rot_y(30.0).T) + t)[0]
    np.testing.assert_allclose(uv[30], expected, atol=1e-3)
    assert np.isnan(uv[5]).all() and not vis[5]
    assert not vis[0]
    assert vis[30] and vis[8]
    front = np.isfinite(uv).all(1) & vis
    px = np.floor(uv[front]).astype(int)
    assert out["mask"][px[:, 1], px[:, 0]].all()
    finite = uv[np.isfinite(uv).all(1)]
    np.testing.assert_allclose(out["bbox"], [*finite.min(0), *finite.max(0)], atol=1e-4)


def test_render_scale_half(renderer):
    cam = Camera(256, 256, 300.0, 300.0, 128.0, 128.0)
    centre = [15.0, -10.0, 480.0]
    head = sphere_head(80.0)
    full = renderer.render(make_spec(cam, centre), head)
    half_spec = make_spec(cam, centre, render_scale=0.5)
    half = renderer.render(half_spec, head)
    assert half["rgb"].shape == (256, 256, 3) and half["depth"].shape == (256, 256)
    np.testing.assert_allclose(half["landmarks"], full["landmarks"])
    # each output pixel carries the exact depth of its low-res pixel centre
    z_lo, r_lo = analytic_sphere(cam, centre, 80.0, scale=0.5)
    z_up = np.repeat(np.repeat(z_lo, 2, 0), 2, 1)
    inner = interior(half["mask"] & np.isfinite(z_up), 4)
    dz = np.abs(half["depth"][inner] - z_up[inner])
    assert np.median(dz) < 0.05 and dz.max() < 1.0, (np.median(dz), dz.max())
    # and its range is that of the same low-res pixel centre
    dr = np.abs(range_image(half_spec, half["depth"])[inner] - np.repeat(np.repeat(r_lo, 2, 0), 2, 1)[inner])
    assert np.median(dr) < 0.05 and dr.max() < 1.0, (np.median(dr), dr.max())
    # values are samples, not blends: every depth value occurs in the low-res render
    lo = renderer.rasterize(make_spec(cam, centre), head, 128, 128, background=False)[1]
    assert np.isin(half["depth"][half["mask"]], lo[lo > 0]).all()
    assert abs(int(half["mask"].sum()) - int(full["mask"].sum())) < 0.03 * full["mask"].sum()


def test_smaller_renders_share_the_output_framebuffer(renderer):
    """render_scale < 1 draws into a corner of the output-size framebuffer: the same bytes as a
    framebuffer of exactly that size, and no new framebuffer or noise texture per render size."""
    from synth.render import geometry

    cam = Camera(160, 128, 200.0, 210.0, 82.0, 61.0)
    head = sphere_head(70.0)
    noise = Background("noise", np.array([0.4, 0.5, 0.6]), seed=3)
    spec = make_spec(cam, [5.0, -3.0, 520.0], rotation=rot_y(-20.0), background=noise)
    renderer.render(spec, head)  # the output-size framebuffer exists from here on
    fbos = len(renderer._fbos)
    for w, h in ((97, 77), (100, 80), (61, 49)):
        rgb, z, _ = renderer.rasterize(spec, head, w, h)  # corner of the 160x128 framebuffer
        exact = dataclasses.replace(spec, camera=geometry.scaled_camera(cam, w, h))
        rgb_e, z_e, _ = renderer.rasterize(exact, head, w, h)  # a framebuffer of exactly w x h
        np.testing.assert_array_equal(rgb, rgb_e)
        np.testing.assert_array_equal(z, z_e)
        assert (z > 0).sum() > 300  # the head is in the picture
    assert len(renderer._fbos) == fbos + 3
    before = len(renderer._fbos)
    for scale in (0.5, 0.52, 0.55, 0.6, 0.7):
        renderer.render(dataclasses.replace(spec, render_scale=scale), head)
    assert len(renderer._fbos) == before  # all drawn in the 160x128 framebuffer


def test_backgrounds(renderer, tmp_path):
    from PIL import Image

    cam = Camera(96, 80, 120.0, 120.0, 48.0, 40.0)
    head = sphere_head(60.0)
    img = np.random.default_rng(0).integers(0, 256, (80, 96, 3), dtype=np.uint8)
    path = tmp_path / "bg.png"
    Image.fromarray(img).save(path)
    out = renderer.render(make_spec(cam, [0, 0, 600.0],
                                    background=Background("image", np.zeros(3), image_path=str(path))), head)
    np.testing.assert_array_equal(out["rgb"][~out["mask"]], img[~out["mask"]])
    a = renderer.render(make_spec(cam, [0, 0, 600.0], background=Background("noise", np.array([0.4, 0.5, 0.6]), seed=7)), head)
    b = renderer.render(make_spec(cam, [0, 0, 600.0], background=Background("noise", np.array([0.4, 0.5, 0.6]), seed=8)), head)
    assert a["rgb"][~a["mask"]].std() > 3           # textured, not flat
    # the same bytes as the reference other backends composite over, everywhere the head is not
    from synth.render.background import make_background

    ref = make_background(Background("noise", np.array([0.4, 0.5, 0.6]), seed=7), 96, 80)
    np.testing.assert_array_equal(a["rgb"][~a["mask"]], ref[~a["mask"]])
    assert not np.array_equal(a["rgb"], b["rgb"])  # seed matters


@pytest.mark.parametrize("kind,blur", [("leaves", 0.0), ("clutter", 0.0), ("outdoor", 0.0), ("leaves", 0.015),
                                       ("clutter", 0.01), ("outdoor", 0.01)])
def test_photo_backgrounds_are_pasted_as_make_background_draws_them(renderer, kind, blur):
    """The dead-leaves, clutter and outdoor kinds (sharp or defocused) reach the rasterizer through
    make_background: the same bytes wherever the head is not, at full and at reduced render scale."""
    from synth.render.background import make_background

    cam = Camera(96, 80, 120.0, 120.0, 48.0, 40.0)
    bg = Background(kind, np.array([0.4, 0.5, 0.6]), seed=9, blur=blur)
    out = renderer.render(make_spec(cam, [0, 0, 600.0], background=bg), sphere_head(60.0))
    ref = np.asarray(make_background(bg, 96, 80))
    np.testing.assert_array_equal(out["rgb"][~out["mask"]], ref[~out["mask"]])
    half = renderer.render(make_spec(cam, [0, 0, 600.0], background=bg, render_scale=0.5), sphere_head(60.0))
    away = interior(~half["mask"], 6)   # bicubic reaches 2 render px (4 output px) past the silhouette
    import cv2

    small = cv2.resize(np.asarray(make_background(bg, 48, 40)), (96, 80), interpolation=cv2.INTER_CUBIC)
    np.testing.assert_array_equal(half["rgb"][away], small[away])


_HASH_SCRIPT = """
import hashlib, sys, numpy as np
sys.path.insert(0, {root!r})
from synth.render.gl import GLRenderer
from synth.render.testmeshes import sphere_head
sys.path.insert(0, {tests!r})
from test_render import determinism_spec
r = GLRenderer({backend!r})
out = r.render(determinism_spec(), sphere_head(70.0))
print(hashlib.sha256(out["rgb"].tobytes() + out["depth"].tobytes()).hexdigest())
"""


def determinism_spec():
    cam = Camera(160, 128, 200.0, 210.0, 82.0, 61.0)
    return make_spec(cam, [5.0, -3.0, 520.0], rotation=rot_y(-20.0),
                     background=Background("noise", np.array([0.6, 0.5, 0.4]), seed=11))


def test_a_frame_does_not_depend_on_the_frame_before(renderer):
    """The solid colour is the clear colour and a noise background is pasted where no camera z was
    written: neither may leak into the next frame (a worker renders specs in any order)."""
    cam = Camera(160, 128, 200.0, 210.0, 82.0, 61.0)
    head = sphere_head(70.0)
    specs = [make_spec(cam, [5.0, -3.0, 520.0], rotation=rot_y(-20.0), background=bg, render_scale=scale)
             for bg, scale in ((Background("noise", np.array([0.4, 0.5, 0.6]), seed=3), 1.0),
                               (Background("solid", np.array([0.9, 0.1, 0.3])), 1.0),
                               (Background("solid", np.array([0.2, 0.3, 0.4])), 0.6),
                               (Background("solid", np.array([0.8, 0.6, 0.5]), dim_ev=1.5), 1.0),
                               (Background("noise", np.array([0.6, 0.6, 0.6]), seed=5, dim_ev=2.0), 1.0),
                               (Background("noise", np.array([0.7, 0.6, 0.2]), seed=4), 0.6))]
    alone = []
    for spec in specs:
        fresh = _make_renderer("auto")
        try:
            alone.append(fresh.render(spec, head))
        finally:
            fresh.close()
    for order in ((0, 1, 2, 3, 4, 5), (5, 3, 2, 4, 1, 0), (1, 0, 3, 2, 5, 4)):
        for i in order:
            out = renderer.render(specs[i], head)
            for key in ("rgb", "depth", "mask"):
                np.testing.assert_array_equal(out[key], alone[i][key])
            assert (out["depth"][~out["mask"]] == 0).all()
    from synth.render.background import make_background, solid_fill

    for i in (3, 4):   # a dimmed backdrop: the rasterizer's background pixels are make_background's
        out, bgi = alone[i], specs[i].background
        want = np.broadcast_to(solid_fill(bgi), out["rgb"].shape) if bgi.kind == "solid" else \
            np.asarray(make_background(bgi, out["rgb"].shape[1], out["rgb"].shape[0]))
        np.testing.assert_array_equal(out["rgb"][~out["mask"]], want[~out["mask"]])


def test_a_frame_does_not_depend_on_the_head_drawn_before(renderer):
    """The renderer skips uniforms that already hold their value: a part's class, highlight, tint and
    sidedness, and the frame's pose and light, must still be the frame's own whatever came before."""
    cam = Camera(96, 96, 150.0, 150.0, 48.0, 48.0)
    skin = sphere_head(70.0)
    part = skin.parts[0]
    tinted = dataclasses.replace(skin, identity=1, parts=[
        dataclasses.replace(part, name="top", tint=(0.9, 0.4, 0.3)),
        dataclasses.replace(part, name="hair", tint=(0.2, 0.15, 0.1), positions=part.positions * 1.05)])
    frames = [(skin, make_spec(cam, [0.0, 0.0, 500.0], rotation=rot_y(-20.0))),
              (tinted, make_spec(cam, [10.0, 5.0, 560.0], rotation=rot_y(30.0))),
              (tinted, make_spec(cam, [-5.0, 0.0, 480.0])),
              (skin, make_spec(cam, [0.0, -8.0, 520.0], rotation=rot_y(15.0)))]
    class Forgetful(dict):  # the renderer's memory of uniform values, made to remember nothing
        def __setitem__(self, key, value):
            pass

    alone = []
    for head, spec in frames:  # each frame from a fresh renderer that writes every uniform every time
        fresh = _make_renderer("auto")
        fresh._u_last = {k: Forgetful() for k in fresh._u_last}
        try:
            alone.append(fresh.render(spec, head))
        finally:
            fresh.close()
    assert not np.array_equal(alone[0]["rgb"], alone[3]["rgb"])
    for order in ((0, 1, 2, 3), (3, 2, 1, 0), (1, 3, 0, 2, 1)):
        for i in order:
            out = renderer.render(frames[i][1], frames[i][0])
            for key in ("rgb", "depth", "mask"):
                np.testing.assert_array_equal(out[key], alone[i][key])


def test_determinism_across_renderers_and_processes(renderer):
    head = sphere_head(70.0)
    a = renderer.render(determinism_spec(), head)
    b = renderer.render(determinism_spec(), head)
    digest = hashlib.sha256(a["rgb"].tobytes() + a["depth"].tobytes()).hexdigest()
    assert digest == hashlib.sha256(b["rgb"].tobytes() + b["depth"].tobytes()).hexdigest()
    script = _HASH_SCRIPT.format(root=ROOT, tests=os.path.join(ROOT, "tests"), backend=renderer.backend)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == digest


def test_backends_agree():
    gl_o, gl_e = _make_renderer("osmesa"), _make_renderer("egl")
    spec = determinism_spec()
    head = sphere_head(70.0)
    mo, me = gl_o.render(spec, head)["mask"], gl_e.render(spec, head)["mask"]
    gl_o.close(), gl_e.close()
    iou = (mo & me).sum() / (mo | me).sum()
    assert iou > 0.99, iou


def test_triangle_alpha_classes():
    from synth.render.cutout import MIXED, OPAQUE, TRANSPARENT, triangle_alpha_classes

    alpha = np.zeros((64, 64), np.uint8)
    alpha[:, :32] = 255                      # left half kept, right half cut out
    alpha[:8, 32:] = 255                     # and a kept strip along the top of the right half
    px = lambda x, y: ((x + 0.5) / 64, 1.0 - (y + 0.5) / 64)  # texel centre -> OpenGL uv
    tris = {OPAQUE: [(4, 20), (20, 20), (4, 40)],          # inside the kept half
            TRANSPARENT: [(40, 20), (60, 20), (40, 50)],   # inside the cut-out half
            MIXED: [(20, 20), (44, 20), (20, 40)]}         # across the edge
    near = [(10, 40), (30.6, 40), (10, 50)]    # touches column 31, next to the cut-out column 32
    top = [(40, 1), (60, 1), (40, 5)]          # kept strip: rows count from the top of the image
    outside = [(-20, 20), (10, 20), (10, 30)]  # u < 0 wraps
    corners = [*tris[OPAQUE], *tris[TRANSPARENT], *tris[MIXED], *near, *top, *outside]
    uvs = np.array([px(x, y) for x, y in corners], np.float32)
    uvs[15, 0] = -20.5 / 64
    indices = np.arange(len(corners), dtype=np.uint32).reshape(-1, 3)
    got = triangle_alpha_classes(indices, uvs, alpha).tolist()
    assert got == [OPAQUE, TRANSPARENT, MIXED, MIXED, OPAQUE, MIXED]


@pytest.mark.parametrize("one_sided", [False, True])
def test_one_sided_parts_show_no_back_faces(renderer, one_sided):
    """Seen from its centre, a closed sphere shows only back faces: a one-sided part (short hair's
    flag) shows nothing there, a two-sided one (a part not in cull_parts) fills the view; from
    outside both show the same front."""
    head = sphere_head(400.0, identity=2100 + one_sided, n_lat=32, n_lon=64)   # beyond the near plane (100 mm)
    card = dataclasses.replace(head.parts[0], name="card", one_sided=one_sided)
    head = dataclasses.replace(head, parts=(card,))
    cam = Camera(64, 64, 40.0, 40.0, 32.0, 32.0)
    inside = renderer.render(make_spec(cam, [0.0, 0.0, 0.0]), head)
    assert inside["depth"].all() != one_sided and (inside["depth"] > 0).any() != one_sided
    outside = renderer.render(make_spec(cam, [0.0, 0.0, 2000.0]), head)
    z, _ = analytic_sphere(cam, [0.0, 0.0, 2000.0], 400.0)
    assert ((outside["depth"] > 0) == np.isfinite(z))[interior(np.isfinite(z), 2)].all()


def _classes_drawing_every_footprint(indices, uvs, alpha):
    """triangle_alpha_classes as it was before its box shortcut: every footprint drawn (the reference)."""
    import cv2

    from synth.render.cutout import MIXED, OPAQUE, TRANSPARENT, alpha_cores

    h, w = alpha.shape
    opaque, transparent = alpha_cores(alpha)
    uv = np.asarray(uvs, np.float64)
    tri = np.stack([uv[:, 0] * w - 0.5, (1.0 - uv[:, 1]) * h - 0.5], 1)[np.asarray(indices, np.int64)]
    inside = ((uv[:, 0] >= 0) & (uv[:, 0] <= 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= 1))[indices].all(1)
    out = np.full(len(tri), MIXED, np.uint8)
    for f in np.flatnonzero(inside):
        x0, y0 = np.maximum(np.floor(tri[f].min(0)).astype(int) - 1, 0)
        x1, y1 = np.minimum(np.ceil(tri[f].max(0)).astype(int) + 2, [w, h])
        foot = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(foot, np.round((tri[f] - (x0, y0)) * 16).astype(np.int32), 1, cv2.LINE_8, 4)
        covered = foot.astype(bool)
        if opaque[y0:y1, x0:x1][covered].all():
            out[f] = OPAQUE
        elif transparent[y0:y1, x0:x1][covered].all():
            out[f] = TRANSPARENT
    return out


def test_triangle_alpha_classes_match_drawing_every_footprint():
    """The box shortcut decides the same classes as drawing each footprint, over triangles of every size
    on a texture of blobs and thin strands (a hair card's layout)."""
    import cv2

    from synth.render.cutout import MIXED, OPAQUE, TRANSPARENT, triangle_alpha_classes

    rng = np.random.default_rng(5)
    alpha = np.zeros((128, 96), np.uint8)
    for _ in range(40):
        cv2.circle(alpha, (int(rng.integers(96)), int(rng.integers(128))), int(rng.integers(2, 20)), 255, -1)
    for x in range(0, 96, 5):
        cv2.line(alpha, (x, 0), (x + 3, 127), 255, 1)
    n = 3000
    centre = rng.random((n, 1, 2))
    corners = centre + (rng.random((n, 3, 2)) - 0.5) * rng.choice([0.01, 0.05, 0.3], (n, 1, 1))
    uvs = corners.reshape(-1, 2).astype(np.float32)
    indices = np.arange(3 * n, dtype=np.uint32).reshape(-1, 3)
    got = triangle_alpha_classes(indices, uvs, alpha)
    np.testing.assert_array_equal(got, _classes_drawing_every_footprint(indices, uvs, alpha))
    assert min((got == c).sum() for c in (OPAQUE, TRANSPARENT, MIXED)) > 50   # every class is exercised


def _half_cut_sphere():
    """A sphere head whose top half maps onto cut-out texels and bottom half onto kept ones."""
    from synth.render.testmeshes import checker_texture

    head = sphere_head(80.0, identity=2000, n_lat=32, n_lon=64)
    part = head.parts[0]
    top = part.positions[:, 1] < 0                       # y down: image-up half
    uv = part.uvs.copy()
    uv[:, 0] = np.where(top, 0.55 + 0.45 * uv[:, 0], 0.45 * uv[:, 0])
    tex = checker_texture(256)
    tex[:, 128:, 3] = 0                                  # right half of the texture cut out
    part = dataclasses.replace(part, name="card", uvs=uv, texture=tex, texture_key="half-cut-256")
    return dataclasses.replace(head, parts=(part,))


def test_cut_out_triangles_are_dropped_with_the_same_image(renderer):
    from synth.render.cutout import MIXED, TRANSPARENT, triangle_alpha_classes
    from synth.render.gl import GLRenderer

    head = _half_cut_sphere()
    part = head.parts[0]
    classes = triangle_alpha_classes(part.indices, part.uvs, part.texture[..., 3])
    assert (classes == TRANSPARENT).sum() > 0.3 * len(classes) and (classes == MIXED).any()
    cam = Camera(128, 128, 160.0, 160.0, 64.0, 64.0)
    spec = make_spec(cam, [0.0, 0.0, 500.0], rotation=rot_y(30.0))
    new = renderer.render(spec, head)
    drawn, alpha_test = renderer._drawn_triangles(part)
    assert len(drawn) == int((classes != TRANSPARENT).sum()) and alpha_test
    every = GLRenderer(renderer.backend)  # the same renderer drawing every triangle through the alpha test
    every._drawn_triangles = lambda p: (np.ascontiguousarray(p.indices, np.uint32), True)
    try:
        old = every.render(spec, head)
    finally:
        every.close()
    for key in ("rgb", "depth", "mask"):
        np.testing.assert_array_equal(new[key], old[key])
    rows = np.flatnonzero(new["mask"].any(1))
    assert rows.min() >= 62 and rows.max() >= 86  # centre row 64, radius 25.6 px: only the bottom half drawn


def test_parts_that_only_see_kept_texels_skip_the_alpha_test(renderer):
    # trilinear throughout: the cut-out texture is always trilinear, its opaque copy would not be
    renderer = _make_renderer(renderer.backend, mipmaps="linear")
    try:
        _only_kept_texels(renderer)
    finally:
        renderer.close()


def _only_kept_texels(renderer):
    head = _half_cut_sphere()
    part = head.parts[0]
    # all UVs inside the kept half, away from the texture's edges (a repeating texture's edge
    # texels are filtered with the opposite edge, so they count as possibly cut out)
    u = part.uvs[:, 0] / part.uvs[:, 0].max()
    only_left = dataclasses.replace(part, uvs=np.stack([0.02 + 0.4 * u, 0.02 + 0.96 * part.uvs[:, 1]], 1)
                                    .astype(np.float32))
    opaque_tex = only_left.texture.copy()
    opaque_tex[..., 3] = 255
    cam = Camera(128, 128, 160.0, 160.0, 64.0, 64.0)
    spec = make_spec(cam, [0.0, 0.0, 500.0], rotation=rot_y(30.0))
    cut = renderer.render(spec, dataclasses.replace(head, parts=(only_left,)))
    assert renderer._drawn_triangles(only_left)[1] is False
    entries = renderer._head_entries(dataclasses.replace(head, parts=(only_left,)))  # cached: new UVs, new upload
    assert entries[0].vao.program is renderer._progs[False, renderer._specular(only_left)]
    plain = renderer.render(spec, dataclasses.replace(head, identity=2001, parts=(dataclasses.replace(
        only_left, texture=opaque_tex, texture_key="half-cut-256-opaque"),)))
    np.testing.assert_array_equal(cut["rgb"], plain["rgb"])
    np.testing.assert_array_equal(cut["depth"], plain["depth"])


def test_head_cache_reuses_uploads(renderer):
    cam = Camera(64, 64, 80.0, 80.0, 32.0, 32.0)
    spec = make_spec(cam, [0, 0, 600.0])
    heads = [sphere_head(60.0 + i, identity=1000 + i, n_lat=8, n_lon=16) for i in range(3)]
    for h in heads * 2:
        renderer.render(spec, h)
    keys = [k for k in renderer._heads if k[0] in (1000, 1001, 1002)]
    assert len(keys) == 3
    assert len({k for k in renderer._textures if k.startswith("checker")}) == 1


def test_two_osmesa_renderers_interleave():
    a, b = _make_renderer("osmesa"), _make_renderer("osmesa")
    spec, head = determinism_spec(), sphere_head(70.0)
    ra1 = a.render(spec, head)
    rb = b.render(spec, head)
    ra2 = a.render(spec, head)
    b.close()
    ra3 = a.render(spec, head)
    a.close()
    for o in (rb, ra2, ra3):
        np.testing.assert_array_equal(o["rgb"], ra1["rgb"])
        np.testing.assert_array_equal(o["depth"], ra1["depth"])


def test_lru_eviction_releases_heads():
    r = _make_renderer("auto", max_heads=2)
    spec = make_spec(Camera(64, 64, 80.0, 80.0, 32.0, 32.0), [0, 0, 600.0])
    for i in range(4):
        r.render(spec, sphere_head(60.0, identity=i, n_lat=8, n_lon=16))
    assert [k[0] for k in r._heads] == [2, 3]
    r.close()
    r.close()  # idempotent


def test_missing_osmesa_message(monkeypatch):
    from synth.render import osmesa

    monkeypatch.setattr(osmesa, "_lib", None)
    monkeypatch.setattr(osmesa, "_LIB_NAMES", ("libOSMesa-does-not-exist.so",))
    monkeypatch.setattr(osmesa.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(osmesa.OSMesaUnavailable, match="apt-get install libosmesa6"):
        osmesa.load_library()


@pytest.mark.parametrize("src,dst", [((150, 160), (256, 272)), ((128, 128), (272, 256)), ((256, 256), (256, 256)),
                                     ((97, 61), (200, 120))])
def test_nearest_resampling_and_range_factor_at(src, dst):
    """resize_nearest is the pixel-centre index gather; range_factor_at is the full map's gather
    (same bytes: the fast paths of render_outputs change no output)."""
    from synth.render import geometry

    (w, h), (W, H) = src, dst
    img = np.random.default_rng(0).random((h, w)).astype(np.float32)
    iy, ix = geometry.nearest_index(h, H), geometry.nearest_index(w, W)
    np.testing.assert_array_equal(geometry.resize_nearest(img, W, H), img[iy[:, None], ix[None, :]])
    assert geometry.resize_nearest(img, W, H).flags.c_contiguous  # depth is stored straight from it
    np.testing.assert_array_equal(geometry.resize_nearest(img > 0.5, W, H), (img > 0.5)[iy[:, None], ix[None, :]])
    cam = Camera(w, h, 1.3 * w, 1.1 * h, 0.45 * w, 0.55 * h)
    np.testing.assert_array_equal(geometry.range_factor_at(cam, iy, ix), geometry.range_factor(cam)[iy[:, None], ix[None, :]])


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 24, 37, 64])
def test_specular_power_glsl_is_the_power(n):
    """The unrolled repeated squaring multiplies out to x ** n (its statements read as Python too)."""
    from synth.render.gl_shaders import specular_power_glsl

    code = specular_power_glsl(n)
    assert "pow(" not in code
    body = code.split("float r; ")[1].split(" return r;")[0]
    for x in (0.0, 0.3, 0.9, 0.999, 1.0):
        env = {"b": x}
        exec(body.replace(";", "\n").replace("\n ", "\n"), {}, env)
        assert env["r"] == pytest.approx(x ** n, rel=1e-12, abs=1e-300)
    assert "pow(x, 24.5)" in specular_power_glsl(24.5)  # other exponents keep pow


def test_unrolled_specular_matches_pow(renderer):
    """Whole shininess (squaring) and a hair above it (GLSL pow) give the same highlight within a grey level."""
    cam = Camera(128, 128, 220.0, 220.0, 64.0, 64.0)
    head = sphere_head(70.0)
    spec = make_spec(cam, [0.0, 0.0, 420.0])
    pow_r = _make_renderer(renderer.backend, shininess=24.000001, ks=0.5)
    sq_r = _make_renderer(renderer.backend, shininess=24.0, ks=0.5)
    try:
        a, b = sq_r.render(spec, head), pow_r.render(spec, head)
    finally:
        pow_r.close(), sq_r.close()
    skin = a["mask"]
    assert a["rgb"][skin].max() > renderer.render(spec, head)["rgb"][skin].max()  # ks=0.5 shows a highlight
    assert np.abs(a["rgb"].astype(int) - b["rgb"])[skin].max() <= 1


def test_value_noise_is_the_smoothstep_bilinear_octave_sum():
    """value_noise (one block matrix product) equals the octave-by-octave definition: each grid
    interpolated smoothstep-bilinearly at the pixel centres, weighted, summed (float rounding only)."""
    from synth.render.background import NOISE_OCTAVES, value_noise

    def reference(rng, width, height, channels, octaves):
        longer, total = max(width, height), sum(w for _, w in octaves)
        out = np.zeros((height, width, channels))
        for cells, weight in octaves:
            gx, gy = max(1, round(cells * width / longer)), max(1, round(cells * height / longer))
            grid = rng.random((gy + 1, gx + 1, channels), dtype=np.float32).astype(np.float64)

            def taps(n, g):
                t = (np.arange(n) + 0.5) * g / n
                i = np.minimum(np.floor(t).astype(int), g - 1)
                f = t - i
                return i, f * f * (3 - 2 * f)

            (iy, fy), (ix, fx) = taps(height, gy), taps(width, gx)
            rows = grid[iy] * (1 - fy)[:, None, None] + grid[iy + 1] * fy[:, None, None]
            out += weight / total * (rows[:, ix] * (1 - fx)[None, :, None] + rows[:, ix + 1] * fx[None, :, None])
        return out

    for seed, (w, h, c) in enumerate([(64, 64, 1), (50, 37, 3), (7, 19, 2), (2, 2, 1)]):
        got = value_noise(np.random.default_rng(seed), w, h, c, NOISE_OCTAVES)
        ref = reference(np.random.default_rng(seed), w, h, c, NOISE_OCTAVES)
        assert got.shape == (h, w, c) and got.dtype == np.float32
        np.testing.assert_allclose(got, ref, atol=1e-6)
        assert -1e-6 <= got.min() and got.max() <= 1.0 + 1e-6


def test_mipmaps_nearest_for_opaque_textures_and_cutout_mipmaps_for_the_rest(renderer):
    """mipmaps="nearest" filters opaque textures bilinearly in the nearest mip level, keeps cut-out
    textures trilinear unless cutout_mipmaps="nearest", and draws a head within a fraction of a
    grey level of trilinear."""
    import moderngl

    from synth.heads.mesh import HeadMesh

    cam = Camera(128, 128, 300.0, 300.0, 64.0, 64.0)
    head = sphere_head(70.0)  # small in the frame: minified texture, several mip levels in play
    tex = head.parts[0].texture.copy()
    tex[:8, :8, 3] = 0  # one cut-out corner
    cut_part = dataclasses.replace(head.parts[0], name="cards", texture=tex, texture_key="test/cut-corner")
    cut_head = HeadMesh(identity=1, parts=(cut_part,), landmarks=head.landmarks)
    spec = make_spec(cam, [0.0, 0.0, 900.0], rotation=rot_y(30.0))
    near, lin = _make_renderer(renderer.backend, mipmaps="nearest"), _make_renderer(renderer.backend, mipmaps="linear")
    all_near = _make_renderer(renderer.backend, mipmaps="nearest", cutout_mipmaps="nearest")
    try:
        a, b = near.render(spec, head), lin.render(spec, head)
        near.render(spec, cut_head)
        cut_trilinear, cut_nearest = near.render(spec, cut_head), all_near.render(spec, cut_head)
        filters = {key: t.filter for key, (t, *_) in near._textures.items()}
        assert all(t.filter[0] == moderngl.LINEAR_MIPMAP_LINEAR for t, *_ in lin._textures.values())
        assert all_near._textures["test/cut-corner"][0].filter[0] == moderngl.LINEAR_MIPMAP_NEAREST
    finally:
        near.close(), lin.close(), all_near.close()
    assert filters[head.parts[0].texture_key][0] == moderngl.LINEAR_MIPMAP_NEAREST
    assert filters["test/cut-corner"][0] == moderngl.LINEAR_MIPMAP_LINEAR
    diff = np.abs(a["rgb"].astype(int) - b["rgb"])[a["mask"]]
    assert diff.max() > 0 and diff.mean() < 2.0  # a real difference, and a small one (sharp test texture)
    cut_diff = np.abs(cut_trilinear["rgb"].astype(int) - cut_nearest["rgb"])[cut_trilinear["mask"]]
    assert cut_diff.max() > 0 and cut_diff.mean() < 2.0  # cutout_mipmaps="nearest": the same kind of change
    from synth.render.gl import GLRenderer

    with pytest.raises(ValueError, match="mipmaps"):
        GLRenderer(renderer.backend, mipmaps="cubic")
    with pytest.raises(ValueError, match="cutout_mipmaps"):
        GLRenderer(renderer.backend, cutout_mipmaps="cubic")


def test_parts_without_the_highlight_draw_the_same_bytes_with_the_shorter_shaders(renderer):
    """A part outside ``specular_parts`` draws with the shader variant that leaves the highlight out;
    the full variant with ``u_ks = 0`` gives the same bytes, and the skin keeps its highlight."""
    head = sphere_head(80.0)
    skin = head.parts[0]
    top = dataclasses.replace(skin, name="top", positions=skin.positions * 0.5 + np.array([0.0, 100.0, 0.0]))
    head = dataclasses.replace(head, identity=3001, parts=(skin, top))
    assert renderer._specular(skin) and not renderer._specular(top)
    with renderer.ctx:   # another test's renderer may hold the current context
        entries = renderer._head_entries(head)
    programs = {d.part.name: d.vao.program for d in entries}
    assert programs["skin"] is not programs["top"]
    full = _make_renderer(renderer.backend)
    full._specular = lambda part: True   # every part on the shaders with the highlight (u_ks = 0 for the top)
    try:
        cam = Camera(128, 128, 160.0, 160.0, 64.0, 64.0)
        for deg in (0.0, 35.0, 170.0):
            spec = make_spec(cam, [0.0, 0.0, 600.0], rotation=rot_y(deg))
            a, b = renderer.render(spec, head), full.render(spec, head)
            assert (a["seg"] == 7).sum() > 100   # the top: a smaller sphere below the head
            for key in ("rgb", "depth", "seg"):
                np.testing.assert_array_equal(a[key], b[key])
        no_ks = _make_renderer(renderer.backend, ks=0.0)
        try:   # the skin's highlight is on: without it the lit side differs
            assert not np.array_equal(no_ks.render(spec, head)["rgb"], renderer.render(spec, head)["rgb"])
        finally:
            no_ks.close()
    finally:
        full.close()
