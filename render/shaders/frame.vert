#version 330 core
// dropsynth's one-pass frame: world position, normal, texture coordinates and
// the distance along the optical axis for the fragment shaders. Poses are
// rigid (physics poses and fixtures), so mat3(model) transforms normals.

layout(location = 0) in vec3 position;
#ifdef NORMAL_LOC
layout(location = NORMAL_LOC) in vec3 normal;
#endif
#ifdef TEXCOORD_0_LOC
layout(location = TEXCOORD_0_LOC) in vec2 texcoord_0;
#endif
#ifdef COLOR_0_LOC
layout(location = COLOR_0_LOC) in vec4 color_0;
#endif
layout(location = INST_M_LOC) in mat4 inst_m;

uniform mat4 M;
uniform mat4 V;
uniform mat4 P;

out vec3 frag_position;
out float view_depth;
#ifdef NORMAL_LOC
out vec3 frag_normal;
#endif
#ifdef TEXCOORD_0_LOC
out vec2 uv_0;
#endif
#ifdef COLOR_0_LOC
out vec4 color_multiplier;
#endif
#ifdef VARIATION
out vec3 local_position;
#endif

void main()
{
    // The same expression as pyrender's shaders, so that coverage matches
    // theirs (amodal masks are rendered by pyrender's SEG pass).
    gl_Position = P * V * M * inst_m * vec4(position, 1);
    mat4 model = M * inst_m;
    vec4 world = model * vec4(position, 1.0);
    frag_position = world.xyz;
    view_depth = -(V * world).z;
#ifdef NORMAL_LOC
    frag_normal = mat3(model) * normal;
#endif
#ifdef TEXCOORD_0_LOC
    uv_0 = texcoord_0;
#endif
#ifdef COLOR_0_LOC
    color_multiplier = color_0;
#endif
#ifdef VARIATION
    local_position = position;
#endif
}
