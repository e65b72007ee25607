"""Grasp library files: each mesh asset's library (antipodal candidates, each
tried in PyBullet: ``dropsynth.scenes.grasp_sim``), cached on disk in
ACRONYM's HDF5 layout and copied into a run folder.

A mesh asset's library is keyed by its geometry (mesh content, scale,
collision shape), the gripper and the sampling/trial parameters, and lives in
``$DROPSYNTH_CACHE/grasps/<key>.h5``. Its random draws come from that key, so
the same inputs always give the same library. Primitive instances vary in
size per scene; each gets a small library of its own, drawn from the scene's
``grasps`` stream and not cached.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from dropsynth.assets.archive import cache_dir
from dropsynth.atomic import write_bytes_atomic
from dropsynth.assets.mesh import geometry_key, object_mass, prepare
# Re-exported for the pipeline and the CLI: the gripper, the library's making, a scene's grasps.
from dropsynth.grasps import Gripper, gripper_from_config, library_key  # noqa: F401
from dropsynth.scenes.grasp_sim import (LibraryParams, SceneGraspLabeler, SceneGrasps, build,  # noqa: F401
                                        object_mesh, params_from_config)
from dropsynth.types import Asset, GraspLibrary
from dropsynth.writers.grasps import read_acronym, write_acronym


# --- the cache ----------------------------------------------------------------------------------------------------

def cache_path(asset: Asset, gripper: Gripper, params: LibraryParams) -> Path:
    # Besides the geometry, the trials depend on the object's mass and contact properties.
    physical = {"mass_kg": object_mass(asset, None), "friction": asset.friction, "restitution": asset.restitution}
    return cache_dir() / "grasps" / f"{library_key(geometry_key(asset), gripper, {**asdict(params), **physical})}.h5"


def _seed_of(path: Path) -> np.random.Generator:
    return np.random.default_rng(int(path.stem[:16], 16))


def save(lib: GraspLibrary, path: Path, asset: Asset, gripper: Gripper, object_file: str,
         object_scale: float = 1.0) -> None:
    """Write a library in ACRONYM's HDF5 layout (atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_acronym(path, transforms=lib.obj_T_grasp, success=lib.success, object_file=object_file,
                  object_scale=object_scale, mass_kg=object_mass(asset, None), friction=asset.friction,
                  gripper={"type": "dropsynth_parallel_jaw", "configuration": [gripper.max_opening_m],
                           **gripper.as_dict()}, robust=lib.robust,
                  width_m=lib.width_m, contacts=lib.contacts, extra_attrs={"asset": asset.key})


def load(path: Path, asset_key: str) -> GraspLibrary:
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


def missing_libraries(assets: list[Asset], gripper: Gripper, params: LibraryParams) -> list[Asset]:
    """The mesh assets whose library is not in the cache yet (what
    ``build_libraries`` builds, one process per asset at most)."""
    return [a for a in assets if not a.primitive_kind and not cache_path(a, gripper, params).exists()]


def build_libraries(assets: list[Asset], gripper: Gripper, params: LibraryParams, workers: int = 1,
                    progress: Callable[[int], None] | None = None) -> list[dict]:
    """Make sure every mesh asset has a cached library, building the missing
    ones in parallel (one asset per task). ``progress(1)`` per asset.
    Returns one summary dict per asset (grasps, success_rate, seconds,
    built)."""
    todo = [a for a in assets if not a.primitive_kind]
    missing = missing_libraries(todo, gripper, params)
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
        # Geometry only, from a fresh mesh: the cached visual may carry
        # renderer-side state that would change the bytes.
        import trimesh

        v = prepare(a).visual
        mesh = trimesh.Trimesh(np.asarray(v.vertices), np.asarray(v.faces), process=False)
        write_bytes_atomic(folder / f"{stem}.ply", mesh.export(file_type="ply"))
        save(lib, h5, a, gripper, object_file=f"{stem}.ply")
        out.append(h5)
    return out


