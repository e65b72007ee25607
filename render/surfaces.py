"""Procedural PBR surfaces for the table, floor, shelf board and bin walls.

Each ``realism.Surface`` becomes two seamless 128x128 tiles (base colour;
a tangent-space normal map from a height field with the roughness in its
alpha channel) and a pyrender mesh with
texture coordinates projected in metres, one tile per ``Surface.tile_m``.

Kinds: wood (rings warped by noise, fine grain along the board), laminate
(planks of fine, low-contrast grain with grooves between them), fabric (a
weave of threads), concrete (octaves of noise and pores), tiles (a grid with
grout, each tile a little different), brushed metal (streaks along one
direction, metallic), plastic (near-uniform, a fine orange-peel bump).
"""
from __future__ import annotations

import functools

import numpy as np

from dropsynth.render.realism import Surface

TILE = 128  # 256 cost 13 ms of numpy per surface and scene; at 128 a texel is 1-8 mm


def _noise(rng: np.random.Generator, cells: int, octaves: int = 3, aspect: tuple = (1, 1)) -> np.ndarray:
    """(TILE, TILE) periodic value noise in 0..1; ``aspect`` stretches the cells (rows, columns)."""
    out = np.zeros((TILE, TILE))
    total = 0.0
    for o in range(octaves):
        cy, cx = max(1, cells * aspect[0] * 2 ** o), max(1, cells * aspect[1] * 2 ** o)
        grid = rng.random((cy, cx))
        ty, tx = np.arange(TILE) * cy / TILE, np.arange(TILE) * cx / TILE
        iy, ix = np.floor(ty).astype(int), np.floor(tx).astype(int)
        fy, fx = ty - iy, tx - ix
        fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
        a = grid[iy][:, ix] * (1 - fx) + grid[iy][:, (ix + 1) % cx] * fx
        b = grid[(iy + 1) % cy][:, ix] * (1 - fx) + grid[(iy + 1) % cy][:, (ix + 1) % cx] * fx
        amp = 0.5 ** o
        out += amp * (a * (1 - fy)[:, None] + b * fy[:, None])
        total += amp
    out /= total
    return (out - out.min()) / max(float(np.ptp(out)), 1e-9)


def _fields(s: Surface) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mix between the two colours, roughness offset, height), each (TILE, TILE)."""
    rng = np.random.Generator(np.random.PCG64(s.seed))
    y, x = np.mgrid[0:TILE, 0:TILE] / TILE  # v down the rows, u along the columns
    k = s.kind
    if k == "wood":
        warp = _noise(rng, 2, 3, (1, 1))
        rings = 0.5 + 0.5 * np.sin(2 * np.pi * (int(rng.integers(6, 14)) * y + 1.5 * warp))
        grain = _noise(rng, 4, 2, (8, 1))  # fine streaks along u
        mix = 0.7 * rings ** 2 + 0.3 * grain
        return mix, 0.1 * (grain - 0.5), 0.6 * rings + 0.4 * grain
    if k == "laminate":
        planks = 4
        plank = np.floor(y * planks)
        shade = rng.random(planks)[plank.astype(int)]
        grain = _noise(rng, 3, 2, (12, 1))
        groove = (np.abs((y * planks) % 1.0 - 0.5) > 0.49).astype(float)
        mix = 0.25 * grain + 0.25 * shade + 0.5 * groove
        return mix, 0.05 * (grain - 0.5), -groove + 0.2 * grain
    if k == "fabric":
        n = int(rng.integers(24, 48))
        wu, wv = np.sin(2 * np.pi * n * x), np.sin(2 * np.pi * n * y)
        over = np.sin(2 * np.pi * n / 2 * (x + y)) > 0  # a twill: threads alternate over and under
        weave = np.where(over, np.abs(wu), np.abs(wv))
        fuzz = _noise(rng, 8, 3)
        return 0.6 * (1 - weave) + 0.4 * fuzz, 0.05 * (fuzz - 0.5), weave + 0.3 * fuzz
    if k == "concrete":
        base = _noise(rng, 4, 4)
        pores = (rng.random((TILE, TILE)) > 0.998).astype(float)
        mix = 0.8 * base + 0.3 * pores
        return np.clip(mix, 0, 1), 0.15 * (base - 0.5), base - pores
    if k == "tiles":
        n = int(rng.choice([2, 3, 4]))
        gu, gv = (x * n) % 1.0, (y * n) % 1.0
        grout = ((np.minimum(gu, 1 - gu) < 0.02) | (np.minimum(gv, 1 - gv) < 0.02)).astype(float)
        cell = (np.floor(y * n) * n + np.floor(x * n)).astype(int)
        shade = 0.15 * rng.random(n * n)[cell]
        return np.maximum(grout, shade), 0.3 * grout, -grout
    if k == "brushed_metal":
        streaks = _noise(rng, 2, 3, (64, 1))
        return 0.3 * streaks, 0.2 * (streaks - 0.5), streaks * 0.5
    if k == "plastic":
        peel = _noise(rng, 64, 2)
        return 0.1 * _noise(rng, 2, 2), 0.05 * (peel - 0.5), 0.3 * peel
    raise ValueError(f"unknown surface kind {k!r}")


@functools.lru_cache(maxsize=8)
def surface_tiles(s: Surface) -> tuple[np.ndarray, np.ndarray]:
    """(base colour (TILE, TILE, 3), normal + roughness (TILE, TILE, 4)) uint8 tiles: the
    tangent-space normal in RGB, the roughness in A (one texture fetch less per pixel)."""
    mix, rough, height = _fields(s)
    c1, c2 = np.asarray(s.color), np.asarray(s.color2)
    base = c1 * (1 - mix[..., None]) + c2 * mix[..., None]
    # Height differences per texel (periodic) -> tangent-space normals.
    h = height * s.bump * 0.25
    du = np.roll(h, -1, axis=1) - np.roll(h, 1, axis=1)
    dv = np.roll(h, -1, axis=0) - np.roll(h, 1, axis=0)
    n = np.stack([-du, -dv, np.ones_like(h)], axis=-1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)

    def u8(a):
        return np.rint(np.clip(a, 0, 1) * 255).astype(np.uint8)

    rgba = np.concatenate([n * 0.5 + 0.5, np.clip(s.roughness + rough, 0.05, 1.0)[..., None]], axis=-1)
    return u8(base), u8(rgba)


def surface_mesh(box, s: Surface, pyrender):
    """pyrender.Mesh of a box (trimesh) drawn with surface ``s``: flat faces,
    texture coordinates projected along each face's axis, in metres."""
    from dropsynth.render.materials import _projected_uv

    m = box.copy()
    m.unmerge_vertices()
    normals = np.zeros_like(m.vertices)
    normals[m.faces.reshape(-1)] = np.repeat(m.face_normals, 3, axis=0)
    uv = _projected_uv(np.asarray(m.vertices), normals, s.tile_m)
    base, nrm = surface_tiles(s)
    from OpenGL import GL

    # Mipmaps without blending between levels: trilinear filtering costs llvmpipe twice the time.
    sampler = pyrender.Sampler(magFilter=GL.GL_LINEAR, minFilter=GL.GL_LINEAR_MIPMAP_NEAREST)
    mat = pyrender.MetallicRoughnessMaterial(
        baseColorFactor=(1.0, 1.0, 1.0, 1.0), metallicFactor=s.metallic, roughnessFactor=1.0,
        baseColorTexture=pyrender.Texture(source=base, source_channels="RGB", sampler=sampler),
        normalTexture=pyrender.Texture(source=nrm, source_channels="RGBA", sampler=sampler))
    prim = pyrender.Primitive(positions=np.asarray(m.vertices, np.float32), normals=normals.astype(np.float32),
                              texcoord_0=uv.astype(np.float32), indices=np.asarray(m.faces, np.uint32),
                              material=mat)
    return pyrender.Mesh([prim])
