#version 330 core
// Parallax: the plate drawn as a surface displaced by its depth, seen from a camera that has
// left the plate's own position. Each vertex is a plate pixel pushed out along its view ray to
// its depth (world positions are built once per plate, on the CPU). Sky texels are discarded
// per fragment, so ridge silhouettes stay as sharp as the plate's pixels; the compositor shows
// a sky-filled backdrop where nothing is drawn.
// ALL_LAND (a define): the variant for triangles that see no sky texel (ReliefGeometry.land),
// without the per-pixel sky test; clipping keeps their fragments in front of the camera.
// Output 0: the plate's colour, linear, premultiplied (alpha 1 where the surface is).
// Output 1: the surface's inverse view depth (1 / metres; 0 = nothing here), read by
//           include/occlusion.glsl so the foreground is hidden behind the displaced plate.
// DIRECT (a define): a frame with nothing over the plate: the colour alone, sRGB-encoded, into
// the frame itself (the compositor has nothing to add; u_view_proj flips rows for top-down
// targets), no inverse depth.
#include "include/colour.glsl"

#if defined VERTEX_SHADER

in vec3 in_position;      // world, metres

uniform mat4 u_view_proj; // camera clip-from-world
uniform mat4 u_view;      // camera view-from-world
uniform vec3 u_plate_eye;         // the plate camera's position (world)
uniform mat3 u_plate_from_dir;    // world direction from the plate camera -> (u w, v w, w)

out vec3 v_plate;         // (u w, v w, w): linear in the world position, so interpolated exactly
out float v_view_depth;

void main() {
    vec4 world = vec4(in_position, 1.0);
    v_plate = u_plate_from_dir * (in_position - u_plate_eye);
    v_view_depth = -(u_view * world).z;
    gl_Position = u_view_proj * world;
}

#elif defined FRAGMENT_SHADER

in vec3 v_plate;
in float v_view_depth;

uniform sampler2D u_plate;        // GL_SRGB8, row 0 = image top (decoded to linear)
uniform sampler2D u_plate_depth;  // R32F metres, inf = sky, nearest filtering

layout(location = 0) out vec4 f_color;
#if !defined DIRECT
layout(location = 1) out float f_inverse_depth;
#endif

void main() {
    // Where the plate's camera saw this point of the (planar, interpolated) triangle: exact
    // reprojection, so the texture stays put on the surface however the camera moves.
    vec2 uv = v_plate.xy / v_plate.z;
#if !defined ALL_LAND  // triangles near the sky (or past the plate's edges): trim them per pixel
    float d = texture(u_plate_depth, uv).r;
    if (isinf(d) || v_view_depth <= 0.0) discard;  // sky: the backdrop shows through
#endif
#if defined DIRECT
    f_color = vec4(linear_to_srgb(texture(u_plate, uv).rgb), 1.0);
#else
    f_color = vec4(texture(u_plate, uv).rgb, 1.0);
    f_inverse_depth = 1.0 / v_view_depth;
#endif
}

#endif
