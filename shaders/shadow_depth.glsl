#version 330 core
// Shadow map: depth of the foreground seen from the sun (orthographic). No colour.

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
