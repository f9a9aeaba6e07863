// Occlusion by the plate: a foreground fragment farther than the plate's surface at its pixel
// (a ridge, the ground) is hidden. Define PLATE_PROJ (1 cylindrical, 2 equirectangular) for a plate
// of that projection: the mapping then gives directions (include/plate_projection.glsl); a
// compiled-in variant, not a uniform, as a software rasteriser runs both sides of a branch. Needs `v_view_depth` (metres along the view axis) from the
// vertex stage. Two sources of the plate's depth:
// - the plate's own depth map, as seen from the camera the plate was painted with, mapped into
//   this view by the compositor's homography (a camera that only turns or zooms);
// - with parallax (a camera that moved), the displaced plate surface rendered for this very
//   view: inverse view depth per target pixel (see parallax.glsl); the PLATE_DEPTH_SCREEN
//   variant (compiled in, like PLATE_PROJ, which it makes moot).

#include "include/plate_projection.glsl"

uniform sampler2D u_plate_depth;  // R32F: metres, row 0 = image top, inf = sky; or, on screen
                                  // (PLATE_DEPTH_SCREEN), 1 / metres in GL row order, 0 = nothing
uniform bool u_occlusion;         // false: no plate depth, or occlusion turned off
uniform mat3 u_plate_from_ndc;    // the compositor's mapping: NDC -> plate image (u w, v w, w),
                                  // or a world direction (PLATE_PROJ)
uniform vec3 u_plate_lens;        // PLATE_PROJ's lens (include/plate_projection.glsl)
uniform vec2 u_target_size;       // size in pixels of the target being drawn (which may be smaller
                                  // than the frame: the reflection catcher's)

// The plate's depth at this pixel, as a view depth of the current camera (see plate_mapping()).
float plate_depth_here() {
#if defined PLATE_DEPTH_SCREEN
    vec2 scale = vec2(textureSize(u_plate_depth, 0)) / u_target_size;  // 1 for the foreground
    float inverse_depth = texelFetch(u_plate_depth, ivec2(gl_FragCoord.xy * scale), 0).r;
    return inverse_depth > 0.0 ? 1.0 / inverse_depth : 1.0 / 0.0;
#else
    vec2 ndc = 2.0 * gl_FragCoord.xy / u_target_size - 1.0;
#if defined PLATE_PROJ
    vec3 q = plate_q(u_plate_from_ndc * vec3(ndc, 1.0), PLATE_PROJ, u_plate_lens);
#else
    vec3 q = u_plate_from_ndc * vec3(ndc, 1.0);
#endif
    if (q.z <= 0.0) return 1.0 / 0.0;  // looking away from the plate: nothing there
    return texture(u_plate_depth, q.xy / q.z).r / q.z;
#endif
}

// True when the plate hides a fragment at view depth d (a relative tolerance avoids
// flicker where an object touches the plate's ground).
bool occluded_by_plate(float d) {
    return u_occlusion && plate_depth_here() < d * 0.999;
}
