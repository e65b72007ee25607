"""The tabletop builder: random objects dropped above a table; and the
placement the other builders share (free spots, distractors, cameras and
lights around the placed objects)."""
from __future__ import annotations

import numpy as np

from dropsynth.assets.catalog import AssetCatalog, distractor_range
from dropsynth.assets.mesh import object_radius, sample_primitive
from dropsynth.scenes import composition, materials
from dropsynth.scenes.builders import BuildContext
from dropsynth.scenes.samplers import pose, random_rotation, sample_camera, sample_lights
from dropsynth.types import ObjectSpec, SceneSpec

CLEARANCE_M = 0.005  # gap kept between bounding spheres at spawn


def build(ctx: BuildContext, catalog: AssetCatalog) -> SceneSpec:
    """Sample one tabletop scene (before physics) from the scene's seeded streams.

    Objects are placed one at a time at random positions above the table with
    a random orientation, rejecting positions whose bounding spheres overlap
    an object already placed (``scene.max_tries`` attempts each); an object
    that finds no free position is skipped and counted in ``unplaced``.
    """
    return build_in_area(ctx, catalog, ctx.scene.spawn_area_m, keep_inside=False)


def random_color(mat: np.random.Generator) -> tuple[float, float, float, float]:
    return tuple(float(c) for c in mat.uniform(0.1, 0.95, 3)) + (1.0,)


def find_spot(rng: np.random.Generator, half_xy, reach: float, occupied, tries: int, height=None):
    """The placement rejection loop: up to ``tries`` centres drawn uniformly
    over [-hx, hx] x [-hy, hy] (with ``height`` = (base, (lo, hi)) also z =
    base + U(lo, hi)); the first whose distance to every ``(centre, radius)``
    in ``occupied`` exceeds ``reach + radius + CLEARANCE_M``, else None."""
    hx, hy = half_xy
    for _ in range(tries):
        if height is None:
            cand = np.array([rng.uniform(-hx, hx), rng.uniform(-hy, hy)])
        else:
            cand = np.array([rng.uniform(-hx, hx), rng.uniform(-hy, hy), height[0] + rng.uniform(*height[1])])
        if all(np.linalg.norm(cand - q) > reach + rq + CLEARANCE_M for q, rq in occupied):
            return cand
    return None


def _spot_above(rng, area_m, keep_inside: bool, radius: float, heights, occupied, tries: int):
    """A free spot above an ``area_m`` rectangle for a bounding sphere of
    ``radius``: inside it with ``keep_inside``, else with only its centre inside."""
    hx, hy = area_m[0] / 2, area_m[1] / 2
    if keep_inside:
        hx, hy = max(hx - radius, 1e-3), max(hy - radius, 1e-3)
    return find_spot(rng, (hx, hy), radius, occupied, tries, height=(radius + CLEARANCE_M, heights))


def build_in_area(ctx: BuildContext, catalog: AssetCatalog, area_m, keep_inside: bool, fixtures=(),
                  workspace_m=None, table_size_m=None, spawn_height_m=None) -> SceneSpec:
    """Place objects above an ``area_m`` (x, y) rectangle centred on the
    table; with ``keep_inside`` each object's bounding sphere stays inside it
    (a bin), else only its centre does. ``table_size_m`` and
    ``spawn_height_m`` default to the config's."""
    sc = ctx.scene
    rng = ctx.streams("placement")
    mat = ctx.streams("materials")
    n = int(rng.integers(sc.num_objects[0], sc.num_objects[1] + 1))
    assets = catalog.assets
    probs = catalog.probabilities()
    planned = composition.plan(catalog, sc, n, rng)
    n = len(planned) if planned is not None else n
    heights = spawn_height_m or sc.spawn_height_m
    placed: list[tuple[np.ndarray, float]] = []
    objects = []
    unplaced = 0
    for k in range(n):
        asset = planned[k] if planned is not None else assets[int(rng.choice(len(assets), p=probs))]
        prim = sample_primitive(asset, rng) if asset.primitive_kind else None
        radius = object_radius(asset, prim)
        rot = random_rotation(rng)
        pos = _spot_above(rng, area_m, keep_inside, radius, heights, placed, sc.max_tries)
        # Primitives get a random colour; meshes keep their own texture or colour.
        color = random_color(mat) if prim is not None else None
        if pos is None:
            unplaced += 1
            continue
        placed.append((pos, radius))
        objects.append(ObjectSpec(instance_id=len(objects) + 1, asset=asset, world_T_obj=pose(rot, pos),
                                  primitive=prim, color_rgba=color))
    objects, missed = add_distractors(ctx, catalog, objects, area_m, keep_inside, heights)
    return finish_scene(ctx, objects, mat, unplaced=unplaced + missed, fixtures=fixtures,
                        workspace_m=workspace_m, table_size_m=table_size_m)


def add_distractors(ctx: BuildContext, catalog: AssetCatalog, objects: list, area_m, keep_inside: bool,
                    heights) -> tuple[list, int]:
    """Append the scene's distractors (config ``distractors``, drawn from the
    scene's "distractors" stream) at free spots above ``area_m``, clear of
    the objects' bounding spheres. Returns (objects, distractors not placed)."""
    lo, hi = distractor_range(ctx)
    if hi == 0 or not catalog.distractors:
        return objects, 0
    rng = ctx.streams("distractors")
    occupied = [(o.world_T_obj[:3, 3], object_radius(o.asset, o.primitive)) for o in objects]
    objects, missed = list(objects), 0
    for _ in range(int(rng.integers(lo, hi + 1))):
        asset = catalog.distractors[int(rng.integers(len(catalog.distractors)))]
        prim = sample_primitive(asset, rng) if asset.primitive_kind else None
        radius = object_radius(asset, prim)
        rot = random_rotation(rng)
        color = random_color(rng) if prim is not None else None
        pos = _spot_above(rng, area_m, keep_inside, radius, heights, occupied, ctx.scene.max_tries)
        if pos is None:
            missed += 1
            continue
        occupied.append((pos, radius))
        objects.append(ObjectSpec(instance_id=len(objects) + 1, asset=asset, world_T_obj=pose(rot, pos),
                                  primitive=prim, color_rgba=color, annotate=catalog.distractor_class is not None))
    return objects, missed


def finish_scene(ctx: BuildContext, objects, mat: np.random.Generator, *, unplaced=0, fixtures=(),
                 workspace_m=None, table_size_m=None) -> SceneSpec:
    """Table colour, background, cameras and lights around placed objects."""
    table_rgba = tuple(float(c) for c in mat.uniform(0.2, 0.8, 3)) + (1.0,)
    background = tuple(float(c) for c in mat.uniform(0.0, 1.0, 3))
    objects, fixtures, table_material = materials.assign(ctx.materials, objects, fixtures, mat)
    bg_texture = materials.sample_background(ctx.background, mat)
    cameras = tuple(sample_camera(ctx.camera, ctx.streams.view(v, "camera")) for v in range(ctx.views))
    lights, ambient = sample_lights(ctx.lights, ctx.streams("lights"))
    return SceneSpec(scene_index=ctx.scene_index, table_size_m=tuple(table_size_m or ctx.scene.table_size_m),
                     objects=tuple(objects), cameras=cameras, lights=lights, ambient_rgb=ambient,
                     table_rgba=table_rgba, background_rgb=background, unplaced=unplaced, fixtures=tuple(fixtures),
                     workspace_m=workspace_m, table_material=table_material, background=bg_texture)
