#version 330 core
// Instance id and metric depth only (the exact pass beside an anti-aliased RGB pass).

uniform uint object_id;
in float view_depth;

layout(location = 1) out uint frag_id;
layout(location = 2) out float frag_depth;

void main()
{
    frag_id = object_id;
    frag_depth = view_depth;
}
