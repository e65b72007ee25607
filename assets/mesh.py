"""Mesh processing shared by physics and rendering.

Both stages must agree on one object frame: the mesh is scaled to metres and
translated so that its centre of mass is the origin. PyBullet reports a body's
pose at its centre of mass, so with this frame the physics pose is the render
pose without any offset.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from dropsynth.errors import AssetError
from dropsynth.types import Asset, Primitive


@dataclass(frozen=True)
class PreparedMesh:
    """An asset's geometry in its centre-of-mass frame (metres).

    visual: trimesh.Trimesh with its texture or colours; hull: (N, 3) float64
    convex-hull vertices for collision when no collision file is given;
    collision_path with collision_offset (3,) to move that file's geometry into
    this frame; radius_m: bounding-sphere radius about the origin.
    """

    visual: object
    hull: np.ndarray
    collision_path: str | None
    collision_offset: np.ndarray
    scale: tuple[float, float, float]
    radius_m: float
    volume_m3: float


def _load(path: str, asset: Asset, field_name: str):
    import trimesh

    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as e:  # trimesh raises many types for broken files
        raise AssetError(f"{path}: {asset.id}.{field_name}: cannot read mesh: {e}") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise AssetError(f"{path}: {asset.id}.{field_name}: mesh is empty")
    return mesh


@functools.lru_cache(maxsize=256)
def prepare(asset: Asset) -> PreparedMesh:
    """Load, scale and centre an asset's mesh (cached per process)."""
    if asset.mesh_path is None:
        raise ValueError("prepare() is for mesh assets; primitives use primitive_mesh()")
    scale_m = np.diag(list(asset.scale) + [1.0])
    visual = _load(asset.mesh_path, asset, "mesh")
    visual.apply_transform(scale_m)
    coll = None
    if asset.collision_path:
        coll = _load(asset.collision_path, asset, "collision")
        coll.apply_transform(scale_m)
    # Centre of mass: from a closed mesh if there is one, else from the hull.
    source = coll if coll is not None else visual
    if source.is_watertight and source.volume > 0:
        com = np.asarray(source.center_mass, dtype=np.float64)
        volume = float(source.volume)
    else:
        hull = source.convex_hull
        com = np.asarray(hull.center_mass, dtype=np.float64)
        volume = float(hull.volume)
    visual.apply_translation(-com)
    hull_pts = np.asarray(visual.convex_hull.vertices, dtype=np.float64)
    radius = float(np.linalg.norm(visual.vertices, axis=1).max())
    if not math.isfinite(radius) or radius <= 0:
        raise AssetError(f"{asset.mesh_path}: {asset.id}.mesh: mesh has no extent")
    return PreparedMesh(visual=visual, hull=hull_pts, collision_path=asset.collision_path, collision_offset=-com,
                        scale=asset.scale, radius_m=radius, volume_m3=volume)


def sample_primitive(asset: Asset, rng: np.random.Generator) -> Primitive:
    """Draw a per-instance size for a primitive asset."""
    size = tuple(float(rng.uniform(lo, hi)) for lo, hi in asset.primitive_size_m)
    return Primitive(asset.primitive_kind, size)


def primitive_radius(p: Primitive) -> float:
    """Bounding-sphere radius (m) of a primitive about its centre."""
    if p.kind == "box":
        return 0.5 * float(np.linalg.norm(p.size_m))
    if p.kind == "cylinder":
        return math.hypot(p.size_m[0], p.size_m[1] / 2)
    return p.size_m[0]


def primitive_volume(p: Primitive) -> float:
    if p.kind == "box":
        return float(np.prod(p.size_m))
    if p.kind == "cylinder":
        return math.pi * p.size_m[0] ** 2 * p.size_m[1]
    return 4.0 / 3.0 * math.pi * p.size_m[0] ** 3


def primitive_mesh(p: Primitive):
    """trimesh of a primitive centred at its centre of mass (cylinder axis = z,
    as in PyBullet)."""
    import trimesh

    if p.kind == "box":
        return trimesh.creation.box(extents=p.size_m)
    if p.kind == "cylinder":
        return trimesh.creation.cylinder(radius=p.size_m[0], height=p.size_m[1], sections=32)
    return trimesh.creation.icosphere(subdivisions=3, radius=p.size_m[0])


def object_radius(asset: Asset, primitive: Primitive | None) -> float:
    return primitive_radius(primitive) if primitive is not None else prepare(asset).radius_m


def object_mass(asset: Asset, primitive: Primitive | None) -> float:
    """Mass (kg): the pack's value, else density times volume."""
    if asset.mass_kg is not None:
        return asset.mass_kg
    vol = primitive_volume(primitive) if primitive is not None else prepare(asset).volume_m3
    return asset.density_kg_m3 * vol
