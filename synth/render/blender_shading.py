"""Materials and world of the Cycles backend (``synth.render.blender``): what each part is made of,
and the ambient + environment light.

Like ``blender_scene``, every function takes the imported ``bpy`` as its first argument (this
module never imports it) and names its datablocks with the caller's prefix.

Material kinds (:data:`MATERIAL_KIND`, :func:`material_kind`), all Principled BSDF over the part's
texture (sRGB, straight alpha; alpha < 0.5 cut out when the texture has such texels):

* ``skin`` (skin, mouth, body): Burley subsurface scattering at measured skin mean free paths;
* ``eyes``: a wet, glossy cornea;
* ``teeth``: glossy enamel, no subsurface;
* ``cloth`` (top, hat): rough diffuse fabric with a little sheen, no subsurface, no gloss to speak of;
* ``hair`` (hair, beard, eyebrows, eyelashes, and any part we do not know): rough alpha-cut cards.

Tint (``MeshPart.tint``): a tinted material takes the texel's linear luminance (Rec. 709 weights,
a dot product in the node tree) times the object's colour (Object Info), which the renderer sets
to tint / ``texture_luminance(texture, srgb_decode)`` -- the mean the same function computes for
gl.py, over the decode Cycles applies -- so changing a tint needs no shader recompile.

World (:func:`make_world` / :func:`set_world`): radiance ``max(0, alpha + beta (w . d))`` along
direction w, alpha and beta from ``blender_math.environment_lobe`` (the rasteriser's ambient and
first-order environment term as irradiance); importance-sampled from a small map, enough for a
smooth gradient.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.render.texture import LUMINANCE_WEIGHTS

#: Material kinds by part name (``synth.heads.mesh.PART_CLASSES`` names); others are "hair".
MATERIAL_KIND = {"skin": "skin", "mouth": "skin", "body": "skin", "eyes": "eyes", "teeth": "teeth",
                 "top": "cloth", "hat": "cloth"}
#: world importance map size (width; Cycles makes it width x width/2): the environment is a smooth lobe
WORLD_MAP_RESOLUTION = 64


def material_kind(part_name: str) -> str:
    """The material kind of a part ("skin", "eyes", "teeth", "cloth" or "hair")."""
    return MATERIAL_KIND.get(part_name, "hair")


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
    hair_roughness, hair_specular: hair, beard, brow and lash cards.
    cloth_roughness, cloth_specular, cloth_sheen: tops and hats (sheen: the fibres' soft rim).
    teeth_roughness, teeth_specular: enamel.
    """

    sss_radius_mm: tuple[float, float, float] = (3.67, 1.37, 0.68)
    sss_weight: float = 1.0
    sss_method: str = "BURLEY"
    skin_roughness: float = 0.5
    skin_specular: float = 0.35
    eye_roughness: float = 0.05
    hair_roughness: float = 0.7
    hair_specular: float = 0.2
    cloth_roughness: float = 0.9
    cloth_specular: float = 0.1
    cloth_sheen: float = 0.3
    teeth_roughness: float = 0.3
    teeth_specular: float = 0.5


#: index of refraction per kind
_IOR = {"skin": 1.4, "eyes": 1.376, "teeth": 1.6, "cloth": 1.5, "hair": 1.55}


def _link(tree, a, b) -> None:
    tree.links.new(a, b)


def _math(tree, operation: str, a=None, b=None, clamp: bool = False):
    """A scalar Math node; a / b: sockets to link or numbers to set. Returns its output."""
    node = tree.nodes.new("ShaderNodeMath")
    node.operation = operation
    node.use_clamp = clamp
    for i, v in enumerate((a, b)):
        if v is None:
            continue
        if isinstance(v, (int, float)):
            node.inputs[i].default_value = float(v)
        else:
            _link(tree, v, node.inputs[i])
    return node.outputs["Value"]


def _tinted_colour(tree, texel):
    """Socket: luminance(texel) x the object's colour (Object Info), for tinted parts."""
    lum = tree.nodes.new("ShaderNodeVectorMath")
    lum.operation = "DOT_PRODUCT"
    _link(tree, texel, lum.inputs[0])
    lum.inputs[1].default_value = LUMINANCE_WEIGHTS
    info = tree.nodes.new("ShaderNodeObjectInfo")
    scale = tree.nodes.new("ShaderNodeVectorMath")
    scale.operation = "SCALE"
    _link(tree, info.outputs["Color"], scale.inputs[0])
    _link(tree, lum.outputs["Value"], scale.inputs["Scale"])
    return scale.outputs["Vector"]


def _set_bsdf(bsdf, kind: str, look: SkinLook) -> None:
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
    elif kind == "teeth":
        inp["Roughness"].default_value = look.teeth_roughness
        inp["Specular IOR Level"].default_value = look.teeth_specular
    elif kind == "cloth":
        inp["Roughness"].default_value = look.cloth_roughness
        inp["Specular IOR Level"].default_value = look.cloth_specular
        inp["Sheen Weight"].default_value = look.cloth_sheen
        inp["Sheen Roughness"].default_value = 0.5
    elif kind == "hair":
        inp["Roughness"].default_value = look.hair_roughness
        inp["Specular IOR Level"].default_value = look.hair_specular
    else:
        raise ValueError(f"unknown material kind {kind!r}")
    inp["IOR"].default_value = _IOR[kind]


def make_material(bpy, name: str, kind: str, cutout: bool, look: SkinLook, cull: bool = False,
                  tinted: bool = False):
    """A Cycles material of a part kind (see the module doc); returns (material, image node).

    Base colour = the part's texture (sRGB, straight alpha), or with ``tinted`` its luminance
    times the object's colour. With ``cutout``, texels with alpha < 0.5 become fully transparent
    (as the rasteriser's discard) through a hard threshold on the texture alpha. With ``cull``,
    back faces are transparent to camera rays only (the rasteriser's back-face culling of closed
    parts: looking into the cut neck shows what is behind, not the inside of the head), while
    shadows and bounces still see them.
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
    colour = _tinted_colour(tree, tex.outputs["Color"]) if tinted else tex.outputs["Color"]
    _link(tree, colour, bsdf.inputs["Base Color"])
    _set_bsdf(bsdf, kind, look)
    shader = bsdf.outputs["BSDF"]
    opaque = None                                     # socket: 1 = surface, 0 = see-through
    if cutout:
        opaque = _math(tree, "GREATER_THAN", tex.outputs["Alpha"], 0.5)
    if cull:
        path = tree.nodes.new("ShaderNodeLightPath")
        geo = tree.nodes.new("ShaderNodeNewGeometry")
        seen_back = _math(tree, "MULTIPLY", path.outputs["Is Camera Ray"], geo.outputs["Backfacing"])
        keep = _math(tree, "SUBTRACT", 1.0, seen_back, clamp=True)
        opaque = keep if opaque is None else _math(tree, "MULTIPLY", opaque, keep)
    if opaque is not None:
        clear = tree.nodes.new("ShaderNodeBsdfTransparent")
        mix = tree.nodes.new("ShaderNodeMixShader")
        _link(tree, opaque, mix.inputs["Fac"])
        _link(tree, clear.outputs["BSDF"], mix.inputs[1])
        _link(tree, bsdf.outputs["BSDF"], mix.inputs[2])
        shader = mix.outputs["Shader"]
    _link(tree, shader, out.inputs["Surface"])
    return mat, tex


@dataclass
class WorldNodes:
    """The sockets :func:`set_world` writes: the environment direction and the lobe's alpha / beta."""

    direction: object
    alpha: object
    beta: object


def make_world(bpy, name: str):
    """The world: radiance max(0, alpha + beta (w . d)) along the ray direction w (world frame =
    camera frame); returns (world, :class:`WorldNodes`). Starts black."""
    world = bpy.data.worlds.new(name)
    if bpy.app.version < (5, 0, 0):
        world.use_nodes = True
    cw = getattr(world, "cycles", None)
    if cw is not None and hasattr(cw, "sampling_method"):
        cw.sampling_method = "MANUAL"
        cw.sample_map_resolution = WORLD_MAP_RESOLUTION
    tree = world.node_tree
    for n in list(tree.nodes):
        tree.nodes.remove(n)
    coords = tree.nodes.new("ShaderNodeTexCoord")      # Generated, in a world: the ray direction
    cos = tree.nodes.new("ShaderNodeVectorMath")
    cos.operation = "DOT_PRODUCT"
    _link(tree, coords.outputs["Generated"], cos.inputs[0])
    lobe = tree.nodes.new("ShaderNodeVectorMath")
    lobe.operation = "MULTIPLY_ADD"                    # cos * beta + alpha, per channel
    _link(tree, cos.outputs["Value"], lobe.inputs[0])
    clamp = tree.nodes.new("ShaderNodeVectorMath")
    clamp.operation = "MAXIMUM"
    _link(tree, lobe.outputs["Vector"], clamp.inputs[0])
    clamp.inputs[1].default_value = (0.0, 0.0, 0.0)
    bg = tree.nodes.new("ShaderNodeBackground")
    bg.inputs["Strength"].default_value = 1.0
    _link(tree, clamp.outputs["Vector"], bg.inputs["Color"])
    out = tree.nodes.new("ShaderNodeOutputWorld")
    _link(tree, bg.outputs["Background"], out.inputs["Surface"])
    nodes = WorldNodes(direction=cos.inputs[1], alpha=lobe.inputs[2], beta=lobe.inputs[1])
    set_world(nodes, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, -1.0, 0.0))
    return world, nodes


def set_world(nodes: WorldNodes, alpha, beta, direction) -> None:
    """Write the lobe: alpha, beta (3,) linear RGB; direction (3,) unit vector, camera frame.
    Sockets whose value is unchanged are left alone (a change re-syncs the world shader)."""
    for socket, value in ((nodes.alpha, alpha), (nodes.beta, beta), (nodes.direction, direction)):
        value = tuple(float(np.float32(v)) for v in value)   # as the float32 socket stores it
        if tuple(socket.default_value) != value:
            socket.default_value = value
