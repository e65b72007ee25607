"""Merge whole datasets into one: categories matched by name, image and
annotation ids renumbered, files copied (hard-linked where possible) under
names that stay unique (``<source index>_<original name>``)."""
from __future__ import annotations

from pathlib import Path

from dropsynth.atomic import write_json_atomic
from dropsynth.errors import ConfigError
from dropsynth.writers.dataset import open_dataset
from dropsynth.writers.files import link_or_copy

FILE_KEYS = ("file_name",)  # plus every "*_file" key (depth, instances, class, normals, nocs, depth_noisy)


def _remap_class_png(src: Path, dst: Path, cat_map: dict) -> None:
    import numpy as np
    from PIL import Image

    from dropsynth.writers.images import save_png

    with Image.open(src) as im:
        cls = np.asarray(im)
    lut = np.arange(max(int(cls.max()), max(cat_map)) + 1, dtype=np.uint16)
    for old, new in cat_map.items():
        lut[old] = new
    dst.parent.mkdir(parents=True, exist_ok=True)
    save_png(dst, lut[cls], 1)


def merge_datasets(sources: list[str | Path], out_dir: str | Path, overwrite: bool = False) -> dict:
    """Merge dropsynth (or any COCO-with-files) datasets into ``out_dir``.

    Returns counts. Refuses sources with different mask formats (one COCO
    file must not mix RLE and polygons) and an output folder that is not
    empty (unless ``overwrite`` and it is a previous dropsynth output).
    """
    import contextlib

    from dropsynth.outlock import DatasetReadLock, OutputLock

    if len(sources) < 2:
        raise ConfigError("merge: give at least two datasets")
    out = Path(out_dir)
    if out.resolve() in [Path(s).resolve() for s in sources]:
        raise ConfigError(f"--out {out}: must not be one of the datasets being merged")
    # --out is held as generate holds it (a second merge or a run there is
    # refused); each source for reading (refused while a live run writes it).
    with contextlib.ExitStack() as held:
        held.enter_context(OutputLock(out.resolve(), label=f"--out {out}"))
        for src in sources:
            held.enter_context(DatasetReadLock(src))
        return _merge(sources, out, overwrite)


def _merge(sources: list[str | Path], out: Path, overwrite: bool) -> dict:
    from dropsynth.writers.outdir import prepare_output

    datas = [open_dataset(src).coco for src in sources]
    formats = {d.get("info", {}).get("mask_format") for d in datas}
    if len(formats) > 1:
        raise ConfigError(f"merge: the datasets use different mask formats ({', '.join(sorted(map(str, formats)))}); "
                          f"one COCO file must not mix RLE and polygons")
    conventions = {d.get("info", {}).get("polygon_convention", "edges") for d in datas if "mask_format" in
                   d.get("info", {}) and d["info"]["mask_format"] == "polygon"}
    if len(conventions) > 1:
        raise ConfigError(f"merge: the datasets use different polygon conventions ({', '.join(sorted(conventions))}); "
                          f"one COCO file must not mix them")
    prepare_output(out, overwrite)
    categories: dict[str, dict] = {}
    licenses: dict[str, dict] = {}
    images, annotations = [], []
    for i, (src, data) in enumerate(zip(sources, datas)):
        src = Path(src)
        cat_map = {}
        for c in data["categories"]:
            if c["name"] not in categories:
                # keep extra keys (keypoint names, skeleton); only the id changes
                categories[c["name"]] = dict(c, id=len(categories) + 1,
                                             supercategory=c.get("supercategory") or "object")
            cat_map[c["id"]] = categories[c["name"]]["id"]
        lic_map = {}
        for lic in data.get("licenses", []):
            if lic["name"] not in licenses:
                licenses[lic["name"]] = {"id": len(licenses) + 1, "name": lic["name"], "url": lic.get("url", "")}
            lic_map[lic["id"]] = licenses[lic["name"]]["id"]
        lib = src / "grasps" / "library"
        if lib.is_dir():  # grasp libraries (per asset, not per image): the first source's copy is kept
            (out / "grasps" / "library").mkdir(parents=True, exist_ok=True)
            for f in sorted(lib.iterdir()):
                if f.is_file() and not (out / "grasps" / "library" / f.name).exists():
                    link_or_copy(f, out / "grasps" / "library" / f.name)
        img_map = {}
        for img in data["images"]:
            new = dict(img, id=len(images) + 1, source=i)
            if "license" in img:
                new["license"] = lic_map.get(img["license"], 1)
            for key in [k for k in img if k in FILE_KEYS or k.endswith("_file")]:
                rel = Path(img[key])
                target = rel.parent / f"{i:02d}_{rel.name}"
                if key == "class_file" and any(a != b for a, b in cat_map.items()):
                    _remap_class_png(src / rel, out / target, cat_map)  # its pixels are category ids
                else:
                    link_or_copy(src / rel, out / target)
                new[key] = target.as_posix()
            img_map[img["id"]] = new["id"]
            images.append(new)
        for ann in data["annotations"]:
            annotations.append(dict(ann, id=len(annotations) + 1, image_id=img_map[ann["image_id"]],
                                    category_id=cat_map[ann["category_id"]]))
    info = dict(datas[0].get("info", {}), description="merged dropsynth datasets",
                sources=[str(Path(s).resolve()) for s in sources])
    info.pop("seed", None)
    coco = {"info": info, "licenses": list(licenses.values()) or [{"id": 1, "name": "unknown", "url": ""}],
            "images": images, "annotations": annotations, "categories": list(categories.values())}
    write_json_atomic(out / "annotations" / "instances.json", coco)
    counts = {"images": len(images), "annotations": len(annotations), "categories": len(categories)}
    write_json_atomic(out / "run.json", {"tool": "dropsynth", "merged_from": info["sources"], "counts": counts},
                      indent=2)
    return counts
