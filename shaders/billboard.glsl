#version 330 core
// Instanced quads for particles and sprites: facing the camera, or fixed in the node's XY plane.
// Output: linear light, premultiplied alpha; additive emitters output alpha 0 (pure added light).
#include "include/colour.glsl"

#if defined VERTEX_SHADER

in vec2 in_corner;      // per vertex: (-0.5, -0.5) .. (0.5, 0.5)
in vec3 in_center;      // per instance: position in the node's frame
in vec2 in_size;        // per instance: width, height in metres
in vec4 in_color;       // per instance: linear RGB, straight alpha
in vec4 in_uv_rect;     // per instance: (u0, v0, du, dv), v from the image's top

uniform mat4 u_model;   // world-from-local of the node
uniform mat4 u_view;
uniform mat4 u_proj;
uniform bool u_billboard;

out vec2 v_corner;
out vec2 v_uv;
out vec4 v_color;
out float v_view_depth;
#if defined AUX_OUTPUT
in vec3 in_motion;           // per instance: displacement by the next frame, node frame (flow)
uniform mat4 u_model_next;   // the node, camera and lens at the next frame
uniform mat4 u_view_next;
uniform mat4 u_proj_next;
out vec4 v_clip_now;
out vec4 v_clip_next;
out vec3 v_view_normal;
out vec3 v_view_pos;
#endif

void main() {
    vec4 view_pos;
    if (u_billboard) {
        view_pos = u_view * (u_model * vec4(in_center, 1.0));
        view_pos.xy += in_corner * in_size;
    } else {
        view_pos = u_view * (u_model * vec4(in_center + vec3(in_corner * in_size, 0.0), 1.0));
    }
    v_corner = in_corner;
    v_uv = in_uv_rect.xy + vec2(in_corner.x + 0.5, 0.5 - in_corner.y) * in_uv_rect.zw;
    v_color = in_color;
    v_view_depth = -view_pos.z;
    gl_Position = u_proj * view_pos;
#if defined AUX_OUTPUT
    vec4 view_next;
    if (u_billboard) {
        view_next = u_view_next * (u_model_next * vec4(in_center + in_motion, 1.0));
        view_next.xy += in_corner * in_size;
        v_view_normal = vec3(0.0, 0.0, 1.0);
    } else {
        view_next = u_view_next * (u_model_next * vec4(in_center + in_motion + vec3(in_corner * in_size, 0.0), 1.0));
        v_view_normal = transpose(inverse(mat3(u_view * u_model))) * vec3(0.0, 0.0, 1.0);
    }
    v_clip_now = gl_Position;
    v_clip_next = u_proj_next * view_next;
    v_view_pos = view_pos.xyz;
#endif
}

#elif defined FRAGMENT_SHADER

#include "include/occlusion.glsl"

in vec2 v_corner;
in vec2 v_uv;
in vec4 v_color;
in float v_view_depth;

uniform bool u_use_texture;
uniform sampler2D u_texture;    // sRGB texture, row 0 = image top
uniform bool u_additive;
uniform float u_object_id;      // for the AUX_OUTPUT variant (layers)

#if defined AUX_OUTPUT
#include "include/motion.glsl"
in vec4 v_clip_now;
in vec4 v_clip_next;
in vec3 v_view_normal;
in vec3 v_view_pos;
layout(location = 0) out vec4 f_color;   // (view depth m, object id, flow x, flow y)
layout(location = 1) out vec4 f_normal;  // camera-space unit normal, facing the viewer
#else
out vec4 f_color;
#endif

void main() {
    if (occluded_by_plate(v_view_depth)) discard;
    vec3 rgb = v_color.rgb;
    float alpha = v_color.a;
    if (u_use_texture) {
        vec4 t = texture(u_texture, v_uv);
        rgb *= t.rgb;
        alpha *= t.a;
    } else {
        float r = length(v_corner) * 2.0;  // a soft round dot
        alpha *= 1.0 - smoothstep(0.5, 1.0, r);
    }
    if (alpha <= 0.001) discard;
#if defined AUX_OUTPUT
    f_color = vec4(v_view_depth, u_object_id, flow_pixels(v_clip_now, v_clip_next));
    vec3 n = normalize(v_view_normal);
    f_normal = vec4(dot(n, v_view_pos) > 0.0 ? -n : n, 1.0);
    return;
#endif
    rgb = min(rgb, vec3(1.0));
    f_color = vec4(rgb * alpha, u_additive ? 0.0 : alpha);
}

#endif
