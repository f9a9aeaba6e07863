#version 330 core
// Lit meshes for the foreground. Shading models, chosen at compile time (SHADING):
//   3 pbr: glTF 2.0 metallic-roughness; the sun (GGX specular, Smith height-correlated
//     visibility, Schlick Fresnel, Lambert diffuse) plus image-based light from the environment
//     (include/environment.glsl: SH irradiance, prefiltered GGX radiance, split-sum BRDF table);
//   0 lambert and 1 blinn-phong: the sun plus the environment's diffuse light (a uniform
//     environment is the flat ambient light of old); 2 unlit: the base colour as it is.
// Base colour = factor x texture x vertex colour; optional metallic-roughness, normal, occlusion
// and emissive textures (defines BASE_TEXTURE, MR_TEXTURE, NORMAL_TEXTURE, OCCLUSION_TEXTURE,
// EMISSIVE_TEXTURE), alpha modes (ALPHA_MASK; blending is the renderer's state).
// Lit light is scene-referred: times the exposure, then a tone curve (include/tonemap.glsl, TONEMAP).
// Output: linear light, premultiplied alpha (what the compositor expects).
#include "include/colour.glsl"

#ifndef SHADING
#define SHADING 3
#endif
#ifndef TONEMAP
#define TONEMAP 0
#endif

#if defined VERTEX_SHADER

in vec3 in_position;
in vec3 in_normal;
in vec2 in_uv;
in vec4 in_color;              // sRGB-encoded vertex colour, straight alpha
in vec2 in_uv1;
in vec4 in_tangent;            // xyz along +u, w = handedness of the bitangent

uniform mat4 u_model;          // world-from-local
uniform mat3 u_normal_matrix;  // inverse-transpose of u_model's 3x3
uniform mat4 u_view_proj;      // clip-from-world
uniform mat4 u_view;           // view-from-world

out vec3 v_normal;
out vec3 v_world;
out vec2 v_uv;
out vec2 v_uv1;
out vec4 v_color;
out vec4 v_tangent;
out float v_view_depth;
#if defined AUX_OUTPUT
uniform mat4 u_model_next;      // world-from-local at the next frame (flow)
uniform mat4 u_view_proj_next;  // clip-from-world at the next frame
out vec4 v_clip_now;
out vec4 v_clip_next;
#endif

void main() {
    vec4 world = u_model * vec4(in_position, 1.0);
    v_normal = u_normal_matrix * in_normal;
    v_tangent = vec4(mat3(u_model) * in_tangent.xyz, in_tangent.w);
    v_world = world.xyz;
    v_uv = in_uv;
    v_uv1 = in_uv1;
    v_color = in_color;
    v_view_depth = -(u_view * world).z;
    gl_Position = u_view_proj * world;
#if defined AUX_OUTPUT
    v_clip_now = gl_Position;
    v_clip_next = u_view_proj_next * (u_model_next * vec4(in_position, 1.0));
#endif
}

#elif defined FRAGMENT_SHADER

#include "include/occlusion.glsl"
#include "include/environment.glsl"
#include "include/tonemap.glsl"

in vec3 v_normal;
in vec3 v_world;
in vec2 v_uv;
in vec2 v_uv1;
in vec4 v_color;
in vec4 v_tangent;
in float v_view_depth;

uniform vec3 u_base_color;      // linear (decoded on the CPU: hybridscene.colors.linear_rgb)
uniform vec3 u_emissive;        // linear
uniform float u_emissive_strength;
uniform float u_opacity;
uniform float u_metallic;
uniform float u_roughness;
uniform float u_specular;       // blinn-phong
uniform float u_shininess;
uniform float u_normal_scale;
uniform float u_occlusion_strength;
uniform float u_alpha_cutoff;
uniform bool u_use_texture;     // the AUX_OUTPUT variant's coverage
uniform bool u_alpha_mask;      // the AUX_OUTPUT variant's coverage
uniform bool u_opaque;          // the AUX_OUTPUT variant's coverage: alpha ignored
uniform sampler2D u_texture;    // base colour, GL_SRGB8(_ALPHA8): decodes to linear; row 0 = image top
uniform sampler2D u_mr_texture;         // linear: g = roughness, b = metallic
uniform sampler2D u_normal_texture;     // linear, tangent space
uniform sampler2D u_occlusion_texture;  // linear: r
uniform sampler2D u_emissive_texture;   // sRGB
uniform int u_tex_modes[5];     // per texture (base, metallic-roughness, normal, occlusion, emissive):
                                // bit 0 = uv set 1, bit 1 = mirrored repeat along s, bit 2 = along t
uniform vec3 u_camera_position; // world
uniform vec3 u_sun_direction;   // world, the way the light travels, unit length
uniform vec3 u_sun_color;       // linear
uniform float u_sun_intensity;
uniform float u_exposure;       // 2^EV
uniform float u_object_id;      // for the AUX_OUTPUT variant (layers)

#if defined AUX_OUTPUT
#include "include/motion.glsl"
in vec4 v_clip_now;
in vec4 v_clip_next;
uniform mat4 u_view;            // view-from-world (normals into camera space)
layout(location = 0) out vec4 f_color;   // (view depth m, object id, flow x, flow y)
layout(location = 1) out vec4 f_normal;  // camera-space unit normal, facing the viewer
#else
out vec4 f_color;
#endif

const float PI = 3.14159265358979;

// Texture coordinates for texture slot `slot`, image rows top first (uv (0, 0) = image
// bottom-left); mirrored repeat folds them on a repeating texture.
vec2 tex_uv(int slot) {
    int mode = u_tex_modes[slot];
    vec2 uv = (mode & 1) != 0 ? v_uv1 : v_uv;
    uv.y = 1.0 - uv.y;
    if ((mode & 2) != 0) uv.x = 1.0 - abs(mod(uv.x, 2.0) - 1.0);
    if ((mode & 4) != 0) uv.y = 1.0 - abs(mod(uv.y, 2.0) - 1.0);
    return uv;
}

void main() {
    if (occluded_by_plate(v_view_depth)) discard;
#if defined AUX_OUTPUT
    // Passes: view depth, object id, flow and normal of the nearest surface with any coverage.
    float cover = u_opaque ? 1.0 : u_opacity * (u_use_texture ? texture(u_texture, tex_uv(0)).a : 1.0);
    if (cover <= 0.0 || (u_alpha_mask && cover < u_alpha_cutoff)) discard;
    f_color = vec4(v_view_depth, u_object_id, flow_pixels(v_clip_now, v_clip_next));
    vec3 nv = normalize(mat3(u_view) * v_normal);
    f_normal = vec4(gl_FrontFacing ? nv : -nv, 1.0);
    return;
#else
    vec3 albedo = u_base_color;
    float alpha = u_opacity;
#if defined BASE_TEXTURE
    vec4 t = texture(u_texture, tex_uv(0));
    albedo *= t.rgb;
    alpha *= t.a;
#endif
#if defined VERTEX_COLOR
    albedo *= srgb_to_linear(v_color.rgb);
    alpha *= v_color.a;
#endif
#if defined ALPHA_MASK
    if (alpha < u_alpha_cutoff) discard;
    alpha = 1.0;
#elif defined OPAQUE  // alpha_mode "opaque" (glTF OPAQUE): alpha is ignored
    alpha = 1.0;
#endif
    if (alpha <= 0.0) discard;

    vec3 color;
#if SHADING == 2
    color = albedo;  // unlit: display colour, neither exposed nor tone mapped
#else
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) n = -n;
#if defined NORMAL_TEXTURE
    vec3 tn = texture(u_normal_texture, tex_uv(2)).xyz * 2.0 - 1.0;
    tn.xy *= u_normal_scale;
    vec3 tg = v_tangent.xyz - n * dot(n, v_tangent.xyz);
    if (dot(tg, tg) > 1e-12) {
        tg = normalize(tg);
        // Seen from behind (double-sided), the whole frame turns over, as in Khronos's viewer:
        // n is already flipped, so the bitangent follows it; the tangent is flipped too.
        vec3 bt = cross(n, tg) * (v_tangent.w < 0.0 ? -1.0 : 1.0);
        if (!gl_FrontFacing) tg = -tg;
        n = normalize(tg * tn.x + bt * tn.y + n * max(tn.z, 1e-4));
    }
#endif
    vec3 l = -u_sun_direction;
    vec3 sun = u_sun_color * u_sun_intensity;
    vec3 v = normalize(u_camera_position - v_world);
    float n_dot_l = max(dot(n, l), 0.0);
    float ao = 1.0;
#if defined OCCLUSION_TEXTURE
    ao = 1.0 + u_occlusion_strength * (texture(u_occlusion_texture, tex_uv(3)).r - 1.0);
#endif
#if SHADING == 3
    float metallic = u_metallic;
    float roughness = u_roughness;
#if defined MR_TEXTURE
    vec4 mr = texture(u_mr_texture, tex_uv(1));
    roughness *= mr.g;
    metallic *= mr.b;
#endif
    roughness = clamp(roughness, 0.0, 1.0);
    vec3 f0 = mix(vec3(0.04), albedo, metallic);
    vec3 diffuse_color = albedo * (1.0 - metallic);
    float n_dot_v = clamp(dot(n, v), 1e-4, 1.0);
    // The sun: a point on the sphere of directions; the sun's intensity is pi x irradiance, so
    // Lambert's diffuse is albedo x sun x N.L as in the simple shadings.
    color = vec3(0.0);
    if (n_dot_l > 0.0) {
        vec3 h = normalize(l + v);
        float n_dot_h = max(dot(n, h), 0.0);
        float v_dot_h = max(dot(v, h), 0.0);
        float a = max(roughness * roughness, 2e-3);  // no infinitely sharp highlight of a point
        float a2 = a * a;
        float dd = n_dot_h * n_dot_h * (a2 - 1.0) + 1.0;
        float d = a2 / (PI * dd * dd);
        float vis = 0.5 / (n_dot_l * sqrt(n_dot_v * n_dot_v * (1.0 - a2) + a2) + n_dot_v * sqrt(n_dot_l * n_dot_l * (1.0 - a2) + a2));
        vec3 f = f0 + (1.0 - f0) * pow(1.0 - v_dot_h, 5.0);
        color = sun * n_dot_l * ((1.0 - f) * diffuse_color + PI * d * vis * f);
    }
    // The environment, split sum: what the specular lobe reflects is not diffused (a white
    // dielectric in a uniform environment returns exactly that environment).
    vec2 ab = env_brdf(n_dot_v, roughness);
    vec3 spec_weight = f0 * ab.x + ab.y;
    vec3 r = reflect(-v, n);
    color += ao * (env_specular(r, roughness) * spec_weight + env_diffuse(n) * diffuse_color * (1.0 - spec_weight));
#else
    color = albedo * (sun * n_dot_l + ao * env_diffuse(n));
#if SHADING == 1
    if (n_dot_l > 0.0) {
        vec3 h = normalize(l + v);
        // Normalised Blinn-Phong: the highlight keeps its energy as it narrows.
        float norm = (u_shininess + 8.0) / 25.1327;
        color += sun * (u_specular * norm * pow(max(dot(n, h), 0.0), u_shininess) * n_dot_l);
    }
#endif
#endif
#endif
    vec3 emissive = u_emissive * u_emissive_strength;
#if defined EMISSIVE_TEXTURE
    emissive *= texture(u_emissive_texture, tex_uv(4)).rgb;
#endif
#if SHADING == 2
    color = min(color + emissive, vec3(1.0));
#else
    color = tonemap((color + emissive) * u_exposure);
#endif
    // Clamped to 0..1 before premultiplying: the composite then equals "foreground over plate"
    // for the 8-bit straight-alpha foreground layer too (an over-bright edge pixel cannot leak).
    f_color = vec4(clamp(color, 0.0, 1.0) * alpha, alpha);
#endif
}

#endif
