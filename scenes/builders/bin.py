"""The bin builder: objects dropped into a tote with four walls, the
bin-picking case (dense piles, heavy occlusion). The table top is the bin's
floor; the walls are static boxes that collide and are drawn."""
from __future__ import annotations

import numpy as np

from dropsynth.assets.catalog import AssetCatalog
from dropsynth.scenes.builders import BuildContext
from dropsynth.scenes.builders.tabletop import build_in_area
from dropsynth.types import Fixture, SceneSpec


def walls(inner_m, height_m: float, thickness_m: float, rgba) -> tuple[Fixture, ...]:
    """Four walls around an inner (x, y) rectangle centred on the origin."""
    ix, iy = inner_m
    t, h = thickness_m, height_m
    out = []
    for sx, sy, cx, cy in ((ix + 2 * t, t, 0.0, (iy + t) / 2), (ix + 2 * t, t, 0.0, -(iy + t) / 2),
                           (t, iy, (ix + t) / 2, 0.0), (t, iy, -(ix + t) / 2, 0.0)):
        T = np.eye(4)
        T[:3, 3] = (cx, cy, h / 2)
        out.append(Fixture(size_m=(sx, sy, h), world_T=T, rgba=rgba))
    return tuple(out)


def build(ctx: BuildContext, catalog: AssetCatalog) -> SceneSpec:
    """Sample one bin scene: objects spawned above the bin's inside (their
    bounding spheres clear of the walls). Objects that bounce out of the bin
    are removed and counted, like objects falling off the table."""
    sc = ctx.scene
    rgb = ctx.streams("fixtures").uniform(0.15, 0.85, 3)
    wall_rgba = tuple(float(c) for c in rgb) + (1.0,)
    return build_in_area(ctx, catalog, sc.bin_inner_m, keep_inside=True,
                         fixtures=walls(sc.bin_inner_m, sc.bin_wall_height_m, sc.bin_wall_thickness_m, wall_rgba),
                         workspace_m=tuple(sc.bin_inner_m))
