#version 330 core
// sRGB frame -> yuv420p planes, BT.709, limited range (luma 16-235, chroma 16-240), in libswscale's
// own fixed-point arithmetic, so a GPU-converted frame encodes like `VideoFrame.reformat("yuv420p")`
// would: luma is swscale's C arithmetic (rgb24ToY; identical for every colour), chroma is
// rgb24ToUV_half and the bilinear vertical filter as x86-64 swscale runs it (its SIMD yuv2yuvX,
// pmulhw products, for all chroma rows but the last, which it writes with the C function):
// identical to PyAV 18's libswscale 9 on x86-64 for heights of 8 and more; within one level on
// other CPUs and versions (the C path's exact rounding is in `acc_c`).
//
// Chroma, as swscale does rgb24 -> yuv420p by default (no SWS_FULL_CHR_H_INP): the sum of each
// horizontal pixel pair, filtered vertically by [1, 3, 3, 1] / 8 over rows 2j-1 .. 2j+2 (edge rows
// repeated): sited at the centre of each 2x2 block.
//
// u_image: the 8-bit sRGB output, row 0 = image top. Target row r is plane row r (top-down), so
// the targets read back as the planes' rows in PyAV's order.
//
// Variants (one per program):
//   FUSED     width a multiple of 8. Grid (W / 8, H / 2); one fragment reads an 8 x 4 block and
//             writes luma rows 2j and 2j+1 (8 samples each, packed in RG32UI: attachments 0, 1)
//             and 4 U and 4 V samples (R32UI: attachments 2, 3). Two texel reads per pixel.
//   PLANE_Y   any even width: grid (W, H), one luma sample per fragment (R8).
//   PLANE_UV  any even width: grid (W / 2, H / 2), one U (attachment 0) and one V (1) sample (R8).

#if defined VERTEX_SHADER

#include "include/fullscreen_vertex.glsl"

#elif defined FRAGMENT_SHADER

uniform sampler2D u_image;
uniform int u_height;  // image rows, for the edge clamp of the chroma filter

// swscale's rgb2yuv table for BT.709, limited range (RGB2YUV_SHIFT = 15; fill_rgb2yuv_table()).
const ivec3 K_Y = ivec3(5983, 20127, 2032);
const ivec3 K_U = ivec3(-3298, -11094, 14392);
const ivec3 K_V = ivec3(14392, -13073, -1320);
const int WEIGHTS[4] = int[4](512, 1536, 1536, 512);  // the 2:1 bilinear vertical filter, 12-bit
// Chroma row 0: swscale moves the filter inside the image (rows 0, 1, 2), which changes the
// SIMD path's rounding (not the C path's).
const int WEIGHTS_TOP[4] = int[4](0, 2048, 1536, 512);

ivec3 rgb_at(int x, int y) {
    return ivec3(round(texelFetch(u_image, ivec2(x, y), 0).rgb * 255.0));
}

// rgb24ToY: a 14-bit intermediate (Y * 64), which the 8-bit output then rounds.
int luma(ivec3 c) {
    int t = (c.r * K_Y.r + c.g * K_Y.g + c.b * K_Y.b + (32 << 14) + (1 << 8)) >> 9;
    return (t + 32) >> 6;
}

// rgb24ToUV_half: the chroma (Cb * 64 or Cr * 64) of a pixel pair from its sum ``s``.
int chroma14(ivec3 s, ivec3 k) {
    return (s.r * k.r + s.g * k.g + s.b * k.b + (256 << 15) + (1 << 9)) >> 10;
}

// One row's share of the vertical filter, both ways: .x as yuv2yuvX (the 15-bit sample times the
// coefficient, high 16 bits), .y as yuv2planeX_8_c (the exact product).
ivec2 tap(int c14, int r, bool top) {
    return ivec2(((2 * c14) * (top ? WEIGHTS_TOP[r] : WEIGHTS[r])) >> 16, c14 * WEIGHTS[r]);
}

// The 8-bit sample from the filter's sums (.x starts at 5: yuv2yuvX's rounding constant
// (64 + 8 * 3) >> 4); the last chroma row is swscale's C path.
int chroma8(ivec2 acc, bool last) {
    return last ? (acc.y + (1 << 17)) >> 18 : acc.x >> 3;
}

#if defined FUSED

layout(location = 0) out uvec2 f_y_even;  // luma row 2j, 8 samples, byte k = sample k
layout(location = 1) out uvec2 f_y_odd;   // luma row 2j + 1
layout(location = 2) out uint f_u;        // 4 Cb samples
layout(location = 3) out uint f_v;        // 4 Cr samples

uint pack4(ivec4 v) {
    uvec4 u = uvec4(v);
    return u.x | (u.y << 8) | (u.z << 16) | (u.w << 24);
}

void main() {
    ivec2 p = ivec2(gl_FragCoord.xy);
    bool top = p.y == 0;
    bool last = p.y == u_height / 2 - 1;
    ivec2 acc_u[4] = ivec2[4](ivec2(5, 0), ivec2(5, 0), ivec2(5, 0), ivec2(5, 0));
    ivec2 acc_v[4] = acc_u;
    ivec4 even[2] = ivec4[2](ivec4(0), ivec4(0));
    ivec4 odd[2] = ivec4[2](ivec4(0), ivec4(0));
    for (int r = 0; r < 4; ++r) {
        int y = clamp(2 * p.y - 1 + r, 0, u_height - 1);
        for (int k = 0; k < 4; ++k) {
            int x = 8 * p.x + 2 * k;
            ivec3 a = rgb_at(x, y);
            ivec3 b = rgb_at(x + 1, y);
            acc_u[k] += tap(chroma14(a + b, K_U), r, top);
            acc_v[k] += tap(chroma14(a + b, K_V), r, top);
            if (r == 1) {
                even[k >> 1][2 * (k & 1)] = luma(a);
                even[k >> 1][2 * (k & 1) + 1] = luma(b);
            } else if (r == 2) {
                odd[k >> 1][2 * (k & 1)] = luma(a);
                odd[k >> 1][2 * (k & 1) + 1] = luma(b);
            }
        }
    }
    f_y_even = uvec2(pack4(even[0]), pack4(even[1]));
    f_y_odd = uvec2(pack4(odd[0]), pack4(odd[1]));
    f_u = pack4(ivec4(chroma8(acc_u[0], last), chroma8(acc_u[1], last), chroma8(acc_u[2], last),
                      chroma8(acc_u[3], last)));
    f_v = pack4(ivec4(chroma8(acc_v[0], last), chroma8(acc_v[1], last), chroma8(acc_v[2], last),
                      chroma8(acc_v[3], last)));
}

#elif defined PLANE_Y

out vec4 f_y;

void main() {
    f_y = vec4(float(luma(rgb_at(int(gl_FragCoord.x), int(gl_FragCoord.y)))) / 255.0);
}

#elif defined PLANE_UV

layout(location = 0) out vec4 f_u;
layout(location = 1) out vec4 f_v;

void main() {
    ivec2 p = ivec2(gl_FragCoord.xy);
    bool top = p.y == 0;
    bool last = p.y == u_height / 2 - 1;
    ivec2 acc_u = ivec2(5, 0);
    ivec2 acc_v = ivec2(5, 0);
    for (int r = 0; r < 4; ++r) {
        int y = clamp(2 * p.y - 1 + r, 0, u_height - 1);
        ivec3 s = rgb_at(2 * p.x, y) + rgb_at(2 * p.x + 1, y);
        acc_u += tap(chroma14(s, K_U), r, top);
        acc_v += tap(chroma14(s, K_V), r, top);
    }
    f_u = vec4(float(chroma8(acc_u, last)) / 255.0);
    f_v = vec4(float(chroma8(acc_v, last)) / 255.0);
}

#endif

#endif
