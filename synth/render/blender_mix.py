"""Mixing the rasteriser and Blender Cycles in one run (``renderer.backend: mix``).

Sample ``i`` of a run with global seed ``s`` is rendered by Cycles when
``uses_blender(s, i, ratio)``: a uniform draw from its own random stream
``SeedSequence([s, i, MIX_STREAM])``, separate from the sample's content
stream ``SeedSequence([s, i])`` -- so the choice is a pure function of (seed,
index), independent of workers and shards, and switching the mix on or
changing the ratio changes no sampled parameter. :class:`MixRenderer` adds the
chosen backend's name under the extra key ``"renderer"`` of its output, which
``synth.pipeline.label_sample`` stores as ``params["renderer"]``.
"""
from __future__ import annotations

import numpy as np

from synth.heads.mesh import HeadMesh
from synth.scene import SceneSpec

#: Third SeedSequence word of the backend-choice stream ("blen" in ASCII).
MIX_STREAM = 0x626C656E


def uses_blender(seed: int, index: int, ratio: float) -> bool:
    """True when sample ``index`` of a run with ``seed`` goes to Cycles (probability ``ratio`` in [0, 1])."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"blender_ratio must lie in [0, 1], got {ratio}")
    if ratio == 0.0:
        return False
    if ratio == 1.0:
        return True
    ss = np.random.SeedSequence([int(seed), int(index), MIX_STREAM])
    return bool(np.random.Generator(np.random.PCG64(ss)).random() < ratio)


class MixRenderer:
    """A :class:`~synth.render.base.Renderer` sending each spec to ``gl`` or ``blender``.

    gl, blender: two renderers (e.g. ``GLRenderer`` and ``BlenderRenderer``);
    ratio: fraction of samples for ``blender``. ``render`` returns the chosen
    backend's output plus ``"renderer"``: that backend's ``name``.
    """

    def __init__(self, gl, blender, ratio: float):
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"blender_ratio must lie in [0, 1], got {ratio}")
        self.gl, self.blender, self.ratio = gl, blender, float(ratio)
        self.name = f"mix({gl.name}+{blender.name})"
        self.version = (f"{gl.name}: {gl.version} | {blender.name}: {blender.version} | "
                        f"blender_ratio {self.ratio:g}")

    def pick(self, spec: SceneSpec):
        """The backend that renders ``spec`` (a function of spec.seed and spec.index only)."""
        return self.blender if uses_blender(spec.seed, spec.index, self.ratio) else self.gl

    def render(self, spec: SceneSpec, head: HeadMesh) -> dict:
        backend = self.pick(spec)
        out = dict(backend.render(spec, head))
        out["renderer"] = backend.name
        return out

    def close(self) -> None:
        try:
            self.gl.close()
        finally:
            self.blender.close()
