"""Per-frame image files: rgb/, depth/ and instances/ PNGs.

Each file is written to a temporary name in its folder and renamed when
complete, so an interrupted run never leaves a PNG that looks whole but is not.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dropsynth.atomic import write_bytes_atomic

DEPTH_SCALE_M = 1e-4  # one depth PNG unit = 0.1 mm
MAX_DEPTH_M = 65535 * DEPTH_SCALE_M


def frame_name(image_index: int) -> str:
    return f"{image_index:06d}.png"


def depth_to_png_units(depth_m: np.ndarray) -> np.ndarray:
    """(H, W) float metres -> uint16 in 0.1 mm units; 0 (no surface) and
    depths beyond 6.5535 m, which the format cannot hold, become 0."""
    units = depth_m.astype(np.float64)  # a new array: divided and rounded in place
    np.divide(units, DEPTH_SCALE_M, out=units)
    np.rint(units, out=units)
    units[~((units >= 0) & (units <= 65535))] = 0  # NaN fails both comparisons
    return units.astype(np.uint16)


def save_png(path: Path, array: np.ndarray, compress_level: int) -> None:
    """Write an array (uint8 HxW, HxWx3 or HxWx4, or uint16 HxW) as PNG via a
    temporary name (encoder: ``writers/png.py``)."""
    from dropsynth.writers.png import encode_png

    write_bytes_atomic(path, encode_png(array, compress_level))


def read_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im)


class ImageWriter:
    """Writes rgb/NNNNNN.png, depth/NNNNNN.png (uint16, 0.1 mm) and
    instances/NNNNNN.png (uint16 instance ids, 0 = background)."""

    SUBDIRS = ("rgb", "depth", "instances")

    def __init__(self, root: Path, compress_level: int = 1):
        self.root = Path(root)
        self.level = compress_level
        for d in self.SUBDIRS:
            (self.root / d).mkdir(parents=True, exist_ok=True)

    def write_extra(self, sub: str, name: str, array: np.ndarray) -> str:
        """Write one more per-frame PNG into ``sub/``; returns its relative path."""
        (self.root / sub).mkdir(exist_ok=True)
        save_png(self.root / sub / name, array, self.level)
        return f"{sub}/{name}"

    def write(self, image_index: int, rgb: np.ndarray, depth_m: np.ndarray, instance_ids: np.ndarray) -> dict:
        """Write one frame; returns its relative file names."""
        name = frame_name(image_index)
        save_png(self.root / "rgb" / name, rgb, self.level)
        save_png(self.root / "depth" / name, depth_to_png_units(depth_m), self.level)
        save_png(self.root / "instances" / name, instance_ids.astype(np.uint16, copy=False), self.level)
        return {"rgb": f"rgb/{name}", "depth": f"depth/{name}", "instances": f"instances/{name}"}
