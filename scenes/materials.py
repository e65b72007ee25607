"""Materials and backgrounds: Material and Texture records drawn from a
scene's "materials" stream (config ``materials`` and ``background``).

Every draw here comes after the draws the builders made before this existed
(object, table and background colours), and only for the knobs that are on,
so that a config without them gives the frames it always gave.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from dropsynth.config import BackgroundConfig, MaterialsConfig
from dropsynth.types import Fixture, Material, ObjectSpec, Texture


def _color(rng: np.random.Generator, lo_hi) -> tuple[float, float, float]:
    return tuple(float(c) for c in rng.uniform(lo_hi[0], lo_hi[1], 3))


def sample_texture(kind: str, rng: np.random.Generator, color_range, frequency, files: list[str],
                   tile_m: float = 0.1) -> Texture:
    """A texture of ``kind`` (noise, stripes, checker, image: one of
    ``files``) with its parameters drawn from ``rng``."""
    if kind == "image":
        return Texture(kind="image", path=files[int(rng.integers(len(files)))], tile_m=tile_m)
    return Texture(kind=kind, colors=(_color(rng, color_range), _color(rng, color_range)),
                   frequency=int(rng.integers(frequency[0], frequency[1] + 1)),
                   angle_deg=float(rng.choice([0.0, 45.0, 90.0, 135.0])), seed=int(rng.integers(2**31)),
                   tile_m=tile_m)


def sample_material(m: MaterialsConfig, rng: np.random.Generator) -> Material:
    """A random PBR material: base colour, roughness, metallic, and a texture
    of a kind drawn from ``materials.textures`` ("plain": none)."""
    color = _color(rng, m.color) + (1.0,)
    rough = float(rng.uniform(*m.roughness))
    metal = float(rng.uniform(*m.metallic))
    kind = m.textures[int(rng.integers(len(m.textures)))]
    tex = None
    if kind != "plain":
        tex = sample_texture(kind, rng, m.color, m.texture_frequency, m.listing(),
                             tile_m=float(rng.uniform(*m.texture_tile_m)))
    return Material(base_color=color, roughness=rough, metallic=metal, texture=tex)


def assign(m: MaterialsConfig, objects, fixtures, rng: np.random.Generator):
    """Random materials for the surfaces named in ``materials.randomize``.
    Returns (objects, fixtures, table material or None)."""
    which = set(m.randomize)
    if "objects" in which:
        objects = [o if (o.primitive is None and m.keep_asset_textures)
                   else dataclasses.replace(o, material=sample_material(m, rng)) for o in objects]
    table = sample_material(m, rng) if "table" in which else None
    if "fixtures" in which and fixtures:
        # One material for all the walls of a bin or shelf: they are one piece.
        mat = sample_material(m, rng)
        fixtures = [dataclasses.replace(f, material=mat) for f in fixtures]
    return list(objects), list(fixtures), table


def sample_background(b: BackgroundConfig, rng: np.random.Generator) -> Texture | None:
    """The scene's background (config ``background``): None for a plain
    colour (the renderer's clear colour), else a texture that fills the image."""
    if b.kinds == ["color"]:
        return None
    kind = b.kinds[int(rng.integers(len(b.kinds)))]
    if kind == "color":
        return None
    return sample_texture(kind, rng, (0.0, 1.0), b.frequency, b.listing())
