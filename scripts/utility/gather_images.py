"""Gather a folder of real photos and textures for the shifted test domain:
the colour images that ship with pybullet_data and matplotlib's sample data
(no download). Usage: python gather_images.py OUT_DIR"""
import shutil
import sys
from pathlib import Path

import matplotlib
import pybullet_data
from PIL import Image

# The built-in pack's own textures (duck, jenga) stay out: on other objects
# they would teach nothing about those objects, and on the objects themselves
# they would not be a shift.
OWN_TEXTURES = {"duckCM", "jenga"}
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
roots = [Path(pybullet_data.getDataPath()), Path(matplotlib.get_data_path()) / "sample_data"]
n = 0
for root in roots:
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() not in (".png", ".jpg", ".jpeg") or "heightmaps" in p.parts:
            continue
        if p.stem in OWN_TEXTURES:
            continue
        try:
            with Image.open(p) as im:
                if im.mode not in ("RGB", "RGBA", "P") or min(im.size) < 64:
                    continue
        except OSError:
            continue
        dst = out / f"{root.name}_{p.relative_to(root).as_posix().replace('/', '_')}"
        if not dst.exists():
            shutil.copyfile(p, dst)
        n += 1
print(f"{n} images in {out}")
