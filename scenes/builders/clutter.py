"""The clutter builder: many objects strewn over a floor or crowded on a
shelf board with a back wall (with distractors from ``distractors``: by
default this builder adds some)."""
from __future__ import annotations

import dataclasses

import numpy as np

from dropsynth.assets.catalog import AssetCatalog
from dropsynth.scenes.builders import BuildContext
from dropsynth.scenes.builders.tabletop import build_in_area
from dropsynth.types import Fixture, SceneSpec

SHELF_THICKNESS_M = 0.03
SHELF_DEFAULT_AZIMUTH = (0.0, 360.0)  # camera.azimuth_deg's default
SHELF_FRONT_AZIMUTH = (-150.0, -30.0)  # cameras in front of a shelf whose front faces -y


def build(ctx: BuildContext, catalog: AssetCatalog) -> SceneSpec:
    """Floor: the table becomes a floor of ``scene.clutter_floor_m`` and the
    objects drop over ``scene.clutter_area_m`` in its middle. Shelf: a board
    of ``scene.shelf_size_m`` (width x, depth y; its front faces -y) with a
    back wall of ``scene.shelf_wall_height_m``; objects drop over the board
    (bounding spheres inside it) and what falls off is removed."""
    sc = ctx.scene
    if sc.clutter_surface == "floor":
        fx, fy = sc.clutter_floor_m
        return build_in_area(ctx, catalog, sc.clutter_area_m, keep_inside=False,
                             table_size_m=(fx, fy, 0.04))
    if tuple(ctx.camera.azimuth_deg) == SHELF_DEFAULT_AZIMUTH:
        # A shelf is seen from the front (-y): cameras behind the back wall
        # would see nothing. An azimuth the user set is kept as it is.
        ctx = dataclasses.replace(ctx, camera=ctx.camera.model_copy(update={"azimuth_deg": SHELF_FRONT_AZIMUTH}))
    w, d = sc.shelf_size_m
    t = sc.bin_wall_thickness_m
    back = np.eye(4)
    back[:3, 3] = (0.0, d / 2 + t / 2, sc.shelf_wall_height_m / 2)
    rgb = ctx.streams("fixtures").uniform(0.15, 0.85, 3)
    wall = Fixture(size_m=(w, t, sc.shelf_wall_height_m), world_T=back, rgba=tuple(float(c) for c in rgb) + (1.0,))
    return build_in_area(ctx, catalog, (w, d), keep_inside=True, fixtures=(wall,),
                         workspace_m=(w, d), table_size_m=(w, d, SHELF_THICKNESS_M))
