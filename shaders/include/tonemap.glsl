// Tone curves: scene-referred linear light (a white surface in full sun is several times 1) to
// display-referred linear light in 0..1, before the foreground is composited over the plate.
// TONEMAP selects one at compile time: 0 none (clip), 1 AgX, 2 ACES, 3 Khronos PBR Neutral.
// Names and the numpy twins: hybridscene/scene/tonemap.py.

// AgX (Troy Sobotka's, as in Blender 4), the polynomial fit of its base contrast curve by
// Benjamin Wrensch; the input and output matrices are Blender's (inset / outset of the primaries).
vec3 agx_contrast(vec3 x) {
    vec3 x2 = x * x;
    vec3 x4 = x2 * x2;
    return 15.5 * x4 * x2 - 40.14 * x4 * x + 31.96 * x4 - 6.868 * x2 * x + 0.4298 * x2 + 0.1191 * x - 0.00232;
}

vec3 tonemap_agx(vec3 c) {
    const mat3 inset = mat3(0.842479062253094, 0.0423282422610123, 0.0423756549057051,
                            0.0784335999999992, 0.878468636469772, 0.0784336,
                            0.0792237451477643, 0.0791661274605434, 0.879142973793104);
    const mat3 outset = mat3(1.19687900512017, -0.0528968517574562, -0.0529716355144438,
                             -0.0980208811401368, 1.15190312990417, -0.0980434501171241,
                             -0.0990297440797205, -0.0989611768448433, 1.15107367264116);
    const float min_ev = -12.47393;
    const float max_ev = 4.026069;
    vec3 x = inset * max(c, vec3(0.0));
    x = clamp(log2(max(x, vec3(1e-10))), min_ev, max_ev);
    x = (x - min_ev) / (max_ev - min_ev);
    x = agx_contrast(x);                        // display-encoded (a 2.2 power)
    x = outset * x;
    return pow(clamp(x, 0.0, 1.0), vec3(2.2));  // back to linear light
}

// ACES: Stephen Hill's fit of the RRT and sRGB ODT, with three.js's exposure normalisation (1 / 0.6).
vec3 tonemap_aces(vec3 c) {
    const mat3 to_aces = mat3(0.59719, 0.07600, 0.02840, 0.35458, 0.90834, 0.13383, 0.04823, 0.01566, 0.83777);
    const mat3 from_aces = mat3(1.60475, -0.10208, -0.00327, -0.53108, 1.10813, -0.07276, -0.07367, -0.00605, 1.07602);
    vec3 v = to_aces * (max(c, vec3(0.0)) / 0.6);
    vec3 a = v * (v + 0.0245786) - 0.000090537;
    vec3 b = v * (0.983729 * v + 0.4329510) + 0.238081;
    return clamp(from_aces * (a / b), 0.0, 1.0);
}

// Khronos PBR Neutral (2024): base colours up to about 0.8 stay as they are; highlights are
// compressed toward white.
vec3 tonemap_neutral(vec3 c) {
    const float start = 0.8 - 0.04;
    const float desaturation = 0.15;
    c = max(c, vec3(0.0));
    float x = min(c.r, min(c.g, c.b));
    float offset = x < 0.08 ? x - 6.25 * x * x : 0.04;
    c -= offset;
    float peak = max(c.r, max(c.g, c.b));
    if (peak < start) return c;
    const float d = 1.0 - start;
    float new_peak = 1.0 - d * d / (peak + d - start);
    c *= new_peak / peak;
    float g = 1.0 - 1.0 / (desaturation * (peak - new_peak) + 1.0);
    return mix(c, vec3(new_peak), g);
}

vec3 tonemap(vec3 c) {
#if TONEMAP == 1
    return tonemap_agx(c);
#elif TONEMAP == 2
    return tonemap_aces(c);
#elif TONEMAP == 3
    return tonemap_neutral(c);
#else
    return min(max(c, vec3(0.0)), vec3(1.0));
#endif
}
