#version 330 core
// Shadow catcher: an invisible ground plane that receives the foreground's shadows. It writes
// only the shadow amount (0 = lit, 1 = black), into the foreground's single-sample shadow
// texture (the shadows are soft: samples would all hold the same value); the compositor darkens
// the plate by it in linear light. Two parts, each compiled in by a define (a software
// rasteriser runs both sides of a branch):
// - HAS_SUN: the sun's shadow, soft-edged by percentage-closer filtering over a (2r+1)^2 grid
//   of hardware depth comparisons; `u_strength` = fully shadowed.
// - HAS_CONTACT: contact shadow (ambient occlusion) under what rests on the ground: one
//   bilinear lookup of the occlusion contact_ao.glsl computed over the contact map (the meshes
//   seen from below the plane), times `u_contact`.
// They combine as 1 - (1 - sun) (1 - contact).

#if defined VERTEX_SHADER

in vec3 in_position;             // world, on the plane
uniform mat4 u_view_proj;        // camera clip-from-world
uniform mat4 u_view;             // camera view-from-world
uniform mat4 u_light_view_proj;  // light clip-from-world
uniform mat4 u_contact_view_proj;// contact map clip-from-world (orthographic, from below)

out vec4 v_light;
out vec2 v_contact;
out float v_view_depth;

void main() {
    vec4 world = vec4(in_position, 1.0);
#if defined HAS_SUN
    v_light = u_light_view_proj * world;
#else
    v_light = vec4(0.0);
#endif
#if defined HAS_CONTACT
    v_contact = (u_contact_view_proj * world).xy * 0.5 + 0.5;
#else
    v_contact = vec2(0.0);
#endif
    v_view_depth = -(u_view * world).z;
    gl_Position = u_view_proj * world;
}

#elif defined FRAGMENT_SHADER

#include "include/occlusion.glsl"

in vec4 v_light;
in vec2 v_contact;
in float v_view_depth;

uniform sampler2DShadow u_shadow_map;
uniform float u_strength;
uniform float u_softness;          // PCF radius in shadow-map texels (taps are spread over it)
uniform float u_bias;
uniform sampler2D u_contact_ao;    // occlusion 0..1 over the contact map (contact_ao.glsl)
uniform float u_contact;           // contact shadow strength

layout(location = 0) out float f_shadow;

float sun_shadow() {
    vec3 p = v_light.xyz / v_light.w * 0.5 + 0.5;
    if (any(lessThan(p.xy, vec2(0.0))) || any(greaterThan(p.xy, vec2(1.0)))) return 0.0;  // outside the map: lit
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
    return u_strength * (1.0 - lit / n);
}

float contact_shadow() {
    return u_contact * texture(u_contact_ao, v_contact).r;
}

void main() {
    // Where the plate shows something nearer than the ground here (a ridge, a tree), the
    // ground is hidden and catches no shadow (a looser tolerance: the plane and the plate's
    // painted ground are the same surface).
    if (u_occlusion && plate_depth_here() < v_view_depth * 0.98) discard;
    float lit = 1.0;
#if defined HAS_SUN
    lit *= 1.0 - sun_shadow();
#endif
#if defined HAS_CONTACT
    lit *= 1.0 - contact_shadow();
#endif
    if (lit >= 1.0) discard;
    f_shadow = 1.0 - lit;
}

#endif
