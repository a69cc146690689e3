"""User-supplied head meshes (FaceGen exports, scans, ...) as a head bank.

A folder holds the mesh files and a ``manifest.yaml`` (or ``manifest.json``)::

    heads:
      - file: alice.obj            # OBJ / PLY / GLB / anything trimesh loads
        scale_to_mm: 1000.0        # file units -> mm (1000 for metres)
        rotation: [[1,0,0],[0,-1,0],[0,0,-1]]   # 3x3, file frame -> head frame
        translation: [0, 0, 0]     # mm, added after rotation (head centre -> origin)
        texture: alice.png         # optional; else the mesh's own texture or flat grey
        landmarks_vertices: [...]  # optional: 68 vertex indices (iBUG order)
        landmarks_points: [[x,y,z], ...]   # optional: 68 points in file units/frame
        attributes: {name: alice}  # optional, JSON-safe

``p_head = rotation @ (scale_to_mm * p_file) + translation``: the result must
be in the canonical head frame (mm, x toward the subject's left, y down, z
from the face toward the back of the head, origin at the head centre).
Unknown keys, missing files and unreadable meshes raise :class:`HeadBankError`
naming the file and what to fix. Meshes load lazily on first ``get`` and are
cached.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from synth.heads.bank import HeadBankError, check_identity
from synth.heads.mesh import N_LANDMARKS, HeadMesh, MeshPart

MANIFEST_NAMES = ("manifest.yaml", "manifest.yml", "manifest.json")
ENTRY_KEYS = {"file", "scale_to_mm", "rotation", "translation", "texture",
              "landmarks_vertices", "landmarks_points", "attributes"}
TOP_KEYS = {"heads"}


@dataclass(frozen=True)
class UserMeshEntry:
    """One manifest entry, validated (paths absolute, arrays numpy)."""

    file: Path
    scale_to_mm: float
    rotation: np.ndarray          # (3, 3) float64, proper rotation
    translation: np.ndarray       # (3,) float64, mm
    texture: Path | None = None
    landmarks_vertices: np.ndarray | None = None  # (68,) int64
    landmarks_points: np.ndarray | None = None    # (68, 3) float64, file units/frame
    attributes: dict = field(default_factory=dict)


def _fail(where: Path, msg: str) -> HeadBankError:
    return HeadBankError(f"{where}: {msg}")


def _read_manifest(folder: Path) -> tuple[Path, dict]:
    for name in MANIFEST_NAMES:
        p = folder / name
        if p.exists():
            try:
                text = p.read_text()
                if p.suffix == ".json":
                    data = json.loads(text)
                else:
                    import yaml

                    data = yaml.safe_load(text)
            except Exception as e:  # noqa: BLE001 - any parse error is reported with the file
                raise _fail(p, f"cannot parse the manifest ({e}); fix its YAML/JSON syntax.") from e
            if not isinstance(data, dict):
                raise _fail(p, "the manifest must be a mapping with a 'heads' list.")
            return p, data
    raise HeadBankError(f"{folder}: no manifest found; create one of {', '.join(MANIFEST_NAMES)} "
                        "listing the meshes (see synth/heads/user_meshes.py).")


def parse_manifest(folder: str | Path) -> list[UserMeshEntry]:
    """Validate a folder's manifest and return its entries (files must exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise HeadBankError(f"{folder}: not a folder; pass the folder that holds manifest.yaml and the meshes.")
    mpath, data = _read_manifest(folder)
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise _fail(mpath, f"unknown top-level key(s) {sorted(unknown)}; allowed: {sorted(TOP_KEYS)}.")
    heads = data.get("heads")
    if not isinstance(heads, list) or not heads:
        raise _fail(mpath, "'heads' must be a non-empty list of mesh entries.")
    out = []
    for k, e in enumerate(heads):
        where = f"{mpath} heads[{k}]"
        if not isinstance(e, dict):
            raise HeadBankError(f"{where}: each entry must be a mapping with at least 'file'.")
        unknown = set(e) - ENTRY_KEYS
        if unknown:
            raise HeadBankError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(ENTRY_KEYS)}.")
        if "file" not in e:
            raise HeadBankError(f"{where}: missing 'file' (the mesh file name, relative to {folder}).")
        f = folder / str(e["file"])
        if not f.is_file():
            raise HeadBankError(f"{where}: mesh file {f} does not exist; fix 'file' or add the file.")
        try:
            scale = float(e.get("scale_to_mm", 1.0))
            rot = np.asarray(e.get("rotation", np.eye(3)), dtype=np.float64)
            trans = np.asarray(e.get("translation", [0.0, 0.0, 0.0]), dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise HeadBankError(f"{where}: scale_to_mm/rotation/translation must be numbers ({err}).") from err
        if not scale > 0:
            raise HeadBankError(f"{where}: scale_to_mm must be > 0 (1000 for metres, 10 for cm).")
        if rot.shape != (3, 3) or not np.allclose(rot @ rot.T, np.eye(3), atol=1e-4) or np.linalg.det(rot) < 0:
            raise HeadBankError(f"{where}: rotation must be a 3x3 proper rotation matrix (orthonormal, det +1).")
        if trans.shape != (3,):
            raise HeadBankError(f"{where}: translation must be 3 numbers (mm).")
        tex = None
        if e.get("texture") is not None:
            tex = folder / str(e["texture"])
            if not tex.is_file():
                raise HeadBankError(f"{where}: texture {tex} does not exist; fix 'texture' or remove it.")
        lv = lp = None
        if e.get("landmarks_vertices") is not None:
            lv = np.asarray(e["landmarks_vertices"], dtype=np.int64)
            if lv.shape != (N_LANDMARKS,):
                raise HeadBankError(f"{where}: landmarks_vertices must list {N_LANDMARKS} vertex indices.")
        if e.get("landmarks_points") is not None:
            lp = np.asarray(e["landmarks_points"], dtype=np.float64)
            if lp.shape != (N_LANDMARKS, 3):
                raise HeadBankError(f"{where}: landmarks_points must be {N_LANDMARKS} [x, y, z] points.")
        attrs = e.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise HeadBankError(f"{where}: attributes must be a mapping.")
        out.append(UserMeshEntry(f, scale, rot, trans, tex, lv, lp, dict(attrs)))
    return out


def _load_mesh(entry: UserMeshEntry, identity: int) -> HeadMesh:
    try:
        import trimesh
    except ImportError as e:
        raise HeadBankError("user meshes need `trimesh`: run `pip install trimesh`.") from e
    try:
        mesh = trimesh.load(entry.file, force="mesh", process=False)
    except Exception as e:  # noqa: BLE001 - trimesh raises many types for bad files
        raise HeadBankError(f"{entry.file}: cannot read the mesh ({type(e).__name__}: {e}); "
                            "re-export it as OBJ/PLY/GLB.") from e
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        raise HeadBankError(f"{entry.file}: no triangles found; re-export it as a triangle mesh (OBJ/PLY/GLB).")
    v = np.asarray(mesh.vertices, dtype=np.float64)
    if not np.isfinite(v).all():
        raise HeadBankError(f"{entry.file}: vertex coordinates are not finite; the file is corrupt.")
    pos = (entry.scale_to_mm * v) @ entry.rotation.T + entry.translation
    faces = np.asarray(mesh.faces, dtype=np.int64)
    normals = np.zeros_like(pos)
    a, b, c = pos[faces[:, 0]], pos[faces[:, 1]], pos[faces[:, 2]]
    fn = np.cross(b - a, c - a)
    for k in range(3):
        np.add.at(normals, faces[:, k], fn)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    uv = getattr(mesh.visual, "uv", None)
    uvs = np.asarray(uv, np.float32) if uv is not None and len(uv) == len(v) else np.zeros((len(v), 2), np.float32)
    texture, key = _texture(entry, mesh)
    lm = np.full((N_LANDMARKS, 3), np.nan, np.float32)
    if entry.landmarks_vertices is not None:
        if entry.landmarks_vertices.max() >= len(v) or entry.landmarks_vertices.min() < 0:
            raise HeadBankError(f"{entry.file}: landmarks_vertices out of range for {len(v)} vertices.")
        lm = pos[entry.landmarks_vertices].astype(np.float32)
    elif entry.landmarks_points is not None:
        lm = ((entry.scale_to_mm * entry.landmarks_points) @ entry.rotation.T + entry.translation).astype(np.float32)
    part = MeshPart("skin", pos.astype(np.float32), normals.astype(np.float32), np.clip(uvs, 0, 1),
                    faces.astype(np.uint32), texture, key)
    attrs = {"source": "user", "file": entry.file.name, **entry.attributes}
    return HeadMesh(identity=identity, parts=(part,), landmarks=lm, attributes=attrs)


def _texture(entry: UserMeshEntry, mesh) -> tuple[np.ndarray, str]:
    from PIL import Image

    if entry.texture is not None:
        try:
            img = Image.open(entry.texture).convert("RGBA")
        except Exception as e:  # noqa: BLE001
            raise HeadBankError(f"{entry.texture}: cannot read the texture image ({e}).") from e
        return np.asarray(img, np.uint8).copy(), f"user:{entry.texture}"
    mat = getattr(mesh.visual, "material", None)
    img = getattr(mat, "image", None) if mat is not None else None
    if img is not None:
        return np.asarray(img.convert("RGBA"), np.uint8).copy(), f"user:{entry.file}:embedded"
    return np.full((4, 4, 4), (180, 150, 130, 255), np.uint8), "user:flat-grey"


class UserMeshBank:
    """Head bank over the meshes listed in ``folder``'s manifest (see module docstring)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.entries = parse_manifest(self.folder)
        self._cache: dict[int, HeadMesh] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, identity: int) -> HeadMesh:
        i = check_identity(identity, len(self.entries))
        if i not in self._cache:
            self._cache[i] = _load_mesh(self.entries[i], i)
        return self._cache[i]

    def describe(self) -> dict:
        return {"kind": "user", "folder": str(self.folder), "files": [e.file.name for e in self.entries]}
