"""Fast rasterising backend: moderngl on OSMesa (CPU) or EGL (GPU, or Mesa llvmpipe).

``GLRenderer(backend)`` implements :class:`synth.render.base.Renderer`. One GL
context per renderer object. Per frame it draws every part of the head once into
a framebuffer object with two colour attachments -- RGBA8 shaded colour with the
part class in its alpha, and R32F camera-space z in mm -- plus a depth renderbuffer,
reads both back, and derives the rest in numpy:

* rgb: read back directly. The background is the same bytes as
  ``background.make_background`` gives other backends, by construction: a solid
  colour is the clear colour; a noise or image background is copied from
  ``make_background`` into the read-back pixels where no head fragment wrote
  camera z (``cv2.copyTo``; no MSAA, so every pixel is all head or all
  background). That took 0.42 ms less CPU per noise frame than a full-screen GL
  pass sampling the coarse noise as a texture (the upload, and llvmpipe's
  fragment work over the uncovered pixels), and keeps GPU texture filtering
  from rounding the background differently;
* depth: planar z (mm) written by the fragment shader from the perspective-
  correctly interpolated camera-space z, i.e. exactly the z of the triangle
  plane on the pixel-centre ray (float32 rounding only), 0 = empty;
* mask = depth > 0 (range, if wanted: ``outputs.range_image``); landmarks / visibility / bbox from ``synth.render.geometry``.

Projection: ``geometry.gl_projection`` reproduces the OpenCV intrinsics exactly
(u = fx*x/z + cx, v = fy*y/z + cy, pixel centres at +0.5) and puts image row 0 in
framebuffer row 0, so read-back needs no flip.

Shading: albedo = texture (sRGB-ish: decoded with gamma 2, i.e. squared; mipmapped, bilinear
in the nearest level or trilinear, see ``mipmaps``),
fragments with alpha < 0.5 discarded; Lambert key light, Lambert fill light and a first-order
spherical-harmonic environment term over the ambient (``spec.light``; no cast shadows: Cycles has them;
direction from head toward the light in the camera frame, intensity * color) +
ambient * color, plus a weak Blinn-Phong specular on parts named "skin" (a whole
shininess is unrolled into products; GLSL in ``synth.render.gl_shaders``); result
re-encoded with sqrt. Lighting is evaluated per vertex (Gouraud) and the
albedo per pixel: head meshes have ~1-5 px triangles in face crops, so this
looks the same as per-pixel lighting and halves llvmpipe's fragment cost.
Parts whose texture has no alpha < 128 use a shader variant without
``discard`` (keeps llvmpipe's early depth test); so do cut-out parts whose
drawn triangles only see kept texels, after triangles that only see cut-out
texels are dropped (``synth.render.cutout``: the eyes' transparent cornea
shell; 6 % less CPU per frame). Back faces are culled for
parts in ``cull_parts`` (closed meshes, counter-clockwise seen from outside,
such as the skin -- the tests check the front, not the back, of a sphere is
seen) and for ``MeshPart.one_sided`` parts (short hair: cards on the scalp, 6-13 % less
render time on those heads, ``bench/hair_sides.py``); other parts (eyebrow/eyelash cards,
eyes, longer hair) are two-sided with the normal flipped toward the viewer.

Backend choice (``backend="auto"``): the environment variable
``SYNTH_GL_BACKEND`` ("osmesa" or "egl") wins if set; otherwise EGL is tried
first when an NVIDIA device is present (``/dev/nvidia0``, i.e. a GPU machine),
else OSMesa first (the CPU default); if the first choice fails to create a
context the other is tried. OSMesa needs ``apt-get install libosmesa6``.

Level of detail (``lod_px`` > 0, ``synth.render.lod``): the skin, body, clothes and teeth are drawn
with the coarsest simplified index buffer whose error stays within ``lod_px`` render pixels at the
head's nearest point, made on first use per (head, level) over the same vertex buffer; a part may
have a budget of its own (``part_lod_px``: the faces preset draws the mouth interior and the
teeth, which the lips mostly hide, at 5x the skin's).

Draw order (``synth.render.lod.draw_order``, when meshoptimizer is installed): each part's triangles
are uploaded in the order its vertex cache reuses best, over vertices renumbered by first use, and
so are its levels. llvmpipe's draw module shades a vertex once per run of nearby indices, so a
scattered order shades many vertices several times: this takes ~3 % off a faces render, with the
same pixels but where two fragments tie in depth (0.1 pixel a frame).

Caches: vertex/index buffers per (head identity, part, mesh fingerprint) in an
LRU of ``max_heads`` heads; textures per ``texture_key`` in an LRU of
``max_textures``; framebuffers per output size (a smaller render, ``render_scale`` < 1,
draws into its lower-left viewport). No per-frame GL allocation,
shader compile or texture upload once a head (and the levels its distances need) is cached, and a
uniform is written only when it is to hold another value than it does (the renderer remembers each
program's: ~20 of a faces frame's ~75 uniform settings repeat what the uniform holds). MSAA is never used, so
the same spec gives the same bytes (llvmpipe is deterministic).
"""
from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field

import cv2
import numpy as np

from synth.heads.mesh import HeadMesh, part_class
from synth.render import geometry, lod
from synth.render.background import make_background, solid_fill
from synth.render.base import Closeable, back_faces_culled
from synth.render.cutout import ALPHA_CUT, MIXED, TRANSPARENT, triangle_alpha_classes
from synth.render.gl_shaders import fragment_shader, vertex_shader
from synth.render.outputs import render_outputs, render_size
from synth.render.texture import texture_luminance
from synth.scene import SceneSpec

try:
    import moderngl
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("synth.render.gl needs moderngl: pip install moderngl") from exc

BACKENDS = ("osmesa", "egl")
#: cut-out classifications kept (LRU): one per (texture, UVs, triangles), shared across identities
_CUTOUTS_KEPT = 256

#: Framebuffer.color_mask values: every attachment, shaded colour (and class) only, camera z only
_WRITE_ALL = ((True,) * 4, (True,) * 4)
_WRITE_COLOR = ((True,) * 4, (False,) * 4)
_WRITE_Z = ((False,) * 4, (True,) * 4)


def _choose_backends(backend: str) -> list[str]:
    if backend in BACKENDS:
        return [backend]
    if backend != "auto":
        raise ValueError(f"backend must be 'auto', 'osmesa' or 'egl', not {backend!r}")
    env = os.environ.get("SYNTH_GL_BACKEND", "").strip().lower()
    if env:
        if env not in BACKENDS:
            raise ValueError(f"SYNTH_GL_BACKEND must be 'osmesa' or 'egl', not {env!r}")
        return [env]
    if os.path.exists("/dev/nvidia0"):
        return ["egl", "osmesa"]
    return ["osmesa", "egl"]


@dataclass
class _DrawnPart:
    """One uploaded part: its full-detail vertex array and the levels of detail made for it so far.

    indices: (F, 3) uint32, the part's triangles that are drawn (cut-out triangles dropped), in the
        part's order and numbering (levels of detail are simplified from them).
    radius: mm, the farthest vertex from the head origin (bounds how near the part comes to the camera).
    remap: (V,) uint32 part vertex -> vertex in the uploaded buffer (``lod.draw_order``), or None when
        the buffer holds the part's vertices as they are.
    levels: level error (mm) -> (vertex array, index buffer) over the same vertex buffer, made on demand.
    """

    vao: object
    vbo: object
    ibo: object
    part: object
    indices: np.ndarray
    radius: float
    remap: np.ndarray | None = None
    levels: dict = field(default_factory=dict)

    def release(self) -> None:
        for vao, ibo in self.levels.values():
            vao.release(), ibo.release()
        self.vao.release(), self.vbo.release(), self.ibo.release()


def _mesh_fingerprint(head: HeadMesh) -> tuple:
    """Cheap identity of a head's geometry: counts plus a strided sample of positions and UVs."""
    parts = []
    for p in head.parts:
        step = max(1, len(p.positions) // 32)
        parts.append((p.name, p.one_sided, p.positions.shape[0], p.indices.shape[0], p.texture_key,
                      hash(np.ascontiguousarray(p.positions[::step]).tobytes()),
                      hash(np.ascontiguousarray(p.uvs[::step]).tobytes())))
    return (head.identity, tuple(parts))


class GLRenderer(Closeable):
    """moderngl renderer (see module doc).

    backend: "auto", "osmesa" or "egl".
    max_heads: uploaded heads kept (LRU); max_textures: textures kept (LRU).
    cull_parts: part names drawn with back-face culling (closed CCW meshes), besides ``one_sided`` parts.
    specular_parts: part names with Blinn-Phong specular (strength ks, shininess).
    landmark_tol_mm: depth-test tolerance for ``landmarks_visible``.
    egl_device: EGL device index for the egl backend.
    lod_px: level of detail (``synth.render.lod``): parts in ``lod_parts`` are drawn with the
        coarsest simplified level whose error stays within this many render pixels at the head's
        nearest point; 0 draws every part in full (needs no meshoptimizer).
    part_lod_px: part name -> its own budget in render pixels, in place of ``lod_px`` (a part named
        here is drawn with levels even when it is not in ``lod_parts``; 0 draws it in full).
    mipmaps: "nearest" (bilinear in the nearest mip level) or "linear" (trilinear) for
        textures without cut-out texels. Trilinear fetches two levels per pixel: "nearest"
        saves 5 % of llvmpipe's frame CPU at 0.11 grey levels mean difference on head pixels
        (99.9 % within 3 levels).
    cutout_mipmaps: the same for textures with cut-out texels (hair, lashes, brows): their
        filtered alpha decides coverage, so "nearest" moves the edges of hair cards where the
        level changes across a card, where "linear" blends two levels' alpha.
    """

    def __init__(self, backend: str = "auto", *, max_heads: int = 512, max_textures: int = 512,
                 cull_parts: tuple[str, ...] = ("skin", "mouth", "body"), specular_parts: tuple[str, ...] = ("skin", "body"),
                 ks: float = 0.08, shininess: float = 24.0, landmark_tol_mm: float = 4.0,
                 egl_device: int = 0, mipmaps: str = "nearest", cutout_mipmaps: str = "linear",
                 lod_px: float = 0.0, lod_parts: tuple[str, ...] = ("skin", "body", "top", "teeth"),
                 part_lod_px: dict[str, float] | None = None):
        for key, value in (("mipmaps", mipmaps), ("cutout_mipmaps", cutout_mipmaps)):
            if value not in ("nearest", "linear"):
                raise ValueError(f"{key} must be 'nearest' or 'linear', not {value!r}")
        if not (float(lod_px) >= 0.0):
            raise ValueError(f"lod_px must be >= 0 (0 = full meshes), not {lod_px!r}")
        own = {name: float(px) for name, px in (part_lod_px or {}).items()}
        for name, px in own.items():
            if not (px >= 0.0):
                raise ValueError(f"part_lod_px[{name!r}] must be >= 0 (0 = the full mesh), not {px!r}")
        self.mipmaps, self.cutout_mipmaps = mipmaps, cutout_mipmaps
        self.lod_px = float(lod_px)
        # part name -> budget in render px, for the parts drawn with levels (see _vertex_array)
        budgets = {name: self.lod_px for name in lod_parts} | own
        self._part_lod_px = {name: px for name, px in budgets.items() if px > 0.0}
        if self._part_lod_px:
            lod._simplify_fn()  # fail here, naming the fix, rather than at the first frame
        self.draw_order = lod.available()  # meshoptimizer's vertex-cache order (see the module doc)
        errors = []
        self._loader = None
        self.ctx = None
        for b in _choose_backends(backend):
            try:
                self._create_context(b, egl_device)
                self.backend = b
                break
            except Exception as exc:  # try the next backend in auto mode
                errors.append(f"{b}: {exc}")
        if self.ctx is None:
            raise RuntimeError("could not create an OpenGL context: " + " | ".join(errors))
        info = self.ctx.info
        self.name = f"moderngl-{self.backend}"
        self.version = (f"moderngl {moderngl.__version__}; {info['GL_RENDERER']}; "
                        f"{info['GL_VERSION']}"
                        + (f"; lod {self.lod_px:g} px" if self.lod_px > 0 else "")
                        + "".join(f"; {name} lod {px:g} px" for name, px in sorted(own.items()))
                        + ("; vertex-cache order" if self.draw_order else "")
                        + (f", meshoptimizer {lod.library_version()}" if self._part_lod_px or self.draw_order else ""))
        self.max_heads, self.max_textures = int(max_heads), int(max_textures)
        self.cull_parts, self.specular_parts = tuple(cull_parts), tuple(specular_parts)
        self.ks, self.shininess = float(ks), float(shininess)
        self.landmark_tol_mm = float(landmark_tol_mm)
        self._heads: OrderedDict = OrderedDict()     # fingerprint -> [_DrawnPart]
        self._textures: OrderedDict = OrderedDict()  # texture_key -> (Texture, has_cutout)
        self._fbos: OrderedDict = OrderedDict()      # (w, h) -> (fbo, attachments)
        self._cutouts: OrderedDict = OrderedDict()   # (texture, UV/triangle digest) -> (indices, alpha test)
        with self.ctx:
            # head programs by (cutout, specular): opaque (early z) or cutout (alpha discard), with or
            # without the highlight (parts without it set up and interpolate 3 varyings fewer a triangle)
            self._progs = {(cut, spec): self.ctx.program(vertex_shader=vertex_shader(self.shininess, spec),
                                                         fragment_shader=fragment_shader(cut, spec))
                           for cut in (False, True) for spec in (False, True)}
            self._u = {id(p): _uniforms(p) for p in self._progs.values()}
            self._u_last = {id(p): {} for p in self._progs.values()}  # uniform -> the value it holds
            for prog in self._progs.values():
                self._set(prog, "u_tex", value=0)
            self.ctx.front_face = "cw"  # see geometry.gl_projection: y mirror flips winding

    def _set(self, prog, name: str, data: bytes | None = None, value=None) -> None:
        """Set a uniform if the compiler kept it and it does not hold that value (bytes or value) already:
        each write is a GL call through moderngl."""
        u = self._u[id(prog)].get(name)
        if u is None:
            return
        new = data if data is not None else value
        last = self._u_last[id(prog)]
        if name in last and last[name] == new:
            return
        if data is not None:
            u.write(data)
        else:
            u.value = value
        last[name] = new

    # ------------------------------------------------------------------ context
    def _create_context(self, backend: str, egl_device: int) -> None:
        if backend == "osmesa":
            from synth.render.osmesa import OSMesaLoader

            loader = OSMesaLoader((3, 3))
            try:
                moderngl.init_context(loader=loader)
                ctx = moderngl.get_context()
            except Exception:
                loader.release()
                raise
            self._loader = loader
        else:
            ctx = moderngl.create_standalone_context(backend="egl", require=330,
                                                     device_index=egl_device)
        self.ctx = ctx

    def close(self) -> None:
        """Release every GL object and the context (idempotent)."""
        if self.ctx is None:
            return
        with self.ctx:
            for entries in self._heads.values():
                self._release_head(entries)
            for tex, *_ in self._textures.values():
                tex.release()
            for fbo, att in self._fbos.values():
                fbo.release()
                for a in att:
                    a.release()
            for prog in self._progs.values():
                prog.release()
        for cache in (self._heads, self._textures, self._fbos, self._cutouts):
            cache.clear()
        self.ctx.release()
        self.ctx = None
        if self._loader is not None:
            self._loader.release()
            self._loader = None

    # ------------------------------------------------------------------ caches
    @staticmethod
    def _release_head(entries) -> None:
        for drawn in entries:
            drawn.release()

    def _head_entries(self, head: HeadMesh):
        """[_DrawnPart] for the head, uploading it on first use (LRU)."""
        key = _mesh_fingerprint(head)
        entries = self._heads.get(key)
        if entries is not None:
            self._heads.move_to_end(key)
            return entries
        entries = []
        for part in head.parts:
            indices, cutout = self._drawn_triangles(part)
            if len(indices) == 0:  # nothing of it can be seen
                continue
            n = part.positions.shape[0]
            inter = np.empty((n, 9), np.float32)
            inter[:, 0:3] = part.positions
            inter[:, 3:6] = part.normals
            inter[:, 6:8] = part.uvs
            inter[:, 8] = 0.0 if part.blend is None else part.blend
            drawn, remap = indices, None
            if self.draw_order:  # vertex-cache order over vertices renumbered by first use (see the module doc)
                drawn, remap = lod.draw_order(indices, n)
                used = remap != lod.UNUSED
                packed = np.empty((int(used.sum()), 9), np.float32)
                packed[remap[used]] = inter[used]
                inter = packed
            vbo = self.ctx.buffer(inter)
            ibo = self.ctx.buffer(drawn)
            vao = self._head_vertex_array(self._progs[cutout, self._specular(part)], vbo, ibo)
            radius = float(np.sqrt((np.asarray(part.positions, np.float64) ** 2).sum(1).max()))
            entries.append(_DrawnPart(vao, vbo, ibo, part, indices, radius, remap))
        cut = {self._progs[True, False], self._progs[True, True]}
        entries.sort(key=lambda d: d.vao.program in cut)  # opaque parts first: early z for the rest
        self._heads[key] = entries
        while len(self._heads) > self.max_heads:
            self._release_head(self._heads.popitem(last=False)[1])
        return entries

    def _specular(self, part) -> bool:
        """Whether ``part`` is drawn with the Blinn-Phong highlight (``specular_parts``, ks > 0)."""
        return self.ks > 0.0 and part.name in self.specular_parts

    def _head_vertex_array(self, prog, vbo, ibo):
        """A vertex array over a part's interleaved (position, normal, UV, torso blend) float32 buffer and uint32 triangles."""
        return self.ctx.vertex_array(prog, [(vbo, "3f 3f 2f 1f", "in_pos", "in_nrm", "in_uv", "in_blend")],
                                     index_buffer=ibo, index_element_size=4)

    def _vertex_array(self, drawn: _DrawnPart, z_mm: float, focal_px: float):
        """The vertex array to draw ``drawn`` with for a head ``z_mm`` in front of a camera of focal
        length ``focal_px``: its level of detail within its budget (``lod_px``, or ``part_lod_px``; made
        on first use), else the full mesh."""
        max_px = self._part_lod_px.get(drawn.part.name)
        if max_px is None:
            return drawn.vao
        error = lod.level_for(max_px, z_mm, drawn.radius, focal_px)
        if error is None:
            return drawn.vao
        entry = drawn.levels.get(error)
        if entry is None:
            part = drawn.part
            indices, _ = lod.simplify(part.positions, part.uvs, drawn.indices, error)
            if drawn.remap is not None:
                indices = drawn.remap[lod.cache_order(indices, part.positions.shape[0])]
            ibo = self.ctx.buffer(indices)
            vao = self._head_vertex_array(drawn.vao.program, drawn.vbo, ibo)
            entry = drawn.levels[error] = (vao, ibo)
        return entry[0]

    def _drawn_triangles(self, part) -> tuple[np.ndarray, bool]:
        """((F', 3) uint32 triangles to draw, whether they need the alpha test) for a part.

        With a cut-out texture, triangles whose footprint is all cut out are dropped and
        the alpha test is kept only if some remaining triangle touches a cut-out texel
        (``synth.render.cutout``): MakeHuman's eyes lose their transparent cornea shell
        and draw with early depth test. Cached per (texture, UVs, triangles).
        """
        _, cutout, _ = self._texture(part)
        if not cutout:
            return np.ascontiguousarray(part.indices, dtype=np.uint32), False
        key = (part.texture_key, part.uvs.shape, part.indices.shape,
               hash(np.ascontiguousarray(part.uvs).tobytes()), hash(np.ascontiguousarray(part.indices).tobytes()))
        entry = self._cutouts.get(key)
        if entry is None:
            classes = triangle_alpha_classes(part.indices, part.uvs, part.texture[..., 3])
            entry = (np.ascontiguousarray(part.indices[classes != TRANSPARENT], dtype=np.uint32),
                     bool((classes == MIXED).any()))
            self._cutouts[key] = entry
            while len(self._cutouts) > _CUTOUTS_KEPT:
                self._cutouts.popitem(last=False)
        else:
            self._cutouts.move_to_end(key)
        return entry

    def _texture(self, part):
        """(Texture, has_cutout, mean linear luminance of the opaque texels) for part.texture_key,
        uploading on first use (LRU)."""
        entry = self._textures.get(part.texture_key)
        if entry is not None:
            self._textures.move_to_end(part.texture_key)
            return entry
        img = np.ascontiguousarray(part.texture, dtype=np.uint8)
        if img.ndim != 3 or img.shape[2] != 4:
            raise ValueError(f"texture of part {part.name!r} must be (H, W, 4) uint8, got {img.shape}")
        tex = self.ctx.texture((img.shape[1], img.shape[0]), 4, img)
        tex.build_mipmaps()
        cutout = bool((img[..., 3] < ALPHA_CUT).any())
        nearest = (self.cutout_mipmaps if cutout else self.mipmaps) == "nearest"
        tex.filter = (moderngl.LINEAR_MIPMAP_NEAREST if nearest else moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        entry = (tex, cutout, texture_luminance(img))
        self._textures[part.texture_key] = entry
        while len(self._textures) > self.max_textures:
            self._textures.popitem(last=False)[1][0].release()
        return entry

    def _framebuffer(self, width: int, height: int):
        """The cached framebuffer of at least width x height (LRU of 8 sizes).

        Callers pass the output size and draw into a lower-left viewport of the
        render size: ``render_scale`` varies per sample, and a framebuffer (three
        renderbuffers) allocated per size made a fresh one nearly every frame.
        """
        key = (width, height)
        entry = self._fbos.get(key)
        if entry is None:
            color = self.ctx.renderbuffer(key, 4)
            zbuf = self.ctx.renderbuffer(key, 1, dtype="f4")
            depth = self.ctx.depth_renderbuffer(key)
            fbo = self.ctx.framebuffer(color_attachments=[color, zbuf], depth_attachment=depth)
            entry = (fbo, (color, zbuf, depth))
            self._fbos[key] = entry
            while len(self._fbos) > 8:
                old, att = self._fbos.popitem(last=False)[1]
                old.release()
                for a in att:
                    a.release()
        else:
            self._fbos.move_to_end(key)
        return entry[0]

    @staticmethod
    def _clear(fbo, rgb) -> None:
        """Clear the whole framebuffer: colour = rgb (0..1) with alpha (the class) 0, camera z = 0, depth = 1.

        Unscissored per-attachment clears stay on llvmpipe's fast clear path (a clear limited to
        the viewport is drawn as a quad), and a solid background needs no pass of its own.
        """
        fbo.color_mask = _WRITE_COLOR
        fbo.clear(float(rgb[0]), float(rgb[1]), float(rgb[2]), 0.0, depth=1.0)
        fbo.color_mask = _WRITE_Z
        fbo.depth_mask = False
        fbo.clear(0.0, 0.0, 0.0, 0.0)
        fbo.color_mask = _WRITE_ALL
        fbo.depth_mask = True

    # ------------------------------------------------------------------ render
    def rasterize(self, spec: SceneSpec, head: HeadMesh, width: int, height: int,
                  background: bool = True, segmentation: bool = False):
        """Draw background and head at width x height, camera rescaled to that grid.

        Returns (rgb (h, w, 3) uint8 top-down, z (h, w) float32 camera z in mm with
        0 = empty, the camera used), and with ``segmentation`` also (h, w) uint8 part classes
        (``synth.heads.mesh.part_class``, 0 = background). Fresh arrays each call.
        """
        cam = spec.camera
        if (width, height) != (cam.width, cam.height):
            cam = geometry.scaled_camera(cam, width, height)
        ctx = self.ctx
        light = spec.light
        d = np.asarray(light.direction, np.float64)
        d = d / max(float(np.linalg.norm(d)), 1e-12)
        col = np.asarray(light.color, np.float64)
        frame = {
            "u_rot": np.asarray(spec.head.rotation, np.float32).T.tobytes(),
            "u_trans": np.asarray(spec.head.translation, np.float32).tobytes(),
            "u_proj": geometry.gl_projection(cam).astype(np.float32).T.tobytes(),
            "u_light_dir": d.astype(np.float32).tobytes(),
            "u_light_col": (col * light.intensity).astype(np.float32).tobytes(),
            "u_ambient": (col * light.ambient).astype(np.float32).tobytes(),
            "u_fill_dir": _unit(light.fill_direction).tobytes(),
            "u_fill_col": (np.asarray(light.fill_color, np.float64) * light.fill_intensity).astype(np.float32).tobytes(),
            "u_env_dir": _unit(light.env_direction).tobytes(),
            "u_env_col": (np.asarray(light.env_color, np.float64) * light.env_strength).astype(np.float32).tobytes(),
            **body_pose_uniforms(spec.head, head.neck_pivot),
        }
        bg = spec.background
        with ctx:
            entries = self._head_entries(head)
            # one framebuffer per output size; a smaller render (render_scale < 1) uses its lower-left corner
            fbo = self._framebuffer(max(width, int(spec.camera.width)), max(height, int(spec.camera.height)))
            fbo.use()
            solid = background and bg.kind == "solid"
            self._clear(fbo, solid_fill(bg) / np.float32(255.0) if solid else (0.0, 0.0, 0.0))
            view = (0, 0, width, height)
            fbo.viewport = view
            for prog in {drawn.vao.program for drawn in entries}:  # the programs this head draws with
                for k, v in frame.items():
                    self._set(prog, k, v)
            ctx.enable(moderngl.DEPTH_TEST)
            z_mm, focal_px = float(spec.head.translation[2]), max(float(cam.fx), float(cam.fy))
            for drawn in entries:
                part = drawn.part
                vao = self._vertex_array(drawn, z_mm, focal_px)
                tex, _, luminance = self._texture(part)
                tex.use(0)
                cull = back_faces_culled(part, self.cull_parts)
                if cull:
                    ctx.enable(moderngl.CULL_FACE)
                else:
                    ctx.disable(moderngl.CULL_FACE)
                prog = vao.program
                self._set(prog, "u_two_sided", value=not cull)
                self._set(prog, "u_ks", value=self.ks if part.name in self.specular_parts else 0.0)
                self._set(prog, "u_class", value=part_class(part.name) / 255.0)
                self._set(prog, "u_tint_on", value=part.tint is not None)
                if part.tint is not None:
                    self._set(prog, "u_tint", value=tuple(float(c) / luminance for c in part.tint))
                vao.render(moderngl.TRIANGLES)
            # RGBA: llvmpipe copies its RGBA8 rows as they are (0.03 ms at 256x256), where an RGB
            # read-back packs pixel by pixel (0.15 ms); OpenCV drops alpha in 0.01 ms (a numpy copy of the
            # strided view takes 0.5 ms)
            rgba = np.empty((height, width, 4), np.uint8)
            z = np.empty((height, width), np.float32)
            fbo.read_into(rgba, view, components=4, attachment=0, alignment=1, dtype="f1")
            fbo.read_into(z, view, components=1, attachment=1, alignment=1, dtype="f4")
            rgb = cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)
            if segmentation:  # the part class rides in the colour's alpha (no blending reads it)
                seg = cv2.extractChannel(rgba, 3)
        if background and bg.kind != "solid":  # where no head fragment wrote camera z (see the module doc)
            cv2.copyTo(np.asarray(make_background(bg, width, height)), (z <= 0.0).view(np.uint8), rgb)
        return (rgb, z, cam, seg) if segmentation else (rgb, z, cam)

    def render(self, spec: SceneSpec, head: HeadMesh) -> dict:
        """Render one spec; returns the dict of ``base.RENDER_OUTPUT_KEYS`` (see base.py)."""
        if self.ctx is None:
            raise RuntimeError("GLRenderer is closed")
        w, h = render_size(spec.camera, spec.render_scale)
        rgb, z, rcam, seg = self.rasterize(spec, head, w, h, segmentation=True)
        np.maximum(z, 0.0, out=z)  # background is 0; guard against -0.0
        return render_outputs(spec, head, rgb, z, rcam, self.landmark_tol_mm, seg)


def _unit(v) -> np.ndarray:
    """(3,) float32 unit vector of ``v``."""
    v = np.asarray(v, np.float64)
    return (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)


def body_pose_uniforms(instance, pivot) -> dict:
    """``u_rot_body`` / ``u_trans_body``: the torso's pose (``HeadInstance.body_rotation``, or the head's
    when None) turning head-frame points about the neck pivot, so the pivot sits where the head puts it."""
    R = np.asarray(instance.rotation, np.float64)
    t = np.asarray(instance.translation, np.float64)
    B = R if instance.body_rotation is None else np.asarray(instance.body_rotation, np.float64)
    c = np.asarray(pivot, np.float64)
    return {"u_rot_body": B.astype(np.float32).T.tobytes(),
            "u_trans_body": (R @ c + t - B @ c).astype(np.float32).tobytes()}


def _uniforms(prog) -> dict:
    return {k: prog[k] for k in prog if isinstance(prog[k], moderngl.Uniform)}
