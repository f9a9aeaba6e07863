// Occlusion by the plate: a foreground fragment farther than the plate's surface at its pixel
// (a ridge, the ground) is hidden. Needs `v_view_depth` (metres along the view axis) from the
// vertex stage. The plate's depth is as seen from the camera the plate was painted with.

uniform sampler2D u_plate_depth;  // R32F metres, row 0 = image top, inf = sky
uniform bool u_occlusion;         // false: no plate depth, or occlusion turned off
uniform vec4 u_plate_rect;        // the compositor's "cover" fit of the plate
uniform vec2 u_target_size;       // foreground target size in pixels

float plate_depth_here() {
    vec2 uv = gl_FragCoord.xy / u_target_size;  // GL row order: v = 0 at the image's bottom
    vec2 img_uv = vec2(uv.x, 1.0 - uv.y) * u_plate_rect.xy + u_plate_rect.zw;
    return texture(u_plate_depth, img_uv).r;
}

// True when the plate hides a fragment at view depth d (a relative tolerance avoids
// flicker where an object touches the plate's ground).
bool occluded_by_plate(float d) {
    return u_occlusion && plate_depth_here() < d * 0.999;
}
