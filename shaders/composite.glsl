#version 330 core
// Final composite: foreground (linear, premultiplied) over the plate (sRGB texture, decoded to
// linear by the sampler), encoded to sRGB once. One full-screen triangle, no vertex buffer.
#include "include/colour.glsl"

#if defined VERTEX_SHADER

#include "include/fullscreen_vertex.glsl"

#elif defined FRAGMENT_SHADER

in vec2 v_uv;

uniform sampler2D u_plate;       // GL_SRGB8, row 0 = image top
uniform sampler2D u_plate_prev;  // the plate being faded out (same conventions)
uniform sampler2D u_foreground;  // RGBA16F linear premultiplied, GL row order, same size as target
uniform sampler2D u_shadow;      // R8 shadow amount on the plate (0 = lit), same layout as u_foreground
uniform bool u_has_shadow;
uniform vec4 u_plate_rect;       // image uv = uv * xy + zw ("cover" fit of the plate's aspect)
uniform vec4 u_plate_prev_rect;
uniform float u_plate_weight;    // 1 = only u_plate; less while a cross-fade runs
uniform bool u_top_down;         // true: write row 0 = image top, so a readback needs no flip

out vec4 f_color;

void main() {
    ivec2 size = textureSize(u_foreground, 0);
    ivec2 px = ivec2(gl_FragCoord.xy);
    // Image-space coordinates: v = 0 at the image's top row.
    float v_img = u_top_down ? v_uv.y : 1.0 - v_uv.y;
    int fg_row = u_top_down ? size.y - 1 - px.y : px.y;

    vec2 img_uv = vec2(v_uv.x, v_img);
    vec3 plate = texture(u_plate, img_uv * u_plate_rect.xy + u_plate_rect.zw).rgb;
    if (u_plate_weight < 1.0) {
        vec3 prev = texture(u_plate_prev, img_uv * u_plate_prev_rect.xy + u_plate_prev_rect.zw).rgb;
        plate = mix(prev, plate, u_plate_weight);  // linear light
    }
    if (u_has_shadow) plate *= 1.0 - texelFetch(u_shadow, ivec2(px.x, fg_row), 0).r;  // linear light
    vec4 fg = texelFetch(u_foreground, ivec2(px.x, fg_row), 0);
    vec4 c = over(fg, vec4(plate, 1.0));
    f_color = vec4(linear_to_srgb(c.rgb), 1.0);
}

#endif
