#version 330 core
// The plate's depth as the foreground's occlusion test sees it, for the layer files: one
// full-screen triangle writing plate_depth_here() (include/occlusion.glsl) per pixel, in metres
// along the view axis (inf = sky or nothing), GL row order.

#if defined VERTEX_SHADER

#include "include/fullscreen_vertex.glsl"

#elif defined FRAGMENT_SHADER

#include "include/occlusion.glsl"

out float f_depth;

void main() {
    f_depth = u_occlusion ? plate_depth_here() : 1.0 / 0.0;
}

#endif
