"""COCO in the layout that Datumaro (and mmdetection-style configs) look for.

Layout written (default ``DIR/datumaro/``)::

    images/<split>/NNNNNN.png              hard links to DIR/rgb/ (copies where linking fails)
    annotations/instances_<split>.json     the split's images and annotations, file_name = the image's name
    .dropsynth-datumaro                    JSON: source dataset, ratios, seed, counts (marks the folder as ours)

``Dataset.import_from(path, "coco_instances")`` reads it, one subset per
split. Splits are those of the YOLO export and of
``annotations/instances_<split>.json`` (by scene, ``writers.splits``). Ids
stay those of the full file; every other key is kept as it is, so
``depth_file`` and ``instances_file`` still name files of the source
dataset (relative to it, recorded in the marker). Built in a hidden sibling
folder and renamed into place, so a folder at ``out_dir`` is always complete.
"""
from __future__ import annotations

import json
from pathlib import Path

from dropsynth.atomic import write_json_atomic
from dropsynth.errors import ConfigError, DropsynthError
from dropsynth.writers.dataset import open_dataset
from dropsynth.writers.files import check_replaceable, export_folder, holds_dataset, link_or_copy
from dropsynth.writers.splits import DEFAULT_RATIOS, normalize_ratios, split_of_images

__all__ = ["export_datumaro", "MARKER"]

MARKER = ".dropsynth-datumaro"


@holds_dataset("datumaro", "Datumaro export")
def export_datumaro(dataset_dir: str | Path, out_dir: str | Path | None = None,
                    ratios: dict[str, float] | None = None, seed: int | None = None,
                    overwrite: bool = False) -> Path:
    """Write ``images/<split>/`` and ``annotations/instances_<split>.json``.

    Parameters are those of ``writers.yolo.export_yolo`` (default folder
    ``dataset_dir/datumaro``). Returns the absolute path of the export folder.
    """
    dataset_dir = Path(dataset_dir).resolve()
    norm = normalize_ratios(ratios) if ratios else None
    ds = open_dataset(dataset_dir)
    norm = norm or normalize_ratios(ds.run_splits or DEFAULT_RATIOS)
    coco, coco_path = ds.coco, ds.coco_path
    if seed is None:
        seed = ds.seed
    out = (dataset_dir / "datumaro" if out_dir is None else Path(out_dir)).resolve()
    if out == dataset_dir or out in dataset_dir.parents:
        raise ConfigError(f"{out}: the export folder must not be the dataset folder or contain it")
    check_replaceable(out, overwrite, MARKER, "Datumaro")  # refuses what it may not replace
    keys, splits = split_of_images(coco["images"], norm, seed, coco_path)

    counts = {}
    with export_folder(out, "Datumaro") as tmp:
        head = ds.head()
        seen: dict[str, str] = {}
        for name in norm:
            imgs = []
            for img, key in zip(coco["images"], keys):
                if splits[key] != name:
                    continue
                src = dataset_dir / str(img.get("file_name", ""))
                base = Path(str(img.get("file_name", ""))).name
                if not src.is_file():
                    raise DropsynthError(f"{src}: image file not found (file_name of image {img.get('id')} in "
                                         f"{coco_path})")
                if base in seen:
                    raise DropsynthError(f"{coco_path}: images {seen[base]} and {img['file_name']} share the "
                                         f"file name {base}; one images/<split>/ folder needs unique names")
                seen[base] = img["file_name"]
                link_or_copy(src, tmp / "images" / name / base)
                imgs.append(dict(img, file_name=base))
            if not imgs:
                continue
            ids = {img["id"] for img in imgs}
            anns = [a for a in coco["annotations"] if a.get("image_id") in ids]
            write_json_atomic(tmp / "annotations" / f"instances_{name}.json", {**head, "images": imgs,
                                                                                "annotations": anns})
            counts[name] = {"images": len(imgs), "annotations": len(anns)}
        (tmp / MARKER).write_text(json.dumps({"tool": "dropsynth", "source": str(dataset_dir), "ratios": norm,
                                              "seed": int(seed), "counts": counts}, indent=2) + "\n")
    return out


def export_registered(dataset_dir, *, ratios=None, seed=None) -> Path:
    """Registry entry ``datumaro``: into DATASET/datumaro."""
    return export_datumaro(dataset_dir, ratios=ratios, seed=seed, overwrite=True)
