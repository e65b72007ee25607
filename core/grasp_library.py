"""Grasp libraries: antipodal candidates per asset, each tried in PyBullet,
cached on disk in ACRONYM's HDF5 layout.

A mesh asset's library is keyed by its geometry (mesh content, scale,
collision shape), the gripper and the sampling/trial parameters, and lives in
``$DROPSYNTH_CACHE/grasps/<key>.h5``. Its random draws come from that key, so
the same inputs always give the same library. Primitive instances vary in
size per scene; each gets a small library of its own, drawn from the scene's
``grasps`` stream and not cached.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from dropsynth.grasps import Gripper, gripper_from_config, library_key, sample_antipodal  # noqa: F401
from dropsynth.types import Asset, GraspLibrary, ObjectSpec, Primitive


@dataclass(frozen=True)
class LibraryParams:
    """How a library is made: candidates kept, perturbed trials per
    candidate, and the perturbations."""

    candidates: int = 64
    robust_trials: int = 4
    pose_noise_m: float = 0.005
    pose_noise_deg: float = 5.0
    friction_noise: float = 0.3


def params_from_config(gcfg, primitive: bool = False) -> LibraryParams:
    return LibraryParams(candidates=gcfg.primitive_candidates if primitive else gcfg.candidates,
                         robust_trials=0 if primitive else gcfg.robust_trials, pose_noise_m=gcfg.pose_noise_m,
                         pose_noise_deg=gcfg.pose_noise_deg, friction_noise=gcfg.friction_noise)


def object_mesh(asset: Asset, primitive: Primitive | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) vertices and (F, 3) faces of the surface grasps are sampled on,
    in the object's frame (centre of mass, metres): the collision hull when
    the object collides as one convex part, else the visual mesh."""
    from dropsynth.assets.mesh import prepare, primitive_mesh

    import trimesh

    if primitive is not None:
        m = primitive_mesh(primitive)
    else:
        prep = prepare(asset)
        m = prep.visual
        if prep.parts == 1:
            # One convex collision part: physics sees that hull, not the visual's
            # thin walls and studs, so candidates are drawn on it.
            from dropsynth.assets.mesh import obj_parts

            m = obj_parts(prep.collision_obj)[0]
    # A fresh copy with consistent outward winding: the sampler reads inside and outside from it.
    m = trimesh.Trimesh(np.asarray(m.vertices, dtype=np.float64), np.asarray(m.faces, dtype=np.int64), process=False)
    trimesh.repair.fix_normals(m)
    return np.asarray(m.vertices, dtype=np.float64), np.asarray(m.faces, dtype=np.int64)


def _delta(rng: np.random.Generator, params: LibraryParams) -> np.ndarray:
    """A small random rigid motion: normal translation and a rotation about a
    random axis by a normal angle."""
    from dropsynth.scenes.grasp_sim import _rotation
    from dropsynth.scenes.samplers import pose

    axis = rng.normal(size=3)
    angle = math.radians(params.pose_noise_deg) * rng.normal()
    return pose(_rotation(axis, angle), rng.normal(size=3) * params.pose_noise_m)


def build(asset: Asset, gripper: Gripper, params: LibraryParams, rng: np.random.Generator,
          primitive: Primitive | None = None, trials=None,
          progress: Callable[[int], None] | None = None) -> GraspLibrary:
    """Sample ``params.candidates`` antipodal grasps that clear the object
    with the jaws fully open, try each (nominal + ``robust_trials``
    perturbed), and return the labelled library. ``trials``: a
    ``GraspTrials`` to reuse (one is made otherwise)."""
    from dropsynth.scenes.grasp_sim import GraspTrials

    own = trials is None
    trials = trials or GraspTrials(gripper)
    try:
        obj = ObjectSpec(1, asset, np.eye(4), primitive)
        vertices, faces = object_mesh(asset, primitive)
        T_parts, w_parts, c_parts = [], [], []
        need = params.candidates
        for _ in range(12):
            if need <= 0:
                break
            cand = sample_antipodal(vertices, faces, 3 * need, gripper, asset.friction, rng)
            if len(cand["width_m"]) == 0:
                continue
            clear = ~trials.open_collisions(obj, cand["obj_T_grasp"])
            idx = np.flatnonzero(clear)[:need]
            T_parts.append(cand["obj_T_grasp"][idx])
            w_parts.append(cand["width_m"][idx])
            c_parts.append(cand["contacts"][idx])
            need -= len(idx)
        T = np.concatenate(T_parts) if T_parts else np.zeros((0, 4, 4))
        width = np.concatenate(w_parts) if w_parts else np.zeros(0)
        contacts = np.concatenate(c_parts) if c_parts else np.zeros((0, 2, 3))
        n, k = len(T), params.robust_trials
        # All perturbations are drawn before any trial, so the library does
        # not depend on how trials are scheduled.
        deltas = [[_delta(rng, params) for _ in range(k)] for _ in range(n)]
        fscale = 1 + params.friction_noise * (2 * rng.random((n, k)) - 1)
        success = np.zeros(n, dtype=np.uint8)
        robust = np.zeros(n, dtype=np.float32)
        for i in range(n):
            ok = trials.trial(obj, T[i]).success
            wins = [ok] + [trials.trial(obj, T[i], float(fscale[i, j]), deltas[i][j]).success for j in range(k)]
            success[i] = ok
            robust[i] = np.float32(sum(wins) / len(wins))
            if progress is not None:
                progress(1)
        return GraspLibrary(asset.key, T, width, contacts, success, robust)
    finally:
        if own:
            trials.close()


# --- the cache ----------------------------------------------------------------------------------------------------

def cache_path(asset: Asset, gripper: Gripper, params: LibraryParams) -> Path:
    from dropsynth.assets.archive import cache_dir
    from dropsynth.assets.mesh import geometry_key, object_mass

    # Besides the geometry, the trials depend on the object's mass and contact properties.
    physical = {"mass_kg": object_mass(asset, None), "friction": asset.friction, "restitution": asset.restitution}
    return cache_dir() / "grasps" / f"{library_key(geometry_key(asset), gripper, {**asdict(params), **physical})}.h5"


def _seed_of(path: Path) -> np.random.Generator:
    return np.random.default_rng(int(path.stem[:16], 16))


def save(lib: GraspLibrary, path: Path, asset: Asset, gripper: Gripper, object_file: str,
         object_scale: float = 1.0) -> None:
    """Write a library in ACRONYM's HDF5 layout (atomically)."""
    from dropsynth.assets.mesh import object_mass
    from dropsynth.writers.grasps import write_acronym

    path.parent.mkdir(parents=True, exist_ok=True)
    write_acronym(path, transforms=lib.obj_T_grasp, success=lib.success, object_file=object_file,
                  object_scale=object_scale, mass_kg=object_mass(asset, None), friction=asset.friction,
                  gripper={"type": "dropsynth_parallel_jaw", "configuration": [gripper.max_opening_m],
                           **gripper.as_dict()}, robust=lib.robust,
                  width_m=lib.width_m, contacts=lib.contacts, extra_attrs={"asset": asset.key})


def load(path: Path, asset_key: str) -> GraspLibrary:
    from dropsynth.writers.grasps import read_acronym

    d = read_acronym(path)
    n = len(d["transforms"])
    return GraspLibrary(asset_key, np.asarray(d["transforms"], dtype=np.float64),
                        np.asarray(d.get("width_m", np.zeros(n)), dtype=np.float64),
                        np.asarray(d.get("contacts", np.zeros((n, 2, 3))), dtype=np.float64),
                        np.asarray(d["success"], dtype=np.uint8),
                        np.asarray(d.get("robust", d["success"]), dtype=np.float32))


def library_for(asset: Asset, gripper: Gripper, params: LibraryParams, trials=None,
                progress: Callable[[int], None] | None = None) -> tuple[GraspLibrary, bool]:
    """The cached library of a mesh asset, built first when missing.
    Returns (library, built)."""
    path = cache_path(asset, gripper, params)
    if path.exists():
        try:
            return load(path, asset.key), False
        except Exception:  # a damaged cache file is rebuilt
            path.unlink(missing_ok=True)
    lib = build(asset, gripper, params, _seed_of(path), trials=trials, progress=progress)
    save(lib, path, asset, gripper, object_file=asset.mesh_path or asset.urdf_path or asset.key)
    return lib, True


def _build_one(args) -> dict:
    asset, gripper, params = args
    t0 = time.perf_counter()
    lib, built = library_for(asset, gripper, params)
    return {"asset": asset.key, "grasps": len(lib.success), "success_rate": float(lib.success.mean()) if len(
        lib.success) else 0.0, "robust_mean": float(lib.robust.mean()) if len(lib.robust) else 0.0,
        "seconds": time.perf_counter() - t0, "built": built}


def build_libraries(assets: list[Asset], gripper: Gripper, params: LibraryParams, workers: int = 1,
                    progress: Callable[[int], None] | None = None) -> list[dict]:
    """Make sure every mesh asset has a cached library, building the missing
    ones in parallel (one asset per task). ``progress(1)`` per asset.
    Returns one summary dict per asset (grasps, success_rate, seconds,
    built)."""
    todo = [a for a in assets if not a.primitive_kind]
    missing = [a for a in todo if not cache_path(a, gripper, params).exists()]
    out = {}
    for a in todo:
        if a not in missing:
            out[a.key] = _build_one((a, gripper, params))
            if progress is not None:
                progress(1)
    if missing and workers > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(workers, len(missing)), mp_context=mp.get_context("spawn")) as pool:
            for res in pool.map(_build_one, [(a, gripper, params) for a in missing]):
                out[res["asset"]] = res
                if progress is not None:
                    progress(1)
    else:
        for a in missing:
            out[a.key] = _build_one((a, gripper, params))
            if progress is not None:
                progress(1)
    return [out[a.key] for a in todo]


def library_file_stem(asset: Asset) -> str:
    """File name (no suffix) of an asset's library in a run folder."""
    return f"{asset.pack}__{asset.id}"


def export_libraries(folder: Path, assets: list[Asset], gripper: Gripper, params: LibraryParams) -> list[Path]:
    """Copy each mesh asset's cached library into ``folder`` as
    ``<pack>__<id>.h5`` with its surface mesh beside it (``.ply``, metres,
    centre-of-mass frame, the frame of the grasps), so that ACRONYM's
    ``load_grasps``/``load_mesh`` read them as they are."""
    from dropsynth.assets.mesh import prepare

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for a in assets:
        if a.primitive_kind:
            continue
        stem = library_file_stem(a)
        h5 = folder / f"{stem}.h5"
        if h5.exists():  # a resumed run: already exported
            out.append(h5)
            continue
        lib, _ = library_for(a, gripper, params)
        mesh_tmp = folder / f".{stem}.ply.tmp"
        # Geometry only, from a fresh mesh: the cached visual may carry
        # renderer-side state that would change the bytes.
        import trimesh

        v = prepare(a).visual
        mesh = trimesh.Trimesh(np.asarray(v.vertices), np.asarray(v.faces), process=False)
        mesh_tmp.write_bytes(mesh.export(file_type="ply"))
        mesh_tmp.replace(folder / f"{stem}.ply")
        save(lib, h5, a, gripper, object_file=f"{stem}.ply")
        out.append(h5)
    return out


# --- grasps in a settled scene --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SceneGrasps:
    """Every library grasp of every object left in a settled scene, in the
    world frame. instance_id (M,) int32; world_T_grasp (M, 4, 4); width_m
    (M,); success (M,) uint8; robust (M,) float32; collision_free (M,) uint8:
    the open gripper at that pose clears the table, the fixtures and the
    other objects."""

    instance_id: np.ndarray
    world_T_grasp: np.ndarray
    width_m: np.ndarray
    success: np.ndarray
    robust: np.ndarray
    collision_free: np.ndarray


class SceneGraspLabeler:
    """Grasps of a settled scene's objects, made on demand: an object's
    library is placed at its settled pose and every grasp is checked against
    the rest of the scene in ``world`` (the PhysicsWorld that settled it,
    still loaded). Only objects that some view annotates are ever labelled,
    so a primitive's own library (primitives vary in size per instance) is
    built only when needed, from the stream ``grasps`` of (seed, scene,
    instance id): the result does not depend on which view asks first.
    Distractors are obstacles here, never labelled."""

    def __init__(self, world, settled, libraries: dict[str, GraspLibrary], gripper: Gripper, gcfg, seed: int,
                 trials=None, skip_assets: frozenset = frozenset()):
        from dropsynth.assets.mesh import object_radius
        from dropsynth.scenes.grasp_sim import SceneGripper

        self.world, self.settled, self.libraries, self.gripper = world, settled, libraries, gripper
        self.gcfg, self.seed, self.trials, self.skip = gcfg, seed, trials, skip_assets
        self.objs = {o.instance_id: o for o in settled.objects()}
        self.radii = {i: object_radius(o.asset, o.primitive) for i, o in self.objs.items()}
        self.checker = SceneGripper(world, gripper)
        self._done: dict[int, tuple] = {}

    def _label(self, iid: int) -> tuple | None:
        from dropsynth import seeding

        o = self.objs.get(iid)
        if o is None or not getattr(o, "annotate", True) or o.asset.key in self.skip:
            return None
        if o.primitive is not None:
            rng = seeding.view_rng(self.seed, self.settled.spec.scene_index, iid, "grasps")
            lib = build(o.asset, self.gripper, params_from_config(self.gcfg, primitive=True), rng,
                        primitive=o.primitive, trials=self.trials)
        else:
            lib = self.libraries.get(o.asset.key)
            if lib is None:
                return None
        W = self.settled.poses[iid] @ lib.obj_T_grasp
        free = ~self.checker.collisions(iid, W, self.radii)
        return (np.full(len(W), iid, dtype=np.int32), W, lib.width_m, lib.success, lib.robust, free.astype(np.uint8))

    def grasps(self, instance_ids) -> SceneGrasps:
        """The grasps of these objects (in instance-id order)."""
        parts = []
        for iid in sorted(int(i) for i in instance_ids):
            if iid not in self._done:
                self._done[iid] = self._label(iid)
            if self._done[iid] is not None:
                parts.append(self._done[iid])
        if not parts:
            return SceneGrasps(np.zeros(0, np.int32), np.zeros((0, 4, 4)), np.zeros(0), np.zeros(0, np.uint8),
                               np.zeros(0, np.float32), np.zeros(0, np.uint8))
        return SceneGrasps(*[np.concatenate(c) for c in zip(*parts)])

