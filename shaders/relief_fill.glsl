#version 330 core
// The relief's sky: after the relief's triangles, one full-screen triangle at the far plane
// (depth-tested LEQUAL, so only pixels no triangle covered are shaded: llvmpipe's early depth
// test skips the rest) writes the sky-filled backdrop there, as the compositor would have
// sampled it (the same mapping, the filter it chose), with alpha 1 and no depth. The relief's
// colour is then opaque everywhere and the compositor reads it alone, instead of sampling the
// backdrop under every pixel.
// DIRECT (a define): parallax.glsl's DIRECT variant's sky, sRGB-encoded into the frame itself;
// u_flip_y = -1 for top-down targets.
#include "include/colour.glsl"

#if defined VERTEX_SHADER

out vec2 v_uv;  // (0, 0) bottom-left .. (1, 1) top-right, as include/fullscreen_vertex.glsl

void main() {
    vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    v_uv = p;
    gl_Position = vec4(p * 2.0 - 1.0, 1.0, 1.0);  // on the far plane: depth 1
}

#elif defined FRAGMENT_SHADER

in vec2 v_uv;

uniform sampler2D u_backdrop;    // GL_SRGB8, row 0 = image top (decoded to linear)
uniform mat3 u_plate_from_ndc;   // NDC (x, y, 1) -> backdrop image (u w, v w, w), v = 0 at the top

layout(location = 0) out vec4 f_color;
#if defined DIRECT
uniform float u_flip_y;
#else
layout(location = 1) out float f_inverse_depth;
#endif

void main() {
#if defined DIRECT
    vec2 ndc = 2.0 * v_uv - 1.0;
    vec3 q = u_plate_from_ndc * vec3(ndc.x, u_flip_y * ndc.y, 1.0);
    f_color = vec4(linear_to_srgb(texture(u_backdrop, q.xy / q.z).rgb), 1.0);
#else
    vec3 q = u_plate_from_ndc * vec3(2.0 * v_uv - 1.0, 1.0);  // this target is in GL row order
    f_color = vec4(texture(u_backdrop, q.xy / q.z).rgb, 1.0);
    f_inverse_depth = 0.0;  // nothing here: the foreground's occlusion sees sky
#endif
}

#endif
