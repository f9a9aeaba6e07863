#version 330 core
// Depth pre-pass: writes the plate's depth into the foreground's depth buffer, so foreground
// fragments behind the plate's surface (a mountain, the ground) fail the depth test.
// No colour is written. One full-screen triangle, no vertex buffer.

#if defined VERTEX_SHADER

#include "include/fullscreen_vertex.glsl"

#elif defined FRAGMENT_SHADER

in vec2 v_uv;

uniform sampler2D u_plate_depth;  // R32F, metres along the view axis, row 0 = image top, inf = sky
uniform vec4 u_plate_rect;        // the same "cover" fit as the composite
uniform vec2 u_depth_coeffs;      // (A, B) = projection[2][2], projection[2][3]: z_ndc = -A + B / d

void main() {
    // The foreground is rasterised in GL row order: v_uv.y = 0 is the image's bottom row.
    vec2 img_uv = vec2(v_uv.x, 1.0 - v_uv.y) * u_plate_rect.xy + u_plate_rect.zw;
    float d = texture(u_plate_depth, img_uv).r;
    if (isinf(d) || d <= 0.0) discard;  // sky: nothing to hide behind
    float z_ndc = -u_depth_coeffs.x + u_depth_coeffs.y / d;
    gl_FragDepth = clamp(0.5 * z_ndc + 0.5, 0.0, 1.0);
}

#endif
