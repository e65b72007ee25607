// Shadow-map lookup, shared by frame.frag and bake.frag (inserted where they say
// "//#include shadow_lookup.glsl"): uniforms and the lit fraction of a point.
uniform sampler2DArrayShadow shadow_maps;  // one layer per shadowed light
uniform mat4 shadow_vp[MAX_SHADOWS];  // world -> the light's clip space
uniform int light_shadow[MAX_LIGHTS];  // the light's layer, -1: no shadow map
uniform float shadow_offset[MAX_SHADOWS];  // normal offset (m): about 1.5 texels at the scene
uniform float shadow_radius;  // PCF radius (texels)
uniform float shadow_texel;  // 1 / shadow map size

// Lit fraction 0..1: four taps on a rotated grid, each a bilinear 2x2 depth compare.
float lit_fraction(int layer, vec3 p, vec3 n, vec3 l)
{
    vec3 q = p + n * shadow_offset[layer] * (1.0 - 0.5 * clamp(dot(n, l), 0.0, 1.0));
    vec4 c = shadow_vp[layer] * vec4(q, 1.0);
    vec3 s = c.xyz / c.w * 0.5 + 0.5;
    if (s.x <= 0.0 || s.x >= 1.0 || s.y <= 0.0 || s.y >= 1.0 || s.z >= 1.0)
        return 1.0;  // outside the map: nothing there casts onto this point
    float r = shadow_radius * shadow_texel;
    float ref = s.z - 0.0005;
#if SHADOW_TAPS == 1
    return texture(shadow_maps, vec4(s.xy, float(layer), ref));
#elif SHADOW_TAPS == 2
    float sum = texture(shadow_maps, vec4(s.xy + vec2(-0.7, -0.3) * r, float(layer), ref));
    sum += texture(shadow_maps, vec4(s.xy + vec2(0.7, 0.3) * r, float(layer), ref));
    return sum * 0.5;
#else
    float sum = texture(shadow_maps, vec4(s.xy + vec2(-1.0, -0.33) * r, float(layer), ref));
    sum += texture(shadow_maps, vec4(s.xy + vec2(0.33, -1.0) * r, float(layer), ref));
    sum += texture(shadow_maps, vec4(s.xy + vec2(1.0, 0.33) * r, float(layer), ref));
    sum += texture(shadow_maps, vec4(s.xy + vec2(-0.33, 1.0) * r, float(layer), ref));
    return sum * 0.25;
#endif
}
