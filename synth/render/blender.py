"""Photoreal backend: Blender Cycles path tracing through the ``bpy`` module.

``BlenderRenderer`` implements :class:`synth.render.base.Renderer` with the same
outputs as the rasteriser (``synth.render.gl``) for the same ``SceneSpec``:

* rgb: Cycles' combined pass -- soft shadows from sun lamps with a finite
  angular size, subsurface scattering in the skin, glossy highlights, ambient
  and environment light from the world (so occluded creases get less of it)
  -- over the background of ``synth.render.background`` (composited in linear
  light, so background pixels are the same bytes the rasteriser paints);
* depth: Cycles' Z pass, planar camera z in mm (0 = no head). With the
  default pixel filter of 0.01 px every camera ray goes through the pixel
  centre, so depth and mask are sampled exactly where the rasteriser
  samples them (the parity test holds them to IoU >= 0.95 and 1 mm);
  ``outputs.range_image`` turns depth into range;
* seg: the part classes (``synth.heads.mesh.part_class``) from the object
  index pass -- each part's object has its class as pass index -- written,
  like Z, from the first sample at the pixel centre and with the same alpha
  threshold, so seg > 0 exactly where depth > 0; mask = the head's classes
  of seg (``outputs.head_mask``), the same definition as gl.py's;
* landmarks / visibility / bbox from ``synth.render.geometry`` with the same
  camera, i.e. identical to the rasteriser's.

Lighting model, matched to gl.py as closely as physics allows:

* key light: a sun of strength pi * intensity (W/m^2) and colour ``light.color``
  shining along ``-light.direction`` (a white Lambertian surface facing it then has
  linear radiance = intensity, as in gl.py); the fill light is a second sun matched
  the same way (pi * fill_intensity, ``fill_color``, ``-fill_direction``). Exact for
  an unshadowed Lambertian surface; unlike gl.py's Lambert-only fill, it also
  casts shadows and makes (Fresnel) highlights, as a real lamp does;
* ambient + environment: the world radiates ``max(0, alpha + beta (w . d))`` along
  direction w (``blender_math.environment_lobe``, d = ``env_direction``). Its mean
  over the sphere is ambient x colour and its first moment along d is half of
  env_strength x env_color, which is what gives a Lambertian surface gl.py's
  ``ambient + env (n . d)``. Exact for an unoccluded surface while env <= 2/3 of
  the ambient (a plain linear gradient, never negative); above that a negative sky
  is impossible, so the gradient is clamped and re-fitted to the same two moments,
  leaving a small second-order error (gl.py's own result is then clamped at 0 on the
  dark side); where env >= 2 x ambient no non-negative sky has those moments and the
  lobe is capped. Occluded creases, inter-reflection and highlights of the sky
  differ physically.

Textures are sRGB-decoded (gl.py squares them) and the result sRGB-encoded by the
"Standard" view transform (gl.py takes a square root). Tinted parts (hair, clothes:
``MeshPart.tint``) take the texel's luminance x tint / the texture's mean luminance
in the node tree, the mean from the same ``texture.texture_luminance`` as gl.py over
Cycles' decode, so a tinted part's mean albedo is the tint in both. Other
differences are physical: shadows, subsurface light bleeding, Fresnel highlights.

Geometry: parts arrive split at UV seams; they are welded back (equal
positions merged, UVs moved to the face corners, ``blender_math.weld``) and
shaded smooth with Blender's own vertex normals (``MeshPart.normals`` is not
used), so no seam shows. Two-sided parts (all but ``cull_parts``) are also
re-wound consistently across shared edges (``blender_math.consistent_winding``):
Blender's normals sum the triangles' winding normals, and a patch wound against
its neighbours (some clothes proxies have one) would shade dark and jagged
where gl.py, flipping each vertex normal toward the viewer, shows nothing. Every part is placed with the head's pose matrix;
parts with a torso ``blend`` (neck, body, clothes, long hair) get their vertices
moved per sample to where gl.py's vertex shader puts them for
``HeadInstance.body_rotation`` (``blender_math.neck_blend_positions``; written
with ``foreach_set`` only when they change); their normals are Blender's of the
moved mesh, where gl.py blends and renormalises the two poses' normals: the
same where the weight is constant, slightly different where it varies along
the neck (the moved surface also tilts with the weight's gradient). Parts named in ``cull_parts`` (skin, mouth,
body) and ``MeshPart.one_sided`` parts (short hair) are transparent to camera rays on their back faces, like gl.py's
back-face culling (looking into the cut neck shows what is behind it, not the
inside of the head). Materials (``blender_shading``): skin, mouth and body with
Burley subsurface scattering at measured skin mean free paths, glossy eyes and
teeth, rough sheen cloth for tops and hats, rough cards for hair, beards, brows
and lashes; alpha < 0.5 texels are cut out as in gl.py.

Scene life cycle: one Blender scene per renderer, built once; per frame only
the camera intrinsics, object matrices, lamps, world lobe, Cycles seed, the
vertex coordinates of torso-blended parts and -- when the head changes -- every
part's vertex coordinates (``foreach_set``, in place), its object colour
(tint), pass index (class) and the image of each material's texture node
change. Mesh datablocks are reused per part slot (geometry rebuilt in place
only when the connectivity changes), materials per (slot, kind, cut-out,
culling, tinted), texture images live in an LRU keyed by ``texture_key``,
persistent data keeps Cycles' BVH and shaders between frames. Nothing is
created per frame, which is what keeps memory flat (Blender grows when scenes
are rebuilt in a loop).

Output path: in background mode ``Render Result`` has no pixels, so a
compositor File Output node writes an RGBA PNG and float32 depth and
object-index EXRs to a private temporary folder (RAM-backed ``/dev/shm`` when
present) and they are read back (PIL for the PNG; one reused Blender image per
EXR). Blender prints progress for every frame; it goes to ``blender.log`` in
that folder (quoted in error messages) instead of the terminal.

Devices: ``device="cpu"`` (default), ``"auto"`` (OptiX, CUDA, else CPU),
``"optix"``, ``"cuda"``. The GPU branch is untested on our CPU-only machines.

Install: ``pip install -e '.[blender]'`` (bpy 4.5 LTS, Python 3.11 only). ``bpy``'s
metadata pins numpy<2 although only its audio module uses the numpy C API; the
import prints a harmless "numpy.core.multiarray failed to import" there, which
this module swallows (and replays if the import fails).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np

from synth.heads.mesh import HeadMesh, MeshPart, part_class
from synth.render import geometry
from synth.render.background import make_background
from synth.render.base import Closeable, back_faces_culled
from synth.render.outputs import render_outputs, render_size
from synth.render.blender_math import (
    camera_matrix,
    camera_params,
    cycles_seed,
    environment_lobe,
    neck_blend_positions,
    over,
    pose_matrix,
    srgb_decode,
    sun_matrix,
    topology_key,
    weld,
)
from synth.render.blender_scene import (
    MeshSlot,
    configure_cycles,
    make_compositor,
    matrix,
    remove_datablocks,
    select_device,
)
from synth.render.blender_shading import SkinLook, make_material, make_world, material_kind, set_world
from synth.render.texture import texture_luminance
from synth.scene import SceneSpec

#: What to run when bpy is missing.
INSTALL_HINT = ("the Blender backend needs the bpy module (Blender as a Python module, CPython 3.11 only); "
                "fix: pip install -e '.[blender]'  (or: pip install bpy==4.5.15), or use --renderer gl")

#: Z-pass values at or above this are "no hit" (Cycles writes 1e10 there).
_NO_HIT = 1e9

_counter = [0]


@contextmanager
def _quiet_fds(log_path: str):
    """Send this process's stdout/stderr -- the file descriptors (Blender's C code prints
    progress lines for every render) and Python's sys.stdout/sys.stderr -- to ``log_path``."""
    import sys

    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except Exception:
            pass
    saved = [os.dup(1), os.dup(2)]
    saved_py = (sys.stdout, sys.stderr)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    log = open(log_path, "a", buffering=1, encoding="utf-8", errors="replace")
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.stdout = sys.stderr = log
        yield
    finally:
        sys.stdout, sys.stderr = saved_py
        log.close()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (fd, *saved):
            os.close(f)


def _tail(path: str, n: int = 2000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - n))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def import_bpy():
    """Import and return ``bpy``; ImportError with the install command when it is missing."""
    import sys

    if sys.modules.get("bpy") is not None:
        return sys.modules["bpy"]
    log = tempfile.NamedTemporaryFile(prefix="synth-bpy-import-", suffix=".log", delete=False)
    log.close()
    try:
        with _quiet_fds(log.name):
            import bpy
    except ImportError as exc:
        raise ImportError(f"{INSTALL_HINT} ({exc})") from exc
    except Exception as exc:  # a broken install: show what Blender printed
        raise ImportError(f"importing bpy failed: {exc}\n{_tail(log.name)}\n{INSTALL_HINT}") from exc
    finally:
        os.unlink(log.name)
    return bpy


def bpy_available() -> bool:
    """True when ``import bpy`` would work (checked without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec("bpy") is not None
    except (ImportError, ValueError):  # e.g. sys.modules["bpy"] set to None
        return False


def _texture_pixels(texture: np.ndarray) -> np.ndarray:
    """(H*W*4,) float32 in [0, 1], rows bottom-first (Blender's image layout)."""
    img = np.asarray(texture)
    if img.ndim != 3 or img.shape[2] != 4 or img.dtype != np.uint8:
        raise ValueError(f"textures must be (H, W, 4) uint8, got {img.shape} {img.dtype}")
    return (img[::-1].astype(np.float32) * np.float32(1.0 / 255.0)).ravel()


class BlenderRenderer(Closeable):
    """Cycles renderer (see module doc).

    samples: Cycles samples per pixel (adaptive sampling may stop earlier).
    denoise: OpenImageDenoise on the combined pass (albedo + normal guided).
    device: "cpu", "auto", "cuda" or "optix".
    threads: CPU render threads (0 = all cores).
    filter_width_px: Cycles pixel filter width; the default 0.01 (its minimum)
        samples pixel centres only -- exact depth/seg/mask, aliased edges like the
        rasteriser; 1.5 gives anti-aliased colour but depth/seg/mask then come from
        one jittered sample per pixel (up to 0.75 px off at silhouettes).
    sun_angle_deg: angular diameter of the key and fill lights (shadow softness; the real sun is 0.53).
    look: material settings (:class:`~synth.render.blender_shading.SkinLook`).
    cull_parts: part names whose back faces camera rays see through (gl.py's culled parts, the same default).
    landmark_tol_mm: depth-test tolerance for ``landmarks_visible`` (as gl.py).
    max_textures: texture images kept (LRU; >= 4, more than one head's parts).
    """

    def __init__(self, *, samples: int = 16, denoise: bool = True, device: str = "cpu", threads: int = 0,
                 filter_width_px: float = 0.01, sun_angle_deg: float = 4.0, look: SkinLook | None = None,
                 cull_parts: tuple[str, ...] = ("skin", "mouth", "body"), landmark_tol_mm: float = 4.0, max_textures: int = 64):
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        if max_textures < 4:
            raise ValueError(f"max_textures must be >= 4 (more than a head's parts), got {max_textures}")
        self.bpy = bpy = import_bpy()
        _counter[0] += 1
        self.prefix = f"synth{os.getpid()}_{_counter[0]}_"
        self.samples, self.denoise = int(samples), bool(denoise)
        self.landmark_tol_mm = float(landmark_tol_mm)
        self.cull_parts = tuple(cull_parts)
        self.max_textures = int(max_textures)
        self.look = look or SkinLook()
        base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        self.folder = tempfile.mkdtemp(prefix="synth-cycles-", dir=base)
        weakref.finalize(self, shutil.rmtree, self.folder, True)  # also at exit without close()
        self._log = os.path.join(self.folder, "blender.log")
        self._closed = False
        p = self.prefix
        try:
            self.scene = scene = bpy.data.scenes.new(p + "scene")
            configure_cycles(bpy, scene, samples=samples, denoise=denoise, filter_width_px=filter_width_px,
                             threads=threads)
            self.device = select_device(bpy, scene, device)
            cam_data = bpy.data.cameras.new(p + "camera")
            cam_data.sensor_fit = "HORIZONTAL"
            self.camera = bpy.data.objects.new(p + "camera", cam_data)
            scene.collection.objects.link(self.camera)
            scene.camera = self.camera
            self.camera.matrix_world = matrix(bpy, camera_matrix())
            self.sun, self.fill = (self._sun_lamp(p + name, sun_angle_deg) for name in ("sun", "fill"))
            self.world, self._world_nodes = make_world(bpy, p + "world")
            scene.world = self.world
            self._paths = make_compositor(bpy, scene, p + "compositor", self.folder)
        except Exception:
            self._cleanup()
            raise
        self._slots: list[MeshSlot] = []
        self._materials: dict = {}                     # (slot, kind, cutout) -> (material, image node)
        self._images: OrderedDict = OrderedDict()      # texture_key -> (bpy image, has_cutout, mean luminance)
        self._topologies: OrderedDict = OrderedDict()  # topology key -> WeldedTopology
        self._pass_images: dict = {}                   # "depth" / "seg" -> the reused bpy image of that EXR
        self.name = "blender-cycles"
        self.version = (f"bpy {bpy.app.version_string}; Cycles {self.device}; {self.samples} spp"
                        f"{' + OIDN' if self.denoise else ''}; filter {scene.cycles.filter_width:g} px")

    def _sun_lamp(self, name: str, angle_deg: float):
        data = self.bpy.data.lights.new(name, "SUN")
        data.angle = np.deg2rad(float(angle_deg))
        lamp = self.bpy.data.objects.new(name, data)
        self.scene.collection.objects.link(lamp)
        return lamp

    # ------------------------------------------------------------------ life cycle
    def _cleanup(self) -> None:
        try:
            remove_datablocks(self.bpy, self.prefix)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def close(self) -> None:
        """Delete this renderer's datablocks and temporary folder (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._slots.clear()
        self._materials.clear()
        self._images.clear()
        self._pass_images.clear()
        self._cleanup()

    # ------------------------------------------------------------------ caches
    def _image(self, part: MeshPart):
        """(bpy image, has_cutout, mean linear luminance of the kept texels under Cycles' sRGB decode)
        for the part's texture (LRU by texture_key)."""
        key = part.texture_key
        entry = self._images.get(key)
        if entry is not None:
            self._images.move_to_end(key)
            return entry
        tex = np.asarray(part.texture)
        pixels = _texture_pixels(tex)
        img = self.bpy.data.images.new(f"{self.prefix}tex{len(self._images)}_{abs(hash(key)) % 10**8}",
                                       width=tex.shape[1], height=tex.shape[0], alpha=True)
        img.colorspace_settings.name = "sRGB"
        img.alpha_mode = "STRAIGHT"
        img.pixels.foreach_set(pixels)
        img.update()
        entry = (img, bool((tex[..., 3] < 128).any()), texture_luminance(tex, srgb_decode))
        self._images[key] = entry
        while len(self._images) > self.max_textures:
            old = self._images.popitem(last=False)[1][0]
            for mat, node in self._materials.values():
                if node.image == old:
                    node.image = None
            self.bpy.data.images.remove(old)
        return entry

    def _topology(self, part: MeshPart, two_sided: bool):
        """The part's WeldedTopology (LRU); two-sided parts wound consistently (``consistent_winding``),
        culled ones keep their winding (it is what gl.py culls by)."""
        key = topology_key(part.positions, part.uvs, part.indices) + ("c" if two_sided else "")
        topo = self._topologies.get(key)
        if topo is None:
            topo = weld(part.positions, part.uvs, part.indices, consistent=two_sided)
            self._topologies[key] = topo
            while len(self._topologies) > 64:
                self._topologies.popitem(last=False)
        else:
            self._topologies.move_to_end(key)
        return topo

    def _material(self, slot_index: int, kind: str, cutout: bool, cull: bool, tinted: bool):
        key = (slot_index, kind, cutout, cull, tinted)
        entry = self._materials.get(key)
        if entry is None:
            entry = make_material(self.bpy, f"{self.prefix}mat{slot_index}_{kind}{'_cut' if cutout else ''}"
                                  f"{'_cull' if cull else ''}{'_tint' if tinted else ''}", kind, cutout, self.look,
                                  cull, tinted)
            self._materials[key] = entry
        return entry

    def _set_head(self, head: HeadMesh, instance) -> None:
        """Put the head's parts into the mesh slots (geometry in place), pose and label them.

        Every part is placed with the head's pose matrix; the vertices of parts with a torso
        ``blend`` are moved to where gl.py's vertex shader puts them for this sample's
        ``body_rotation`` (``blender_math.neck_blend_positions``, written only when they change).
        """
        bpy = self.bpy
        R = np.asarray(instance.rotation, np.float64)
        B = None if instance.body_rotation is None else np.asarray(instance.body_rotation, np.float64)
        turned = B is not None and not np.array_equal(B, R)
        pose = matrix(bpy, pose_matrix(R, instance.translation))
        while len(self._slots) < len(head.parts):
            self._slots.append(MeshSlot(bpy, self.scene, f"{self.prefix}part{len(self._slots)}"))
        for i, slot in enumerate(self._slots):
            if i >= len(head.parts):
                slot.obj.hide_render = True
                continue
            part = head.parts[i]
            slot.obj.hide_render = False
            positions = np.asarray(part.positions, np.float32)
            if turned and part.blend is not None:
                positions = neck_blend_positions(positions, part.blend, R, B, head.neck_pivot)
            digest = hash(positions.tobytes())
            cull = back_faces_culled(part, self.cull_parts)
            topo = self._topology(part, two_sided=not cull)
            if slot.topology is None or slot.topology.key != topo.key:
                slot.set_topology(topo, positions)
                slot.positions_digest = digest
            elif slot.positions_digest != digest:
                slot.set_positions(positions)
                slot.positions_digest = digest
            img, cutout, luminance = self._image(part)
            tinted = part.tint is not None
            mat, node = self._material(i, material_kind(part.name), cutout, cull, tinted)
            if node.image != img:
                node.image = img
            slot.set_material(mat)
            if tinted:
                slot.set_tint(np.asarray(part.tint, np.float64) / luminance)
            slot.set_class(part_class(part.name))
            slot.obj.matrix_world = pose

    # ------------------------------------------------------------------ render
    def _set_frame(self, spec: SceneSpec, cam) -> None:
        bpy, scene = self.bpy, self.scene
        cp = camera_params(cam)
        r = scene.render
        r.resolution_x, r.resolution_y = cp.width, cp.height
        r.pixel_aspect_x, r.pixel_aspect_y = cp.pixel_aspect_x, cp.pixel_aspect_y
        cd = self.camera.data
        cd.sensor_width, cd.lens = cp.sensor_width, cp.lens
        cd.shift_x, cd.shift_y = cp.shift_x, cp.shift_y
        cd.clip_start, cd.clip_end = cp.clip_start, cp.clip_end
        light = spec.light
        col = np.clip(np.asarray(light.color, np.float64).reshape(3), 0.0, None)
        for lamp, direction, colour, intensity in (
                (self.sun, light.direction, col, light.intensity),
                (self.fill, light.fill_direction, light.fill_color, light.fill_intensity)):
            lamp.matrix_world = matrix(bpy, sun_matrix(direction))
            lamp.data.color = tuple(np.clip(np.asarray(colour, np.float64).reshape(3), 0.0, None))
            lamp.data.energy = float(np.pi * max(float(intensity), 0.0))
        env = np.asarray(light.env_color, np.float64).reshape(3) * float(light.env_strength)
        alpha, beta = environment_lobe(col * float(light.ambient), env)
        d = np.asarray(light.env_direction, np.float64).reshape(3)
        set_world(self._world_nodes, alpha, beta, d / max(float(np.linalg.norm(d)), 1e-12))
        scene.cycles.seed = cycles_seed(spec.seed, spec.index)

    def _read_pass(self, key: str, w: int, h: int) -> np.ndarray:
        """(h, w) float32 top-down: the first channel of the pass EXR ``key`` ("depth", "seg"),
        read through one reused Blender image per pass."""
        img = self._pass_images.get(key)
        if img is None:
            img = self._pass_images[key] = self.bpy.data.images.load(self._paths[key])
            img.name = self.prefix + key
            img.colorspace_settings.is_data = True
        else:
            img.reload()
        if tuple(img.size) != (w, h):
            raise RuntimeError(f"Cycles {key} pass size {tuple(img.size)} != render size {(w, h)}")
        buf = np.empty(w * h * img.channels, np.float32)
        img.pixels.foreach_get(buf)
        return np.ascontiguousarray(buf.reshape(h, w, img.channels)[::-1, :, 0])

    def _read_outputs(self, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rgba (h, w, 4) uint8 top-down, z (h, w) float32 mm with >= 1e9 = no hit,
        seg (h, w) float32 object pass index = part class, 0 = no hit)."""
        from PIL import Image

        missing = [os.path.basename(p) for p in self._paths.values() if not os.path.isfile(p)]
        if missing:
            raise RuntimeError(f"Cycles wrote no {' / '.join(missing)} "
                               f"(folder holds {sorted(os.listdir(self.folder))}); its log ends with:\n"
                               f"{_tail(self._log)}")
        with Image.open(self._paths["rgb"]) as im:
            rgba = np.asarray(im.convert("RGBA"), dtype=np.uint8)
        if rgba.shape[:2] != (h, w):
            raise RuntimeError(f"Cycles output size {rgba.shape[1::-1]} != render size {(w, h)}")
        return rgba, self._read_pass("depth", w, h), self._read_pass("seg", w, h)

    def render_raw(self, spec: SceneSpec, head: HeadMesh, width: int, height: int):
        """Render background + head at width x height (camera rescaled to that grid).

        Returns (rgb (h, w, 3) uint8 top-down, z (h, w) float32 planar camera z in
        mm with 0 = empty, the camera used, seg (h, w) uint8 part classes with 0 = empty).
        """
        if self._closed:
            raise RuntimeError("BlenderRenderer is closed")
        cam = spec.camera
        if (width, height) != (cam.width, cam.height):
            cam = geometry.scaled_camera(cam, width, height)
        self._set_frame(spec, cam)
        self._set_head(head, spec.head)
        for path in self._paths.values():
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        try:
            with _quiet_fds(self._log):
                self.bpy.ops.render.render(scene=self.scene.name)
        except Exception as exc:
            raise RuntimeError(f"Cycles render failed: {exc}; log tail:\n{_tail(self._log)}") from exc
        rgba, z, index = self._read_outputs(width, height)
        hit = z < _NO_HIT
        z = np.where(hit, z, 0.0).astype(np.float32)
        seg = np.where(hit, np.rint(index), 0.0).astype(np.uint8)   # both from the first sample's hit
        rgb = over(rgba, np.asarray(make_background(spec.background, width, height)))
        return rgb, z, cam, seg

    def render(self, spec: SceneSpec, head: HeadMesh) -> dict:
        """Render one spec; returns the dict of ``base.RENDER_OUTPUT_KEYS`` (see base.py)."""
        w, h = render_size(spec.camera, spec.render_scale)
        rgb, z, rcam, seg = self.render_raw(spec, head, w, h)
        return render_outputs(spec, head, rgb, z, rcam, self.landmark_tol_mm, seg)
