"""Material records -> pyrender meshes. Imported by the pyrender backend only.

Surfaces get texture coordinates by projection in metres (one texture tile
per ``Texture.tile_m``), so a pattern keeps its physical size on any shape:
flat-shaded meshes (boxes, cylinders, table, walls) are split per face and
projected along each face's dominant normal axis; smooth meshes along each
vertex normal's (seams on the diagonals, invisible for random patterns).
"""
from __future__ import annotations

import numpy as np

from dropsynth.types import Material


def _projected_uv(points: np.ndarray, normals: np.ndarray, tile_m: float) -> np.ndarray:
    axis = np.argmax(np.abs(normals), axis=1)
    uv = np.empty((len(points), 2))
    for a, (i, j) in enumerate(((1, 2), (0, 2), (0, 1))):
        sel = axis == a
        uv[sel] = points[sel][:, [i, j]]
    return uv / tile_m


def textured_trimesh(mesh, material: Material, smooth: bool):
    """A copy of ``mesh`` (trimesh) with texture coordinates and the
    material's texture image as its visual (or no visual without texture)."""
    import trimesh
    from PIL import Image

    from dropsynth.textures import texture_tile

    m = mesh.copy()
    if material.texture is None:
        m.visual = trimesh.visual.ColorVisuals(m)
        return m
    if not smooth:
        m.unmerge_vertices()
        normals = np.zeros_like(m.vertices)
        normals[m.faces.reshape(-1)] = np.repeat(m.face_normals, 3, axis=0)
    else:
        normals = m.vertex_normals
    uv = _projected_uv(np.asarray(m.vertices), np.asarray(normals), material.texture.tile_m)
    m.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(texture_tile(material.texture)))
    return m


def pyrender_material(material: Material, pyrender):
    """The pyrender MetallicRoughnessMaterial of a Material record."""
    from dropsynth.textures import texture_tile

    kw = {}
    color = material.base_color
    if material.texture is not None:
        kw["baseColorTexture"] = pyrender.Texture(source=texture_tile(material.texture), source_channels="RGB")
        color = (1.0, 1.0, 1.0, 1.0)
    return pyrender.MetallicRoughnessMaterial(baseColorFactor=color, metallicFactor=material.metallic,
                                              roughnessFactor=material.roughness, **kw)


def material_mesh(mesh, material: Material, pyrender, smooth: bool):
    """pyrender.Mesh of a trimesh drawn with a Material record."""
    return pyrender.Mesh.from_trimesh(textured_trimesh(mesh, material, smooth),
                                      material=pyrender_material(material, pyrender), smooth=smooth)
