#version 330 core
// Shadow catcher: an invisible ground plane that receives the foreground's shadows. It writes
// only the shadow amount (0 = lit, `u_strength` = fully shadowed) to colour attachment 1; the
// compositor darkens the plate by it in linear light. Soft edges: percentage-closer filtering
// over a (2r+1)^2 grid of hardware depth comparisons.

#if defined VERTEX_SHADER

in vec3 in_position;             // world, on the plane
uniform mat4 u_view_proj;        // camera clip-from-world
uniform mat4 u_view;             // camera view-from-world
uniform mat4 u_light_view_proj;  // light clip-from-world

out vec4 v_light;
out float v_view_depth;

void main() {
    vec4 world = vec4(in_position, 1.0);
    v_light = u_light_view_proj * world;
    v_view_depth = -(u_view * world).z;
    gl_Position = u_view_proj * world;
}

#elif defined FRAGMENT_SHADER

#include "include/occlusion.glsl"

in vec4 v_light;
in float v_view_depth;

uniform sampler2DShadow u_shadow_map;
uniform float u_strength;
uniform float u_softness;          // PCF radius in shadow-map texels (taps are spread over it)
uniform float u_bias;

layout(location = 0) out vec4 f_color;   // masked off
layout(location = 1) out float f_shadow;

void main() {
    // Where the plate shows something nearer than the ground here (a ridge, a tree), the
    // ground is hidden and catches no shadow (a looser tolerance: the plane and the plate's
    // painted ground are the same surface).
    if (u_occlusion && plate_depth_here() < v_view_depth * 0.98) discard;
    vec3 p = v_light.xyz / v_light.w * 0.5 + 0.5;
    if (any(lessThan(p.xy, vec2(0.0))) || any(greaterThan(p.xy, vec2(1.0)))) discard;  // outside the map: lit
    vec2 texel = 1.0 / vec2(textureSize(u_shadow_map, 0));
    int r = int(ceil(min(u_softness, 1.0)));  // 3x3 bilinear-PCF taps spread over the radius
    float lit = 0.0;
    float n = 0.0;
    for (int y = -r; y <= r; ++y) {
        for (int x = -r; x <= r; ++x) {
            vec2 o = vec2(x, y) * texel * (u_softness / max(float(r), 1.0));
            lit += texture(u_shadow_map, vec3(p.xy + o, min(p.z, 1.0) - u_bias));
            n += 1.0;
        }
    }
    f_color = vec4(0.0);
    f_shadow = u_strength * (1.0 - lit / n);
}

#endif
