"""The tabletop builder: random objects dropped above a table."""
from __future__ import annotations

import numpy as np

from dropsynth import seeding
from dropsynth.assets.catalog import AssetCatalog, distractor_range
from dropsynth.assets.mesh import object_radius, sample_primitive
from dropsynth.config import RunConfig
from dropsynth.scenes import composition, materials
from dropsynth.scenes.samplers import pose, random_rotation, sample_camera, sample_lights
from dropsynth.types import ObjectSpec, SceneSpec

CLEARANCE_M = 0.005  # gap kept between bounding spheres at spawn


def build(cfg: RunConfig, catalog: AssetCatalog, seed: int, scene_index: int) -> SceneSpec:
    """Sample one tabletop scene (before physics) from the scene's seeded streams.

    Objects are placed one at a time at random positions above the table with
    a random orientation, rejecting positions whose bounding spheres overlap
    an object already placed (``scene.max_tries`` attempts each); an object
    that finds no free position is skipped and counted in ``unplaced``.
    """
    return build_in_area(cfg, catalog, seed, scene_index, cfg.scene.spawn_area_m, keep_inside=False)


def random_color(mat: np.random.Generator) -> tuple[float, float, float, float]:
    return tuple(float(c) for c in mat.uniform(0.1, 0.95, 3)) + (1.0,)


def build_in_area(cfg: RunConfig, catalog: AssetCatalog, seed: int, scene_index: int, area_m, keep_inside: bool,
                  fixtures=(), workspace_m=None, table_size_m=None, spawn_height_m=None) -> SceneSpec:
    """Place objects above an ``area_m`` (x, y) rectangle centred on the
    table; with ``keep_inside`` each object's bounding sphere stays inside it
    (a bin), else only its centre does. ``table_size_m`` and
    ``spawn_height_m`` default to the config's."""
    sc = cfg.scene
    rng = seeding.scene_rng(seed, scene_index, "placement")
    mat = seeding.scene_rng(seed, scene_index, "materials")
    n = int(rng.integers(sc.num_objects[0], sc.num_objects[1] + 1))
    assets = catalog.assets
    probs = catalog.probabilities()
    planned = composition.plan(catalog, sc, n, rng)
    n = len(planned) if planned is not None else n
    heights = spawn_height_m or sc.spawn_height_m
    placed: list[tuple[np.ndarray, float]] = []
    objects = []
    unplaced = 0
    hx0, hy0 = area_m[0] / 2, area_m[1] / 2
    for k in range(n):
        asset = planned[k] if planned is not None else assets[int(rng.choice(len(assets), p=probs))]
        prim = sample_primitive(asset, rng) if asset.primitive_kind else None
        radius = object_radius(asset, prim)
        rot = random_rotation(rng)
        hx, hy = (max(hx0 - radius, 1e-3), max(hy0 - radius, 1e-3)) if keep_inside else (hx0, hy0)
        pos = None
        for _ in range(sc.max_tries):
            cand = np.array([rng.uniform(-hx, hx), rng.uniform(-hy, hy),
                             radius + CLEARANCE_M + rng.uniform(*heights)])
            if all(np.linalg.norm(cand - q) > radius + rq + CLEARANCE_M for q, rq in placed):
                pos = cand
                break
        # Primitives get a random colour; meshes keep their own texture or colour.
        color = random_color(mat) if prim is not None else None
        if pos is None:
            unplaced += 1
            continue
        placed.append((pos, radius))
        objects.append(ObjectSpec(instance_id=len(objects) + 1, asset=asset, world_T_obj=pose(rot, pos),
                                  primitive=prim, color_rgba=color))
    objects, missed = add_distractors(cfg, catalog, seed, scene_index, objects, area_m, keep_inside, heights)
    return finish_scene(cfg, seed, scene_index, objects, mat, unplaced=unplaced + missed, fixtures=fixtures,
                        workspace_m=workspace_m, table_size_m=table_size_m)


def add_distractors(cfg: RunConfig, catalog: AssetCatalog, seed: int, scene_index: int, objects: list, area_m,
                    keep_inside: bool, heights) -> tuple[list, int]:
    """Append the scene's distractors (config ``distractors``, drawn from the
    scene's "distractors" stream) at free spots above ``area_m``, clear of
    the objects' bounding spheres. Returns (objects, distractors not placed)."""
    lo, hi = distractor_range(cfg)
    if hi == 0 or not catalog.distractors:
        return objects, 0
    rng = seeding.scene_rng(seed, scene_index, "distractors")
    occupied = [(o.world_T_obj[:3, 3], object_radius(o.asset, o.primitive)) for o in objects]
    objects, missed = list(objects), 0
    for _ in range(int(rng.integers(lo, hi + 1))):
        asset = catalog.distractors[int(rng.integers(len(catalog.distractors)))]
        prim = sample_primitive(asset, rng) if asset.primitive_kind else None
        radius = object_radius(asset, prim)
        rot = random_rotation(rng)
        color = random_color(rng) if prim is not None else None
        hx, hy = area_m[0] / 2, area_m[1] / 2
        if keep_inside:
            hx, hy = max(hx - radius, 1e-3), max(hy - radius, 1e-3)
        pos = None
        for _ in range(cfg.scene.max_tries):
            cand = np.array([rng.uniform(-hx, hx), rng.uniform(-hy, hy),
                             radius + CLEARANCE_M + rng.uniform(*heights)])
            if all(np.linalg.norm(cand - q) > radius + rq + CLEARANCE_M for q, rq in occupied):
                pos = cand
                break
        if pos is None:
            missed += 1
            continue
        occupied.append((pos, radius))
        objects.append(ObjectSpec(instance_id=len(objects) + 1, asset=asset, world_T_obj=pose(rot, pos),
                                  primitive=prim, color_rgba=color, annotate=catalog.distractor_class is not None))
    return objects, missed


def finish_scene(cfg: RunConfig, seed: int, scene_index: int, objects, mat: np.random.Generator, *, unplaced=0,
                 fixtures=(), workspace_m=None, table_size_m=None) -> SceneSpec:
    """Table colour, background, cameras and lights around placed objects."""
    table_rgba = tuple(float(c) for c in mat.uniform(0.2, 0.8, 3)) + (1.0,)
    background = tuple(float(c) for c in mat.uniform(0.0, 1.0, 3))
    objects, fixtures, table_material = materials.assign(cfg, objects, fixtures, mat)
    bg_texture = materials.sample_background(cfg, mat)
    cameras = tuple(sample_camera(cfg.camera, seeding.view_rng(seed, scene_index, v, "camera"))
                    for v in range(cfg.views_per_scene))
    lights, ambient = sample_lights(cfg.lights, seeding.scene_rng(seed, scene_index, "lights"))
    return SceneSpec(scene_index=scene_index, table_size_m=tuple(table_size_m or cfg.scene.table_size_m),
                     objects=tuple(objects), cameras=cameras, lights=lights, ambient_rgb=ambient,
                     table_rgba=table_rgba, background_rgb=background, unplaced=unplaced, fixtures=tuple(fixtures),
                     workspace_m=workspace_m, table_material=table_material, background=bg_texture)
