#version 330 core
// Final composite: foreground (linear, premultiplied) over the plate (sRGB texture, decoded to
// linear by the sampler), encoded to sRGB once. One full-screen triangle, no vertex buffer.
// Optional inputs are compiled in by defines, not switched by uniforms: a software rasteriser
// (llvmpipe) runs both sides of a branch, so an unused cross-fade would cost a second plate
// lookup on every pixel. Defines: HAS_SHADOW, HAS_PARALLAX, CROSSFADE, HAS_PARALLAX_PREV,
// RELIEF_OPAQUE and RELIEF_OPAQUE_PREV (the relief holds the backdrop under it already, see
// shaders/relief_fill.glsl: the plate is not sampled), HAS_REFLECTION (the foreground mirrored
// in the plate's water, laid over the plate before the shadows), HAS_FOREGROUND (undefined:
// nothing is drawn over the plate), LINEAR_OUTPUT (no sRGB encoding: float targets for render
// passes), PLATE_PROJ and
// PREV_PROJ (1 cylindrical, 2 equirectangular: the mapping gives a world direction, see
// include/plate_projection.glsl; undefined for perspective or fitted plates).
#include "include/colour.glsl"
#include "include/plate_projection.glsl"

#if defined VERTEX_SHADER

#include "include/fullscreen_vertex.glsl"

#elif defined FRAGMENT_SHADER

in vec2 v_uv;

uniform sampler2D u_plate;       // GL_SRGB8, row 0 = image top
uniform sampler2D u_plate_prev;  // the plate being faded out (same conventions)
uniform sampler2D u_foreground;  // RGBA16F linear premultiplied, GL row order, same size as target
uniform sampler2D u_shadow;      // R8 shadow amount on the plate (0 = lit), same layout as u_foreground
uniform sampler2D u_parallax;    // parallax: the plate drawn as a displaced surface, RGBA16F linear
uniform sampler2D u_parallax_prev;//   premultiplied, same layout as u_foreground; u_plate is then
                                 //   the sky-filled backdrop behind it
uniform sampler2D u_reflection;  // the reflection catcher: RGBA16F linear premultiplied, faded and
                                 //   masked by the water already, same layout as u_foreground
uniform mat3 u_plate_from_ndc;   // NDC (x, y, 1) -> plate image (u w, v w, w), v = 0 at the top
uniform mat3 u_prev_from_ndc;
uniform vec3 u_plate_lens;       // PLATE_PROJ's lens (include/plate_projection.glsl)
uniform vec3 u_prev_lens;        // PREV_PROJ's
uniform float u_plate_weight;    // 1 = only u_plate; less while a cross-fade runs
uniform bool u_top_down;         // true: write row 0 = image top, so a readback needs no flip
uniform ivec2 u_size;            // the target's size in pixels

out vec4 f_color;

void main() {
    ivec2 size = u_size;
    ivec2 px = ivec2(gl_FragCoord.xy);
    // NDC of this pixel in the frame (y up); top-down targets store the image's top row first.
    vec2 ndc = vec2(2.0 * v_uv.x - 1.0, u_top_down ? 1.0 - 2.0 * v_uv.y : 2.0 * v_uv.y - 1.0);
    int fg_row = u_top_down ? size.y - 1 - px.y : px.y;

    ivec2 fg_px = ivec2(px.x, fg_row);
#if defined RELIEF_OPAQUE  // the relief with the backdrop already under it
    vec3 plate = texelFetch(u_parallax, fg_px, 0).rgb;
#else
    vec3 q = u_plate_from_ndc * vec3(ndc, 1.0);
#if defined PLATE_PROJ
    vec3 plate = plate_texture_wrapped(u_plate, plate_q(q, PLATE_PROJ, u_plate_lens), u_plate_lens).rgb;
#else
    vec3 plate = texture(u_plate, q.xy / q.z).rgb;
#endif
#if defined HAS_PARALLAX
    plate = over(texelFetch(u_parallax, fg_px, 0), vec4(plate, 1.0)).rgb;
#endif
#endif
#if defined CROSSFADE
#if defined RELIEF_OPAQUE_PREV
    vec3 prev = texelFetch(u_parallax_prev, fg_px, 0).rgb;
#else
    vec3 qp = u_prev_from_ndc * vec3(ndc, 1.0);
#if defined PREV_PROJ
    vec3 prev = plate_texture_wrapped(u_plate_prev, plate_q(qp, PREV_PROJ, u_prev_lens), u_prev_lens).rgb;
#else
    vec3 prev = texture(u_plate_prev, qp.xy / qp.z).rgb;
#endif
#if defined HAS_PARALLAX_PREV
    prev = over(texelFetch(u_parallax_prev, fg_px, 0), vec4(prev, 1.0)).rgb;
#endif
#endif
    plate = mix(prev, plate, u_plate_weight);  // linear light
#endif
#if defined HAS_REFLECTION
    // Drawn at a fraction of the frame's size (ReflectionCatcher.resolution): filtered up.
    plate = over(texture(u_reflection, (vec2(fg_px) + 0.5) / vec2(size)), vec4(plate, 1.0)).rgb;
#endif
#if defined HAS_SHADOW
    plate *= 1.0 - texelFetch(u_shadow, fg_px, 0).r;  // linear light
#endif
#if defined HAS_FOREGROUND
    vec4 c = over(texelFetch(u_foreground, fg_px, 0), vec4(plate, 1.0));
#else
    vec4 c = vec4(plate, 1.0);
#endif
#if defined LINEAR_OUTPUT
    f_color = vec4(c.rgb, 1.0);  // a float target: the composite pass, linear light
#else
    f_color = vec4(linear_to_srgb(c.rgb), 1.0);
#endif
}

#endif
