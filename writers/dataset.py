"""One reader of finished datasets, for everything that reads one back:
the exporters (YOLO, Datumaro, BOP), merge, the statistics report, the
preview and the utility scorer.

A dataset folder holds ``annotations/instances.json`` (COCO, written whole
by the merge of the shard parts), ``run.json`` (written last by a dropsynth
run; absent in COCO folders made by other tools) and optional split files
``annotations/instances_<split>.json``. Every problem is one line that names
the file: missing, not JSON, not a COCO instances file, not a dropsynth
run.json, or a run that is not finished (shard parts but no merged file).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dropsynth.errors import DropsynthError

__all__ = ["Dataset", "open_dataset", "read_json", "check_coco", "INSTANCES", "RUN_JSON"]

INSTANCES = "annotations/instances.json"
RUN_JSON = "run.json"
PARTS = "annotations/parts"  # shard parts of a run not merged yet (writers/coco.py)
COCO_LISTS = ("images", "annotations", "categories")


def read_json(path: str | Path, what: str = ""):
    """The JSON value in ``path``; one-line errors naming it (``what`` says
    what the file is meant to be: "ground truth", "results", ...)."""
    path = Path(path)
    name = f"{what} " if what else ""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DropsynthError(f"{path}: {name}not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DropsynthError(f"{path}: {name}{'is ' if what else ''}not valid JSON ({e})") from None
    except OSError as e:
        raise DropsynthError(f"{path}: cannot read {name or 'it '}({e.strerror or e})") from None


def check_coco(coco, where: str | Path) -> dict:
    """``coco`` if it is a COCO instances dict (``images``, ``annotations``,
    ``categories`` lists of JSON objects), else a one-line error."""
    if not isinstance(coco, dict):
        raise DropsynthError(f"{where}: not a COCO instances file (a JSON object is expected)")
    for key in COCO_LISTS:
        if not isinstance(coco.get(key), list):
            raise DropsynthError(f"{where}: no '{key}' list; not a COCO instances file")
        for i, entry in enumerate(coco[key]):
            if not isinstance(entry, dict):
                raise DropsynthError(f"{where}: {key}[{i}]: not a JSON object; not a COCO instances file")
    return coco


@dataclass(frozen=True)
class Dataset:
    """A finished dataset, read back. ``coco`` is the parsed
    ``annotations/instances.json``; ``run`` the parsed ``run.json``, or None
    when there is none (a merged or foreign COCO folder)."""

    root: Path
    coco: dict
    run: dict | None

    @property
    def coco_path(self) -> Path:
        return self.root / INSTANCES

    @property
    def run_path(self) -> Path:
        return self.root / RUN_JSON

    @property
    def images(self) -> list[dict]:
        return self.coco["images"]

    @property
    def annotations(self) -> list[dict]:
        return self.coco["annotations"]

    @property
    def categories(self) -> list[dict]:
        return self.coco["categories"]

    @property
    def info(self) -> dict:
        info = self.coco.get("info")
        return info if isinstance(info, dict) else {}

    @property
    def polygon_convention(self) -> str:
        """Vertex convention of the polygons: "edges" (COCO's) unless the file says "centers"."""
        return self.info.get("polygon_convention", "edges")

    @property
    def seed(self) -> int:
        """The run's seed (run.json, else COCO ``info.seed``), else 0 (merged
        datasets have no single seed)."""
        for seed in ((self.run or {}).get("seed"), self.info.get("seed")):
            if isinstance(seed, int) and not isinstance(seed, bool):
                return seed
        return 0

    @property
    def run_splits(self) -> dict | None:
        """The run's own ``output.splits`` (from run.json's resolved config),
        so that an export made later agrees with the split files; None when
        the run had none."""
        try:
            splits = self.run["config"]["output"]["splits"]
        except (KeyError, TypeError):
            return None
        return splits if isinstance(splits, dict) and splits else None

    def head(self) -> dict:
        """The top-level keys other than images and annotations (info, licenses, categories)."""
        return {k: self.coco[k] for k in ("info", "licenses", "categories") if k in self.coco}

    def annotations_by_image(self) -> dict:
        """image id -> its annotations in file order (every image listed, an
        empty list when it has none); an annotation of no image is an error."""
        by = {img.get("id"): [] for img in self.images}
        for j, a in enumerate(self.annotations):
            lst = by.get(a.get("image_id"))
            if lst is None:
                raise DropsynthError(f"{self.coco_path}: annotations[{j}] (id {a.get('id', '?')}): image_id "
                                     f"{a.get('image_id')!r} has no image")
            lst.append(a)
        return by

    def split_paths(self) -> dict[str, Path]:
        """split name -> its ``annotations/instances_<split>.json``, for the split files present."""
        d = self.coco_path.parent
        return {p.stem[len("instances_"):]: p for p in sorted(d.glob("instances_*.json"))}

    def read_split(self, name: str) -> dict:
        """The COCO dict of split ``name`` (same checks as the full file)."""
        path = self.coco_path.parent / f"instances_{name}.json"
        if not path.is_file():
            have = ", ".join(self.split_paths()) or "none"
            raise DropsynthError(f"{path}: not found; the dataset's split files: {have}")
        return check_coco(read_json(path), path)

    def require_run(self, why: str) -> dict:
        """``run`` when there is one, else an error saying ``why`` it is needed."""
        if self.run is None:
            raise DropsynthError(f"{self.run_path}: not found; {why}")
        return self.run


def open_dataset(root: str | Path) -> Dataset:
    """Read the dataset in ``root``: its COCO file (checked to be one) and
    its run.json when there is one (checked to be a JSON object)."""
    root = Path(root)
    coco_path = root / INSTANCES
    if not coco_path.is_file() and not coco_path.exists():
        if (root / PARTS).is_dir():
            raise DropsynthError(f"{coco_path}: not found: the run in {root} is unfinished (its shards are in "
                                 f"{root / PARTS}); finish it with the same generate command and --resume")
        raise DropsynthError(f"{coco_path}: not found; is {root} a finished dropsynth dataset?")
    coco = check_coco(read_json(coco_path), coco_path)
    run_path = root / RUN_JSON
    run = None
    if run_path.exists():
        run = read_json(run_path)
        if not isinstance(run, dict):
            raise DropsynthError(f"{run_path}: not a dropsynth run.json (a JSON object is expected)")
    return Dataset(root, coco, run)
