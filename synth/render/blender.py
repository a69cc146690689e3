"""Photoreal backend: Blender Cycles path tracing through the ``bpy`` module.

``BlenderRenderer`` implements :class:`synth.render.base.Renderer` with the same
outputs as the rasteriser (``synth.render.gl``) for the same ``SceneSpec``:

* rgb: Cycles' combined pass -- soft shadows from a sun lamp with a finite
  angular size, subsurface scattering in the skin, glossy highlights on skin
  and eyes, ambient fill as a uniform world colour (so occluded creases get
  less of it) -- over the background of ``synth.render.background``
  (composited in linear light, so background pixels are the same bytes the
  rasteriser paints);
* depth: Cycles' Z pass, planar camera z in mm (0 = no head). With the
  default pixel filter of 0.01 px every camera ray goes through the pixel
  centre, so depth and mask are sampled exactly where the rasteriser
  samples them (the parity test holds them to IoU >= 0.95 and 1 mm);
  ``outputs.range_image`` turns depth into range; mask = depth > 0;
* landmarks / visibility / bbox from ``synth.render.geometry`` with the same
  camera, i.e. identical to the rasteriser's.

Lighting model, matched to gl.py as closely as physics allows: the key light is
a sun of strength pi * intensity (W/m^2) and colour ``light.color`` shining along
``-light.direction`` (a white Lambertian surface facing it then has linear
radiance = intensity, as in gl.py); the world's uniform colour ambient * color
gives an unoccluded surface the rasteriser's ambient term exactly. Textures are
sRGB-decoded (gl.py squares them) and the result sRGB-encoded by the "Standard"
view transform (gl.py takes a square root). Differences are physical: shadows,
occlusion of the fill light, subsurface light bleeding, Fresnel highlights.

Geometry: parts arrive split at UV seams; they are welded back (equal
positions merged, UVs moved to the face corners, ``blender_math.weld``) and
shaded smooth with Blender's own vertex normals (``MeshPart.normals`` is not
used), so no seam shows. Parts named in ``cull_parts`` (the skin) are
transparent to camera rays on their back faces, like gl.py's back-face culling
(looking into the cut neck shows what is behind it, not the inside of the head).
Materials (``blender_scene.make_material``): skin with Burley subsurface
scattering at measured skin mean free paths, glossy eyes, rough hair cards;
alpha < 0.5 texels are cut out as in gl.py.

Scene life cycle: one Blender scene per renderer, built once; per frame only
the camera intrinsics, object matrices, lamp, world colour, Cycles seed and --
when the head changes -- vertex coordinates (``foreach_set``, in place) and the
image of each material's texture node change. Mesh datablocks are reused per
part slot (geometry rebuilt in place only when the connectivity changes),
texture images live in an LRU keyed by ``texture_key``, persistent data keeps
Cycles' BVH and shaders between frames. Nothing is created per frame, which is
what keeps memory flat (Blender grows when scenes are rebuilt in a loop).

Output path: in background mode ``Render Result`` has no pixels, so a
compositor File Output node writes an RGBA PNG and a float32 depth EXR to a
private temporary folder (RAM-backed ``/dev/shm`` when present) and they are
read back (PIL for the PNG; one reused Blender image for the float EXR).
Blender prints progress for every frame; it goes to ``blender.log`` in that
folder (quoted in error messages) instead of the terminal.

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

from synth.heads.mesh import HeadMesh, MeshPart
from synth.render import geometry
from synth.render.background import make_background
from synth.render.outputs import render_outputs, render_size
from synth.render.blender_math import (
    camera_matrix,
    camera_params,
    cycles_seed,
    over,
    pose_matrix,
    sun_matrix,
    topology_key,
    weld,
)
from synth.render.blender_scene import (
    MATERIAL_KIND,
    MeshSlot,
    SkinLook,
    configure_cycles,
    make_compositor,
    make_material,
    make_world,
    matrix,
    remove_datablocks,
    select_device,
)
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


class BlenderRenderer:
    """Cycles renderer (see module doc).

    samples: Cycles samples per pixel (adaptive sampling may stop earlier).
    denoise: OpenImageDenoise on the combined pass (albedo + normal guided).
    device: "cpu", "auto", "cuda" or "optix".
    threads: CPU render threads (0 = all cores).
    filter_width_px: Cycles pixel filter width; the default 0.01 (its minimum)
        samples pixel centres only -- exact depth/mask, aliased edges like the
        rasteriser; 1.5 gives anti-aliased colour but depth/mask then come from
        one jittered sample per pixel (up to 0.75 px off at silhouettes).
    sun_angle_deg: angular diameter of the key light (shadow softness; the real sun is 0.53).
    look: material settings (:class:`~synth.render.blender_scene.SkinLook`).
    cull_parts: part names whose back faces camera rays see through (gl.py's culled parts).
    landmark_tol_mm: depth-test tolerance for ``landmarks_visible`` (as gl.py).
    max_textures: texture images kept (LRU; >= 4, more than one head's parts).
    """

    def __init__(self, *, samples: int = 16, denoise: bool = True, device: str = "cpu", threads: int = 0,
                 filter_width_px: float = 0.01, sun_angle_deg: float = 4.0, look: SkinLook | None = None,
                 cull_parts: tuple[str, ...] = ("skin",), landmark_tol_mm: float = 4.0, max_textures: int = 64):
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
            sun_data = bpy.data.lights.new(p + "sun", "SUN")
            sun_data.angle = np.deg2rad(float(sun_angle_deg))
            self.sun = bpy.data.objects.new(p + "sun", sun_data)
            scene.collection.objects.link(self.sun)
            self.world, self._world_bg = make_world(bpy, p + "world")
            scene.world = self.world
            self._paths = make_compositor(bpy, scene, p + "compositor", self.folder)
        except Exception:
            self._cleanup()
            raise
        self._slots: list[MeshSlot] = []
        self._materials: dict = {}                     # (slot, kind, cutout) -> (material, image node)
        self._images: OrderedDict = OrderedDict()      # texture_key -> (bpy image, has_cutout)
        self._topologies: OrderedDict = OrderedDict()  # topology key -> WeldedTopology
        self._depth_image = None
        self.name = "blender-cycles"
        self.version = (f"bpy {bpy.app.version_string}; Cycles {self.device}; {self.samples} spp"
                        f"{' + OIDN' if self.denoise else ''}; filter {scene.cycles.filter_width:g} px")

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
        self._depth_image = None
        self._cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ------------------------------------------------------------------ caches
    def _image(self, part: MeshPart):
        """(bpy image, has_cutout) for the part's texture (LRU by texture_key)."""
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
        entry = (img, bool((tex[..., 3] < 128).any()))
        self._images[key] = entry
        while len(self._images) > self.max_textures:
            old, _ = self._images.popitem(last=False)[1]
            for mat, node in self._materials.values():
                if node.image == old:
                    node.image = None
            self.bpy.data.images.remove(old)
        return entry

    def _topology(self, part: MeshPart):
        key = topology_key(part.positions, part.uvs, part.indices)
        topo = self._topologies.get(key)
        if topo is None:
            topo = weld(part.positions, part.uvs, part.indices)
            self._topologies[key] = topo
            while len(self._topologies) > 64:
                self._topologies.popitem(last=False)
        else:
            self._topologies.move_to_end(key)
        return topo

    def _material(self, slot_index: int, kind: str, cutout: bool, cull: bool):
        key = (slot_index, kind, cutout, cull)
        entry = self._materials.get(key)
        if entry is None:
            entry = make_material(self.bpy, f"{self.prefix}mat{slot_index}_{kind}{'_cut' if cutout else ''}"
                                  f"{'_cull' if cull else ''}", kind, cutout, self.look, cull)
            self._materials[key] = entry
        return entry

    def _set_head(self, head: HeadMesh, pose) -> None:
        """Put the head's parts into the mesh slots (geometry in place) and pose them."""
        bpy = self.bpy
        while len(self._slots) < len(head.parts):
            self._slots.append(MeshSlot(bpy, self.scene, f"{self.prefix}part{len(self._slots)}"))
        for i, slot in enumerate(self._slots):
            if i >= len(head.parts):
                slot.obj.hide_render = True
                continue
            part = head.parts[i]
            slot.obj.hide_render = False
            positions = np.asarray(part.positions, np.float32)
            digest = hash(positions.tobytes())
            topo = self._topology(part)
            if slot.topology is None or slot.topology.key != topo.key:
                slot.set_topology(topo, positions)
                slot.positions_digest = digest
            elif slot.positions_digest != digest:
                slot.set_positions(positions)
                slot.positions_digest = digest
            img, cutout = self._image(part)
            kind = MATERIAL_KIND.get(part.name, "hair")
            mat, node = self._material(i, kind, cutout, part.name in self.cull_parts)
            if node.image != img:
                node.image = img
            slot.set_material(mat)
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
        self.sun.matrix_world = matrix(bpy, sun_matrix(light.direction))
        self.sun.data.color = tuple(col)
        self.sun.data.energy = float(np.pi * light.intensity)
        amb = col * float(light.ambient)
        self._world_bg.inputs["Color"].default_value = (*amb, 1.0)
        scene.cycles.seed = cycles_seed(spec.seed, spec.index)

    def _read_outputs(self, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
        """(rgba (h, w, 4) uint8 top-down, z (h, w) float32 mm with inf = no hit)."""
        from PIL import Image

        rgb_path, depth_path = self._paths["rgb"], self._paths["depth"]
        if not (os.path.isfile(rgb_path) and os.path.isfile(depth_path)):
            raise RuntimeError(f"Cycles wrote no {os.path.basename(rgb_path)} / {os.path.basename(depth_path)} "
                               f"(folder holds {sorted(os.listdir(self.folder))}); its log ends with:\n"
                               f"{_tail(self._log)}")
        with Image.open(rgb_path) as im:
            rgba = np.asarray(im.convert("RGBA"), dtype=np.uint8)
        img = self._depth_image
        if img is None:
            img = self._depth_image = self.bpy.data.images.load(depth_path)
            img.name = self.prefix + "depth"
            img.colorspace_settings.is_data = True
        else:
            img.reload()
        if tuple(img.size) != (w, h) or rgba.shape[:2] != (h, w):
            raise RuntimeError(f"Cycles output size {tuple(img.size)} / {rgba.shape[1::-1]} != render size {(w, h)}")
        buf = np.empty(w * h * img.channels, np.float32)
        img.pixels.foreach_get(buf)
        z = buf.reshape(h, w, img.channels)[::-1, :, 0]
        return rgba, np.ascontiguousarray(z)

    def render_raw(self, spec: SceneSpec, head: HeadMesh, width: int, height: int):
        """Render background + head at width x height (camera rescaled to that grid).

        Returns (rgb (h, w, 3) uint8 top-down, z (h, w) float32 planar camera z in
        mm with 0 = empty, the camera used).
        """
        if self._closed:
            raise RuntimeError("BlenderRenderer is closed")
        cam = spec.camera
        if (width, height) != (cam.width, cam.height):
            cam = geometry.scaled_camera(cam, width, height)
        self._set_frame(spec, cam)
        self._set_head(head, matrix(self.bpy, pose_matrix(spec.head.rotation, spec.head.translation)))
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
        rgba, z = self._read_outputs(width, height)
        hit = z < _NO_HIT
        z = np.where(hit, z, 0.0).astype(np.float32)
        rgb = over(rgba, np.asarray(make_background(spec.background, width, height)))
        return rgb, z, cam

    def render(self, spec: SceneSpec, head: HeadMesh) -> dict:
        """Render one spec; returns the dict of ``base.RENDER_OUTPUT_KEYS`` (see base.py)."""
        w, h = render_size(spec.camera, spec.render_scale)
        rgb, z, rcam = self.render_raw(spec, head, w, h)
        return render_outputs(spec, head, rgb, z, rcam, self.landmark_tol_mm)
