#version 330 core
// A triangle over the whole viewport at the far plane (depth 1: drawn only where nothing was).

void main()
{
    vec2 p = vec2(float((gl_VertexID & 1) << 2) - 1.0, float((gl_VertexID & 2) << 1) - 1.0);
    gl_Position = vec4(p, 1.0, 1.0);
}
