#version 330 core
// The background where nothing was drawn: a plain colour, the scene's background image, or
// (ENV_BG, render.ibl_background) the view's HDR environment, under the camera's white balance
// and vignetting (and, for the environment, the exposure and tone mapping of the frame).
// Colour attachment only.

uniform vec3 bg_color;  // as displayed (sRGB)
#ifdef HAS_BG_TEX
uniform sampler2D bg_texture;  // the image, top row first
#endif
#ifdef ENV_BG
uniform mat4 inv_view_proj;
uniform vec3 cam_pos;
uniform vec2 viewport;
//#include environment.glsl
#endif
#ifdef TONEMAP
uniform float exposure;
#endif
layout(location = 0) out vec4 frag_color;

//#include camera.glsl

void main()
{
#ifdef ENV_BG
    vec4 p = inv_view_proj * vec4(gl_FragCoord.xy / viewport * 2.0 - 1.0, 1.0, 1.0);
    vec3 c = textureLod(env_bg, env_uv(env_dir(normalize(p.xyz / p.w - cam_pos))), 0.0).rgb * env_strength;
    c *= camera_gain();
#ifdef TONEMAP
    c *= exposure;
    c = (c * (2.51 * c + 0.03)) / (c * (2.43 * c + 0.59) + 0.14);
#endif
#else
    vec3 c = bg_color;
#ifdef HAS_BG_TEX
    c = texelFetch(bg_texture, ivec2(int(gl_FragCoord.x), int(image_height - gl_FragCoord.y)), 0).rgb;
#endif
    c = pow(c, vec3(2.2)) * camera_gain();
#endif
    frag_color = vec4(pow(clamp(c, 0.0, 1.0), vec3(1.0 / 2.2)), 1.0);
}
