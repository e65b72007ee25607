"""Train an Ultralytics YOLO detector from scratch on a dropsynth dataset.

The dataset goes through our own YOLO export (:func:`dropsynth.writers.yolo.
export_yolo`) into ``RUN/data/``; the model is built from its YAML
(``yolov8n.yaml`` by default, ``yolov8n-seg.yaml`` for ``task="segment"``),
so no weights are downloaded. ``RUN/`` then holds Ultralytics' own files
(``weights/best.pt``, ``weights/last.pt``, ``results.csv``, ``args.yaml``)
and ``dropsynth_train.json``: the datasets, class names in class-index order,
settings, images trained on, seconds and images/s.

Determinism: one seed for Ultralytics (Python, NumPy, torch and dataloader
workers) and ``deterministic=True``; CPU runs repeat, CUDA runs are as
deterministic as the kernels allow. Mixed precision is off (its self-test
downloads weights).
"""
from __future__ import annotations

import json
import logging
import os
import platform
import resource
import shutil
import time
from pathlib import Path

from dropsynth.atomic import write_text_atomic
from dropsynth.errors import ConfigError, DropsynthError
from dropsynth.utility import require_extra

__all__ = ["train", "prepare_data", "TRAIN_META", "resolve_device", "read_meta"]

log = logging.getLogger(__name__)

TRAIN_META = "dropsynth_train.json"
TRAINING = ".training"  # the pid of a run in progress: marks its folder as ours until TRAIN_META is written
MODELS = {"detect": "yolov8n.yaml", "segment": "yolov8n-seg.yaml"}


def resolve_device(device: str) -> str:
    """``cpu``, ``cuda`` (first GPU) or ``auto`` -> an Ultralytics device string."""
    import torch

    if device not in ("cpu", "cuda", "auto"):
        raise ConfigError(f"--device: expected cpu, cuda or auto, got {device!r}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: torch sees no CUDA device (torch.cuda.is_available() is False)")
        return "0"
    return "cpu"


def _categories(dataset: Path) -> list[dict]:
    from dropsynth.utility.score import load_json

    path = dataset / "annotations" / "instances.json"
    coco = load_json(path, "COCO instances file")
    try:
        return sorted(({"id": int(c["id"]), "name": str(c["name"])} for c in coco["categories"]),
                      key=lambda c: c["id"])
    except (KeyError, TypeError, ValueError):
        raise DropsynthError(f"{path}: malformed 'categories'") from None


def read_meta(run: str | Path) -> dict:
    from dropsynth.utility.score import load_json

    path = Path(run) / TRAIN_META
    if not path.is_file():
        raise DropsynthError(f"{path}: not found; is {run} a run of dropsynth utility train?")
    return load_json(path, "training record")


def _export(dataset: Path, out: Path, task: str, ratios: dict) -> Path:
    from dropsynth.writers import yolo

    # A one-split export (train only, val only) is what we ask for here: its
    # "no images in split val/train" warning is not for the user.
    level = yolo.log.level
    if len(ratios) == 1:
        yolo.log.setLevel(logging.ERROR)
    try:
        return yolo.export_yolo(dataset, out, task=task, ratios=ratios, overwrite=True)
    finally:
        yolo.log.setLevel(level)


def _images_in(folder: Path) -> int:
    return sum(1 for _ in folder.iterdir()) if folder.is_dir() else 0


def prepare_data(data: str | Path, out: str | Path, *, val: str | Path | None = None,
                 task: str = "detect") -> dict:
    """Export the training (and validation) images and labels through our YOLO
    export into ``out`` and write ``out/data.yaml`` for Ultralytics.

    Without ``val`` the ``train`` and ``val`` splits of ``data`` are used (the
    run's ``output.splits``, else 0.8/0.1/0.1 by scene); with ``val``, all of
    ``data`` trains and all of ``val`` validates. Returns paths and counts.
    """
    import yaml

    data = Path(data).resolve()
    val_ds = Path(val).resolve() if val else None
    out = Path(out).resolve()
    cats = _categories(data)
    if val_ds is not None:
        vcats = _categories(val_ds)
        if [c["name"] for c in vcats] != [c["name"] for c in cats]:
            raise ConfigError(f"--val {val_ds}: its categories {[c['name'] for c in vcats]} differ from "
                              f"{data}'s {[c['name'] for c in cats]}")
    if val_ds is None:
        exp = _export(data, out / "yolo", task, ratios=_ratios_of(data))
        train_dir, val_dir = exp / "images" / "train", exp / "images" / "val"
    else:
        tr = _export(data, out / "train", task, ratios={"train": 1.0})
        va = _export(val_ds, out / "val", task, ratios={"val": 1.0})
        train_dir, val_dir = tr / "images" / "train", va / "images" / "val"
    n_train, n_val = _images_in(train_dir), _images_in(val_dir)
    if n_train == 0:
        raise ConfigError(f"{data}: no training images after the split; generate more scenes")
    if n_val == 0:
        raise ConfigError(f"{data}: the val split is empty (too few scenes); pass --val DATASET or generate more "
                          f"scenes")
    data_yaml = out / "data.yaml"
    data_yaml.write_text(yaml.safe_dump({"path": str(out), "train": str(train_dir), "val": str(val_dir),
                                         "names": {i: c["name"] for i, c in enumerate(cats)}}, sort_keys=False))
    return {"data": data, "val": val_ds, "categories": cats, "data_yaml": data_yaml, "train_dir": train_dir,
            "val_dir": val_dir, "train_images": n_train, "val_images": n_val}


def train(data: str | Path, out: str | Path, *, val: str | Path | None = None, epochs: int = 15, imgsz: int = 320,
          time_h: float | None = None, device: str = "cpu", seed: int = 0, task: str = "detect",
          model: str | None = None, batch: int = 16, workers: int | None = None, fraction: float = 1.0,
          overwrite: bool = False, quiet: bool = False) -> dict:
    """Train a detector on ``data`` (a finished dropsynth dataset).

    Parameters
    ----------
    data : dataset trained on: its ``train`` split, or all of it when ``val`` is given.
    out : run folder (must not exist, unless ``overwrite``).
    val : dataset validated on (all of it); default the ``val`` split of ``data``.
    epochs, imgsz, batch : Ultralytics' settings (``imgsz`` in pixels, the long side).
    time_h : a time budget in hours; it overrides ``epochs`` (Ultralytics' ``time``).
    device : ``cpu``, ``cuda`` or ``auto``.
    seed : training seed.
    task : ``detect`` (boxes) or ``segment`` (masks).
    model : model YAML (default ``yolov8n.yaml`` / ``yolov8n-seg.yaml``).
    fraction : share of the training images used (Ultralytics' ``fraction``), for cost curves.
    quiet : keep Ultralytics' progress output to warnings.

    Returns
    -------
    The training record (also written to ``out/dropsynth_train.json``).
    """
    from dropsynth.outlock import OutputLock, beside_lock

    out = Path(out).resolve()
    # Held for the whole training, beside the folder (which --overwrite removes): a second training or an
    # --overwrite of this folder while it trains is refused in one line naming the holder.
    with OutputLock(out.parent, lock_path=beside_lock(out), label=f"--out {out}"):
        return _train(data, out, val=val, epochs=epochs, imgsz=imgsz, time_h=time_h, device=device, seed=seed,
                      task=task, model=model, batch=batch, workers=workers, fraction=fraction,
                      overwrite=overwrite, quiet=quiet)


def _train(data: str | Path, out: Path, *, val, epochs, imgsz, time_h, device, seed, task, model, batch, workers,
           fraction, overwrite, quiet) -> dict:
    require_extra()
    if task not in MODELS:
        raise ConfigError(f"--task: expected detect or segment, got {task!r}")
    for name, v in (("--epochs", epochs), ("--imgsz", imgsz), ("--batch", batch)):
        if not isinstance(v, int) or v < 1:
            raise ConfigError(f"{name}: must be a positive integer, got {v!r}")
    if not 0 < fraction <= 1:
        raise ConfigError(f"fraction: must be in (0, 1], got {fraction!r}")
    if time_h is not None and not time_h > 0:
        raise ConfigError(f"--time-h: must be > 0 hours, got {time_h!r}")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(f"--out {out}: exists and is not empty (use --overwrite to replace it)")
        if not (out / TRAIN_META).is_file() and not _training_marker(out):
            raise ConfigError(f"--out {out}: not a dropsynth training run; refusing to replace it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / TRAINING, str(os.getpid()), durable=True)  # marks a run in progress as ours
    prep = prepare_data(data, out / "data", val=val, task=task)
    data, val_ds, cats = prep["data"], prep["val"], prep["categories"]
    data_yaml, n_train, n_val = prep["data_yaml"], prep["train_images"], prep["val_images"]

    from dropsynth.utility import offline

    offline.prepare()
    import torch
    import ultralytics
    from ultralytics import YOLO

    if quiet:
        from ultralytics.utils import LOGGER

        LOGGER.setLevel(logging.WARNING)
    dev = resolve_device(device)
    model_cfg = model or MODELS[task]
    args = dict(data=str(data_yaml), epochs=int(epochs), imgsz=int(imgsz), batch=int(batch), device=dev,
                seed=int(seed), deterministic=True, project=str(out.parent), name=out.name, exist_ok=True,
                pretrained=False, amp=False, plots=False, verbose=False, fraction=float(fraction),
                workers=int(workers if workers is not None else min(8, os.cpu_count() or 1)))
    if time_h is not None:
        args["time"] = float(time_h)
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    try:
        yolo = YOLO(model_cfg, task=task)
        yolo.train(**args)
    except FileNotFoundError as e:
        raise DropsynthError(f"training failed: {e}") from None
    seconds = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    epochs_done = _epochs_done(out) or epochs
    record = {
        "tool": "dropsynth", "task": task, "model": model_cfg, "data": str(data),
        "val": str(val_ds) if val_ds else None, "epochs": int(epochs), "epochs_done": int(epochs_done),
        "time_h": time_h, "imgsz": int(imgsz), "batch": int(batch), "seed": int(seed),
        "device": "cpu" if dev == "cpu" else torch.cuda.get_device_name(0),
        "names": [c["name"] for c in cats], "category_ids": [c["id"] for c in cats],
        "fraction": float(fraction), "train_images": max(1, round(n_train * fraction)), "val_images": n_val,
        "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
        "train_images_per_s": round(n_train * fraction * epochs_done / seconds, 3) if seconds > 0 else None,
        "weights": str(out / "weights" / "best.pt"), "torch": torch.__version__,
        "ultralytics": ultralytics.__version__, "machine": platform.machine(), "cpu_count": os.cpu_count(),
    }
    if not Path(record["weights"]).is_file():
        raise DropsynthError(f"{out}: training ended without weights/best.pt")
    write_text_atomic(out / TRAIN_META, json.dumps(record, indent=2) + "\n")
    (out / TRAINING).unlink(missing_ok=True)
    return record


def _training_marker(out: Path) -> bool:
    """Whether ``out`` holds our in-progress marker. A damaged one (empty, not
    a pid: a crash while a version before the atomic write wrote it) still
    counts, with a warning: only this function's run writes that name, into
    a folder it has just made or emptied."""
    mark = out / TRAINING
    if not mark.is_file():
        return False
    try:
        text = mark.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        text = ""
    if not text.isdigit():
        log.warning("%s: damaged marker (%s): a training run stopped while writing it; only dropsynth utility train "
                    "writes this name, so %s is still replaced", mark, "not a pid" if text else "empty", out)
    return True


def _ratios_of(dataset: Path) -> dict:
    from dropsynth.writers.splits import DEFAULT_RATIOS

    try:
        splits = json.loads((dataset / "run.json").read_text())["config"]["output"]["splits"]
    except (OSError, ValueError, KeyError, TypeError):
        splits = None
    return splits if isinstance(splits, dict) and splits else dict(DEFAULT_RATIOS)


def _epochs_done(run: Path) -> int | None:
    csv = run / "results.csv"
    try:
        return max(0, len(csv.read_text().strip().splitlines()) - 1)
    except OSError:
        return None


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (dataloader workers)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime
