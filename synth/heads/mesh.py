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

#: Part-segmentation classes (the shard's ``seg`` image): id -> name. 0 is the background.
SEG_CLASSES = {0: "background", 1: "skin", 2: "hair", 3: "eyes", 4: "brows", 5: "mouth", 6: "body",
               7: "clothes", 8: "accessories"}
#: Part name -> segmentation class id (``part_class``): skin = the head and neck down to where the
#: bald head of earlier renders was cut; body = the skin below it (neck base, shoulders, chest).
PART_CLASSES = {"skin": 1, "hair": 2, "beard": 2, "eyes": 3, "eyebrows": 4, "eyelashes": 4, "mouth": 5,
                "teeth": 5, "body": 6, "top": 7, "glasses": 8, "hat": 8}
#: Classes of the head: the sample's ``mask`` is the union of these (hair and hats included;
#: body skin and clothes are not); depth covers every part.
HEAD_CLASSES = (1, 2, 3, 4, 5, 8)


def part_class(name: str) -> int:
    """Segmentation class of a part name; unknown parts (user meshes' extra parts) count as skin."""
    return PART_CLASSES.get(name, 1)


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
    blend: (N,) float32 in [0, 1] or None (all 0): how far each vertex follows the torso instead
        of the head (0 = rigid with the head, the pose label; 1 = rigid with the torso; in between
        on the neck), see ``HeadMesh.neck_pivot``.
    tint: linear RGB (3,) in [0, 1] or None: recolour the texture -- albedo = tint x the texel's
        luminance / the texture's mean luminance (hair and clothes colours).
    one_sided: its back faces are (all but) never what a camera sees -- a shell of cards lying on
        the scalp, seen from outside -- so renderers cull them as they cull their ``cull_parts``
        (winding as ``indices`` says); False: drawn from both sides unless its name is culled.
    """

    name: str
    positions: np.ndarray
    normals: np.ndarray
    uvs: np.ndarray
    indices: np.ndarray
    texture: np.ndarray
    texture_key: str
    blend: np.ndarray | None = None
    tint: tuple[float, float, float] | None = None
    one_sided: bool = False


@dataclass(frozen=True)
class HeadMesh:
    """A complete head identity ready to render.

    identity: index of this identity within its bank's pool.
    parts: the textured meshes that make up the head (skin first).
    landmarks: (68, 3) float32, mm, head frame, iBUG 68-point order
        (index 30 = nose tip); rows are NaN where the source has no such point.
    attributes: descriptive values (age, gender, ethnicity, source, ...), JSON-safe.
    neck_pivot: (3,) mm, head frame: the point the head turns about relative to the torso
        (``SceneSpec.head.body_rotation``); parts with ``blend`` > 0 follow the torso about it.
    """

    identity: int
    parts: tuple[MeshPart, ...]
    landmarks: np.ndarray
    attributes: dict = field(default_factory=dict)
    neck_pivot: np.ndarray = field(default_factory=lambda: np.zeros(3))

    @property
    def n_vertices(self) -> int:
        return int(sum(p.positions.shape[0] for p in self.parts))
