#version 330 core
// The table top's lit fractions, once per scene: texel (s, t) of the lightmap
// is the point (x0 + s w, y0 + t h, 0) with normal +z; channel k is light
// layer k's lit fraction (the same filtered lookup as frame.frag).

in vec2 st;
uniform vec4 rect;  // x0, y0, width, height (m)
uniform int n_layers;
uniform vec3 light_dir[MAX_SHADOWS];  // towards each layer's light (at the table centre)
layout(location = 0) out vec4 lit;

//#include shadow_lookup.glsl

void main()
{
    vec3 p = vec3(rect.xy + st * rect.zw, 0.0);
    vec3 n = vec3(0.0, 0.0, 1.0);
    lit = vec4(1.0);
    for (int k = 0; k < n_layers; k++)
        lit[k] = lit_fraction(k, p, n, light_dir[k]);
}
