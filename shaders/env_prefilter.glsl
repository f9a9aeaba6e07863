#version 330 core
// Environment, step 2: GGX-prefiltered radiance for one roughness, into one level (an equirect
// target, row 0 at the zenith). Split-sum's N = V = R assumption; importance sampling of the GGX
// lobe with a fixed Hammersley set, each sample read from the source's mip level whose texels
// cover the sample's solid angle (filtered importance sampling, Krivanek & Colbert 2008), so a
// few samples give a smooth, firefly-free result.

#if defined VERTEX_SHADER

#include "include/fullscreen_vertex.glsl"

#elif defined FRAGMENT_SHADER

#include "include/environment.glsl"

in vec2 v_uv;

uniform sampler2D u_source;    // the projected environment, mipmapped, linear
uniform float u_roughness;     // perceptual roughness of this level (alpha = roughness^2)
uniform int u_samples;         // samples per texel
uniform float u_source_max_lod;

out vec4 f_color;

void main() {
    vec3 n = env_dir_from_uv(v_uv);
    if (u_roughness <= 0.0) {  // a mirror: the source itself
        f_color = vec4(textureLod(u_source, v_uv, 0.0).rgb, 1.0);
        return;
    }
    vec2 size = vec2(textureSize(u_source, 0));
    float texel_solid = 4.0 * ENV_PI / (size.x * size.y);
    float alpha = u_roughness * u_roughness;
    float a2 = alpha * alpha;
    vec3 sum = vec3(0.0);
    float weight = 0.0;
    uint count = uint(u_samples);
    for (uint i = 0u; i < count; ++i) {
        vec3 h = env_around(env_ggx_half(env_hammersley(i, count), alpha), n);
        vec3 l = reflect(-n, h);
        float n_dot_l = dot(n, l);
        if (n_dot_l <= 0.0) continue;
        float n_dot_h = max(dot(n, h), 0.0);
        float q = n_dot_h * n_dot_h * (a2 - 1.0) + 1.0;
        float pdf = a2 / (ENV_PI * q * q) * 0.25;  // D(h) (n.h) / (4 v.h), with v = n
        float sample_solid = 1.0 / (float(count) * pdf + 1e-6);
        float lod = clamp(0.5 * log2(sample_solid / texel_solid) + 1.0, 0.0, u_source_max_lod);
        sum += textureLod(u_source, env_uv_from_dir(l), lod).rgb * n_dot_l;
        weight += n_dot_l;
    }
    f_color = vec4(sum / max(weight, 1e-6), 1.0);
}

#endif
