"""Building the persistent Blender scene of the Cycles backend (``synth.render.blender``).

Every function takes the imported ``bpy`` module as its first argument (this
module never imports it) and creates datablocks whose names start with the
renderer's ``prefix``, so :func:`remove_datablocks` can delete exactly them.

Pieces (world frame = OpenCV camera frame, 1 unit = 1 mm; see ``blender_math``):

* :func:`configure_cycles` -- engine, samples, denoiser, bounces, pixel filter,
  colour management "Standard" (plain sRGB, no AgX tone curve), transparent film;
* :func:`select_device` -- CPU, or a GPU through OptiX / CUDA;
* :func:`make_compositor` -- File Output node writing the combined image (PNG,
  straight alpha, view transform applied), the Z pass and the object index pass
  (single-channel float32 EXRs), the only reliable way to get pixels out in
  background mode;
* :class:`MeshSlot` -- one mesh object whose geometry is updated in place and
  whose pass index is its part's segmentation class.

Materials and the world are in ``blender_shading``. Blender 4.5 LTS is what we
test; the 5.0 renames (compositor node group, File Output items, media type)
are handled where we use them.
"""
from __future__ import annotations

import os

import numpy as np

from synth.render.blender_math import WeldedTopology

#: Bounces: enough for skin subsurface, eye reflections and soft fill light.
BOUNCES = {"max_bounces": 6, "diffuse_bounces": 3, "glossy_bounces": 2, "transmission_bounces": 2,
           "volume_bounces": 0, "transparent_max_bounces": 8}


def configure_cycles(bpy, scene, *, samples: int, denoise: bool, filter_width_px: float,
                     threads: int) -> None:
    """Render settings that stay fixed for the renderer's lifetime."""
    scene.render.engine = "CYCLES"
    c = scene.cycles
    c.samples = int(samples)
    c.use_adaptive_sampling = True
    c.adaptive_threshold = 0.02
    c.adaptive_min_samples = 0
    c.use_denoising = bool(denoise)
    if denoise:
        c.denoiser = "OPENIMAGEDENOISE"
        c.denoising_input_passes = "RGB_ALBEDO_NORMAL"
        c.denoising_prefilter = "FAST"
    for k, v in BOUNCES.items():
        setattr(c, k, v)
    c.caustics_reflective = False
    c.caustics_refractive = False
    c.sample_clamp_indirect = 10.0
    c.use_animated_seed = False
    # Pixel filter: Cycles' minimum width (0.01 px) puts every camera ray through
    # the pixel centre, where the Z pass is exact and matches the rasteriser.
    c.pixel_filter_type = "BLACKMAN_HARRIS"
    c.filter_width = max(0.01, float(filter_width_px))
    r = scene.render
    r.use_persistent_data = True          # keep Cycles' scene and BVH between frames
    r.film_transparent = True             # the background is composited in numpy
    r.resolution_percentage = 100
    r.use_compositing = True
    r.use_sequencer = False
    r.dither_intensity = 0.0              # exact 8-bit rounding of the PNG
    r.threads_mode = "FIXED" if threads > 0 else "AUTO"
    if threads > 0:
        r.threads = int(threads)
    v = scene.view_settings
    scene.display_settings.display_device = "sRGB"
    v.view_transform = "Standard"
    v.look = "None"
    v.exposure = 0.0
    v.gamma = 1.0
    scene.unit_settings.system = "METRIC"
    scene.unit_settings.scale_length = 0.001  # 1 Blender unit = 1 mm
    scene.frame_current = 1
    layer = scene.view_layers[0]
    layer.use_pass_combined = True
    layer.use_pass_z = True
    layer.use_pass_object_index = True    # the part classes (MeshSlot.set_class)
    layer.pass_alpha_threshold = 0.5      # cut-out texels (alpha < 0.5) leave no depth or class, as in gl.py


def select_device(bpy, scene, device: str) -> str:
    """Point Cycles at ``device`` and return what it uses: "CPU", "OPTIX" or "CUDA".

    device: "cpu"; "optix" or "cuda" (that API, error if it has no device);
    "auto" (OptiX, then CUDA, then CPU). GPU paths are written to Blender's
    documented preferences API but untested on our CPU-only machines.
    """
    device = device.lower()
    if device == "cpu":
        scene.cycles.device = "CPU"
        return "CPU"
    wanted = {"auto": ("OPTIX", "CUDA"), "optix": ("OPTIX",), "cuda": ("CUDA",)}.get(device)
    if wanted is None:
        raise ValueError(f"Cycles device {device!r}; fix: use cpu, auto, cuda or optix")
    addon = bpy.context.preferences.addons.get("cycles")
    prefs = addon.preferences if addon is not None else None
    for kind in wanted:
        if prefs is None:
            break
        try:
            prefs.compute_device_type = kind
        except (TypeError, ValueError):   # this build has no such API
            continue
        prefs.refresh_devices()
        found = [d for d in prefs.devices if d.type == kind]
        if found:
            for d in prefs.devices:
                d.use = d.type == kind
            scene.cycles.device = "GPU"
            return kind
    if device == "auto":
        scene.cycles.device = "CPU"
        return "CPU"
    raise RuntimeError(f"Cycles found no {device.upper()} device on this machine; fix: set "
                       "renderer.cycles_device to 'cpu' or 'auto' (falls back to the CPU)")


def _file_output_format(fmt, kind: str) -> None:
    """kind "rgb": 8-bit RGBA PNG; "depth": single-channel float32 EXR, uncompressed."""
    if hasattr(fmt, "media_type"):                     # Blender 5.0
        fmt.media_type = "IMAGE"
    if kind == "rgb":
        fmt.file_format = "PNG"
        fmt.color_mode = "RGBA"
        fmt.color_depth = "8"
        fmt.compression = 0
    else:
        fmt.file_format = "OPEN_EXR"
        fmt.color_mode = "BW"
        fmt.color_depth = "32"
        fmt.exr_codec = "NONE"


#: File Output items: name -> (render pass socket names, newest first; file kind)
_ITEMS = {"rgb": (("Image",), "rgb"), "depth": (("Depth",), "depth"),
          "seg": (("IndexOB", "Object Index"), "depth")}


def _pass_socket(rl, names: tuple[str, ...]):
    """The Render Layers output of a pass, by the first of ``names`` the node has."""
    for name in names:
        if name in rl.outputs:
            return rl.outputs[name]
    raise RuntimeError(f"the Render Layers node has no {' / '.join(names)} output "
                       f"(it has {[o.name for o in rl.outputs]})")


def make_compositor(bpy, scene, name: str, folder: str) -> dict[str, str]:
    """Render Layers -> File Output writing an RGBA PNG, a depth EXR and a part-class EXR into folder.

    Returns the paths a render writes, {"rgb": ..., "depth": ..., "seg": ...}: Blender 4.5
    appends the frame number (``rgb0001.png``), 5.0 does not (``rgb.png``). The
    PNG gets the view transform (linear -> sRGB) and straight alpha; the EXRs
    hold the raw Z pass (planar camera z in scene units = mm; 1e10 where
    nothing was hit) and the object index pass (the part class of the first
    surface at the pixel centre, as an exact small float; 0 = nothing). Like Z,
    Cycles writes the index pass from each pixel's first sample only.
    """
    if hasattr(scene, "compositing_node_group"):       # Blender 5.0
        tree = bpy.data.node_groups.new(name, "CompositorNodeTree")
        scene.compositing_node_group = tree
    else:
        scene.use_nodes = True
        tree = scene.node_tree
    for n in list(tree.nodes):
        tree.nodes.remove(n)
    rl = tree.nodes.new("CompositorNodeRLayers")
    rl.scene = scene
    rl.layer = scene.view_layers[0].name
    fo = tree.nodes.new("CompositorNodeOutputFile")
    if hasattr(fo, "file_output_items"):                # Blender 5.0
        fo.directory = folder
        fo.file_name = ""
        _file_output_format(fo.format, "rgb")          # not multilayer: one file per item
        fo.file_output_items.clear()
        for k, (_, kind) in _ITEMS.items():
            # configure each item before adding the next: adding reallocates the item array,
            # and a Python reference to an earlier item would dangle (a segfault in 5.0.1)
            item = fo.file_output_items.new("RGBA" if kind == "rgb" else "FLOAT", k)
            item.override_node_format = True
            _file_output_format(item.format, kind)
            del item
        inputs = {k: fo.inputs[k] for k in _ITEMS}
        paths = {k: f"{k}.png" if kind == "rgb" else f"{k}.exr" for k, (_, kind) in _ITEMS.items()}
    else:
        fo.base_path = folder
        _file_output_format(fo.format, "rgb")
        fo.file_slots[0].path = "rgb"
        for k, (_, kind) in _ITEMS.items():
            if k == "rgb":
                continue
            fo.file_slots.new(k)
            slot = fo.file_slots[k]
            slot.use_node_format = False
            _file_output_format(slot.format, kind)
        inputs = {"rgb": fo.inputs[0], **{k: fo.inputs[k] for k in _ITEMS if k != "rgb"}}
        frame = f"{scene.frame_current:04d}"
        paths = {k: f"{k}{frame}.png" if kind == "rgb" else f"{k}{frame}.exr" for k, (_, kind) in _ITEMS.items()}
    for k, (names, _) in _ITEMS.items():
        tree.links.new(_pass_socket(rl, names), inputs[k])
    return {k: os.path.join(folder, v) for k, v in paths.items()}


class MeshSlot:
    """One Blender mesh object reused for every head's part at one position in ``HeadMesh.parts``.

    ``set_topology`` rebuilds the mesh datablock's geometry in place (same
    datablock, no new IDs) when a part with different connectivity arrives;
    ``set_positions`` rewrites vertex coordinates only (``foreach_set``);
    ``set_class`` / ``set_tint`` write the object's pass index (the part's
    segmentation class) and colour (the tint the material reads through Object
    Info), only when they change.
    """

    def __init__(self, bpy, scene, name: str):
        self.bpy = bpy
        self.mesh = bpy.data.meshes.new(name)
        self.obj = bpy.data.objects.new(name, self.mesh)
        scene.collection.objects.link(self.obj)
        self.topology: WeldedTopology | None = None
        self.positions_digest: int | None = None
        self.material_key: tuple | None = None

    def set_topology(self, topo: WeldedTopology, positions: np.ndarray) -> None:
        me = self.mesh
        me.clear_geometry()
        co = np.ascontiguousarray(positions[topo.first], np.float32)
        nv, nf = len(co), topo.n_faces
        me.vertices.add(nv)
        me.loops.add(3 * nf)
        me.polygons.add(nf)
        me.vertices.foreach_set("co", co.ravel())
        me.loops.foreach_set("vertex_index", topo.corner_vertex)
        me.polygons.foreach_set("loop_start", np.arange(0, 3 * nf, 3, dtype=np.int32))
        me.polygons.foreach_set("use_smooth", np.ones(nf, dtype=bool))
        uv = me.uv_layers.new(name="UVMap") if len(me.uv_layers) == 0 else me.uv_layers[0]
        uv.data.foreach_set("uv", topo.corner_uv.ravel())
        me.update(calc_edges=True)
        self.topology = topo

    def set_positions(self, positions: np.ndarray) -> None:
        co = np.ascontiguousarray(positions[self.topology.first], np.float32)
        self.mesh.vertices.foreach_set("co", co.ravel())
        self.mesh.update()

    def set_class(self, part_class: int) -> None:
        if self.obj.pass_index != int(part_class):
            self.obj.pass_index = int(part_class)

    def set_tint(self, rgb) -> None:
        """rgb: (3,) linear, any non-negative scale (tint / mean texture luminance)."""
        value = tuple(float(np.float32(c)) for c in rgb) + (1.0,)
        if tuple(self.obj.color) != value:
            self.obj.color = value

    def set_material(self, mat) -> None:
        if len(self.mesh.materials) == 0:
            self.mesh.materials.append(mat)
        elif self.mesh.materials[0] != mat:
            self.mesh.materials[0] = mat


def matrix(bpy, m: np.ndarray):
    """mathutils.Matrix of a (4, 4) numpy array."""
    import mathutils  # shipped with bpy

    return mathutils.Matrix([list(map(float, row)) for row in m])


def remove_datablocks(bpy, prefix: str) -> None:
    """Delete every datablock whose name starts with ``prefix`` (objects first)."""
    colls = ("objects", "meshes", "materials", "images", "lights", "cameras", "worlds", "node_groups")
    for coll in colls:
        data = getattr(bpy.data, coll)
        for block in [b for b in data if b.name.startswith(prefix)]:
            data.remove(block)
    scene = bpy.data.scenes.get(prefix + "scene")
    if scene is not None and len(bpy.data.scenes) > 1:
        bpy.data.scenes.remove(scene)


