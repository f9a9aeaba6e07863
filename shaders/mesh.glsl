#version 330 core
// Lit meshes for the foreground: Lambert diffuse from a sun plus ambient, emissive on top.
// Output: linear light, premultiplied alpha (what the compositor expects).
#include "include/colour.glsl"

#if defined VERTEX_SHADER

in vec3 in_position;
in vec3 in_normal;

uniform mat4 u_model;          // world-from-local
uniform mat3 u_normal_matrix;  // inverse-transpose of u_model's 3x3
uniform mat4 u_view_proj;      // clip-from-world
uniform mat4 u_view;           // view-from-world

out vec3 v_normal;
out float v_view_depth;

void main() {
    vec4 world = u_model * vec4(in_position, 1.0);
    v_normal = u_normal_matrix * in_normal;
    v_view_depth = -(u_view * world).z;
    gl_Position = u_view_proj * world;
}

#elif defined FRAGMENT_SHADER

#include "include/occlusion.glsl"

in vec3 v_normal;
in float v_view_depth;

uniform vec3 u_base_color;      // sRGB-encoded
uniform vec3 u_emissive;        // sRGB-encoded
uniform float u_opacity;
uniform vec3 u_sun_direction;   // world, the way the light travels, unit length
uniform vec3 u_sun_color;       // sRGB-encoded
uniform float u_sun_intensity;
uniform vec3 u_ambient_color;   // sRGB-encoded
uniform float u_ambient_intensity;

out vec4 f_color;

void main() {
    if (occluded_by_plate(v_view_depth)) discard;
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) n = -n;
    float lambert = max(dot(n, -u_sun_direction), 0.0);
    vec3 irradiance = srgb_to_linear(u_sun_color) * (u_sun_intensity * lambert)
                    + srgb_to_linear(u_ambient_color) * u_ambient_intensity;
    vec3 color = srgb_to_linear(u_base_color) * irradiance + srgb_to_linear(u_emissive);
    f_color = vec4(color * u_opacity, u_opacity);
}

#endif
