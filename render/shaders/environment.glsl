// Image-based lighting (render.ibl; frame.frag and bg.frag insert this where they say
// "//#include environment.glsl"). Blender's equirectangular convention, the lookup vector
// rotated about world z as Cycles' Mapping node does (render/environment.py prepares the maps).
uniform vec3 env_sh[9];  // irradiance as spherical harmonics, per unit strength
uniform vec2 env_rot;  // cos, sin of the rotation about world z
uniform float env_strength;
uniform sampler3D env_spec;  // radiance prefiltered at roughness 0.4, 0.6, 0.8, 1.0 (the 4 slices)
uniform sampler2D env_bg;  // radiance, 1024 x 512: background and mirror-like reflections

const float ENV_PI = 3.141592653589793;

vec3 env_dir(vec3 d)
{
    return vec3(env_rot.x * d.x - env_rot.y * d.y, env_rot.y * d.x + env_rot.x * d.y, d.z);
}

vec2 env_uv(vec3 d)  // texture row 0 (t = 0) is the zenith
{
    return vec2(0.5 - atan(d.y, d.x) / (2.0 * ENV_PI), acos(clamp(d.z, -1.0, 1.0)) / ENV_PI);
}

vec3 env_irradiance(vec3 n)
{
    vec3 d = env_dir(n);
    vec3 e = env_sh[0] * 0.282095 + env_sh[1] * (0.488603 * d.y) + env_sh[2] * (0.488603 * d.z)
        + env_sh[3] * (0.488603 * d.x) + env_sh[4] * (1.092548 * d.x * d.y) + env_sh[5] * (1.092548 * d.y * d.z)
        + env_sh[6] * (0.315392 * (3.0 * d.z * d.z - 1.0)) + env_sh[7] * (1.092548 * d.x * d.z)
        + env_sh[8] * (0.546274 * (d.x * d.x - d.y * d.y));
    return max(e, vec3(0.0)) * env_strength;
}

vec3 env_specular(vec3 r, float roughness)
{
    vec2 uv = env_uv(env_dir(r));
    // Slice k (k = 0..3) holds roughness 0.4 + 0.2 k at w = (k + 0.5) / 4: one fetch blends two of them.
    float w = (clamp((roughness - 0.4) / 0.2, 0.0, 3.0) + 0.5) / 4.0;
    vec3 s = textureLod(env_spec, vec3(uv, w), 0.0).rgb;
    float mirror = 1.0 - roughness / 0.4;  // glossy: towards the sharp map
    if (mirror > 0.0)
        s = mix(s, textureLod(env_bg, uv, 0.0).rgb, mirror);
    return s * env_strength;
}

vec2 env_brdf(float roughness, float nv)  // Karis' analytic fit of the split-sum BRDF integral
{
    const vec4 c0 = vec4(-1.0, -0.0275, -0.572, 0.022);
    const vec4 c1 = vec4(1.0, 0.0425, 1.04, -0.04);
    vec4 r = roughness * c0 + c1;
    float a004 = min(r.x * r.x, exp2(-9.28 * nv)) * r.x + r.y;
    return vec2(-1.04, 1.04) * a004 + r.zw;
}
