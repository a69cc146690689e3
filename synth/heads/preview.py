"""Matplotlib previews of head meshes with landmarks (visual checks, no GPU).

Orthographic views of the canonical head frame: "front" looks along +z (the
camera sees the face; image right = +x, image down = +y), "side" looks at the
subject's left side (image right = -z, i.e. face on the left... see code).
Triangles are painted back to front with Lambert shading of the texture
colour sampled at each triangle's UV centroid.

Run ``python -m synth.heads.preview --n 6 --out preview_heads.png`` for a grid
of the default bank.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from synth.heads.mesh import HeadMesh

#: view name -> (3, 3) rotation mapping head coordinates to view coordinates
#: (x right, y down, z away from the viewer).
VIEWS: dict[str, np.ndarray] = {
    "front": np.eye(3),
    # Camera on the subject's left (+x) looking toward -x: view x = head z, view y = head y, view z = -head x.
    "side": np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]),
}


def _sample(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    h, w = texture.shape[:2]
    x = np.clip((uv[:, 0] * w).astype(int), 0, w - 1)
    y = np.clip(((1.0 - uv[:, 1]) * h).astype(int), 0, h - 1)
    return texture[y, x].astype(np.float32) / 255.0


def draw_head(ax, head: HeadMesh, view: str = "front", landmarks: bool = True) -> None:
    """Draw one head into a matplotlib axis (orthographic, painter's algorithm)."""
    from matplotlib.collections import PolyCollection

    R = VIEWS[view]
    light = np.array([0.3, -0.4, -1.0])
    light /= np.linalg.norm(light)
    polys, colors, depth = [], [], []
    for part in head.parts:
        p = part.positions.astype(np.float64) @ R.T
        tri = part.indices.astype(np.int64)
        a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
        n = np.cross(b - a, c - a)
        n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
        visible = n[:, 2] < 0  # CCW from outside => normal toward the viewer has negative z
        col = _sample(part.texture, part.uvs[tri].mean(axis=1))
        keep = visible & (col[:, 3] > 0.5)
        shade = np.clip(n @ light, 0.0, 1.0) * 0.75 + 0.25
        rgb = np.clip(col[:, :3] * shade[:, None], 0, 1)
        polys.append(np.stack([a, b, c], axis=1)[keep][:, :, :2])
        colors.append(rgb[keep])
        depth.append(((a + b + c) / 3.0)[keep][:, 2] - (0.3 if part.name != "skin" else 0.0))
    polys = np.concatenate(polys)
    colors = np.concatenate(colors)
    order = np.argsort(-np.concatenate(depth))
    ax.add_collection(PolyCollection(polys[order], facecolors=colors[order], edgecolors="none"))
    if landmarks:
        lm = head.landmarks.astype(np.float64) @ R.T
        ax.scatter(lm[:, 0], lm[:, 1], s=6, c="lime", zorder=3)
        if view == "front":
            for k in (0, 8, 16, 30, 36, 45, 48, 54):
                ax.annotate(str(k), lm[k, :2], color="yellow", fontsize=6)
    ax.scatter([0], [0], marker="+", c="red", s=40, zorder=4)
    allp = np.concatenate([p.positions @ R.T for p in head.parts])
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    ax.set_xlim(lo[0] - 5, hi[0] + 5)
    ax.set_ylim(hi[1] + 5, lo[1] - 5)
    ax.set_aspect("equal")
    ax.set_facecolor((0.2, 0.25, 0.3))
    ax.set_xticks([])
    ax.set_yticks([])


def save_grid(heads: Sequence[HeadMesh], path: str | Path, views: Sequence[str] = ("front", "side")) -> Path:
    """Save a PNG grid: one column per head, one row per view."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(len(views), len(heads), figsize=(3.2 * len(heads), 3.6 * len(views)), squeeze=False)
    for j, h in enumerate(heads):
        for i, v in enumerate(views):
            draw_head(axs[i, j], h, v)
        a = h.attributes
        axs[0, j].set_title(f"#{h.identity} {a.get('skin', '')}\nage {a.get('age_years', '?')}", fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m synth.heads.preview [--n N] [--seed S] [--out PNG]``."""
    import argparse

    from synth.heads import build_head_bank

    ap = argparse.ArgumentParser(description="Preview identities of the default head bank.")
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="preview_heads.png")
    a = ap.parse_args(argv)
    bank = build_head_bank("makehuman", pool_size=a.n, seed=a.seed)
    print(save_grid([bank.get(i) for i in range(len(bank))], a.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
