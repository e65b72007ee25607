#version 330 core
// The table top's lit fractions, once per scene: texel (s, t) of the lightmap
// is the point (x0 + s w, y0 + t h, 0) with normal +z; channel k is light
// layer k's lit fraction (the same filtered lookup as frame.frag), alpha its
// ambient occlusion by the casters around it (1: open).

in vec2 st;
uniform vec4 rect;  // x0, y0, width, height (m)
uniform int n_layers;
uniform vec3 light_dir[MAX_SHADOWS];  // towards each layer's light (at the table centre)
uniform int with_ao;
uniform mat4 top_vp;  // world -> clip space of the casters seen from straight above (layer TOP_LAYER)
uniform float ao_radius;  // m
const int AO_SAMPLES = 8;
layout(location = 0) out vec4 lit;

//#include shadow_lookup.glsl

// 1 where a caster stands at (q) higher than h, else 0.
float occluded(vec2 q, float h)
{
    vec4 c = top_vp * vec4(q, h, 1.0);
    vec3 s = c.xyz / c.w * 0.5 + 0.5;
    if (s.x <= 0.0 || s.x >= 1.0 || s.y <= 0.0 || s.y >= 1.0)
        return 0.0;
    return 1.0 - texture(shadow_maps, vec4(s.xy, float(TOP_LAYER), s.z));
}

float table_ao(vec2 p)
{
    float occ = 0.0;
    for (int k = 0; k < AO_SAMPLES; k++) {
        float a = float(k) * 2.39996;  // golden angle
        float d = ao_radius * sqrt((float(k) + 0.5) / float(AO_SAMPLES));
        occ += occluded(p + d * vec2(cos(a), sin(a)), 0.5 * d + 0.001);
    }
    return 1.0 - occ / float(AO_SAMPLES);
}

void main()
{
    vec3 p = vec3(rect.xy + st * rect.zw, 0.0);
    vec3 n = vec3(0.0, 0.0, 1.0);
    lit = vec4(1.0);
    for (int k = 0; k < n_layers; k++)
        lit[k] = lit_fraction(k, p, n, light_dir[k]);
    if (with_ao == 1)
        lit.a = table_ao(p.xy);
}
