#version 330 core
// Depth of the foreground from an orthographic view, no colour: the shadow map (seen from the
// sun) and the contact map (seen from below the shadow catcher's plane).

#if defined VERTEX_SHADER

in vec3 in_position;
uniform mat4 u_model;            // world-from-local
uniform mat4 u_light_view_proj;  // light clip-from-world

void main() {
    gl_Position = u_light_view_proj * (u_model * vec4(in_position, 1.0));
}

#elif defined FRAGMENT_SHADER

void main() {}

#endif
