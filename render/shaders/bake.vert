#version 330 core
// A triangle over the whole viewport (no vertex buffer).
out vec2 st;

void main()
{
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    st = p * 0.5 + 0.5;
    gl_Position = vec4(p, 0.0, 1.0);
}
