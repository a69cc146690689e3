"""Mesh topology helpers of the head bank: normals, UV-seam splits and a part's static topology (numpy only)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def vertex_normals(pos: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Area-weighted smooth vertex normals: pos (N, 3), tri (T, 3) -> (N, 3) unit vectors."""
    a, b, c = pos[tri[:, 0]], pos[tri[:, 1]], pos[tri[:, 2]]
    fn = np.cross(b - a, c - a)
    n = np.zeros_like(pos)
    for k in range(3):
        np.add.at(n, tri[:, k], fn)
    n /= np.linalg.norm(n, axis=-1, keepdims=True) + 1e-12
    return n


def split_uv(tri_v: np.ndarray, tri_uv: np.ndarray, uv_table: np.ndarray):
    """Split vertices at UV seams.

    tri_v: (T, 3) vertex indices; tri_uv: (T, 3) indices into ``uv_table`` (K, 2).
    Returns (src_vertex (M,), uvs (M, 2) float32, indices (T, 3) uint32) where
    new vertex m copies vertex ``src_vertex[m]`` with UV ``uvs[m]``.
    """
    keys = tri_v.astype(np.int64) * (int(tri_uv.max()) + 1) + tri_uv
    uniq, inv = np.unique(keys.ravel(), return_inverse=True)
    src = (uniq // (int(tri_uv.max()) + 1)).astype(np.int64)
    uvi = (uniq % (int(tri_uv.max()) + 1)).astype(np.int64)
    return src, uv_table[uvi].astype(np.float32), inv.reshape(tri_v.shape).astype(np.uint32)


@dataclass(frozen=True)
class PartTopology:
    """Static topology of one part: rows of the unsplit mesh, split map, UVs, triangles."""

    unsplit_tri: np.ndarray  # (T, 3) indices into the part's unsplit vertices
    src: np.ndarray          # (M,) unsplit vertex of each split vertex
    uvs: np.ndarray          # (M, 2) float32
    indices: np.ndarray      # (T, 3) uint32 into split vertices


def part_topology(tri: np.ndarray, tri_uv_idx: np.ndarray, uv_table: np.ndarray) -> PartTopology:
    src, uvs, ind = split_uv(tri, tri_uv_idx, uv_table)
    return PartTopology(tri, src, uvs, ind)
