"""Texture statistics shared by the renderers (numpy only, no GL or Blender import).

:func:`texture_luminance` is the denominator of the tint recolouring of
``synth.heads.mesh.MeshPart.tint`` (albedo = tint x texel luminance / the
texture's mean luminance, so a tinted part's mean albedo is the tint whatever
the texture's own brightness). Each backend passes the decode it applies to
texels before lighting: gl.py squares them (gamma 2), Cycles applies the
piecewise sRGB curve (``blender_math.srgb_decode``); with its own decode in
the mean, a tinted part has mean albedo = tint in both.
"""
from __future__ import annotations

import numpy as np

from synth.render.cutout import ALPHA_CUT

#: Rec. 709 / sRGB luminance weights of linear RGB.
LUMINANCE_WEIGHTS = (0.2126, 0.7152, 0.0722)


def _square(x: np.ndarray) -> np.ndarray:
    return x * x


def texture_luminance(img: np.ndarray, decode=_square) -> float:
    """Mean linear luminance of the texels with alpha >= 128 of an (H, W, 4) uint8 RGBA image.

    decode: maps encoded values in [0, 1] (float64 array) to linear ones; the default
    squares them (gl.py's sRGB-ish decode). Returns at least 1e-4; 1.0 when no texel is kept.
    """
    rgb = img[..., :3][img[..., 3] >= ALPHA_CUT].astype(np.float64) / 255.0
    if len(rgb) == 0:
        return 1.0
    lin = np.asarray(decode(rgb), np.float64)
    return float(max((lin @ np.array(LUMINANCE_WEIGHTS)).mean(), 1e-4))
