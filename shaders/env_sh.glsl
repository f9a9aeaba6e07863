#version 330 core
// Environment, step 3: the irradiance's 9 spherical-harmonic coefficients, into a 9x1 RGBA32F
// target: fragment i sums basis i times the radiance times each texel's exact solid angle over a
// small mip level of the source, then applies the clamped-cosine convolution / pi (bands 0, 1,
// 2: 1, 2/3, 1/4), so env_diffuse() needs no further factor.

#if defined VERTEX_SHADER

#include "include/fullscreen_vertex.glsl"

#elif defined FRAGMENT_SHADER

#include "include/environment.glsl"

uniform sampler2D u_source;   // the projected environment, mipmapped, linear
uniform int u_level;          // the level summed (a few thousand texels)

out vec4 f_color;

void main() {
    int i = int(gl_FragCoord.x);
    ivec2 size = textureSize(u_source, u_level);
    float dphi = 2.0 * ENV_PI / float(size.x);
    vec3 sum = vec3(0.0);
    for (int y = 0; y < size.y; ++y) {
        float v0 = float(y) / float(size.y);
        float v1 = float(y + 1) / float(size.y);
        float solid = dphi * (cos(v0 * ENV_PI) - cos(v1 * ENV_PI));
        vec3 row = vec3(0.0);
        for (int x = 0; x < size.x; ++x) {
            vec3 d = env_dir_from_uv(vec2((float(x) + 0.5) / float(size.x), 0.5 * (v0 + v1)));
            row += texelFetch(u_source, ivec2(x, y), u_level).rgb * env_sh_basis(i, d);
        }
        sum += row * solid;
    }
    float band = i == 0 ? 1.0 : (i < 4 ? 2.0 / 3.0 : 0.25);
    f_color = vec4(sum * band, 1.0);
}

#endif
