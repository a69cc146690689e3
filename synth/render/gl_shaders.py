"""The GLSL of the GL renderer (:mod:`synth.render.gl`, whose module doc gives the shading model).

:func:`vertex_shader`: per-vertex (Gouraud) lighting -- key, fill and environment light over the
ambient, a Blinn-Phong highlight -- with the neck blended between the head's and the torso's pose;
it writes camera-space z. Parts without the highlight use a variant without it, which hands the
rasterizer three varyings fewer to set up per triangle and interpolate per fragment, for the same
bytes. :func:`fragment_shader`: the texture (decoded with gamma 2, optionally recoloured), the alpha
test only in its cut-out variant, colour re-encoded with sqrt; outputs
colour with the part class in its alpha (no blending reads it: one attachment fewer to write and
read back, 2 % less frame CPU, the same bytes), and camera z (mm). Uniforms are named ``u_*``.
"""
from __future__ import annotations

VERTEX_SHADER = """
#version 330
#define SPECULAR %d
uniform mat3 u_rot;          // head -> camera rotation
uniform vec3 u_trans;        // head origin in camera frame, mm
uniform mat3 u_rot_body;     // torso pose: head-frame points -> camera (about the neck pivot)
uniform vec3 u_trans_body;
uniform mat4 u_proj;         // camera frame -> clip (geometry.gl_projection)
uniform vec3 u_light_dir;    // unit, camera frame, toward the light
uniform vec3 u_light_col;    // intensity * color (linear)
uniform vec3 u_ambient;      // ambient * color (linear)
uniform vec3 u_fill_dir;     // unit, camera frame, toward the fill light
uniform vec3 u_fill_col;     // fill intensity * colour (0 = none)
uniform vec3 u_env_dir;      // unit, camera frame: the environment's bright side
uniform vec3 u_env_col;      // env strength * colour: ambient + u_env_col * dot(n, u_env_dir)
uniform float u_ks;          // specular strength (0 = none)
uniform bool u_two_sided;    // flip normals that face away from the camera
in vec3 in_pos;
in vec3 in_nrm;
in vec2 in_uv;
in float in_blend;           // 0 = moves with the head, 1 = with the torso
%s
out float v_z;
out vec3 v_diffuse;          // multiplies the linear albedo
#if SPECULAR
out vec3 v_specular;         // added after
#endif
out vec2 v_uv;
void main() {
    vec3 p = u_rot * in_pos + u_trans;
    vec3 n = u_rot * in_nrm;
    if (in_blend > 0.0) {   // the neck and below: linear blend of the head's and the torso's pose
        p = mix(p, u_rot_body * in_pos + u_trans_body, in_blend);
        n = mix(n, u_rot_body * in_nrm, in_blend);
    }
    n = normalize(n);
    vec3 view = normalize(-p);
    if (u_two_sided && dot(n, view) < 0.0) n = -n;
    float nl = max(dot(n, u_light_dir), 0.0);
    v_diffuse = u_ambient + nl * u_light_col;
    v_diffuse += max(dot(n, u_fill_dir), 0.0) * u_fill_col;
    v_diffuse = max(v_diffuse + dot(n, u_env_dir) * u_env_col, 0.0);
#if SPECULAR
    v_specular = vec3(0.0);
    if (u_ks > 0.0 && nl > 0.0) {
        vec3 h = normalize(u_light_dir + view);
        v_specular = u_ks * specular_power(max(dot(n, h), 0.0)) * u_light_col;
    }
#endif
    v_z = p.z;
    v_uv = vec2(in_uv.x, 1.0 - in_uv.y);   // texture rows are uploaded top-first
    gl_Position = u_proj * vec4(p, 1.0);
}
"""


def specular_power_glsl(shininess: float) -> str:
    """GLSL ``float specular_power(float x)``: x ** shininess, x in [0, 1].

    A whole exponent (1..1024) is unrolled into repeated squaring (24: five products):
    llvmpipe evaluates ``pow`` as exp2(log2) polynomials per vertex, which cost 7 % of a
    frame's CPU (paired A/B); the products round differently from ``pow`` by at most one
    grey level on a handful of highlight pixels. Other exponents keep ``pow``.
    """
    n = float(shininess)
    if not (n == int(n) and 1 <= n <= 1024):
        return f"float specular_power(float x) {{ return pow(x, {n!r}); }}"
    steps, k, first = [], int(n), True
    while k:
        if k & 1:
            steps.append("r = b;" if first else "r *= b;")
            first = False
        k >>= 1
        if k:
            steps.append("b *= b;")
    return "float specular_power(float x) { float b = x; float r; " + " ".join(steps) + " return r; }"


FRAGMENT_SHADER = """
#version 330
#define CUTOUT %d
#define SPECULAR %d
uniform sampler2D u_tex;
uniform vec3 u_tint;         // recolour: albedo = u_tint * luminance (u_tint already / the texture's mean)
uniform bool u_tint_on;
uniform float u_class;       // part class / 255 (synth.heads.mesh.PART_CLASSES)
in float v_z;
in vec3 v_diffuse;
#if SPECULAR
in vec3 v_specular;
#endif
in vec2 v_uv;
layout(location = 0) out vec4 f_color;
layout(location = 1) out float f_z;
void main() {
    vec4 tex = texture(u_tex, v_uv);
#if CUTOUT
    if (tex.a < 0.5) discard;
#endif
    // sRGB-ish: decode with gamma 2 (square), light linearly, encode with sqrt
    vec3 albedo = tex.rgb * tex.rgb;
    if (u_tint_on) albedo = u_tint * dot(albedo, vec3(0.2126, 0.7152, 0.0722));
    vec3 c = albedo * v_diffuse;
#if SPECULAR
    c += v_specular;
#endif
    f_color = vec4(sqrt(clamp(c, 0.0, 1.0)), u_class);   // alpha: the part class (no blending)
    f_z = v_z;   // perspective-correct: exact camera z of the triangle plane at the pixel centre
}
"""


def vertex_shader(shininess: float, specular: bool = True) -> str:
    """The vertex shader with ``specular_power`` for this Blinn-Phong exponent; ``specular``: False
    leaves the highlight out (no ``v_specular`` to set up and interpolate per triangle)."""
    return VERTEX_SHADER % (int(specular), specular_power_glsl(shininess))


def fragment_shader(cutout: bool, specular: bool = True) -> str:
    """The fragment shader; ``cutout``: discard texels with alpha < 0.5 (else no ``discard``, early z
    kept); ``specular``: add the vertex shader's highlight (pair it with the same ``vertex_shader``)."""
    return FRAGMENT_SHADER % (int(cutout), int(specular))
