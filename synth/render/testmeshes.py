"""Procedural head meshes for renderer tests and benchmarks (no head bank needed).

``sphere_head(radius_mm)`` is a UV sphere in the canonical head frame
(``synth.heads.mesh``: mm, x toward image right, y down, z from the face toward
the back; the "face" is the -z hemisphere) with a checker texture and 68
landmarks laid out like a face on the front hemisphere, exactly on the sphere;
the nose tip (landmark 30) is at (0, 0, -radius). :class:`SphereHeadBank` serves them as a
head bank (``synth.pipeline.sphere_sample_maker``: the real per-sample path without the MakeHuman build).
"""
from __future__ import annotations

import numpy as np

from synth.heads.mesh import N_LANDMARKS, HeadMesh, MeshPart


def checker_texture(size: int = 512, squares: int = 16,
                    colors=((224, 172, 140), (150, 100, 80))) -> np.ndarray:
    """(size, size, 4) uint8 RGBA checker, opaque, row 0 = top."""
    idx = (np.arange(size) * squares // size) % 2
    sel = idx[:, None] ^ idx[None, :]
    tex = np.empty((size, size, 4), np.uint8)
    tex[..., :3] = np.asarray(colors, np.uint8)[sel]
    tex[..., 3] = 255
    return tex


def face_layout_2d() -> np.ndarray:
    """(68, 2) float64 iBUG-ordered points (x right, y down) in units of the radius."""
    pts = np.zeros((N_LANDMARKS, 2))
    a = np.linspace(np.pi, 0.0, 17)
    pts[0:17] = np.stack([0.62 * np.cos(a), -0.1 + 0.72 * np.sin(a)], 1)        # jaw
    xb = np.linspace(0.12, 0.5, 5)
    bump = 0.05 * np.sin(np.linspace(0, np.pi, 5))
    pts[17:22] = np.stack([-xb[::-1], -0.35 - bump], 1)                        # right brow
    pts[22:27] = np.stack([xb, -0.35 - bump[::-1]], 1)                         # left brow
    pts[27:31] = np.stack([np.zeros(4), np.linspace(-0.25, 0.0, 4)], 1)        # nose bridge, 30 = tip
    pts[31:36] = np.stack([np.linspace(-0.12, 0.12, 5), np.full(5, 0.08)], 1)  # nostrils
    e = np.linspace(np.pi, -np.pi, 7)[:6]
    for k, cx in ((36, -0.3), (42, 0.3)):                                      # eyes
        pts[k:k + 6] = np.stack([cx + 0.1 * np.cos(e), -0.2 - 0.04 * np.sin(e)], 1)
    m = np.linspace(np.pi, -np.pi, 13)[:12]
    pts[48:60] = np.stack([0.22 * np.cos(m), 0.3 - 0.08 * np.sin(m)], 1)       # outer lips
    m = np.linspace(np.pi, -np.pi, 9)[:8]
    pts[60:68] = np.stack([0.15 * np.cos(m), 0.3 - 0.03 * np.sin(m)], 1)       # inner lips
    return pts


def uv_sphere(radius: float, n_lat: int, n_lon: int):
    """positions, normals, uvs (float32) and indices (uint32, CCW seen from outside)
    of a UV sphere with poles on the y axis and the UV seam at the back (+z)."""
    th = np.linspace(0.0, np.pi, n_lat + 1)              # 0 = top of head (y = -r)
    ph = np.linspace(-np.pi, np.pi, n_lon + 1)           # 0 = front (-z)
    T, P = np.meshgrid(th, ph, indexing="ij")
    nrm = np.stack([np.sin(T) * np.sin(P), -np.cos(T), -np.sin(T) * np.cos(P)], -1).reshape(-1, 3)
    uv = np.stack([(P + np.pi) / (2 * np.pi), 1.0 - T / np.pi], -1).reshape(-1, 2)
    i, j = np.meshgrid(np.arange(n_lat), np.arange(n_lon), indexing="ij")
    a = (i * (n_lon + 1) + j).ravel()
    b, c, d = a + 1, a + n_lon + 1, a + n_lon + 2
    tris = np.concatenate([np.stack([a, c, b], 1), np.stack([b, c, d], 1)])
    pos = nrm * radius
    # orient every non-degenerate triangle counter-clockwise seen from outside
    v0, v1, v2 = pos[tris[:, 0]], pos[tris[:, 1]], pos[tris[:, 2]]
    area = np.einsum("ij,ij->i", np.cross(v1 - v0, v2 - v0), v0 + v1 + v2)
    tris[area < 0] = tris[area < 0][:, ::-1]
    tris = tris[np.abs(area) > 1e-9 * radius ** 3]        # drop pole slivers
    return (pos.astype(np.float32), nrm.astype(np.float32), uv.astype(np.float32),
            tris.astype(np.uint32))


def sphere_head(radius_mm: float = 90.0, identity: int = 0, n_lat: int = 84, n_lon: int = 168,
                texture_size: int = 512) -> HeadMesh:
    """A sphere 'head' of radius_mm centred at the head origin.

    Defaults give 14,365 vertices / 27,888 triangles and a 512^2 checker texture
    (texture_key shared by every sphere head with the same texture_size).
    """
    pos, nrm, uv, tris = uv_sphere(radius_mm, n_lat, n_lon)
    part = MeshPart(name="skin", positions=pos, normals=nrm, uvs=uv, indices=tris,
                    texture=checker_texture(texture_size), texture_key=f"checker-{texture_size}")
    xy = face_layout_2d() * radius_mm
    z = -np.sqrt(radius_mm ** 2 - (xy ** 2).sum(1))
    lm = np.concatenate([xy, z[:, None]], 1).astype(np.float32)
    return HeadMesh(identity=identity, parts=(part,), landmarks=lm,
                    attributes={"source": "testmeshes.sphere_head", "radius_mm": float(radius_mm)})


class SphereHeadBank:
    """A head bank (``len``, ``get(identity)``, ``describe()``) of :func:`sphere_head` s of radius 90 mm,
    one per identity 0..size-1, built on first use; for tests and benchmarks."""

    def __init__(self, size: int):
        self.size = int(size)
        self._heads: dict = {}

    def __len__(self) -> int:
        return self.size

    def get(self, identity: int) -> HeadMesh:
        h = self._heads.get(identity)
        if h is None:
            h = self._heads[identity] = sphere_head(90.0, identity=int(identity))
        return h

    def describe(self) -> dict:
        return {"source": "synth.render.testmeshes.sphere_head", "pool_size": self.size}
