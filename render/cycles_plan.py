"""Which views Cycles renders, and their per-view draws. Imports no bpy.

A view's choice and its Cycles draws come from its own stream
(``seeding.view_rng(seed, scene, view, "render")``), drawn in a fixed order
whatever the settings, so they depend only on (seed, scene, view): the same
for any worker count, and no other stream's draws move (a run that never
uses Cycles keeps its bytes).
"""
from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dropsynth.errors import RenderBackendError

BPY_MISSING = ("render.backend: cycles needs Blender as a Python module (bpy), which is not installed here: "
               "pip install -e '.[cycles]' (or bash scripts/setup.sh --cycles; bpy 5.0 needs Python 3.11)")

# The built-in environments: Blender's studio-light HDRIs, inside the bpy wheel.
BUILTIN_HDRI = {
    "source": "bpy/<version>/datafiles/studiolights/world/*.exr (Blender's studio lights)",
    "license": "CC0-1.0",
    "author": "Greg Zaal (Poly Haven, https://polyhaven.com)",
    "originals": {"city": "portland_landing_pad", "courtyard": "courtyard", "forest": "ninomaru_teien",
                  "interior": "hotel_room", "night": "moonless_golf", "studio": "studio_small_01",
                  "sunrise": "spruit_sunrise", "sunset": "venice_sunset"},
    "note": "1K, RGB, DWAB-compressed by Blender; see license.txt beside them",
}


@dataclass(frozen=True)
class CyclesView:
    """One view's Cycles draws. ``hdri``: environment file (None: a uniform
    ambient world); rotation about world z (rad); ``seed``: Cycles' sampling
    seed; ``motion_m``: camera displacement over the exposure, world frame
    (3,) metres (zeros: no motion blur)."""

    hdri: str | None
    hdri_rotation_rad: float
    hdri_strength: float
    seed: int
    motion_m: tuple[float, float, float]


def bpy_available() -> bool:
    """Whether bpy can be found, without importing it (it is big and starts Blender)."""
    return importlib.util.find_spec("bpy") is not None


def require_bpy() -> None:
    """Raise the one-line RenderBackendError naming the extra when bpy is missing."""
    if not bpy_available():
        raise RenderBackendError(BPY_MISSING)


def builtin_hdri_files() -> list[str]:
    """The built-in HDRIs (see BUILTIN_HDRI), found without importing bpy."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise RenderBackendError(BPY_MISSING)
    root = Path(list(spec.submodule_search_locations)[0])
    return sorted(str(p) for p in root.glob("*/datafiles/studiolights/world/*.exr"))


def hdri_set(cfg) -> list[str]:
    """The environment files a run draws from (empty when lights.hdri is off)."""
    from dropsynth.config import hdri_files

    if not cfg.lights.hdri:
        return []
    files = hdri_files(cfg.lights.hdri_folder) if cfg.lights.hdri_folder else builtin_hdri_files()
    if not files:
        raise RenderBackendError("lights.hdri_folder: no .hdr or .exr environments found"
                                 + (f" in {cfg.lights.hdri_folder}" if cfg.lights.hdri_folder else
                                    " in bpy's studio lights; set lights.hdri_folder or lights.hdri: false"))
    return files


def uses_cycles(cfg) -> bool:
    """Whether a run may render any view with Cycles."""
    return cfg.render.backend == "cycles" and cfg.render.cycles_share > 0


def plan_view(cfg, seed: int, scene_index: int, view_index: int, hdris: list[str]) -> CyclesView | None:
    """The view's Cycles draws, or None when the rasterizer makes its RGB."""
    u, k, rot, strength, cyc_seed, direction, motion = _view_draws(seed, scene_index, view_index)
    r = cfg.render
    if not uses_cycles(cfg) or u >= r.cycles_share:
        return None
    hdri, rotation, strength = _environment(cfg.lights, k, rot, strength, hdris)
    d = direction / max(float(np.linalg.norm(direction)), 1e-12)
    m = d * motion * r.cycles_motion_blur_m
    return CyclesView(hdri=hdri, hdri_rotation_rad=rotation, hdri_strength=strength,
                      seed=int(cyc_seed), motion_m=(float(m[0]), float(m[1]), float(m[2])))


def _view_draws(seed: int, scene_index: int, view_index: int) -> tuple:
    from dropsynth.seeding import view_rng

    rng = view_rng(seed, scene_index, view_index, "render")
    # Fixed draw order: the choice first, then every other draw, used or not.
    u, k, rot, strength, cyc_seed = rng.random(), rng.random(), rng.random(), rng.random(), rng.integers(2**31)
    direction = rng.normal(size=3)
    motion = rng.random()
    return u, k, rot, strength, cyc_seed, direction, motion


def _environment(lights_cfg, k: float, rot: float, strength: float, files: list) -> tuple:
    lo, hi = lights_cfg.hdri_rotation_deg
    slo, shi = lights_cfg.hdri_strength
    return (files[int(k * len(files))] if files else None, math.radians(lo + (hi - lo) * rot),
            slo + (shi - slo) * strength)


def environment_draws(lights_cfg, seed: int, scene_index: int, view_index: int, files: list) -> tuple:
    """(environment file or None, rotation about world z (rad), strength) of a view: the
    draws Cycles uses for it (``plan_view``), for the rasterizer's image-based lighting."""
    _, k, rot, strength = _view_draws(seed, scene_index, view_index)[:4]
    return _environment(lights_cfg, k, rot, strength, files)


def threads_per_worker(cfg, workers: int) -> int:
    """Cycles' CPU threads in one worker: render.cycles_threads, or (0) the cores divided by the workers."""
    if cfg.render.cycles_threads > 0:
        return cfg.render.cycles_threads
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, cores // max(1, workers))
