#version 330 core
// The background (a plain colour, or the scene's background image) under the camera's
// white balance and vignetting, where nothing was drawn. Colour attachment only.

uniform vec3 bg_color;  // as displayed (sRGB)
#ifdef HAS_BG_TEX
uniform sampler2D bg_texture;  // the image, top row first
#endif
layout(location = 0) out vec4 frag_color;

//#include camera.glsl

void main()
{
    vec3 c = bg_color;
#ifdef HAS_BG_TEX
    c = texelFetch(bg_texture, ivec2(int(gl_FragCoord.x), int(image_height - gl_FragCoord.y)), 0).rgb;
#endif
    c = pow(c, vec3(2.2)) * camera_gain();
    frag_color = vec4(pow(clamp(c, 0.0, 1.0), vec3(1.0 / 2.2)), 1.0);
}
