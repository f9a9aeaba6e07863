// Colour conventions, the one place they live on the GPU.
//
// * Lighting and compositing happen in linear light with premultiplied alpha.
// * Colours arrive from the API sRGB-encoded; decode them with srgb_to_linear(), unless the
//   CPU did (the mesh shader's colour uniforms are linear: hybridscene.colors.linear_rgb).
// * Images (plates) are sampled from GL_SRGB8 textures, which decode to linear in hardware.
// * The final frame is encoded once, at the very end, with linear_to_srgb().
// The numpy twins (for metadata and tests) are in hybridscene/colors.py.

vec3 srgb_to_linear(vec3 c) {
    bvec3 low = lessThanEqual(c, vec3(0.04045));
    vec3 lo = c / 12.92;
    vec3 hi = pow((c + 0.055) / 1.055, vec3(2.4));
    return mix(hi, lo, vec3(low));
}

vec3 linear_to_srgb(vec3 c) {
    c = clamp(c, 0.0, 1.0);
    bvec3 low = lessThanEqual(c, vec3(0.0031308));
    vec3 lo = c * 12.92;
    vec3 hi = 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055;
    return mix(hi, lo, vec3(low));
}

// Premultiplied "over": a in front of b, both premultiplied.
vec4 over(vec4 a, vec4 b) {
    return a + b * (1.0 - a.a);
}
