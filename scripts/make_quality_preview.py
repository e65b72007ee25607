#!/usr/bin/env python3
"""docs/quality_fast_realistic.jpg: the same scenes and views at each render
level of the raster backend, beside Cycles: columns fast | realistic |
Cycles (path traced, the default quality), rows two tabletop scenes and a bin
(seed 7, one view each, 320x240). Labels are the same in every column.

Run with a venv that has bpy (Cycles), so that all three columns light with
the same environments:

    .venv-cycles/bin/python scripts/make_quality_preview.py [--samples 64]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = {"fast": ["--set", "render.quality=fast"],
           "realistic": ["--set", "render.quality=realistic"],
           "cycles": ["--set", "render.backend=cycles"]}
ROWS = {"tabletop": ["--scenes", "2"], "bin": ["--scenes", "1", "--set", "scene.builder=bin"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=64)
    a = ap.parse_args()
    exe = str(Path(sys.executable).parent / "dropsynth")
    common = ["--views-per-scene", "1", "--width", "320", "--height", "240", "--seed", "7", "--no-progress",
              "--workers", "1", "--set", "output.preview=false", "--set", f"render.cycles_samples={a.samples}"]
    grid = []
    with tempfile.TemporaryDirectory() as tmp:
        for row, rargs in ROWS.items():
            cells = {}
            for col, cargs in COLUMNS.items():
                out = Path(tmp) / f"{row}_{col}"
                subprocess.run([exe, "generate", "--out", str(out), *common, *rargs, *cargs], check=True,
                               stdout=subprocess.DEVNULL)
                cells[col] = [np.asarray(Image.open(f)) for f in sorted((out / "rgb").glob("*.png"))]
            ids = {col: [np.asarray(Image.open(f)) for f in sorted((Path(tmp) / f"{row}_{col}" / "instances")
                                                                     .glob("*.png"))] for col in COLUMNS}
            if any(not np.array_equal(x, y) for col in COLUMNS for x, y in zip(ids["fast"], ids[col])):
                raise SystemExit(f"{row}: the instance images differ between columns")
            grid += [np.concatenate([cells[col][k] for col in COLUMNS], axis=1) for k in range(len(cells["fast"]))]
    out = ROOT / "docs" / "quality_fast_realistic.jpg"
    Image.fromarray(np.concatenate(grid, axis=0)).save(out, quality=88)
    print(out)


if __name__ == "__main__":
    main()
