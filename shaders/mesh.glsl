#version 330 core
// Lit meshes for the foreground: Lambert or Blinn-Phong from a sun plus ambient, or unlit;
// base colour x texture x vertex colour, emissive on top.
// Output: linear light, premultiplied alpha (what the compositor expects).
#include "include/colour.glsl"

#if defined VERTEX_SHADER

in vec3 in_position;
in vec3 in_normal;
in vec2 in_uv;
in vec4 in_color;              // sRGB-encoded vertex colour, straight alpha

uniform mat4 u_model;          // world-from-local
uniform mat3 u_normal_matrix;  // inverse-transpose of u_model's 3x3
uniform mat4 u_view_proj;      // clip-from-world
uniform mat4 u_view;           // view-from-world

out vec3 v_normal;
out vec3 v_world;
out vec2 v_uv;
out vec4 v_color;
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
    v_world = world.xyz;
    v_uv = in_uv;
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

in vec3 v_normal;
in vec3 v_world;
in vec2 v_uv;
in vec4 v_color;
in float v_view_depth;

uniform vec3 u_base_color;      // sRGB-encoded
uniform vec3 u_emissive;        // sRGB-encoded
uniform float u_opacity;
uniform int u_shading;          // 0 lambert, 1 blinn-phong, 2 unlit
uniform float u_specular;
uniform float u_shininess;
uniform bool u_use_texture;
uniform sampler2D u_texture;    // GL_SRGB8(_ALPHA8): decodes to linear; row 0 = image top
uniform bool u_use_vertex_color;
uniform vec3 u_camera_position; // world
uniform vec3 u_sun_direction;   // world, the way the light travels, unit length
uniform vec3 u_sun_color;       // sRGB-encoded
uniform float u_sun_intensity;
uniform vec3 u_ambient_color;   // sRGB-encoded
uniform float u_ambient_intensity;
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

void main() {
    if (occluded_by_plate(v_view_depth)) discard;
#if defined AUX_OUTPUT
    // Passes: view depth, object id, flow and normal of the nearest surface with any coverage.
    float cover = u_opacity * (u_use_texture ? texture(u_texture, vec2(v_uv.x, 1.0 - v_uv.y)).a : 1.0);
    if (cover <= 0.0) discard;
    f_color = vec4(v_view_depth, u_object_id, flow_pixels(v_clip_now, v_clip_next));
    vec3 n = normalize(mat3(u_view) * v_normal);
    f_normal = vec4(gl_FrontFacing ? n : -n, 1.0);
    return;
#endif
    vec3 albedo = srgb_to_linear(u_base_color);
    float alpha = u_opacity;
    if (u_use_texture) {
        vec4 t = texture(u_texture, vec2(v_uv.x, 1.0 - v_uv.y));  // uv (0,0) = image bottom-left
        albedo *= t.rgb;
        alpha *= t.a;
    }
    if (u_use_vertex_color) {
        albedo *= srgb_to_linear(v_color.rgb);
        alpha *= v_color.a;
    }
    if (alpha <= 0.0) discard;
    vec3 color;
    if (u_shading == 2) {
        color = albedo;
    } else {
        vec3 n = normalize(v_normal);
        if (!gl_FrontFacing) n = -n;
        vec3 l = -u_sun_direction;
        vec3 sun = srgb_to_linear(u_sun_color) * u_sun_intensity;
        float lambert = max(dot(n, l), 0.0);
        color = albedo * (sun * lambert + srgb_to_linear(u_ambient_color) * u_ambient_intensity);
        if (u_shading == 1 && lambert > 0.0) {
            vec3 v = normalize(u_camera_position - v_world);
            vec3 h = normalize(l + v);
            // Normalised Blinn-Phong: the highlight keeps its energy as it narrows.
            float norm = (u_shininess + 8.0) / 25.1327;
            color += sun * (u_specular * norm * pow(max(dot(n, h), 0.0), u_shininess) * lambert);
        }
    }
    color += srgb_to_linear(u_emissive);
    // Clamp before premultiplying: the composite then equals "foreground over plate" for the
    // 8-bit straight-alpha foreground layer too (an over-bright edge pixel cannot leak).
    color = min(color, vec3(1.0));
    f_color = vec4(color * alpha, alpha);
}

#endif
