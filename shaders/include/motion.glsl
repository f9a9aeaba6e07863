// Motion vectors for the optical-flow pass (the AUX_OUTPUT variants): the same surface point
// projected with this frame's and the next frame's matrices; both clip positions are
// interpolated perspective-correctly and divided per fragment.

uniform vec2 u_half_size;  // target (width, height) / 2 in pixels

// Forward flow in pixels, image axes (+x right, +y down); 0 where the point is behind the
// camera in either frame.
vec2 flow_pixels(vec4 clip_now, vec4 clip_next) {
    if (clip_now.w <= 1e-6 || clip_next.w <= 1e-6) return vec2(0.0);
    vec2 d = (clip_next.xy / clip_next.w - clip_now.xy / clip_now.w) * u_half_size;
    return vec2(d.x, -d.y);
}
