#version 330 core
// Show an image in the preview window: one full-screen triangle over the current viewport
// (the letterboxed frame, or the overlay's corner), sampling a top-down texture.

#if defined VERTEX_SHADER

#include "include/fullscreen_vertex.glsl"

#elif defined FRAGMENT_SHADER

in vec2 v_uv;

uniform sampler2D u_image;  // row 0 = image top (the output frame, a layer, or the overlay)

out vec4 f_color;

void main() {
    // The window is drawn bottom-up; the image is stored top row first.
    f_color = texture(u_image, vec2(v_uv.x, 1.0 - v_uv.y));
}

#endif
