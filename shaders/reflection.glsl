#version 330 core
// Reflection catcher, second pass: scales the mirror image (premultiplied, drawn by the mesh
// program about the water plane) by strength x water mask x exp(-depth below the water /
// falloff). Drawn with the blend function (ZERO, SRC_ALPHA) over the mirror image, so only
// alpha is written here; scissored to the image's screen rectangle. One full-screen triangle.
// Where the plate's depth puts something in front of the water, the image is hidden.

#if defined VERTEX_SHADER

#include "include/fullscreen_vertex.glsl"

#elif defined FRAGMENT_SHADER

#include "include/occlusion.glsl"

uniform sampler2D u_depth;         // the mirror image's depth buffer, GL row order
uniform sampler2D u_water;         // R8 water mask, 0..1, row 0 = plate image top
uniform mat4 u_world_from_clip;    // inverse of the mirror pass's (oblique) clip-from-world
uniform mat3 u_water_from_ndc;     // NDC -> water mask (u w, v w, w) where the ray meets the water,
                                   // or, for a cylindrical or equirectangular plate (PLATE_PROJ,
                                   // lens u_plate_lens: include/occlusion.glsl), the direction from
                                   // the plate's eye to that point (> 0 times it: a hit)
uniform float u_height;            // the water plane, world y
uniform float u_strength;
uniform float u_inv_falloff;       // 1 / falloff metres; 0 = no fading
uniform vec3 u_camera_position;    // world
uniform vec3 u_camera_forward;     // world, unit: the view axis

out vec4 f_scale;

void main() {
    ivec2 px = ivec2(gl_FragCoord.xy);
    float d = texelFetch(u_depth, px, 0).r;
    if (d >= 1.0) discard;  // nothing mirrored here
    vec2 ndc = 2.0 * gl_FragCoord.xy / vec2(textureSize(u_depth, 0)) - 1.0;
    vec4 world = u_world_from_clip * vec4(ndc, 2.0 * d - 1.0, 1.0);
    float below = max(u_height - world.y / world.w, 0.0);
#if defined PLATE_PROJ
    // A hit: below the plate's eye (the water is below it: p points down to where the ray
    // meets the water, up where it misses).
    vec3 p = u_water_from_ndc * vec3(ndc, 1.0);
    vec3 q = plate_q(p, PLATE_PROJ, u_plate_lens);
    float water = p.y < 0.0 ? texture(u_water, q.xy / q.z).r : 0.0;
#else
    vec3 q = u_water_from_ndc * vec3(ndc, 1.0);
    float water = q.z > 0.0 ? texture(u_water, q.xy / q.z).r : 0.0;
#endif
    if (u_occlusion) {
        // The oblique near plane is the water: NDC z = -1 is where this pixel's ray meets it.
        // Where the plate shows something nearer (a bank, a ridge), the water is hidden.
        vec4 s = u_world_from_clip * vec4(ndc, -1.0, 1.0);
        float surface = dot(s.xyz / s.w - u_camera_position, u_camera_forward);
        if (plate_depth_here() < surface * 0.98) water = 0.0;
    }
    f_scale = vec4(0.0, 0.0, 0.0, u_strength * water * exp(-below * u_inv_falloff));
}

#endif
