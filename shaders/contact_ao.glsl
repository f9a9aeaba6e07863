#version 330 core
// Contact shadow (ambient occlusion on the ground) in the contact map's own texels, for the
// shadow catcher to read with one bilinear lookup: the contact map holds the depth of the
// meshes seen from below the catcher plane, i.e. each ground point's clearance. Taps over a
// disc of the contact radius; each occludes by how little room there is above it, weighted by
// its nearness. One full-screen triangle over the map.

#if defined VERTEX_SHADER

#include "include/fullscreen_vertex.glsl"

#elif defined FRAGMENT_SHADER

in vec2 v_uv;

uniform sampler2D u_contact_map;   // depth 0..1 over clearance -r..+r; 1 = nothing within r
uniform float u_radius;            // the contact radius in map uv units

out float f_occlusion;

// Occlusion by a tap's clearance: 1 at or below the ground, 0 at r or more above it.
float closeness(vec2 uv) {
    return clamp(2.0 - 2.0 * texture(u_contact_map, uv).r, 0.0, 1.0);
}

const int TAPS = 16;

void main() {
    // A Vogel (golden-angle) disc: even cover with few taps; weights fall off linearly with
    // the distance, and the centre tap counts fully.
    float sum = closeness(v_uv);
    float weight = 1.0;
    for (int i = 0; i < TAPS; ++i) {
        float rho = sqrt((float(i) + 0.5) / float(TAPS));
        float a = float(i) * 2.39996323;
        float w = 1.0 - rho;
        sum += w * closeness(v_uv + u_radius * rho * vec2(cos(a), sin(a)));
        weight += w;
    }
    f_occlusion = sum / weight;
}

#endif
