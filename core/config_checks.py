"""The run config's checks across keys and against the file system: camera
intrinsics and poses, the builder's geometry, split ratios, and the image and
HDRI folders (listed once here; the sections carry the listing to workers)."""
from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Mapping

from dropsynth.errors import ConfigError, suggest
from dropsynth.settings import RunConfig

# The built-in scene builders (dropsynth.scenes.builders makes its registry from these names); more come
# from the dropsynth.scene_builders entry point group. Named here so that config imports no builder.
BUILDERS = ("tabletop", "bin", "stack", "clutter")


def builder_names() -> list[str]:
    """The built-in builders' names and the entry points'."""
    from importlib.metadata import entry_points

    return list(BUILDERS) + [ep.name for ep in entry_points(group="dropsynth.scene_builders")
                             if ep.name not in BUILDERS]


def normalize_ratios(ratios: Mapping[str, float]) -> dict[str, float]:
    """Check split ratios and scale them to sum 1, keeping their order.

    Names must be non-empty strings usable as a folder name; values finite
    numbers >= 0 with a positive sum. Raises ConfigError otherwise.
    """
    if not isinstance(ratios, Mapping) or not ratios:
        raise ConfigError(f"split ratios: expected a non-empty mapping of split name -> ratio, got {ratios!r}")
    clean: dict[str, float] = {}
    for name, value in ratios.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"split ratios: split names must be non-empty strings, got {name!r}")
        if name != name.strip() or "/" in name or "\\" in name or name.startswith("."):
            raise ConfigError(f"split ratios: split name {name!r} is not usable as a folder name "
                              f"(no slashes, no leading dot or surrounding spaces)")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ConfigError(f"split ratios: {name}: expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"split ratios: {name}: must be a finite number >= 0, got {value!r}")
        clean[name] = value
    total = sum(clean.values())
    if not total > 0:
        raise ConfigError(f"split ratios: they sum to {total:g}; at least one split needs a ratio above 0")
    return {name: v / total for name, v in clean.items()}


def cross_checks(cfg: RunConfig, source: str) -> None:
    c = cfg.camera
    if (c.fx is None) != (c.fy is None):
        raise ConfigError(f"{source}: camera.fx: fx and fy must be given together")
    for name, limit in (("cx", c.width), ("cy", c.height)):
        v = getattr(c, name)
        if v is not None and v > limit:
            raise ConfigError(f"{source}: camera.{name}: must lie inside the image (<= {limit}), got {v}")
    if (c.fixed_K is None) != (c.fixed_world_T_cam is None):
        raise ConfigError(f"{source}: camera.fixed_K: fixed_K and fixed_world_T_cam must be given together")
    if c.fixed_K is not None:
        import numpy as np

        if len(c.fixed_K) != 9:
            raise ConfigError(f"{source}: camera.fixed_K: needs 9 numbers (3x3 row-major), got {len(c.fixed_K)}")
        if len(c.fixed_world_T_cam) != 16:
            raise ConfigError(f"{source}: camera.fixed_world_T_cam: needs 16 numbers (4x4 row-major), got "
                              f"{len(c.fixed_world_T_cam)}")
        K = np.array(c.fixed_K).reshape(3, 3)
        if K[0, 0] <= 0 or K[1, 1] <= 0 or np.any(K[2] != [0, 0, 1]):
            raise ConfigError(f"{source}: camera.fixed_K: must be [fx, 0, cx, 0, fy, cy, 0, 0, 1] with fx, fy > 0")
        T = np.array(c.fixed_world_T_cam).reshape(4, 4)
        R = T[:3, :3]
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0.99 or np.any(T[3] != [0, 0, 0, 1]):
            raise ConfigError(f"{source}: camera.fixed_world_T_cam: the rotation part is not a rotation, or the "
                              f"last row is not [0, 0, 0, 1]")
    if c.znear_m >= c.zfar_m:
        raise ConfigError(f"{source}: camera.znear_m: must be less than camera.zfar_m ({c.zfar_m})")
    if cfg.output.splits is not None:
        try:
            normalize_ratios(cfg.output.splits)
        except ConfigError as e:
            raise ConfigError(f"{source}: output.splits: {e}") from None
    sc = cfg.scene
    names = builder_names()
    if sc.builder not in names:
        raise ConfigError(f"{source}: scene.builder: unknown builder {sc.builder!r}{suggest(sc.builder, names)} "
                          f"(available: {', '.join(names)})")
    if sc.builder == "clutter" and any(a > f for a, f in zip(sc.clutter_area_m, sc.clutter_floor_m)):
        raise ConfigError(f"{source}: scene.clutter_area_m: {list(sc.clutter_area_m)} is larger than the "
                          f"floor {list(sc.clutter_floor_m)}")
    t, a = sc.table_size_m, sc.spawn_area_m
    b, wt = sc.bin_inner_m, sc.bin_wall_thickness_m
    if sc.builder == "bin" and (b[0] + 2 * wt > t[0] or b[1] + 2 * wt > t[1]):
        raise ConfigError(f"{source}: scene.bin_inner_m: the bin {list(b)} with its walls does not fit on the table "
                          f"{list(t[:2])}")
    if a[0] > t[0] or a[1] > t[1]:
        raise ConfigError(f"{source}: scene.spawn_area_m: {list(a)} is larger than the table {list(t[:2])}")


FOLDERS = (("materials", "texture_folder"), ("background", "image_folder"), ("lights", "hdri_folder"))


def carry_listings(cfg: RunConfig) -> None:
    """List each image/HDRI folder once; the sections carry the listing."""
    for name, key in FOLDERS:
        sec = getattr(cfg, name)
        folder = getattr(sec, key)
        if folder is not None and Path(folder).is_dir():
            sec.carry_listing()


def check_folders(cfg: RunConfig, source: str) -> None:
    for path, sec, needed in (("materials.texture_folder", cfg.materials,
                               "image" in cfg.materials.textures and cfg.materials.randomize),
                              ("background.image_folder", cfg.background, "image" in cfg.background.kinds)):
        folder = getattr(sec, path.split(".")[1])
        if folder is None:
            if needed:
                raise ConfigError(f"{source}: {path}: needed for the image kind; name a folder of PNG/JPEG images")
            continue
        if not Path(folder).is_dir():
            raise ConfigError(f"{source}: {path}: folder not found: {folder}")
        files = sec.listing()
        if needed and not files:
            raise ConfigError(f"{source}: {path}: no PNG or JPEG images in {folder}")
        if needed:
            from PIL import Image

            for f in files:  # headers only: a broken file fails here, not hours into a run
                try:
                    with Image.open(f) as im:
                        if im.size[0] < 1 or im.size[1] < 1:
                            raise OSError("empty image")
                except Exception as e:
                    raise ConfigError(f"{source}: {path}: {f}: not a readable image ({e})") from None
    folder = cfg.lights.hdri_folder
    r = cfg.render
    if folder is None or not cfg.lights.hdri or not (r.backend == "cycles" or r.effect_on("ibl")):
        return
    if not Path(folder).is_dir():
        raise ConfigError(f"{source}: lights.hdri_folder: folder not found: {folder}")
    if not cfg.lights.listing():
        raise ConfigError(f"{source}: lights.hdri_folder: no .hdr or .exr files in {folder}")
