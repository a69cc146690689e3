"""Head banks: pools of textured head identities in the canonical head frame.

``build_head_bank("makehuman", pool_size=..., seed=...)`` (default) generates
MakeHuman identities with ``anny``; ``build_head_bank("user", folder=...)``
serves the user's own meshes listed in a manifest. Both implement
:class:`HeadBank` (``__len__``, ``get(i) -> HeadMesh``, ``describe()``).
Heavy dependencies (anny, torch, trimesh) are imported only when a bank is built.
"""
from __future__ import annotations

from synth.heads.bank import HeadBank, HeadBankError
from synth.heads.mesh import N_LANDMARKS, HeadMesh, MeshPart

__all__ = ["HeadBank", "HeadBankError", "HeadMesh", "MeshPart", "N_LANDMARKS", "build_head_bank"]


def build_head_bank(kind: str = "makehuman", **settings) -> HeadBank:
    """Build a head bank.

    kind="makehuman": :class:`synth.heads.makehuman.AnnyHeadBank` (settings:
        pool_size, seed, cache_dir, expressions, assets_dir, batch_size, settings, eye_mesh).
    kind="user": :class:`synth.heads.user_meshes.UserMeshBank` (settings: folder).
    """
    if kind in ("makehuman", "anny"):
        from synth.heads.makehuman import AnnyHeadBank

        return AnnyHeadBank(**settings)
    if kind == "user":
        from synth.heads.user_meshes import UserMeshBank

        return UserMeshBank(**settings)
    raise HeadBankError(f"unknown head bank kind {kind!r}; use 'makehuman' or 'user'")
