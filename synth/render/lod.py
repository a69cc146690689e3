"""Level of detail for head meshes: index-only simplification, picked per frame by screen-space error.

At the sensor's native resolution a head's skin is drawn at 1.4-2.2 mm per render pixel,
so most of its ~9000 triangles are under a pixel, and llvmpipe's cost is per triangle.
A *level* is a coarser index buffer over the part's own vertices (no vertex moves, normals
and UVs stay as they are), made by meshoptimizer's quadric simplifier with the texture
coordinates in its error metric (so texture detail does not slide) and the error in mm:

* :func:`simplify` -- one level of a part whose geometric + texture error stays under
  ``error_mm`` (UVs are scaled to mm of surface by the mesh's 3-D/UV area ratio, so
  one mm of texture sliding counts as one mm of geometry). The error is meshoptimizer's
  quadric measure (distance to the planes of the original triangles around each collapse),
  not a bound on the deviation: on a sphere the deepest sag of a level is 2-4x its error;
* :data:`LEVEL_ERRORS_MM` -- the error bounds a renderer may ask for (a factor sqrt(2) apart);
* :func:`level_for` -- the coarsest of them under ``max_px`` render pixels at the head's
  nearest point: ``max_px * (z - radius) / f``, with the render's focal length f in pixels.

Figures (two renderers in one process, 400 pipeline specs at 256x256, llvmpipe on one
thread, interleaved per spec): ``lod_px`` 0.2 (levels 0.2 and 0.283 mm are used) takes a render
from 4.34 to 3.79 ms, with 32 pixels per frame changing by more than 30 grey levels (summed
over RGB), 3.6 mask pixels, and 0.26 grey levels mean change; 0.1 px: 4.10 ms, 6 pixels;
0.3 px: 3.58 ms, 78 pixels. A 0.25 mm level has ~5960 of the skin's 9072 triangles; a level
takes ~10 ms to make, once per head and level. meshoptimizer is pinned (its C API is called
directly: the package's Python wrapper of ``simplifyWithAttributes`` is unusable in
0.2.30a0) and named in the renderer's version string, so shards record which simplifier
drew them.
"""
from __future__ import annotations

import ctypes
from functools import lru_cache

import numpy as np

#: error bounds (mm) of the levels a renderer makes on demand, finest first (sqrt(2) apart)
LEVEL_ERRORS_MM = tuple(round(0.1 * 2 ** (k / 2), 3) for k in range(9))  # 0.1 ... 1.6
#: remap entry of a vertex that no triangle uses (:func:`draw_order`)
UNUSED = 0xFFFFFFFF
#: meshopt_SimplifyErrorAbsolute: target and result errors in position units (mm), not relative
_ERROR_ABSOLUTE = 1 << 2
_FIX = "fix: pip install meshoptimizer==0.2.30a0 (setup.sh does), or set renderer.gl_lod_px=0 to draw full meshes"


class LodUnavailable(RuntimeError):
    """meshoptimizer is missing or its library cannot be loaded."""


@lru_cache(maxsize=1)
def _simplify_fn():
    """``meshopt_simplifyWithAttributes`` from the meshoptimizer package's library, with its C signature."""
    try:
        from meshoptimizer import _loader
    except Exception as exc:  # ImportError, or the package's loader failing to find its library
        raise LodUnavailable(f"level of detail needs meshoptimizer ({exc}); {_FIX}") from exc
    lib = ctypes.CDLL(_loader.lib_path)  # own handle: its argtypes do not touch the package's
    fn = lib.meshopt_simplifyWithAttributes
    p, n = ctypes.c_void_p, ctypes.c_size_t
    fn.argtypes = [p, p, n, p, n, n, p, n, p, n, p, n, ctypes.c_float, ctypes.c_uint, p]
    fn.restype = n
    return fn


def available() -> bool:
    """Whether meshoptimizer's library loads here (else :class:`LodUnavailable` from the functions that need it)."""
    try:
        _simplify_fn()
    except LodUnavailable:
        return False
    return True


def library_version() -> str:
    """The installed meshoptimizer distribution's version ("" when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("meshoptimizer")
    except PackageNotFoundError:
        return ""


def simplify(positions: np.ndarray, uvs: np.ndarray, indices: np.ndarray, error_mm: float) -> tuple[np.ndarray, float]:
    """One level of a textured triangle mesh.

    positions: (V, 3) mm; uvs: (V, 2); indices: (F, 3) counter-clockwise triangles.
    Returns ((F', 3) uint32 triangles over the same vertices, F' <= F, the level's error in mm,
    <= error_mm). Deterministic: the same input gives the same triangles.
    """
    pos = np.ascontiguousarray(positions, np.float32)
    tri = np.ascontiguousarray(indices, np.uint32).reshape(-1, 3)
    if len(tri) == 0:
        return tri.copy(), 0.0
    p = pos.astype(np.float64)
    uv = np.asarray(uvs, np.float64)
    t = tri.astype(np.int64)
    area_3d = np.linalg.norm(np.cross(p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]]), axis=1).sum()
    d = uv[t[:, 1:]] - uv[t[:, [0]]]
    area_uv = np.abs(d[:, 0, 0] * d[:, 1, 1] - d[:, 0, 1] * d[:, 1, 0]).sum()
    # meshoptimizer measures positions in units of the mesh's extent and attributes as given:
    # UVs in mm of surface divided by the extent are in the same units as the positions
    extent = max(float((p.max(0) - p.min(0)).max()), 1e-9)
    uv_mm = np.sqrt(area_3d / area_uv) if area_uv > 0 else 0.0
    attributes = np.ascontiguousarray(uv * (uv_mm / extent), np.float32)
    weights = np.ones(2, np.float32)
    out = np.empty(tri.size, np.uint32)
    err = np.zeros(1, np.float32)
    n = _simplify_fn()(out.ctypes.data, tri.ctypes.data, tri.size, pos.ctypes.data, len(pos), 12,
                       attributes.ctypes.data, 8, weights.ctypes.data, 2, None, 0,
                       float(error_mm), _ERROR_ABSOLUTE, err.ctypes.data)
    return out[:n].reshape(-1, 3).copy(), float(err[0])


@lru_cache(maxsize=1)
def _order_fns():
    """``meshopt_optimizeVertexCache`` and ``meshopt_optimizeVertexFetchRemap`` with their C signatures."""
    _simplify_fn()  # loads the library or raises LodUnavailable naming the fix
    from meshoptimizer import _loader

    lib = ctypes.CDLL(_loader.lib_path)
    p, n = ctypes.c_void_p, ctypes.c_size_t
    cache, remap = lib.meshopt_optimizeVertexCache, lib.meshopt_optimizeVertexFetchRemap
    cache.argtypes, cache.restype = [p, p, n, n], None
    remap.argtypes, remap.restype = [p, p, n, n], n
    return cache, remap


def draw_order(indices: np.ndarray, n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """The same triangles in the order a rasterizer's vertex cache reuses best, over vertices
    renumbered by first use.

    indices: (F, 3) triangles over ``n_vertices`` vertices. Returns ((F, 3) uint32 triangles,
    (n_vertices,) uint32 remap: old vertex -> new, 0xFFFFFFFF for a vertex no triangle uses).
    The triangles keep their winding; only their order and the vertex numbers change, so a
    depth-tested draw gives the same pixels but where two fragments tie in depth.
    Deterministic (meshoptimizer's ``optimizeVertexCache`` then ``optimizeVertexFetchRemap``).
    """
    _, remap_fn = _order_fns()
    ordered = cache_order(indices, n_vertices).reshape(-1)
    remap = np.full(int(n_vertices), UNUSED, np.uint32)
    if ordered.size:
        remap_fn(remap.ctypes.data, ordered.ctypes.data, ordered.size, int(n_vertices))
    return remap[ordered].reshape(-1, 3), remap


def cache_order(indices: np.ndarray, n_vertices: int) -> np.ndarray:
    """(F, 3) uint32: ``indices`` reordered for the vertex cache (:func:`draw_order`'s triangles, not renumbered)."""
    cache, _ = _order_fns()
    tri = np.ascontiguousarray(indices, np.uint32).reshape(-1)
    out = np.empty_like(tri)
    if tri.size:
        cache(out.ctypes.data, tri.ctypes.data, tri.size, int(n_vertices))
    return out.reshape(-1, 3)


def level_for(max_px: float, z_mm: float, radius_mm: float, focal_px: float) -> float | None:
    """The coarsest of :data:`LEVEL_ERRORS_MM` within ``max_px`` render pixels at the nearest
    point of a head of ``radius_mm`` whose origin is ``z_mm`` in front of a camera of focal
    length ``focal_px``; None (draw the full mesh) when even the finest is too coarse."""
    near = max(float(z_mm) - float(radius_mm), 0.0)
    budget = float(max_px) * near / float(focal_px)
    fits = [e for e in LEVEL_ERRORS_MM if e <= budget]
    return fits[-1] if fits else None
