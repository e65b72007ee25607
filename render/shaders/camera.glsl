// White balance and vignetting of the camera, in linear light (frame.frag and bg.frag
// insert this where they say "//#include camera.glsl").
uniform vec3 wb_gains;  // linear RGB gains
uniform vec4 vignette;  // strength (light lost in the farthest corner), cx, cy (OpenCV px), 1 / r^2 of that corner
uniform float image_height;

vec3 camera_gain()
{
    vec2 p = vec2(gl_FragCoord.x - 0.5, image_height - gl_FragCoord.y - 0.5) - vignette.yz;
    return wb_gains * (1.0 - vignette.x * dot(p, p) * vignette.w);
}
