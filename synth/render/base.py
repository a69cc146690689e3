"""The renderer interface shared by every backend.

Backends import their heavy libraries inside their own module, never here.
"""
from __future__ import annotations

from typing import Protocol

from synth.heads.mesh import HeadMesh, MeshPart
from synth.scene import SceneSpec

#: Keys and meaning of the dict every ``Renderer.render`` returns (H, W = spec.camera.height, width):
#:   rgb        (H, W, 3) uint8   -- lit, textured head over the background, before effects
#:   depth      (H, W) float32    -- planar z-depth in mm (camera z), 0 where no head
#:   mask       (H, W) bool       -- True where the head covers the pixel (skin, hair, eyes, brows, mouth,
#:                                   glasses and hats; not the body skin below the neck or the clothes)
#:   landmarks  (68, 2) float32   -- projected head landmarks in pixels (x right, y down), NaN if absent
#:   landmarks_visible (68,) bool -- landmark not hidden by the head itself (depth test)
#:   bbox       (4,) float32      -- face box x0, y0, x1, y1 in pixels (min/max of the landmarks)
#: (the camera-centre-to-surface distance follows from depth: ``synth.render.outputs.range_image``)
RENDER_OUTPUT_KEYS = ("rgb", "depth", "mask", "landmarks", "landmarks_visible", "bbox")
#: and, from backends that draw part classes:
#:   seg        (H, W) uint8      -- part class per pixel (``synth.heads.mesh.SEG_CLASSES``, 0 = background)


def back_faces_culled(part: MeshPart, cull_parts: tuple[str, ...]) -> bool:
    """Whether a backend draws only ``part``'s front faces: it is ``one_sided`` or named in the
    backend's ``cull_parts`` (closed meshes such as the skin). The same rule in every backend."""
    return part.one_sided or part.name in cull_parts


class Closeable:
    """A backend holding a context or a scene: ``with Backend(...) as r:`` closes it at the end, and so
    does garbage collection (errors ignored there). The class defines ``close()``, safe to call twice."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Renderer(Protocol):
    """Turns a :class:`SceneSpec` and its head mesh into images and geometric labels."""

    #: backend name, e.g. "moderngl-osmesa"
    name: str
    #: backend library version string, recorded in shard provenance
    version: str

    def render(self, spec: SceneSpec, head: HeadMesh) -> dict:
        """Render one spec; returns the arrays listed in ``RENDER_OUTPUT_KEYS``."""
        ...

    def close(self) -> None:
        """Release the GL context and GPU buffers."""
        ...
