#!/usr/bin/env python3
"""docs/preview_cycles.jpg: the same scenes and views rendered by the raster
backend (top row of each pair) and by Cycles (below), with identical labels.

    .venv/bin/python scripts/make_cycles_preview.py [--samples 64] [--views 4]
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--views", type=int, default=4)
    a = ap.parse_args()
    common = ["--scenes", "2", "--views-per-scene", str(a.views // 2), "--width", "320", "--height", "240",
              "--seed", "7", "--no-progress", "--workers", "1", "--set", "materials.randomize=[objects,table]"]
    exe = str(Path(sys.executable).parent / "dropsynth")
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in (("raster", []), ("cycles", ["--set", "render.backend=cycles",
                                                        "--set", f"render.cycles_samples={a.samples}"])):
            subprocess.run([exe, "generate", "--out", f"{tmp}/{name}", *common, *extra], check=True,
                           stdout=subprocess.DEVNULL)
        files = sorted(p.name for p in Path(f"{tmp}/raster/rgb").iterdir())
        rows = [np.concatenate([np.asarray(Image.open(f"{tmp}/{n}/rgb/{f}")) for f in files], axis=1)
                for n in ("raster", "cycles")]
    out = ROOT / "docs" / "preview_cycles.jpg"
    Image.fromarray(np.concatenate(rows, axis=0)).save(out, quality=88)
    print(out)


if __name__ == "__main__":
    main()
