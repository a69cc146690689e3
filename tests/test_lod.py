"""Level of detail (synth.render.lod) and its use in the GL renderer: fewer triangles over the same
vertices, error within the bound asked for, chosen by screen-space error, and a clear error without
meshoptimizer."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synth.render import lod
from synth.render.testmeshes import sphere_head
from synth.scene import Background, Camera, HeadInstance, Light, SceneSpec


def sphere_part(radius: float = 90.0):
    return sphere_head(radius).parts[0]


@pytest.mark.parametrize("error_mm", [0.1, 0.4, 1.6])
def test_a_level_keeps_the_vertices_and_stays_within_its_error(error_mm):
    part = sphere_part()
    tris, err = lod.simplify(part.positions, part.uvs, part.indices, error_mm)
    assert tris.dtype == np.uint32 and tris.ndim == 2 and tris.shape[1] == 3
    assert 0 < len(tris) < len(part.indices)
    assert err <= error_mm
    # every triangle is one of the mesh's vertices, wound like the original (outward normals)
    assert tris.max() < len(part.positions)
    p = part.positions.astype(np.float64)
    a, b, c = p[tris[:, 0]], p[tris[:, 1]], p[tris[:, 2]]
    centroid = (a + b + c) / 3
    outward = (np.cross(b - a, c - a) * centroid).sum(1)
    assert (outward < 0).mean() < 0.005  # (the sphere's pole triangles have no area: 0)
    # the error is meshoptimizer's quadric measure, not a bound on the deviation: a flat triangle
    # under a sphere sags at its centroid by at most a few times it (measured 2-4x)
    sag = 90.0 - np.linalg.norm(centroid, axis=1)
    assert sag.max() <= 4.0 * error_mm + 0.05
    # and deterministic
    again, _ = lod.simplify(part.positions, part.uvs, part.indices, error_mm)
    np.testing.assert_array_equal(tris, again)


def test_coarser_levels_have_fewer_triangles():
    part = sphere_part()
    counts = [len(lod.simplify(part.positions, part.uvs, part.indices, e)[0]) for e in lod.LEVEL_ERRORS_MM[::2]]
    assert counts == sorted(counts, reverse=True) and counts[-1] < counts[0] / 4


def test_level_for_is_the_coarsest_level_within_the_pixel_budget():
    f = 575.8
    # 0.2 px at (1000 - 100) mm / 575.8 px = 0.313 mm: the 0.283 mm level
    assert lod.level_for(0.2, 1000.0, 100.0, f) == pytest.approx(0.283)
    far, near = lod.level_for(0.2, 3000.0, 100.0, f), lod.level_for(0.2, 700.0, 100.0, f)
    assert far > near
    assert lod.level_for(0.2, 150.0, 100.0, f) is None  # too close for any level: full mesh
    assert lod.level_for(0.2, 90.0, 100.0, f) is None   # camera inside the bound
    for e in (lod.level_for(p, z, 120.0, f) for p in (0.1, 0.5) for z in (500.0, 900.0, 2000.0)):
        assert e is None or e in lod.LEVEL_ERRORS_MM


def _spec(z_mm: float, cam: Camera) -> SceneSpec:
    return SceneSpec(
        index=0, seed=0, camera=cam,
        head=HeadInstance(identity=0, rotation=np.eye(3), translation=np.array([0.0, 0.0, z_mm])),
        light=Light(direction=np.array([0.3, -0.4, -1.0]), intensity=0.9, color=np.ones(3), ambient=0.3),
        background=Background("solid", np.array([0.2, 0.3, 0.4])),
    )


def test_the_renderer_draws_a_level_far_away_and_the_full_mesh_close_up():
    from synth.render.gl import GLRenderer

    head = sphere_head(90.0)
    cam = Camera(128, 128, 300.0, 300.0, 64.0, 64.0)
    with GLRenderer(lod_px=0.0) as full, GLRenderer(lod_px=0.2) as coarse:
        assert "lod 0.2 px" in coarse.version and "lod" not in full.version
        assert full.draw_order and "vertex-cache order, meshoptimizer" in full.version
        far = _spec(900.0, cam)  # (900 - 90) / 300 = 2.7 mm per px: a level of <= 0.54 mm
        a, b = full.render(far, head), coarse.render(far, head)
        (drawn,) = coarse._heads[next(iter(coarse._heads))]
        assert list(drawn.levels) == [lod.level_for(0.2, 900.0, 90.0, 300.0)] == [0.4]
        # the silhouette and the shading barely move (measured: 4 mask pixels of 2852, 1.5 % of
        # the head's pixels change by > 30 grey levels, on the sharp edges of the checker texture)
        head_px = a["mask"].sum()
        assert (a["mask"] != b["mask"]).sum() < 0.01 * head_px
        grey = np.abs(a["rgb"].astype(int) - b["rgb"]).sum(2)
        assert (grey > 30).sum() < 0.03 * head_px
        # labels do not depend on the level
        np.testing.assert_array_equal(a["landmarks"], b["landmarks"])
        near = _spec(250.0, cam)  # 0.2 px at (250 - 90) / 300 mm per px = 0.107 mm: the finest level
        coarse.render(near, head)
        assert min(drawn.levels) < max(drawn.levels)
        closest = _spec(200.0, cam)  # 0.073 mm budget: the full mesh, bytes as without lod
        np.testing.assert_array_equal(coarse.render(closest, head)["rgb"], full.render(closest, head)["rgb"])


def test_without_meshoptimizer_lod_fails_at_construction_naming_the_fix(monkeypatch):
    import sys

    from synth.render.gl import GLRenderer

    lod._simplify_fn.cache_clear()
    monkeypatch.setitem(sys.modules, "meshoptimizer", None)  # import fails
    try:
        with pytest.raises(lod.LodUnavailable, match="gl_lod_px=0"):
            GLRenderer(lod_px=0.2)
        with GLRenderer(lod_px=0.0) as full:  # full meshes need no meshoptimizer: drawn in the parts' order
            assert not full.draw_order and "meshoptimizer" not in full.version
            img = full.render(_spec(400.0, Camera(64, 64, 150.0, 150.0, 32.0, 32.0)), sphere_head(90.0))["rgb"]
            assert img.std() > 5
    finally:
        lod._simplify_fn.cache_clear()


def test_the_config_sets_the_pipeline_renderers_level_of_detail():
    from synth.config import load_config
    from synth.pipeline import build_renderer

    default = build_renderer(load_config(None))
    full = build_renderer(load_config(None, overrides=["renderer.gl_lod_px=0"]))
    try:
        assert default.lod_px == 0.2 and "lod 0.2 px" in default.version
        assert full.lod_px == 0.0 and "lod" not in full.version
    finally:
        default.close(), full.close()


def test_the_draw_order_keeps_every_triangle_with_its_winding_over_renumbered_vertices():
    part = sphere_part()
    rng = np.random.default_rng(0)
    tri = part.indices[rng.permutation(len(part.indices))[:5000]]  # scattered, and most vertices unused
    ordered, remap = lod.draw_order(tri, len(part.positions))
    used = np.unique(tri)
    assert (remap[used] != lod.UNUSED).all() and (np.delete(remap, used) == lod.UNUSED).all()
    assert sorted(remap[used]) == list(range(len(used)))  # packed: new numbers 0..used-1
    old_of_new = np.empty(len(used), np.int64)
    old_of_new[remap[used]] = used
    back = old_of_new[ordered]

    def canonical(t):  # the same triangle and winding whichever vertex it starts at
        return {tuple(np.roll(r, -int(np.argmin(r)))) for r in t}

    assert canonical(back) == canonical(tri) and len(back) == len(tri)
    assert not np.array_equal(back, tri)  # reordered
    np.testing.assert_array_equal(lod.cache_order(tri, len(part.positions)), back)


@pytest.mark.parametrize("z_mm", [200.0, 900.0])
def test_drawing_in_vertex_cache_order_gives_the_same_image(z_mm):
    """The full mesh (near) and a level (far) drawn in the parts' order and in the cache order:
    the same pixels but where two fragments tie in depth."""
    from synth.render.gl import GLRenderer

    head = sphere_head(90.0)
    spec = _spec(z_mm, Camera(128, 128, 300.0, 300.0, 64.0, 64.0))
    with GLRenderer(lod_px=0.2) as plain, GLRenderer(lod_px=0.2) as cached:
        plain.draw_order = False
        a, b = plain.render(spec, head), cached.render(spec, head)
        (drawn,) = cached._heads[next(iter(cached._heads))]
        assert drawn.remap is not None and plain._heads[next(iter(plain._heads))][0].remap is None
        assert bool(drawn.levels) == (z_mm > 500.0)
        assert (np.abs(a["rgb"].astype(int) - b["rgb"]).max(-1) > 0).sum() <= 2
        np.testing.assert_array_equal(a["mask"], b["mask"])


def test_a_part_with_its_own_budget_draws_its_own_level():
    """``part_lod_px`` gives a named part a budget of its own, in place of ``lod_px``, even when the
    part is not in ``lod_parts``; the version string names it; the faces preset sets the mouth's."""
    import dataclasses

    from synth.config import load_config
    from synth.heads.mesh import HeadMesh
    from synth.pipeline import build_renderer
    from synth.render.gl import GLRenderer

    skin = sphere_part()
    mouth = dataclasses.replace(skin, name="mouth", positions=skin.positions * 0.3 + np.array([0.0, 40.0, -70.0]))
    head = HeadMesh(identity=7, parts=(skin, mouth), landmarks=sphere_head(90.0).landmarks)
    spec = _spec(900.0, Camera(128, 128, 300.0, 300.0, 64.0, 64.0))
    with GLRenderer(lod_px=0.2, part_lod_px={"mouth": 1.0}) as own, GLRenderer(lod_px=0.2) as plain:
        assert "lod 0.2 px; mouth lod 1 px" in own.version and "mouth" not in plain.version
        own.render(spec, head), plain.render(spec, head)
        levels = {d.part.name: list(d.levels) for d in own._heads[next(iter(own._heads))]}
        plain_levels = {d.part.name: list(d.levels) for d in plain._heads[next(iter(plain._heads))]}
    assert levels["skin"] == plain_levels["skin"] == [lod.level_for(0.2, 900.0, 90.0, 300.0)]
    radius = float(np.sqrt((mouth.positions.astype(np.float64) ** 2).sum(1).max()))
    assert levels["mouth"] == [lod.level_for(1.0, 900.0, radius, 300.0)] and plain_levels["mouth"] == []
    with pytest.raises(ValueError, match=r"part_lod_px\['mouth'\]"):
        GLRenderer(part_lod_px={"mouth": -1.0})
    faces = build_renderer(load_config(Path(__file__).resolve().parents[1] / "pipeline.yaml", preset="faces"))
    try:
        assert faces._part_lod_px["mouth"] == faces._part_lod_px["teeth"] == 1.5
        assert faces._part_lod_px["skin"] == 0.3 and faces.cutout_mipmaps == "nearest"
        assert "mouth lod 1.5 px" in faces.version
    finally:
        faces.close()
