"""Preview grid: frames with their masks, boxes and class names drawn over them.

It reads the written dataset (the COCO file and the RGB PNGs), so what it
shows is what a consumer will load, not what the generator meant to write.
"""
from __future__ import annotations

import colorsys
import math
from pathlib import Path

import numpy as np

from dropsynth.atomic import atomic_path
from dropsynth.errors import DropsynthError
from dropsynth.writers.dataset import open_dataset
from dropsynth.writers.files import reads_dataset


def _palette(k: int) -> tuple[int, int, int]:
    h = (k * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def _decode(seg, h: int, w: int, convention: str = "edges") -> np.ndarray:
    from pycocotools import mask as mask_util

    if isinstance(seg, list) and convention == "centers":
        from dropsynth.annotate import centers_to_mask

        return centers_to_mask(seg, h, w)
    if isinstance(seg, list):
        rle = mask_util.merge(mask_util.frPyObjects(seg, h, w))
    else:
        rle = dict(seg)
        if isinstance(rle["counts"], str):
            rle["counts"] = rle["counts"].encode("ascii")
    return mask_util.decode(rle).astype(bool)


@reads_dataset
def write_preview(dataset_dir: str | Path, out_path: str | Path | None = None, max_frames: int = 12,
                  thumb_width: int = 480) -> Path:
    """Draw up to ``max_frames`` frames (evenly spread over the run) in a grid.

    Returns the path of the written PNG (default ``DIR/preview.png``).
    """
    from PIL import Image, ImageDraw, ImageFont

    root = Path(dataset_dir)
    ds = open_dataset(root)
    ann_path, images = ds.coco_path, ds.images
    try:
        cats = {c["id"]: c["name"] for c in ds.categories}
    except KeyError as e:
        raise DropsynthError(f"{ann_path}: a category has no {e}") from None
    if not images:
        raise DropsynthError(f"{ann_path}: the dataset has no images")
    by_image = ds.annotations_by_image()
    n = min(max_frames, len(images))
    picks = [images[int(round(i * (len(images) - 1) / max(n - 1, 1)))] for i in range(n)]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    w0, h0 = picks[0]["width"], picks[0]["height"]
    scale = min(1.0, thumb_width / w0)
    tw, th = int(round(w0 * scale)), int(round(h0 * scale))
    pad = 4
    sheet = Image.new("RGB", (cols * (tw + pad) + pad, rows * (th + pad) + pad), (24, 24, 24))
    try:
        font = ImageFont.load_default(size=max(10, int(14 * scale / 0.75)))
    except TypeError:  # Pillow < 10.1 has no size argument
        font = ImageFont.load_default()
    for k, img in enumerate(picks):
        path = root / img["file_name"]
        if not path.is_file():
            raise DropsynthError(f"{path}: image listed in {ann_path} is missing")
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB")).astype(np.float32)
        h, w = rgb.shape[:2]
        anns = by_image.get(img["id"], [])
        for a in anns:
            m = _decode(a["segmentation"], h, w, ds.polygon_convention)
            col = np.array(_palette(a["category_id"]), np.float32)
            rgb[m] = 0.5 * rgb[m] + 0.5 * col
        tile = Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).resize((tw, th), Image.BILINEAR)
        draw = ImageDraw.Draw(tile)
        for a in anns:
            x, y, bw, bh = (v * scale for v in a["bbox"])
            col = _palette(a["category_id"])
            draw.rectangle([x, y, x + bw, y + bh], outline=col, width=2)
            label = cats.get(a["category_id"], str(a["category_id"]))
            left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
            lh = bottom - top + 3
            ty = y - lh if y >= lh else y  # label above the box, or inside it at the top edge
            draw.rectangle([x, ty, x + (right - left) + 4, ty + lh], fill=(0, 0, 0))
            draw.text((x + 2 - left, ty + 1 - top), label, fill=col, font=font)
        draw.text((4, th - 16), f"image {img['id']} · {len(anns)} objects", fill=(255, 255, 255), font=font)
        r, c = divmod(k, cols)
        sheet.paste(tile, (pad + c * (tw + pad), pad + r * (th + pad)))
    out = Path(out_path) if out_path is not None else root / "preview.png"
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG")
    return out
