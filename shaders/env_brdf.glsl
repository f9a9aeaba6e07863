#version 330 core
// Environment, step 4: the split-sum BRDF lookup table (Karis 2013), into an RG16F target:
// texel (i, j) holds (scale, bias) for N.V = i / (n - 1) and perceptual roughness j / (n - 1),
// so that the specular is prefiltered * (F0 * scale + bias). GGX (alpha = roughness^2) with the
// height-correlated Smith visibility (Heitz 2014; the mesh shader's direct light uses the same),
// importance-sampled with a fixed Hammersley set.

#if defined VERTEX_SHADER

#include "include/fullscreen_vertex.glsl"

#elif defined FRAGMENT_SHADER

#include "include/environment.glsl"

uniform int u_samples;
uniform vec2 u_size;  // the table's size in texels

out vec4 f_color;

// V = G / (4 N.L N.V), height-correlated Smith.
float visibility(float n_dot_v, float n_dot_l, float a2) {
    return 0.5 / (n_dot_l * sqrt(n_dot_v * n_dot_v * (1.0 - a2) + a2) + n_dot_v * sqrt(n_dot_l * n_dot_l * (1.0 - a2) + a2));
}

void main() {
    vec2 cell = floor(gl_FragCoord.xy);
    vec2 last = u_size - 1.0;
    float n_dot_v = max(cell.x / last.x, 1e-3);
    float roughness = cell.y / last.y;
    float alpha = roughness * roughness;
    float a2 = alpha * alpha;
    vec3 v = vec3(sqrt(1.0 - n_dot_v * n_dot_v), 0.0, n_dot_v);
    float scale = 0.0;
    float bias = 0.0;
    uint count = uint(u_samples);
    for (uint i = 0u; i < count; ++i) {
        vec3 h = env_ggx_half(env_hammersley(i, count), alpha);
        vec3 l = 2.0 * dot(v, h) * h - v;
        float n_dot_l = l.z;
        if (n_dot_l <= 0.0) continue;
        float n_dot_h = max(h.z, 1e-6);
        float v_dot_h = max(dot(v, h), 0.0);
        // f N.L / pdf with pdf = D (n.h) / (4 v.h): D cancels.
        float g_vis = 4.0 * visibility(n_dot_v, n_dot_l, a2) * n_dot_l * v_dot_h / n_dot_h;
        float fc = pow(1.0 - v_dot_h, 5.0);
        scale += (1.0 - fc) * g_vis;
        bias += fc * g_vis;
    }
    f_color = vec4(scale, bias, 0.0, 1.0) / vec4(float(count), float(count), 1.0, 1.0);
}

#endif
