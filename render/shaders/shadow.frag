#version 330 core
// Depth only: a light's shadow map (the fixed-function depth write is all it needs).

void main()
{
}
