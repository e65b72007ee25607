#version 330 core
// dropsynth's frame: pyrender's metallic-roughness BRDF (from its mesh.frag:
// Fresnel-Schlick, Smith-Schlick geometry, GGX distribution; pyrender 0.1.45,
// MIT licence, Matthew Matl) under the scene's directional, point and spot
// lights plus its ambient light, sRGB output (gamma 2.2), no shadows, no
// image-based lighting. Honours baseColorFactor, baseColorTexture, the
// metallic and roughness factors (and their texture), emissive factor and
// vertex colours. Writes, in one pass, the colour, the instance id and the
// distance along the optical axis (m) into three attachments.

struct Material {
    vec4 base_color_factor;
    float metallic_factor;
    float roughness_factor;
    vec3 emissive_factor;
#ifdef HAS_BASE_COLOR_TEX
    sampler2D base_color_texture;
#endif
#ifdef HAS_METALLIC_ROUGHNESS_TEX
    sampler2D metallic_roughness_texture;
#endif
#ifdef HAS_NORMAL_TEX
    sampler2D normal_texture;
#endif
};

uniform Material material;
uniform int n_lights;
// per light: xyz = position (point, spot) or direction towards the light
// (directional), w = 1 for positional lights; radiance = colour x intensity;
// spot: the direction it shines to, and cone scale and offset (0, 1: no cone)
uniform vec4 light_position[MAX_LIGHTS];
uniform vec3 light_radiance[MAX_LIGHTS];
uniform vec3 light_spot_dir[MAX_LIGHTS];
uniform vec2 light_cone[MAX_LIGHTS];
uniform vec3 cam_pos;
uniform vec3 ambient_light;
uniform uint object_id;
// Realism (render.quality realistic, or the effects' own keys); absent from the fast level's programs.
#ifdef SHADOWS
uniform sampler2D lightmap;  // SHADOW_BAKED: per scene, over the table top: lit fraction of the lights in layers 0-3
uniform vec4 lightmap_rect;  // x0, y0, 1 / width, 1 / height (m)
uniform float ao_strength;  // of the ambient occlusion in the lightmap's alpha
#endif
#ifdef TONEMAP
uniform float exposure;
#endif
#ifdef CAMERA
//#include camera.glsl
#endif
#ifdef IBL
//#include environment.glsl
#endif
#ifdef VARIATION
uniform vec4 look;  // hue rotation (rad), saturation scale, value scale, roughness added
uniform vec2 wear;  // amount 0..1, pattern offset
in vec3 local_position;
#endif

in vec3 frag_position;
in float view_depth;
#ifdef NORMAL_LOC
in vec3 frag_normal;
#endif
#ifdef TEXCOORD_0_LOC
in vec2 uv_0;
#endif
#ifdef COLOR_0_LOC
in vec4 color_multiplier;
#endif

layout(location = 0) out vec4 frag_color;
layout(location = 1) out uint frag_id;
layout(location = 2) out float frag_depth;

const float PI = 3.141592653589793;
const float min_roughness = 0.04;

vec3 srgb_to_linear(vec3 srgb)
{
    vec3 b_less = step(vec3(0.04045), srgb);
    return mix(srgb / vec3(12.92), pow((srgb + vec3(0.055)) / vec3(1.055), vec3(2.4)), b_less);
}

#ifdef SHADOWS
//#include shadow_lookup.glsl
#endif

#ifdef VARIATION
float hash3(vec3 p)
{
    p = fract(p * 0.3183099 + 0.1);
    p *= 17.0;
    return fract(p.x * p.y * p.z * (p.x + p.y + p.z));
}

float value_noise(vec3 x)
{
    vec3 i = floor(x);
    vec3 f = fract(x);
    f = f * f * (3.0 - 2.0 * f);
    return mix(mix(mix(hash3(i), hash3(i + vec3(1, 0, 0)), f.x),
                   mix(hash3(i + vec3(0, 1, 0)), hash3(i + vec3(1, 1, 0)), f.x), f.y),
               mix(mix(hash3(i + vec3(0, 0, 1)), hash3(i + vec3(1, 0, 1)), f.x),
                   mix(hash3(i + vec3(0, 1, 1)), hash3(i + vec3(1, 1, 1)), f.x), f.y), f.z);
}
#endif

vec3 compute_brdf(vec3 n, vec3 v, vec3 l, float roughness, vec3 f0, vec3 c_diff, vec3 radiance)
{
    vec3 h = normalize(l + v);
    float nl = clamp(dot(n, l), 0.001, 1.0);
    float nv = clamp(abs(dot(n, v)), 0.001, 1.0);
    float nh = clamp(dot(n, h), 0.0, 1.0);
    float vh = clamp(dot(v, h), 0.0, 1.0);
    vec3 F = f0 + (1.0 - f0) * pow(clamp(1.0 - vh, 0.0, 1.0), 5.0);
    float r = roughness + 1.0;
    float k = r * r / 8.0;
    float G = (nv / (nv * (1.0 - k) + k)) * (nl / (nl * (1.0 - k) + k));
    float a = roughness * roughness;
    float a2 = a * a;
    float denom = nh * nh * (a2 - 1.0) + 1.0;
    float D = a2 / (PI * denom * denom);
    vec3 diffuse_contrib = (1.0 - F) * c_diff / PI;
    vec3 spec_contrib = F * G * D / (4.0 * nl * nv + 0.001);
    return nl * radiance * (diffuse_contrib + spec_contrib);
}

void main()
{
    vec4 base = material.base_color_factor;
#ifdef HAS_BASE_COLOR_TEX
    vec4 tex = texture(material.base_color_texture, uv_0);
    base *= vec4(srgb_to_linear(tex.rgb), tex.a);
#endif
#ifdef COLOR_0_LOC
    base *= color_multiplier;
#endif
#ifdef VARIATION
    // Hue rotation about the grey axis (YIQ), then saturation and value.
    const mat3 to_yiq = mat3(0.299, 0.596, 0.211, 0.587, -0.274, -0.523, 0.114, -0.322, 0.312);
    const mat3 to_rgb = mat3(1.0, 1.0, 1.0, 0.956, -0.272, -1.106, 0.621, -0.647, 1.703);
    vec3 yiq = to_yiq * base.rgb;
    float ch = cos(look.x), sh = sin(look.x);
    yiq.yz = mat2(ch, sh, -sh, ch) * yiq.yz * look.y;
    base.rgb = clamp(to_rgb * yiq * look.z, 0.0, 1.0);
    // Wear: patches (object coordinates, so they stick to the object) lighter, greyer, rougher.
    float wn = value_noise(local_position * 40.0 + wear.y);  // one octave: a second cost 1 ms per view
    float worn = wear.x * smoothstep(1.0 - 0.6 * wear.x, 1.05 - 0.6 * wear.x, wn);
    base.rgb = mix(base.rgb, vec3(dot(base.rgb, vec3(0.3333))) * 0.8 + 0.15, 0.7 * worn);
#endif
    float roughness = material.roughness_factor;
    float metallic = material.metallic_factor;
#ifdef HAS_METALLIC_ROUGHNESS_TEX
    vec4 mr = texture(material.metallic_roughness_texture, uv_0);
    roughness *= mr.g;
    metallic *= mr.b;
#endif
#ifdef VARIATION
    roughness = roughness + look.w + 0.4 * worn;
#endif
    roughness = clamp(roughness, min_roughness, 1.0);
    metallic = clamp(metallic, 0.0, 1.0);
    vec3 c_diff = mix(vec3(0.0), base.rgb * (1.0 - min_roughness), 1.0 - metallic);
    vec3 f0 = mix(vec3(min_roughness), base.rgb, metallic);

#ifdef NORMAL_LOC
    vec3 n = normalize(frag_normal);
#else
    vec3 n = normalize(cross(dFdx(frag_position), dFdy(frag_position)));
#endif
#ifdef HAS_NORMAL_TEX
    {
        // Tangent frame from screen-space derivatives (no tangent attribute needed).
        vec4 ntr = texture(material.normal_texture, uv_0);  // RGB normal, A roughness
        vec3 nt = ntr.rgb * 2.0 - 1.0;
        roughness = clamp(ntr.a, min_roughness, 1.0);
        vec3 dp1 = dFdx(frag_position), dp2 = dFdy(frag_position);
        vec2 duv1 = dFdx(uv_0), duv2 = dFdy(uv_0);
        vec3 dp2perp = cross(dp2, n), dp1perp = cross(n, dp1);
        vec3 T = dp2perp * duv1.x + dp1perp * duv2.x;
        vec3 B = dp2perp * duv1.y + dp1perp * duv2.y;
        float invmax = inversesqrt(max(max(dot(T, T), dot(B, B)), 1e-20));
        vec3 geo_n = n;
        n = normalize(mat3(T * invmax, B * invmax, n) * nt);
        if (dot(n, geo_n) < 0.2)
            n = geo_n;
    }
#endif
    vec3 v = normalize(cam_pos - frag_position);
    vec3 color = vec3(0.0);
#ifdef SHADOW_BAKED
    // The table: its top's lit fractions were baked once per scene (the sides read the edge).
    vec4 lm = texture(lightmap, (frag_position.xy - lightmap_rect.xy) * lightmap_rect.zw);
#endif
    for (int i = 0; i < n_lights; i++) {
        vec3 l;
        vec3 radiance = light_radiance[i];
        if (light_position[i].w > 0.5) {
            vec3 d = light_position[i].xyz - frag_position;
            float dist2 = dot(d, d);
            l = d * inversesqrt(dist2);
            float cone = clamp(dot(light_spot_dir[i], -l) * light_cone[i].x + light_cone[i].y, 0.0, 1.0);
            radiance *= cone * cone / dist2;
        } else {
            l = light_position[i].xyz;
        }
#ifdef SHADOWS
        int layer = light_shadow[i];
        if (layer >= 0) {
#ifdef SHADOW_BAKED
            radiance *= lm[layer];
#else
            radiance *= lit_fraction(layer, frag_position, n, l);
#endif
        }
#endif
        color += compute_brdf(n, v, l, roughness, f0, c_diff, radiance);
    }
#ifdef IBL
    // The environment instead of the ambient light: diffuse irradiance and prefiltered specular.
    vec2 ab = env_brdf(roughness, clamp(dot(n, v), 0.001, 1.0));
    vec3 env_light = c_diff * env_irradiance(n) / PI + env_specular(reflect(-v, n), roughness) * (f0 * ab.x + ab.y);
#ifdef SHADOW_BAKED
    env_light *= mix(1.0, lm.a, ao_strength);
#endif
    color += env_light + material.emissive_factor;
#elif defined(SHADOW_BAKED)
    color += base.rgb * ambient_light * mix(1.0, lm.a, ao_strength) + material.emissive_factor;
#else
    color += base.rgb * ambient_light + material.emissive_factor;
#endif
#ifdef CAMERA
    color *= camera_gain();
#endif
#ifdef TONEMAP
    // Exposure, then ACES filmic (Narkowicz's fit of the RRT + ODT) instead of clipping.
    color *= exposure;
    color = (color * (2.51 * color + 0.03)) / (color * (2.43 * color + 0.59) + 0.14);
#endif
    frag_color = vec4(pow(clamp(color, 0.0, 1.0), vec3(1.0 / 2.2)), 1.0);
    frag_id = object_id;
    frag_depth = view_depth;
}
