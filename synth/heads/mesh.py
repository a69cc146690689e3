"""The renderer-facing description of one head identity (plain data).

A head bank (``synth.heads``) turns identities into :class:`HeadMesh`
objects once per run; renderers upload them once and reuse them for every
sample of that identity.

Frame and units: the canonical head frame of ``synth.scene`` -- millimetres,
origin at the head centre, x toward the subject's left (image right when
frontal), y down (toward the chin), z from the face toward the back of the
head. With the identity rotation the face looks straight into the camera.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Number of points in the iBUG 68-point landmark scheme used by 300W-LP and AFLW2000.
N_LANDMARKS = 68


@dataclass(frozen=True)
class MeshPart:
    """One textured triangle mesh, already split at UV seams (one UV per vertex).

    name: what it is ("skin", "eyes", "eyebrows", ...).
    positions: (N, 3) float32, mm, head frame.
    normals: (N, 3) float32, unit length, head frame.
    uvs: (N, 2) float32 in [0, 1], OpenGL convention (v = 0 at the image bottom).
    indices: (F, 3) uint32 triangle vertex indices, counter-clockwise seen from outside.
    texture: (H, W, 4) uint8 RGBA, row 0 = top of the image; alpha < 128 is cut out.
    texture_key: identifies the texture image so renderers can share one upload
        between identities that use the same image.
    """

    name: str
    positions: np.ndarray
    normals: np.ndarray
    uvs: np.ndarray
    indices: np.ndarray
    texture: np.ndarray
    texture_key: str


@dataclass(frozen=True)
class HeadMesh:
    """A complete head identity ready to render.

    identity: index of this identity within its bank's pool.
    parts: the textured meshes that make up the head (skin first).
    landmarks: (68, 3) float32, mm, head frame, iBUG 68-point order
        (index 30 = nose tip); rows are NaN where the source has no such point.
    attributes: descriptive values (age, gender, ethnicity, source, ...), JSON-safe.
    """

    identity: int
    parts: tuple[MeshPart, ...]
    landmarks: np.ndarray
    attributes: dict = field(default_factory=dict)

    @property
    def n_vertices(self) -> int:
        return int(sum(p.positions.shape[0] for p in self.parts))
