"""Pure numpy helpers of the Blender backend (no bpy import; unit-testable anywhere).

Frames and units: the Blender world frame of ``synth.render.blender`` *is* the
OpenCV camera frame of ``synth.scene`` (x right, y down, z forward, 1 Blender
unit = 1 mm); the camera sits at the origin. Everything here converts our
conventions into the numbers Blender wants:

* :func:`camera_params` -- OpenCV intrinsics -> Blender camera lens, sensor,
  shift and pixel aspect (derivation in its docstring);
* :func:`camera_matrix`, :func:`sun_matrix`, :func:`pose_matrix` -- 4x4 object
  matrices in that world frame;
* :func:`weld` -- turns a :class:`~synth.heads.mesh.MeshPart` (split at UV seams,
  one UV per vertex) into a welded vertex list plus per-corner UVs, which is
  what Blender meshes store (so smooth shading has no seams);
  :func:`consistent_winding` winds two-sided parts' triangles alike across
  shared edges;
* :func:`srgb_encode` / :func:`srgb_decode` and :func:`over` -- the piecewise
  sRGB curve of Blender's "Standard" view transform, and compositing the
  rendered head over a background in linear light;
* :func:`neck_blend_positions` -- gl.py's torso/neck blend, as head-frame vertex
  positions for a mesh placed with the head's pose matrix;
* :func:`environment_lobe` -- the world colour that gives gl.py's ambient +
  first-order environment term as irradiance.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from synth.scene import Camera


@dataclass(frozen=True)
class BlenderCameraParams:
    """Blender camera and render settings reproducing an OpenCV pinhole camera.

    lens, sensor_width: same (arbitrary) length unit, sensor fit HORIZONTAL.
    shift_x, shift_y: lens shift in units of the image width.
    pixel_aspect_x, pixel_aspect_y: both >= 1 (Blender's allowed range).
    width, height: render resolution in pixels (resolution_percentage 100).
    clip_start, clip_end: mm.
    """

    lens: float
    sensor_width: float
    shift_x: float
    shift_y: float
    pixel_aspect_x: float
    pixel_aspect_y: float
    width: int
    height: int
    clip_start: float
    clip_end: float


def camera_params(cam: Camera, sensor_width: float = 36.0) -> BlenderCameraParams:
    """Blender settings giving u = fx*x/z + cx, v = fy*y/z + cy on the same pixel grid.

    With sensor fit HORIZONTAL Blender's view plane spans ``sensor_width`` at
    distance ``lens`` across the image width, so fx = lens * W / sensor_width.
    A pixel's height relative to its width is ycor = pixel_aspect_y /
    pixel_aspect_x, giving fy = fx / ycor, i.e. aspect_x : aspect_y = fy : fx.
    The lens shift moves the window by shift * W (horizontal fit) in pixel units
    of the x axis: cx = W/2 - shift_x * W and, with Blender's y up and ours
    down, cy = H/2 + shift_y * W / ycor.
    """
    w, h = int(cam.width), int(cam.height)
    fx, fy = float(cam.fx), float(cam.fy)
    if fx <= 0 or fy <= 0:
        raise ValueError(f"camera focal lengths must be > 0, got fx={fx}, fy={fy}")
    ax, ay = (fy / fx, 1.0) if fy >= fx else (1.0, fx / fy)
    ycor = ay / ax
    return BlenderCameraParams(
        lens=fx * sensor_width / w, sensor_width=float(sensor_width),
        shift_x=(w / 2.0 - float(cam.cx)) / w, shift_y=(float(cam.cy) - h / 2.0) * ycor / w,
        pixel_aspect_x=ax, pixel_aspect_y=ay, width=w, height=h,
        clip_start=float(cam.near), clip_end=float(cam.far))


#: Blender camera object in the OpenCV-camera world frame: its local x (image right)
#: is +x, local y (image up) is -y, and it looks down its local -z, i.e. along +z.
CAMERA_MATRIX = np.diag([1.0, -1.0, -1.0, 1.0])


def camera_matrix() -> np.ndarray:
    """(4, 4) float64 world matrix of the Blender camera (a copy of ``CAMERA_MATRIX``)."""
    return CAMERA_MATRIX.copy()


def pose_matrix(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """(4, 4) float64 [R t; 0 1]: head frame (mm) -> world = camera frame (mm)."""
    m = np.eye(4)
    m[:3, :3] = np.asarray(rotation, np.float64)
    m[:3, 3] = np.asarray(translation, np.float64).reshape(3)
    return m


def sun_matrix(direction: np.ndarray) -> np.ndarray:
    """(4, 4) float64 world matrix of a Blender sun lamp lighting along ``-direction``.

    direction: (3,) camera-frame vector from the head toward the light
    (``synth.scene.Light.direction``; normalised here). A Blender sun shines
    along its local -z, so its local +z is the unit direction.
    """
    d = np.asarray(direction, np.float64).reshape(3)
    n = float(np.linalg.norm(d))
    if not np.isfinite(n) or n < 1e-12:
        raise ValueError(f"light direction must be a non-zero vector, got {d.tolist()}")
    z = d / n
    helper = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2] = x, y, z
    return m


@dataclass(frozen=True)
class WeldedTopology:
    """A mesh part re-indexed for Blender (computed once per topology).

    key: what identifies the topology (counts + digest of indices and UVs).
    first: (V,) int64 -- for each welded vertex, one split vertex it came from
        (positions of a new identity with this topology: ``positions[first]``).
    corner_vertex: (3F,) int32 welded vertex of each triangle corner.
    corner_uv: (3F, 2) float32 UV of each corner (OpenGL convention, v up --
        the same as Blender's).
    n_faces: F, triangles kept (those whose three corners are distinct vertices).
    """

    key: str
    first: np.ndarray
    corner_vertex: np.ndarray
    corner_uv: np.ndarray
    n_faces: int


def topology_key(positions: np.ndarray, uvs: np.ndarray, indices: np.ndarray) -> str:
    """Identifies a split mesh's connectivity and UVs (not its vertex positions)."""
    h = hashlib.blake2b(digest_size=12)
    h.update(np.asarray([len(positions), len(indices)], np.int64).tobytes())
    h.update(np.ascontiguousarray(indices, np.uint32).tobytes())
    h.update(np.ascontiguousarray(uvs, np.float32).tobytes())
    return h.hexdigest()


def weld(positions: np.ndarray, uvs: np.ndarray, indices: np.ndarray, consistent: bool = False) -> WeldedTopology:
    """Merge split vertices with equal positions (exactly; -0.0 == 0.0); UVs move to the corners.

    positions (N, 3), uvs (N, 2), indices (F, 3) as in ``MeshPart``. Seam
    duplicates of a head bank part are copies of one source vertex, hence
    exactly equal; welding them lets Blender's smooth shading run across UV
    seams. Triangles that collapse (two corners welded together) have zero
    area and are dropped. With ``consistent``, triangles are also re-wound
    consistently across shared edges (:func:`consistent_winding`).
    """
    pos = np.ascontiguousarray(positions, np.float32) + np.float32(0.0)  # -0.0 -> +0.0
    idx = np.asarray(indices, np.int64)
    if pos.ndim != 2 or pos.shape[1] != 3 or idx.ndim != 2 or idx.shape[1] != 3:
        raise ValueError(f"expected positions (N, 3) and indices (F, 3), got {pos.shape} and {idx.shape}")
    rows = pos.view(np.dtype((np.void, 12))).ravel()
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    tri = inverse.reshape(-1)[idx]
    keep = (tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 0] != tri[:, 2])
    idx, tri = idx[keep], tri[keep]
    if consistent:
        flip = consistent_winding(tri)
        idx[flip], tri[flip] = idx[flip][:, [0, 2, 1]], tri[flip][:, [0, 2, 1]]
    corner_uv = np.asarray(uvs, np.float32)[idx].reshape(-1, 2)
    key = topology_key(positions, uvs, indices) + ("c" if consistent else "")
    return WeldedTopology(key, first.astype(np.int64), tri.reshape(-1).astype(np.int32), corner_uv, len(tri))


def consistent_winding(tri: np.ndarray) -> np.ndarray:
    """(F,) bool: the triangles to turn over so that every edge shared by exactly two triangles is
    run in opposite directions by them (a consistently oriented surface).

    tri: (F, 3) vertex indices of a welded, degenerate-free mesh. Each connected piece keeps the
    orientation most of its triangles already have (ties: a fixed choice); edges of three or more
    triangles do not connect, and a non-orientable piece (a Moebius strip) is left as it is.

    Why: Cycles shades a triangle seen from the side its winding calls the back with the
    flipped normal, and Blender's smooth vertex normals sum the triangles' winding normals. A
    patch of a mesh wound against its neighbours (some MakeHuman clothes proxies have them:
    a region of a sweater's shoulder) then gets garbage normals along its border and dark,
    jagged shading; gl.py's two-sided parts flip each vertex normal toward the viewer and
    hide it. Method: a graph of 2F nodes -- each triangle as it is and turned over -- where a
    shared edge joins the states that agree; its connected components give the flips.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    tri = np.asarray(tri, np.int64)
    F = len(tri)
    if F == 0:
        return np.zeros(0, bool)
    a, b = tri.ravel(), tri[:, [1, 2, 0]].ravel()
    face = np.repeat(np.arange(F), 3)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo * (int(tri.max()) + 1) + hi
    order = np.argsort(key, kind="stable")
    _, start, count = np.unique(key[order], return_index=True, return_counts=True)
    i = start[count == 2]
    e1, e2 = order[i], order[i + 1]
    f, g = face[e1], face[e2]
    same = (a[e1] < b[e1]) == (a[e2] < b[e2])        # both run the edge the same way: one must turn
    rows = np.concatenate([f, f + F])
    cols = np.concatenate([np.where(same, g + F, g), np.where(same, g, g + F)])
    graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(2 * F, 2 * F))
    n, labels = connected_components(graph, directed=False)
    as_is, turned = labels[:F], labels[F:]
    votes = np.bincount(as_is, minlength=n)           # triangles that keep their winding if that state wins
    keep = (votes[as_is] > votes[turned]) | ((votes[as_is] == votes[turned]) & (as_is <= turned))
    return ~keep


def srgb_decode(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear (float32), the piecewise IEC 61966-2-1 curve."""
    x = np.asarray(x, np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def srgb_encode(x: np.ndarray) -> np.ndarray:
    """Linear values -> sRGB-encoded in [0, 1] (float32; input clipped to [0, 1])."""
    x = np.clip(np.asarray(x, np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1.0 / 2.4) - 0.055).astype(np.float32)


def over(rgba: np.ndarray, background: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: straight-alpha sRGB (H, W, 4) uint8 composited over (H, W, 3) uint8.

    Blending happens in linear light; fully opaque pixels keep their bytes and
    fully transparent ones take the background's bytes exactly.
    """
    a = rgba[..., 3]
    out = np.where((a == 255)[..., None], rgba[..., :3], background).astype(np.uint8)
    part = (a > 0) & (a < 255)
    if part.any():
        al = (a[part].astype(np.float32) / 255.0)[:, None]
        fg = srgb_decode(rgba[..., :3][part] / np.float32(255.0))
        bg = srgb_decode(background[part] / np.float32(255.0))
        out[part] = (srgb_encode(al * fg + (1.0 - al) * bg) * 255.0 + 0.5).astype(np.uint8)
    return out


def cycles_seed(seed: int, index: int) -> int:
    """Cycles' noise seed for sample ``index`` of a run with global ``seed`` (0 .. 2^31-1)."""
    h = hashlib.blake2b(np.asarray([seed, index], np.int64).tobytes(), digest_size=4).digest()
    return int.from_bytes(h, "little") & 0x7FFFFFFF


def neck_blend_positions(positions: np.ndarray, blend: np.ndarray, rotation: np.ndarray,
                         body_rotation: np.ndarray, pivot: np.ndarray) -> np.ndarray:
    """(N, 3) float32 head-frame positions (mm) of a part whose vertices follow the torso by ``blend``.

    gl.py's vertex shader puts head-frame point p with torso weight w at
    ``(1 - w) (R p + t) + w (B p + t_body)``, ``t_body = R c + t - B c`` (R = ``rotation``,
    B = ``body_rotation``, c = ``pivot``, t the head translation). Mapped back through the
    head's pose [R t] -- the object matrix every part is placed with -- that is
    ``p + w (M - I)(p - c)`` with ``M = R^T B``: the translation cancels, and vertices with
    w = 0 keep their coordinates exactly. positions (N, 3) mm, blend (N,) in [0, 1],
    rotation / body_rotation (3, 3), pivot (3,) mm; computed in float64.
    """
    out = np.array(positions, np.float32)
    w = np.asarray(blend, np.float64).reshape(-1)
    moved = np.flatnonzero(w > 0.0)
    if len(moved) == 0:
        return out
    R = np.asarray(rotation, np.float64)
    M = R.T @ np.asarray(body_rotation, np.float64) - np.eye(3)
    q = np.asarray(positions, np.float64)[moved] - np.asarray(pivot, np.float64).reshape(3)
    out[moved] = (np.asarray(positions, np.float64)[moved] + w[moved, None] * (q @ M.T)).astype(np.float32)
    return out


#: Largest first-to-zeroth moment ratio :func:`environment_lobe` builds (a lobe over 15 % of the sphere).
ENV_MAX_RATIO = 0.9


def environment_lobe(ambient_rgb: np.ndarray, env_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, beta), each (3,) float64 linear RGB: the world radiance ``max(0, alpha + beta * (w . d))``
    seen along unit direction w that lights like gl.py's ambient + environment term.

    gl.py gives a surface with normal n the diffuse factor ``A + E (n . d)`` (A = ambient x colour,
    E = env strength x env colour, d = ``Light.env_direction``). A distant environment L(w) gives a
    Lambertian surface ``(1/pi) int L(w) max(0, n . w) dw = M0 + 2 M1 (n . d) + (orders >= 2)``,
    with M0 = mean of L over the sphere and M1 = mean of L(w) (w . d) (L symmetric about d). So
    M0 = A and M1 = E / 2 per channel:

    * E <= 2A/3 (ratio M1/M0 <= 1/3): the linear gradient alpha = A, beta = 3E/2, never negative;
      it has no higher orders, so an unoccluded Lambertian surface gets A + E (n . d) exactly;
    * 2A/3 < E < 2A: a linear gradient would go negative; a clamped one with its zero at
      cos = t0 = 3 M1/M0 - 2 (ratio (2 + t0)/3) has the same M0 and M1; its order-2 part adds a
      small error (the cosine kernel passes order 2 at 1/4 strength, odd orders above 1 not at all);
    * E >= 2A: no non-negative light has these moments (gl.py then clamps the dark side at 0);
      the ratio is capped at ``ENV_MAX_RATIO``, keeping M0 = A.

    A negative E flips the lobe toward -d.
    """
    A = np.clip(np.asarray(ambient_rgb, np.float64).reshape(3), 0.0, None)
    E = np.asarray(env_rgb, np.float64).reshape(3)
    alpha, beta = A.copy(), np.zeros(3)
    for k in range(3):
        m0, m1 = A[k], 0.5 * abs(E[k])
        if m1 == 0.0 or m0 == 0.0:
            continue
        r = min(m1 / m0, ENV_MAX_RATIO)
        if r <= 1.0 / 3.0:
            a, b = m0, 3.0 * m1
        else:
            t0 = 3.0 * r - 2.0
            b = 4.0 * m0 / (1.0 - t0) ** 2
            a = -b * t0
        alpha[k], beta[k] = a, b if E[k] > 0 else -b
    return alpha, beta
