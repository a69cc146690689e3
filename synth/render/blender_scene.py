"""Building the persistent Blender scene of the Cycles backend (``synth.render.blender``).

Every function takes the imported ``bpy`` module as its first argument (this
module never imports it) and creates datablocks whose names start with the
renderer's ``prefix``, so :func:`remove_datablocks` can delete exactly them.

Pieces (world frame = OpenCV camera frame, 1 unit = 1 mm; see ``blender_math``):

* :func:`configure_cycles` -- engine, samples, denoiser, bounces, pixel filter,
  colour management "Standard" (plain sRGB, no AgX tone curve), transparent film;
* :func:`select_device` -- CPU, or a GPU through OptiX / CUDA;
* :func:`make_material` -- Principled BSDF node trees for skin (subsurface
  scattering), eyes (glossy) and hair cards (optional alpha cutout);
* :func:`make_compositor` -- File Output node writing the combined image (PNG,
  straight alpha, view transform applied) and the Z pass (single-channel
  float32 EXR), the only reliable way to get pixels out in background mode;
* :class:`MeshSlot` -- one mesh object whose geometry is updated in place.

Blender 4.5 LTS is what we test; the 5.0 renames (compositor node group, File
Output items, media type) are handled where we use them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from synth.render.blender_math import WeldedTopology

#: Bounces: enough for skin subsurface, eye reflections and soft fill light.
BOUNCES = {"max_bounces": 6, "diffuse_bounces": 3, "glossy_bounces": 2, "transmission_bounces": 2,
           "volume_bounces": 0, "transparent_max_bounces": 8}

#: Material kinds by part name; anything else (eyebrows, eyelashes, hair) is "hair".
MATERIAL_KIND = {"skin": "skin", "eyes": "eyes"}


@dataclass(frozen=True)
class SkinLook:
    """Principled BSDF settings of the materials (lengths in mm, the scene unit).

    sss_radius_mm: per-channel (R, G, B) subsurface mean free path. The default
        follows measured skin (Jensen et al. 2001, "skin1": 3.67, 1.37, 0.68 mm).
    sss_weight: 0 (plain diffuse) .. 1 (full subsurface).
    sss_method: "BURLEY" (diffusion profile; the default: ~5 % over no subsurface at all),
        "RANDOM_WALK_SKIN" or "RANDOM_WALK" (volumetric; ~2x the render time measured on CPU).
    skin_roughness, skin_specular: Principled roughness and "Specular IOR Level" of the skin.
    eye_roughness: the wet cornea's highlight.
    """

    sss_radius_mm: tuple[float, float, float] = (3.67, 1.37, 0.68)
    sss_weight: float = 1.0
    sss_method: str = "BURLEY"
    skin_roughness: float = 0.5
    skin_specular: float = 0.35
    eye_roughness: float = 0.05


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
    layer.pass_alpha_threshold = 0.5      # cut-out texels (alpha < 0.5) leave no depth, as in gl.py


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


def _link(tree, a, b) -> None:
    tree.links.new(a, b)


def make_material(bpy, name: str, kind: str, cutout: bool, look: SkinLook, cull: bool = False):
    """A Cycles material for a part kind ("skin", "eyes", "hair"); returns (material, image node).

    Base colour = the part's texture (sRGB, straight alpha). With ``cutout``,
    texels with alpha < 0.5 become fully transparent (as the rasteriser's
    discard) through a hard threshold on the texture alpha. With ``cull``,
    back faces are transparent to camera rays only (the rasteriser's back-face
    culling of closed parts: looking into the cut neck shows what is behind,
    not the inside of the head), while shadows and bounces still see them.
    """
    mat = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):                  # always node-based from 5.0 on
        mat.use_nodes = True
    tree = mat.node_tree
    for n in list(tree.nodes):
        tree.nodes.remove(n)
    out = tree.nodes.new("ShaderNodeOutputMaterial")
    tex = tree.nodes.new("ShaderNodeTexImage")
    tex.interpolation = "Linear"
    tex.extension = "REPEAT"
    bsdf = tree.nodes.new("ShaderNodeBsdfPrincipled")
    _link(tree, tex.outputs["Color"], bsdf.inputs["Base Color"])
    inp = bsdf.inputs
    if kind == "skin":
        inp["Roughness"].default_value = look.skin_roughness
        inp["Specular IOR Level"].default_value = look.skin_specular
        inp["Subsurface Weight"].default_value = look.sss_weight
        inp["Subsurface Radius"].default_value = look.sss_radius_mm
        inp["Subsurface Scale"].default_value = 1.0
        bsdf.subsurface_method = look.sss_method
    elif kind == "eyes":
        inp["Roughness"].default_value = look.eye_roughness
        inp["Specular IOR Level"].default_value = 0.5
    else:
        inp["Roughness"].default_value = 0.7
        inp["Specular IOR Level"].default_value = 0.2
    inp["IOR"].default_value = 1.4 if kind == "skin" else 1.376 if kind == "eyes" else 1.5
    shader = bsdf.outputs["BSDF"]
    opaque = None                                     # socket: 1 = surface, 0 = see-through
    if cutout:
        gt = tree.nodes.new("ShaderNodeMath")
        gt.operation = "GREATER_THAN"
        gt.inputs[1].default_value = 0.5
        _link(tree, tex.outputs["Alpha"], gt.inputs[0])
        opaque = gt.outputs["Value"]
    if cull:
        path = tree.nodes.new("ShaderNodeLightPath")
        geo = tree.nodes.new("ShaderNodeNewGeometry")
        seen_back = tree.nodes.new("ShaderNodeMath")
        seen_back.operation = "MULTIPLY"
        _link(tree, path.outputs["Is Camera Ray"], seen_back.inputs[0])
        _link(tree, geo.outputs["Backfacing"], seen_back.inputs[1])
        keep = tree.nodes.new("ShaderNodeMath")
        keep.operation = "SUBTRACT"
        keep.use_clamp = True
        keep.inputs[0].default_value = 1.0
        _link(tree, seen_back.outputs["Value"], keep.inputs[1])
        if opaque is not None:
            both = tree.nodes.new("ShaderNodeMath")
            both.operation = "MULTIPLY"
            _link(tree, opaque, both.inputs[0])
            _link(tree, keep.outputs["Value"], both.inputs[1])
            opaque = both.outputs["Value"]
        else:
            opaque = keep.outputs["Value"]
    if opaque is not None:
        clear = tree.nodes.new("ShaderNodeBsdfTransparent")
        mix = tree.nodes.new("ShaderNodeMixShader")
        _link(tree, opaque, mix.inputs["Fac"])
        _link(tree, clear.outputs["BSDF"], mix.inputs[1])
        _link(tree, bsdf.outputs["BSDF"], mix.inputs[2])
        shader = mix.outputs["Shader"]
    _link(tree, shader, out.inputs["Surface"])
    return mat, tex


def make_world(bpy, name: str):
    """A world whose uniform colour is the ambient fill; returns (world, background node)."""
    world = bpy.data.worlds.new(name)
    if bpy.app.version < (5, 0, 0):
        world.use_nodes = True
    tree = world.node_tree
    bg = tree.nodes.get("Background") or tree.nodes.new("ShaderNodeBackground")
    bg.inputs["Strength"].default_value = 1.0
    return world, bg


def _file_output_format(fmt, kind: str) -> None:
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


def make_compositor(bpy, scene, name: str, folder: str) -> dict[str, str]:
    """Render Layers -> File Output writing an RGBA PNG and a depth EXR into folder.

    Returns the paths a render writes, {"rgb": ..., "depth": ...}: Blender 4.5
    appends the frame number (``rgb0001.png``), 5.0 does not (``rgb.png``). The
    PNG gets the view transform (linear -> sRGB) and straight alpha; the EXR
    holds the raw Z pass (planar camera z in scene units = mm; 1e10 where
    nothing was hit).
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
        for k in ("rgb", "depth"):
            # configure each item before adding the next: adding reallocates the item array,
            # and a Python reference to an earlier item would dangle (a segfault in 5.0.1)
            item = fo.file_output_items.new("RGBA" if k == "rgb" else "FLOAT", k)
            item.override_node_format = True
            _file_output_format(item.format, k)
            del item
        inputs = {k: fo.inputs[k] for k in ("rgb", "depth")}
        paths = {"rgb": "rgb.png", "depth": "depth.exr"}
    else:
        fo.base_path = folder
        _file_output_format(fo.format, "rgb")
        fo.file_slots[0].path = "rgb"
        fo.file_slots.new("depth")
        slot = fo.file_slots["depth"]
        slot.use_node_format = False
        _file_output_format(slot.format, "depth")
        inputs = {"rgb": fo.inputs[0], "depth": fo.inputs["depth"]}
        frame = f"{scene.frame_current:04d}"
        paths = {"rgb": f"rgb{frame}.png", "depth": f"depth{frame}.exr"}
    tree.links.new(rl.outputs["Image"], inputs["rgb"])
    tree.links.new(rl.outputs["Depth"], inputs["depth"])
    return {k: os.path.join(folder, v) for k, v in paths.items()}


class MeshSlot:
    """One Blender mesh object reused for every head's part at one position in ``HeadMesh.parts``.

    ``set_topology`` rebuilds the mesh datablock's geometry in place (same
    datablock, no new IDs) when a part with different connectivity arrives;
    ``set_positions`` rewrites vertex coordinates only (``foreach_set``).
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


