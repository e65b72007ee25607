"""The stack builder: objects placed on top of each other in columns before
settling, so that the settled scene has objects resting on objects (and the
occlusion and contact patterns of stacked goods)."""
from __future__ import annotations

import math

import numpy as np

from dropsynth.assets.catalog import AssetCatalog
from dropsynth.assets.mesh import prepare, primitive_mesh, sample_primitive
from dropsynth.geometry import rot_z
from dropsynth.scenes import composition
from dropsynth.scenes.builders import BuildContext
from dropsynth.scenes.builders.tabletop import add_distractors, find_spot, finish_scene, random_color
from dropsynth.scenes.samplers import pose
from dropsynth.types import Asset, ObjectSpec, Primitive

GAP_M = 0.002  # vertical gap between stacked objects at spawn
BAND_M = 0.001  # hull vertices this close to an object's top (bottom) form its top (bottom) face
MIN_FACE_M2 = 4e-4  # a carrier's top and bottom faces are 2 cm x 2 cm or more


def face_area(v: np.ndarray) -> float:
    """Area (m^2) of the flat top of a convex shape given by its oriented
    vertices (N, 3): the 2-D hull of the vertices within BAND_M of its top
    (pass -v for the bottom)."""
    top = v[v[:, 2] >= v[:, 2].max() - BAND_M][:, :2]
    if len(top) < 3:
        return 0.0
    from scipy.spatial import ConvexHull, QhullError

    try:
        return float(ConvexHull(top).volume)  # in 2-D, "volume" is the area
    except QhullError:  # collinear points: no area
        return 0.0


def flat_rotation(asset: Asset, prim: Primitive | None) -> np.ndarray:
    """world_R_obj (3, 3) that lays an object on its flattest side: a box's
    smallest extent, a mesh's axis of largest moment of inertia (the normal of
    its broadest face, for a flat object) along world z; cylinders upright."""
    if prim is None:
        return prepare(asset).inertia_R.T.copy()  # its columns are the principal axes, moments ascending, det +1
    if prim.kind == "box":
        k = int(np.argmin(prim.size_m))
        R = np.zeros((3, 3))
        for i in range(3):  # a cyclic permutation (det +1) taking axis k to z
            R[i, (i + k + 1) % 3] = 1.0
        return R
    return np.eye(3)


def _vertices(asset: Asset, prim: Primitive | None) -> np.ndarray:
    return np.asarray(primitive_mesh(prim).vertices if prim is not None else prepare(asset).hull)


def build(ctx: BuildContext, catalog: AssetCatalog):
    """Sample one stack scene: the objects are split into columns of
    ``scene.stack_height`` objects; each column stands at a free spot of the
    spawn area, its objects laid flat with a random yaw, one above the other
    (vertical extents apart, shifted sideways by up to ``scene.stack_jitter_m``),
    and dropped together. A column that finds no free spot is skipped and its
    objects counted as unplaced."""
    sc = ctx.scene
    rng = ctx.streams("placement")
    mat = ctx.streams("materials")
    n = int(rng.integers(sc.num_objects[0], sc.num_objects[1] + 1))
    assets, probs = catalog.assets, catalog.probabilities()
    planned = composition.plan(catalog, sc, n, rng)
    n = len(planned) if planned is not None else n
    items = []
    for k in range(n):
        asset = planned[k] if planned is not None else assets[int(rng.choice(len(assets), p=probs))]
        prim = sample_primitive(asset, rng) if asset.primitive_kind else None
        R = rot_z(rng.uniform(0, 2 * math.pi)) @ flat_rotation(asset, prim)
        v = _vertices(asset, prim) @ R.T
        color = random_color(mat) if prim is not None else None
        top, bottom = face_area(v), face_area(-v)
        # A carrier can hold another object: flat top and bottom, and not tall for its base.
        carrier = bool(min(top, bottom) >= MIN_FACE_M2 and np.ptp(v[:, 2]) <= 2 * math.sqrt(bottom))
        items.append((asset, prim, R, float(v[:, 2].min()), float(v[:, 2].max()),
                      float(np.linalg.norm(v[:, :2], axis=1).max()), color, top, carrier, bottom))
    # Columns of carriers, broadest bases lowest, each crowned with at most one
    # object that cannot carry (a ball, a duck, a tall bottle) while such remain.
    carriers = sorted((it for it in items if it[8]), key=lambda c: -c[9])
    toppers = [it for it in items if not it[8]]
    columns = []
    while carriers or toppers:
        h = int(rng.integers(sc.stack_height[0], sc.stack_height[1] + 1))
        col = []
        while carriers and len(col) < h - (1 if toppers else 0):
            col.append(carriers.pop(0))
        if toppers and len(col) < h:
            col.append(toppers.pop(0))
        columns.append(sorted(col[:-1], key=lambda c: -c[9]) + col[-1:] if not col[-1][8]
                       else sorted(col, key=lambda c: -c[9]))
    hx, hy = sc.spawn_area_m[0] / 2, sc.spawn_area_m[1] / 2
    placed: list[tuple[np.ndarray, float]] = []
    objects, unplaced = [], 0
    for col in columns:
        reach = max(it[5] for it in col) + sc.stack_jitter_m
        centre = find_spot(rng, (hx, hy), reach, placed, sc.max_tries)
        if centre is None:
            unplaced += len(col)
            continue
        placed.append((centre, reach))
        top = rng.uniform(0.0, 0.02)  # the column's first object drops from up to 2 cm
        below_area = math.inf
        for asset, prim, R, zlo, zhi, _, color, area, _, _ in col:
            # Offsets stay within a quarter of the top below, or the column falls.
            r = min(sc.stack_jitter_m, 0.25 * math.sqrt(below_area)) * math.sqrt(rng.random())
            below_area = area
            a = rng.uniform(0, 2 * math.pi)
            z = top + GAP_M - zlo
            top = z + zhi
            xy = centre + r * np.array([math.cos(a), math.sin(a)])
            objects.append(ObjectSpec(instance_id=len(objects) + 1, asset=asset,
                                      world_T_obj=pose(R, (xy[0], xy[1], z)), primitive=prim, color_rgba=color))
    objects, missed = add_distractors(ctx, catalog, objects, sc.spawn_area_m, False, sc.spawn_height_m)
    return finish_scene(ctx, objects, mat, unplaced=unplaced + missed)
