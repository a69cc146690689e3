"""Smooth value noise: octaves of random grids, smoothstep-bilinearly interpolated, as one matrix product.

Used by the noise background (``synth.render.background``) and the procedural
patterns (``synth.draw.patterns``).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np


def _axis_taps(n_pix: int, n_cells: int):
    """Smoothstep-bilinear taps (i0, i1, f) of the n_cells+1 grid nodes at the pixel
    centres of an n_pix axis."""
    t = (np.arange(n_pix) + 0.5) * (n_cells / n_pix)
    i0 = np.minimum(np.floor(t).astype(np.int64), n_cells - 1)
    f = t - i0
    f = (f * f * (3.0 - 2.0 * f)).astype(np.float32)  # C1: no visible grid creases
    return i0, i0 + 1, f


def _axis_weights(n_pix: int, n_cells: int) -> np.ndarray:
    """(n_pix, n_cells + 1) float32: row p holds the two smoothstep-bilinear weights of pixel p."""
    i0, i1, f = _axis_taps(n_pix, n_cells)
    m = np.zeros((n_pix, n_cells + 1), np.float32)
    rows = np.arange(n_pix)
    m[rows, i0] = 1.0 - f
    m[rows, i1] += f
    return m


@lru_cache(maxsize=256)
def _octave_weights(width: int, height: int, octaves: tuple):
    """(Wy (height, sum gy+1), WxT (sum gx+1, width), [(gy+1, gx+1)] per octave): every octave's
    interpolation side by side, its weight / total folded into Wy (read-only)."""
    longer = max(width, height)
    total = sum(w for _, w in octaves)
    wy, wx, shapes = [], [], []
    for cells, weight in octaves:
        gx = max(1, round(cells * width / longer))
        gy = max(1, round(cells * height / longer))
        wy.append(_axis_weights(height, gy) * np.float32(weight / total))
        wx.append(_axis_weights(width, gx))
        shapes.append((gy + 1, gx + 1))
    out = np.hstack(wy), np.ascontiguousarray(np.hstack(wx).T)
    for a in out:
        a.flags.writeable = False
    return out + (tuple(shapes),)


def value_noise(rng: np.random.Generator, width: int, height: int, channels: int,
                octaves) -> np.ndarray:
    """(height, width, channels) float32 smooth noise in [0, 1] from ``rng``.

    Octave k is a (gy+1, gx+1) grid of uniform values, interpolated smoothstep-bilinearly at
    the pixel centres: Wy_k @ grid @ Wx_k^T. All octaves are one product: the grids sit on
    the diagonal of a block matrix between the side-by-side weights (0.22 vs 0.53 ms per
    coarse noise image for one elementwise pass per octave). BLAS sums the two taps, so the
    bytes are the same run to run on one machine; another CPU may round a value differently.
    """
    wy, wxt, shapes = _octave_weights(int(width), int(height), tuple(octaves))
    blocks = np.zeros((channels, wy.shape[1], wxt.shape[0]), np.float32)
    y = x = 0
    for gy, gx in shapes:  # drawn octave by octave, in the order given
        blocks[:, y:y + gy, x:x + gx] = rng.random((gy, gx, channels), dtype=np.float32).transpose(2, 0, 1)
        y, x = y + gy, x + gx
    return (wy @ blocks @ wxt).transpose(1, 2, 0)
