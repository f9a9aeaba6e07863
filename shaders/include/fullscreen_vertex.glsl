// Buffer-less full-screen triangle: draw 3 vertices with an empty vertex array.
// v_uv is (0, 0) at the bottom-left of the target and (1, 1) at the top-right (GL order).
out vec2 v_uv;

void main() {
    vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    v_uv = p;
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
