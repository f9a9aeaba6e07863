#version 330 core
// Depth of the foreground from an orthographic view, no colour: the shadow map (seen from the
// sun) and the contact map (seen from below the shadow catcher's plane). ALPHA_MASK: materials
// with alpha_mode "mask" cast the shadow of their cut-out (base colour texture alpha x opacity).

#if defined VERTEX_SHADER

in vec3 in_position;
in vec2 in_uv;
in vec2 in_uv1;
uniform mat4 u_model;            // world-from-local
uniform mat4 u_light_view_proj;  // light clip-from-world
#if defined ALPHA_MASK
uniform int u_texcoord;          // the base texture's uv set
out vec2 v_uv;
#endif

void main() {
#if defined ALPHA_MASK
    vec2 uv = u_texcoord == 1 ? in_uv1 : in_uv;
    v_uv = vec2(uv.x, 1.0 - uv.y);  // image rows top first, as in mesh.glsl
#endif
    gl_Position = u_light_view_proj * (u_model * vec4(in_position, 1.0));
}

#elif defined FRAGMENT_SHADER

#if defined ALPHA_MASK
in vec2 v_uv;
uniform sampler2D u_texture;
uniform float u_opacity;
uniform float u_alpha_cutoff;
#endif

void main() {
#if defined ALPHA_MASK
    if (u_opacity * texture(u_texture, v_uv).a < u_alpha_cutoff) discard;
#endif
}

#endif
