"""Mesh processing shared by physics and rendering.

Both stages agree on one object frame: the mesh scaled to metres and
translated so that its centre of mass is the origin (axes as in the file).
Mass properties come from the closed mesh (its convex hull when it is not
closed); collision geometry is the pack's collision mesh, the convex hull of a
convex object, or a convex decomposition of a concave one, cached on disk by
content hash. The decomposition (V-HACD) is physics' to run: the caller of
``collision_shape`` hands it in (``dropsynth.scenes.physics.collision_shape``
does), so that assets import nothing of the layers above them.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from dropsynth.atomic import copy_file_atomic, write_text_atomic
from dropsynth.errors import AssetError
from dropsynth.types import Asset, Primitive

MIN_SIZE_M = 0.002  # smaller than 2 mm across: almost surely a unit mistake
MAX_SIZE_M = 3.0  # larger than 3 m across is no tabletop object
UNIT_HINTS = (("mm", 0.001), ("cm", 0.01), ("m", 1.0))
CONVEX_RATIO = 0.9  # volume / hull volume at or above which an object is treated as convex
COLLISION_VERSION = "vhacd-2"  # bump to invalidate cached collision meshes
VHACD_PARAMS = {"resolution": 200000, "concavity": 0.0015, "maxNumVerticesPerCH": 64, "minVolumePerCH": 0.0001}
# Bullet's convex-hull support function scans every vertex, many times per
# contact and step: the built-in soccer ball's 3,632-vertex hull cost 0.08 ms
# per step per ball (256 vertices: 0.009 ms). Larger hulls are reduced to
# this many of their vertices (the hull of a subset lies inside the
# original; for the 7 cm ball the surface moves in by at most 0.7 mm).
MAX_HULL_VERTICES = 256
# Precomputed decompositions of the built-in pack (scripts/make_builtin_collision.py).
SHIPPED_COLLISION = Path(__file__).resolve().parent / "builtin" / "collision"


@dataclass(frozen=True)
class PreparedMesh:
    """An asset's geometry in its centre-of-mass frame (metres).

    visual: trimesh.Trimesh with texture or colours; hull: (N, 3) vertices of
    the visual's convex hull; inertia_diag (3,) principal moments per kg of
    mass (m^2) and inertia_R (3, 3) principal axes as columns; volume_m3 of
    the solid used for mass; watertight: whether that solid was closed;
    com_m (3,): the centre of mass in the scaled mesh file's frame (the
    visual is shifted by -com_m); convex: closed and at least
    ``CONVEX_RATIO`` of its hull's volume. The collision shape is
    ``collision_shape()``'s, made only for physics.
    """

    visual: object
    hull: np.ndarray
    radius_m: float
    volume_m3: float
    inertia_diag: np.ndarray
    inertia_R: np.ndarray
    watertight: bool
    extents_m: np.ndarray
    com_m: np.ndarray
    convex: bool


@dataclass(frozen=True)
class CollisionShape:
    """An asset's collision geometry for physics: obj_path, an OBJ whose 'o'
    groups are the convex parts (in the centre-of-mass frame, metres; one
    group for a plain hull); parts, their count; method, how they were made
    ("hull", "vhacd" or "given")."""

    obj_path: str
    parts: int
    method: str


# A convex decomposition: (input OBJ path, output OBJ path, **VHACD_PARAMS) -> None, writing one 'o'
# group per convex part. Asset preparation is handed one (physics has V-HACD); assets never import it.
Decomposer = Callable[..., None]


def _load_trimesh(path: str, what: str, asset: Asset, **kw):
    import trimesh

    try:
        mesh = trimesh.load(path, force="mesh", process=False, **kw)
    except Exception as e:  # trimesh raises many types for broken files
        raise AssetError(f"{path}: {asset.id}.{what}: cannot read mesh ({type(e).__name__}: {e})") from None
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0 or len(mesh.vertices) == 0:
        raise AssetError(f"{path}: {asset.id}.{what}: mesh is empty (no faces)")
    if not np.all(np.isfinite(mesh.vertices)):
        raise AssetError(f"{path}: {asset.id}.{what}: mesh has non-finite vertex coordinates")
    why = degenerate(mesh.vertices)
    if why:
        raise AssetError(f"{path}: {asset.id}.{what}: mesh is degenerate ({why}); a solid needs at least 4 "
                         f"points that are not all in one plane")
    return mesh


def degenerate(points) -> str | None:
    """Why ``points`` (N, 3) span no volume (fewer than 4 distinct points, or
    all on one plane or line), or None. Qhull, which makes the convex hull,
    fails on these with a page of its own text."""
    v = np.unique(np.asarray(points, dtype=np.float64).reshape(-1, 3), axis=0)
    if len(v) < 4:
        return f"{len(v)} distinct point{'s' if len(v) != 1 else ''}"
    extent = float(np.max(np.ptp(v, axis=0)))
    s = np.linalg.svd(v - v.mean(axis=0), compute_uv=False)
    if extent == 0 or s[-1] <= 1e-9 * max(s[0], 1e-300):
        return "all points in one plane" if s[1] > 1e-9 * max(s[0], 1e-300) else "all points on one line"
    return None


def size_problem(asset: Asset, extent_m: float) -> str | None:
    """A message when an object's size after scaling is absurd (likely a wrong
    unit), suggesting the unit that would make it 1 cm .. 1 m across."""
    if MIN_SIZE_M <= extent_m <= MAX_SIZE_M:
        return None
    raw = extent_m / max(asset.scale)
    hint = next((f"; with unit: {u} it would be {raw * f:.3g} m" for u, f in UNIT_HINTS if 0.01 <= raw * f <= 1.0),
                "")
    return (f"{asset.id} is {extent_m:.3g} m across after scaling, which is absurd for a {asset.category!r}: "
            f"likely the wrong unit or scale{hint}")


def _transform(scale, T) -> np.ndarray:
    m = np.diag(list(scale) + [1.0])
    if T is not None:
        m = np.asarray(T, dtype=np.float64).reshape(4, 4) @ m
    return m


def _shape_mesh(prim: tuple):
    import trimesh

    kind, size = prim
    if kind == "box":
        return trimesh.creation.box(extents=size)
    if kind == "cylinder":
        return trimesh.creation.cylinder(radius=size[0], height=size[1], sections=32)
    return trimesh.creation.icosphere(subdivisions=3, radius=size[0])


def _closed(mesh):
    """A copy merged on geometry only (UV seams and normals ignored), so that
    a textured mesh with seams still counts as closed when it is."""
    m = mesh.copy()
    m.merge_vertices(merge_tex=True, merge_norm=True)
    return m


def load_visual(asset: Asset):
    """The asset's visual mesh scaled to metres (not yet centred)."""
    if asset.mesh_path:
        mesh = _load_trimesh(asset.mesh_path, "mesh", asset)
    elif asset.visual_primitive:
        mesh = _shape_mesh(asset.visual_primitive)
    else:
        raise ValueError("load_visual() is for mesh and URDF assets; primitives use primitive_mesh()")
    mesh.apply_transform(_transform(asset.scale, asset.mesh_T))
    return mesh


def _file_digest(path: str | None) -> str:
    if not path:
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cache_key(asset: Asset) -> str:
    desc = {
        "v": COLLISION_VERSION, "vhacd": VHACD_PARAMS, "mesh": _file_digest(asset.mesh_path),
        "visual_primitive": asset.visual_primitive, "scale": asset.scale, "mesh_T": asset.mesh_T,
        "collision": _file_digest(asset.collision_path), "collision_primitive": asset.collision_primitive,
        "collision_scale": asset.collision_scale, "collision_T": asset.collision_T,
        "collision_mode": asset.collision_mode,
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True, default=list).encode()).hexdigest()[:32]


def geometry_key(asset: Asset) -> str:
    """Content hash of everything that shapes an asset's geometry: mesh and
    collision files, scale, transforms, collision method."""
    return _cache_key(asset)


def collision_cache_dir() -> Path:
    from dropsynth.assets.archive import cache_dir

    return cache_dir() / "collision"


def _write_parts_obj(parts: list[np.ndarray], faces: list[np.ndarray], path: Path) -> None:
    lines, base = [], 1
    for k, (v, f) in enumerate(zip(parts, faces)):
        lines.append(f"o part{k}")
        lines += [f"v {x:.9g} {y:.9g} {z:.9g}" for x, y, z in v]
        lines += [f"f {a + base} {b + base} {c + base}" for a, b, c in f]
        base += len(v)
    write_text_atomic(path, "\n".join(lines) + "\n")


def obj_parts(path: str) -> list:
    """The 'o'/'g' groups of an OBJ file as separate trimesh meshes (vertex
    and face lines only; used for collision parts, where each group is one
    convex piece). trimesh's own loader merges the groups."""
    import trimesh

    verts: list[list[float]] = []
    groups: list[list[list[int]]] = [[]]
    try:
        with open(path, errors="replace") as f:
            for line in f:
                tok = line.split()
                if not tok:
                    continue
                if tok[0] == "v" and len(tok) >= 4:
                    verts.append([float(t) for t in tok[1:4]])
                elif tok[0] in ("o", "g") and groups[-1]:
                    groups.append([])
                elif tok[0] == "f" and len(tok) >= 4:
                    idx = [int(t.split("/")[0]) for t in tok[1:]]
                    idx = [i - 1 if i > 0 else len(verts) + i for i in idx]
                    groups[-1] += [[idx[0], idx[k], idx[k + 1]] for k in range(1, len(idx) - 1)]
    except (OSError, ValueError) as e:
        raise AssetError(f"{path}: cannot read OBJ ({e})") from None
    v = np.asarray(verts, dtype=np.float64)
    out = []
    for faces in groups:
        if not faces:
            continue
        f = np.asarray(faces, dtype=np.int64)
        if f.min() < 0 or f.max() >= len(v):
            raise AssetError(f"{path}: face refers to a vertex that does not exist")
        used = np.unique(f)
        remap = np.full(len(v), -1)
        remap[used] = np.arange(len(used))
        out.append(trimesh.Trimesh(v[used], remap[f], process=False))
    return out


def _reduce_hull(hull, max_vertices: int):
    """The convex hull of at most ``max_vertices`` of ``hull``'s vertices,
    spread by farthest-point sampling (deterministic: it starts from the
    vertex farthest from the centroid, ties go to the lowest index)."""
    import trimesh

    v = np.asarray(hull.vertices, dtype=np.float64)
    if len(v) <= max_vertices:
        return hull
    chosen = [int(np.argmax(np.linalg.norm(v - v.mean(axis=0), axis=1)))]
    dist = np.linalg.norm(v - v[chosen[0]], axis=1)
    for _ in range(max_vertices - 1):
        chosen.append(int(np.argmax(dist)))
        dist = np.minimum(dist, np.linalg.norm(v - v[chosen[-1]], axis=1))
    return trimesh.convex.convex_hull(v[sorted(chosen)])


@functools.lru_cache(maxsize=512)
def collision_shape(asset: Asset, decompose: Decomposer) -> CollisionShape:
    """The collision parts of a mesh or URDF asset: the pack's collision mesh
    or primitive, the visual's convex hull (collision "hull", or "auto" on a
    convex object), else a convex decomposition by ``decompose`` (e.g.
    ``dropsynth.scenes.physics.convex_decomposition``). Cached per process
    and on disk by content (``geometry_key``); the built-in pack's
    decompositions ship precomputed.

    Even a single hull goes through an OBJ file: PyBullet keeps every shape
    made from a ``vertices=`` list after resetSimulation (measured: 5 MB per
    scene of 15 objects), while shapes loaded from a file are cached once.
    """
    import trimesh

    prep = prepare(asset)
    visual_centred, com, convex = prep.visual, prep.com_m, prep.convex
    hull_only = asset.collision_path is None and asset.collision_primitive is None and (
        asset.collision_mode == "hull" or (asset.collision_mode == "auto" and convex))
    cache = collision_cache_dir()
    key = _cache_key(asset)
    out = cache / f"{key}.obj"
    meta = cache / f"{key}.json"
    if out.is_file() and meta.is_file():
        info = json.loads(meta.read_text())
        return CollisionShape(str(out), int(info["parts"]), info["method"])
    cache.mkdir(parents=True, exist_ok=True)
    shipped = SHIPPED_COLLISION / f"{key}.obj"
    if shipped.is_file() and shipped.with_suffix(".json").is_file():
        # The built-in pack's decompositions ship with dropsynth (same key, same
        # bytes as computing them): a first run starts without V-HACD's seconds.
        for src, dst in ((shipped, out), (shipped.with_suffix(".json"), meta)):
            copy_file_atomic(src, dst)
        info = json.loads(meta.read_text())
        return CollisionShape(str(out), int(info["parts"]), info["method"])
    shift = np.eye(4)
    shift[:3, 3] = -com
    if hull_only:
        hulls = [visual_centred.convex_hull]
        method = "hull"
    elif asset.collision_path or asset.collision_primitive:
        if asset.collision_path:
            if asset.collision_path.lower().endswith(".obj"):
                pieces = obj_parts(asset.collision_path)
            else:
                pieces = [_load_trimesh(asset.collision_path, "collision", asset)]
            if not pieces:
                raise AssetError(f"{asset.collision_path}: {asset.id}.collision: mesh is empty (no faces)")
            for k, piece in enumerate(pieces):
                why = degenerate(piece.vertices)
                if why:
                    raise AssetError(f"{asset.collision_path}: {asset.id}.collision: part {k} is degenerate "
                                     f"({why}); each convex part needs 4 points not in one plane")
        else:
            pieces = [_shape_mesh(asset.collision_primitive)]
        tf = shift @ _transform(asset.collision_scale or asset.scale, asset.collision_T)
        hulls = []
        for p in pieces:
            p = p.copy()
            p.apply_transform(tf)
            hulls.append(p.convex_hull)
        method = "given"
    else:
        src = cache / f".{key}.{os.getpid()}.in.obj"
        raw = cache / f".{key}.{os.getpid()}.vhacd.obj"
        src.write_text(trimesh.exchange.obj.export_obj(visual_centred, include_texture=False,
                                                       include_normals=False, include_color=False))
        try:
            decompose(str(src), str(raw), **VHACD_PARAMS)
            hulls = [g.convex_hull for g in obj_parts(str(raw)) if len(g.vertices) >= 4]
        finally:
            for f in (src, raw):
                if f.exists():
                    f.unlink()
        if not hulls:
            hulls = [visual_centred.convex_hull]
        method = "vhacd"
    hulls = [_reduce_hull(h, MAX_HULL_VERTICES) for h in hulls]
    _write_parts_obj([h.vertices for h in hulls], [h.faces for h in hulls], out)
    write_text_atomic(meta, json.dumps({"parts": len(hulls), "method": method, "asset": asset.key}))
    return CollisionShape(str(out), len(hulls), method)


@functools.lru_cache(maxsize=512)
def prepare(asset: Asset) -> PreparedMesh:
    """Load, scale and centre an asset's mesh; its mass properties (cached
    per process). The collision shape is ``collision_shape``'s."""
    if asset.primitive_kind:
        raise ValueError("prepare() is for mesh and URDF assets; primitives use primitive_mesh()")
    visual = load_visual(asset)
    msg = size_problem(asset, float(np.max(visual.extents)))
    if msg:
        raise AssetError(f"{asset.urdf_path or asset.mesh_path}: {asset.id}.unit: {msg}")
    closed = _closed(visual)
    hull = visual.convex_hull
    watertight = bool(closed.is_watertight and closed.volume > 0)
    solid = closed if watertight else hull
    if not watertight and asset.collision_path:
        # A closed collision mesh describes the solid better than the visual's hull.
        coll = _load_trimesh(asset.collision_path, "collision", asset)
        coll.apply_transform(_transform(asset.collision_scale or asset.scale, asset.collision_T))
        coll = _closed(coll)
        if coll.is_watertight and coll.volume > 0:
            solid = coll
    volume = float(solid.volume)
    if not math.isfinite(volume) or volume <= 0:
        raise AssetError(f"{asset.mesh_path or asset.urdf_path}: {asset.id}.mesh: mesh encloses no volume "
                         f"(flat or degenerate)")
    com = np.asarray(solid.center_mass, dtype=np.float64)
    visual.apply_translation(-com)
    # Inertia about the centre of mass for unit density, then per kg of mass.
    inertia = np.asarray(solid.moment_inertia, dtype=np.float64) / volume
    evals, evecs = np.linalg.eigh(inertia)
    if np.linalg.det(evecs) < 0:
        evecs[:, 2] *= -1
    convex = watertight and volume / max(float(hull.volume), 1e-18) >= CONVEX_RATIO
    radius = float(np.linalg.norm(visual.vertices, axis=1).max())
    return PreparedMesh(visual=visual, hull=np.asarray(visual.convex_hull.vertices, dtype=np.float64),
                        radius_m=radius, volume_m3=volume, inertia_diag=np.maximum(evals, 1e-12), inertia_R=evecs,
                        watertight=watertight, extents_m=np.asarray(visual.extents, dtype=np.float64), com_m=com,
                        convex=bool(convex))


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
    return _shape_mesh((p.kind, p.size_m))


def object_radius(asset: Asset, primitive: Primitive | None) -> float:
    return primitive_radius(primitive) if primitive is not None else prepare(asset).radius_m


def object_mass(asset: Asset, primitive: Primitive | None) -> float:
    """Mass (kg): the pack's value, else density times volume."""
    if asset.mass_kg is not None:
        return asset.mass_kg
    vol = primitive_volume(primitive) if primitive is not None else prepare(asset).volume_m3
    return asset.density_kg_m3 * vol
