#!/usr/bin/env python3
"""Precompute the built-in pack's convex decompositions (V-HACD) and store
them as package data in assets/builtin/collision/, so that a first run on a
fresh machine does not spend seconds decomposing meshes before its first
frame. The files are exactly what dropsynth would compute (same cache key,
same bytes); run this again whenever the key changes (COLLISION_VERSION,
VHACD_PARAMS, MAX_HULL_VERTICES, or pybullet_data's meshes), which
tests/unit/test_package.py checks.

    .venv/bin/python scripts/make_builtin_collision.py
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DROPSYNTH_CACHE"] = tmp
        from dropsynth.assets import mesh
        from dropsynth.assets.catalog import load_catalog
        from dropsynth.scenes.physics import collision_shape

        dest = mesh.SHIPPED_COLLISION
        dest.mkdir(parents=True, exist_ok=True)
        for old in dest.glob("*.obj"):
            old.unlink()
        for old in dest.glob("*.json"):
            old.unlink()
        mesh.SHIPPED_COLLISION = Path(tmp) / "none"  # compute, do not copy the old ones
        for a in load_catalog([], builtin=True, installed=False).assets:
            if a.primitive_kind:
                continue
            p = collision_shape(a)
            if p.method == "vhacd":
                src = Path(p.obj_path)
                shutil.copyfile(src, dest / src.name)
                shutil.copyfile(src.with_suffix(".json"), dest / src.with_suffix(".json").name)
                print(f"{a.key}: {p.parts} parts -> {dest / src.name}")


if __name__ == "__main__":
    main()
