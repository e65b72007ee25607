"""The utility study from one YAML file: generate (or reuse) datasets, train
detectors on some, score them on others, report.

Study file::

    out: out/utility                 # study folder (relative to the file)
    device: auto                     # cpu | cuda | auto, for training and prediction
    datasets:                        # each made by `dropsynth generate` into OUT/datasets/NAME
      train_default: {seed: 1000, scenes: 150, views_per_scene: 4,
                      set: {camera.width: 320, camera.height: 240}}
      test_shifted:  {seed: 9001, scenes: 40, config: shifted.yaml, set: {...}}
      photoreal:     {path: /data/cycles_frames}   # an existing dataset, used as it is
    trainings:                       # each into OUT/trainings/NAME
      default: {data: train_default, epochs: 15, imgsz: 320, seed: 0}
    tests: [test_same, test_shifted]
    compare: [default, dr]           # the main comparison (the AP50-vs-cost plot)

Dataset keys: ``seed``, ``scenes``, ``views_per_scene``, ``config`` (a run
config file), ``set`` ({dotted key: value}, as ``--set``; ``*_folder`` values
relative to the study file), ``preset``, or
``path`` for a dataset made elsewhere. Training keys: ``data``, ``val`` (a
dataset name; default the val split of ``data``), ``epochs``, ``imgsz``,
``time_h``, ``seed``, ``task``, ``model``, ``batch``, ``fraction`` (of the
training images, for cost curves).

A dataset folder that already holds a finished run of the same spec is
reused (its cost read from the record written beside it); a training run
with the same settings on the same data is reused too. A test set may not
share a seed with any training set: scene i of a seed is the same pile
whatever the materials, so it would test on trained scenes.

Cost is the CPU time of the ``dropsynth generate`` process and its workers
(getrusage of the finished children), so it counts start-up, physics,
rendering and writing on every core; a dataset given by ``path`` takes the
stage CPU seconds of its run.json instead.
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from dropsynth.atomic import atomic_path, write_text_atomic
from dropsynth.errors import ConfigError, DropsynthError

__all__ = ["run_experiment", "load_study"]

STUDY_KEYS = {"out", "device", "datasets", "trainings", "tests", "compare", "title", "workers"}
DATASET_KEYS = {"seed", "scenes", "views_per_scene", "config", "set", "preset", "path", "note"}
TRAIN_KEYS = {"data", "val", "epochs", "imgsz", "time_h", "seed", "task", "model", "batch", "fraction", "note"}
RECORD = ".dropsynth-utility.json"


def _fail(path, key, msg):
    raise ConfigError(f"{path}: {key}: {msg}")


def _check_keys(path, where: str, spec, known: set) -> None:
    """``spec`` (at key path ``where``; "" for the top) is a mapping of ``known`` keys only."""
    if not isinstance(spec, dict):
        _fail(path, where, "expected a mapping")
    for k in spec:
        if k not in known:
            _fail(path, f"{where}.{k}" if where else k, f"unknown key (known: {', '.join(sorted(known))})")


def load_study(path: str | Path) -> dict:
    """Read and check a study file; paths resolved against its folder."""
    import yaml

    path = Path(path)
    try:
        study = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read ({e})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(study, dict):
        raise ConfigError(f"{path}: a study file is a mapping with datasets, trainings and tests")
    _check_keys(path, "", study, STUDY_KEYS)
    base = path.parent
    datasets = study.get("datasets")
    if not isinstance(datasets, dict) or not datasets:
        _fail(path, "datasets", "a non-empty mapping of name -> dataset spec is needed")
    for name, spec in datasets.items():
        _check_keys(path, f"datasets.{name}", spec, DATASET_KEYS)
        if "path" in spec:
            spec["path"] = str((base / spec["path"]).resolve())
        else:
            for k in ("seed", "scenes"):
                if not isinstance(spec.get(k), int) or isinstance(spec.get(k), bool) or spec[k] < 0:
                    _fail(path, f"datasets.{name}.{k}", "a non-negative integer is needed")
            if spec["scenes"] < 1:
                _fail(path, f"datasets.{name}.scenes", "must be at least 1")
            if "config" in spec and spec["config"] is not None:
                spec["config"] = str((base / spec["config"]).resolve())
            if not isinstance(spec.get("set", {}), dict):
                _fail(path, f"datasets.{name}.set", "expected a mapping of dotted key -> value")
            for k, v in (spec.get("set") or {}).items():  # folders, like the config's, are relative to this file
                if str(k).endswith("_folder") and isinstance(v, str):
                    spec["set"][k] = str((base / v).resolve())
    trainings = study.get("trainings")
    if not isinstance(trainings, dict) or not trainings:
        _fail(path, "trainings", "a non-empty mapping of name -> training spec is needed")
    for name, spec in trainings.items():
        _check_keys(path, f"trainings.{name}", spec, TRAIN_KEYS)
        for k in ("data", "val"):
            if k in spec and (not isinstance(spec[k], str) or spec[k] not in datasets):
                _fail(path, f"trainings.{name}.{k}", f"no dataset named {spec[k]!r}")
        for k in ("epochs", "imgsz", "seed", "batch"):
            v = spec.get(k)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < (0 if k == "seed" else 1)):
                _fail(path, f"trainings.{name}.{k}", f"a positive integer is needed, got {v!r}")
        if spec.get("time_h") is not None and (not isinstance(spec["time_h"], (int, float)) or spec["time_h"] <= 0):
            _fail(path, f"trainings.{name}.time_h", f"a number of hours > 0 is needed, got {spec['time_h']!r}")
        if spec.get("task", "detect") not in ("detect", "segment"):
            _fail(path, f"trainings.{name}.task", f"detect or segment, got {spec['task']!r}")
        if "data" not in spec:
            _fail(path, f"trainings.{name}.data", "missing: the dataset to train on")
        frac = spec.get("fraction", 1.0)
        if not isinstance(frac, (int, float)) or not 0 < frac <= 1:
            _fail(path, f"trainings.{name}.fraction", f"must be in (0, 1], got {frac!r}")
    tests = study.get("tests")
    if not isinstance(tests, list) or not tests:
        _fail(path, "tests", "a non-empty list of dataset names is needed")
    for t in tests:
        if not isinstance(t, str) or t not in datasets:
            _fail(path, "tests", f"no dataset named {t!r}")
    train_seeds = {}
    for name, spec in trainings.items():
        for role in ("data", "val"):
            d = datasets.get(spec.get(role))
            if d is not None and "seed" in d:
                train_seeds[d["seed"]] = spec[role]
    for t in tests:
        d = datasets[t]
        if any(t in (s.get("data"), s.get("val")) for s in trainings.values()):
            _fail(path, "tests", f"{t!r} is also trained or validated on")
        if "seed" in d and d["seed"] in train_seeds:
            _fail(path, f"datasets.{t}.seed", f"{d['seed']} is also the seed of {train_seeds[d['seed']]!r}, which "
                  f"is trained on: a test set must hold scenes no model trained on")
    compare = study.get("compare") or list(trainings)
    if not isinstance(compare, list):
        _fail(path, "compare", "a list of training names is needed")
    for c in compare:
        if not isinstance(c, str) or c not in trainings:
            _fail(path, "compare", f"no training named {c!r}")
    study["compare"] = compare
    study["out"] = str((base / study.get("out", "utility")).resolve())
    study["_file"] = str(path.resolve())
    return study


def _sha256(path: Path) -> str:
    import hashlib

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the dataset's config ({e.strerror or e})") from None


def _data_id(dataset: Path) -> str:
    """What a training or a score depends on: the dataset's COCO file."""
    return _sha256(dataset / "annotations" / "instances.json")


def _cli_value(v) -> str:
    return json.dumps(v)  # JSON is YAML: --set parses it back to the same value


def _children_cpu() -> float:
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return c.ru_utime + c.ru_stime


def _dataset(name: str, spec: dict, out: Path, workers: int | None, log: Callable[[str], None]) -> dict:
    if "path" in spec:
        d = Path(spec["path"])
        run = d / "run.json"
        if not (d / "annotations" / "instances.json").is_file():
            raise ConfigError(f"datasets.{name}.path: {d} holds no annotations/instances.json")
        cpu, frames = None, None
        if run.is_file():
            r = json.loads(run.read_text())
            cpu = sum((r.get("timings") or {}).get("stage_seconds", {}).values()) or None
            frames = (r.get("counts") or {}).get("frames")
        return {"name": name, "path": str(d), "frames": frames, "gen_cpu_s": cpu, "gen_wall_s": None,
                "cost": "run.json stage CPU seconds" if cpu else "unknown", "reused": True}
    d = out / "datasets" / name
    want = {k: spec.get(k) for k in ("seed", "scenes", "views_per_scene", "config", "set", "preset")}
    if spec.get("config"):  # an edited config file is another dataset
        want["config_sha256"] = _sha256(Path(spec["config"]))
    rec_path = d / RECORD
    if (d / "run.json").is_file() and rec_path.is_file():
        rec = json.loads(rec_path.read_text())
        if rec.get("spec") == want:
            log(f"dataset {name}: reusing {d}")
            return {**rec["result"], "reused": True}
    cmd = [sys.executable, "-m", "dropsynth.cli", "generate", "--out", str(d), "--seed", str(spec["seed"]),
           "--scenes", str(spec["scenes"]), "--no-progress"]
    if spec.get("views_per_scene"):
        cmd += ["--views-per-scene", str(spec["views_per_scene"])]
    if spec.get("config"):
        cmd += ["--config", spec["config"]]
    if spec.get("preset"):
        cmd += ["--preset", spec["preset"]]
    if workers:
        cmd += ["--workers", str(workers)]
    for k, v in (spec.get("set") or {}).items():
        cmd += ["--set", f"{k}={_cli_value(v)}"]
    if d.exists():
        cmd.append("--overwrite")
    log(f"dataset {name}: generating {spec['scenes']} scenes (seed {spec['seed']}) into {d}")
    cpu0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise DropsynthError(f"datasets.{name}: dropsynth generate failed: {tail}")
    run = json.loads((d / "run.json").read_text())
    result = {"name": name, "path": str(d), "frames": run["counts"]["frames"],
              "annotations": run["counts"].get("annotations"), "gen_cpu_s": round(cpu, 2),
              "gen_wall_s": round(wall, 2), "cost": "CPU time of dropsynth generate and its workers",
              "reused": False}
    write_text_atomic(rec_path, json.dumps({"spec": want, "result": result}, indent=2) + "\n")
    return result


def _training(name: str, spec: dict, ds: dict, out: Path, device: str, log) -> dict:
    from dropsynth.utility.train import TRAIN_META, train

    run = out / "trainings" / name
    settings = dict(data=ds[spec["data"]]["path"], val=ds[spec["val"]]["path"] if spec.get("val") else None,
                    epochs=int(spec.get("epochs", 15)), imgsz=int(spec.get("imgsz", 320)),
                    time_h=spec.get("time_h"), seed=int(spec.get("seed", 0)), task=spec.get("task", "detect"),
                    model=spec.get("model"), batch=int(spec.get("batch", 16)),
                    fraction=float(spec.get("fraction", 1.0)))
    settings["data_id"] = _data_id(Path(settings["data"]))
    if settings["val"]:
        settings["val_id"] = _data_id(Path(settings["val"]))
    meta = run / TRAIN_META
    if meta.is_file():
        rec = json.loads(meta.read_text())
        if rec.get("study_settings") == {**settings, "device": device}:
            log(f"training {name}: reusing {run}")
            return rec
    log(f"training {name}: {settings['epochs']} epochs at {settings['imgsz']} px on {spec['data']}")
    rec = train(settings["data"], run, val=settings["val"], epochs=settings["epochs"], imgsz=settings["imgsz"],
                time_h=settings["time_h"], device=device, seed=settings["seed"], task=settings["task"],
                model=settings["model"], batch=settings["batch"], fraction=settings["fraction"], overwrite=True,
                quiet=True)
    rec["study_settings"] = {**settings, "device": device}
    write_text_atomic(meta, json.dumps(rec, indent=2) + "\n")
    return rec


def run_experiment(config_path: str | Path, *, out: str | Path | None = None, device: str | None = None,
                   workers: int | None = None, log: Callable[[str], None] = lambda msg: None) -> dict:
    """Run a study (see the module docstring); returns the report's paths
    and numbers. ``log`` receives one line per step."""
    from dropsynth.utility import require_extra
    from dropsynth.utility.predict import predict
    from dropsynth.utility.score import load_json, score

    study = load_study(config_path)
    require_extra()
    out = Path(out).resolve() if out else Path(study["out"])
    out.mkdir(parents=True, exist_ok=True)
    device = device or study.get("device", "auto")
    workers = workers or study.get("workers")
    needed = set(study["tests"])
    for spec in study["trainings"].values():
        needed.update(x for x in (spec["data"], spec.get("val")) if x)
    ds = {n: _dataset(n, study["datasets"][n], out, workers, log) for n in study["datasets"] if n in needed}
    trainings = {n: _training(n, s, ds, out, device, log) for n, s in study["trainings"].items()}
    scores: dict = {}
    for tname, rec in trainings.items():
        scores[tname] = {}
        for test in study["tests"]:
            pred_path = out / "predictions" / f"{tname}__{test}.json"
            key_path = pred_path.with_name(pred_path.name + ".key")
            key = json.dumps({"weights": _sha256(Path(rec["weights"])), "test": _data_id(Path(ds[test]["path"]))})
            if not (pred_path.is_file() and key_path.is_file() and key_path.read_text() == key):
                log(f"predict {tname} on {test}")
                predict(rec["weights"], ds[test]["path"], pred_path, device=device)
                write_text_atomic(key_path, key)
            gt_path = Path(ds[test]["path"]) / "annotations" / "instances.json"
            s = score(load_json(gt_path, "ground truth"), load_json(pred_path, "results"),
                      gt_name=str(gt_path), pred_name=str(pred_path))
            scores[tname][test] = {k: s[k] for k in ("AP", "AP50", "AP75", "per_class_AP50", "results",
                                                     "images", "annotations")}
            log(f"  {tname} on {test}: AP50 {s['AP50']:.3f}  AP {s['AP']:.3f}")
    report = {"study": study["_file"], "title": study.get("title", "dropsynth utility study"),
              "datasets": ds, "trainings": {n: {k: r.get(k) for k in (
                  "data", "val", "epochs", "epochs_done", "imgsz", "seed", "task", "model", "device",
                  "train_images", "val_images", "seconds", "cpu_seconds", "train_images_per_s", "fraction",
                  "torch", "ultralytics", "weights")} for n, r in trainings.items()},
              "tests": study["tests"], "compare": study["compare"], "scores": scores}
    for n, spec in study["trainings"].items():
        d = ds[spec["data"]]
        frac = float(spec.get("fraction", 1.0))
        report["trainings"][n]["data_name"] = spec["data"]
        report["trainings"][n]["gen_cpu_s"] = round(d["gen_cpu_s"] * frac, 2) if d.get("gen_cpu_s") else None
    js = out / "report.json"
    write_text_atomic(js, json.dumps(report, indent=2) + "\n")
    md = out / "report.md"
    write_text_atomic(md, _markdown(report))
    plot = out / "report.png"
    _plot(report, plot)
    return {"report_md": str(md), "report_json": str(js), "plot": str(plot), "report": report}


def _markdown(rep: dict) -> str:
    tests = rep["tests"]
    lines = [f"# {rep['title']}", "", f"Study file: `{rep['study']}`", "",
             "AP50 (COCO AP in brackets) of each training set on each test set:", "",
             "| training | data | frames | gen CPU s | train s | " + " | ".join(tests) + " |",
             "|---|---|---:|---:|---:|" + "---:|" * len(tests)]
    for n, t in rep["trainings"].items():
        d = rep["datasets"][t["data_name"]]
        cells = [f"{rep['scores'][n][x]['AP50']:.3f} ({rep['scores'][n][x]['AP']:.3f})" for x in tests]
        gen = f"{t['gen_cpu_s']:.0f}" if t.get("gen_cpu_s") else "?"
        lines.append(f"| {n} | {t['data_name']} | {d.get('frames') or '?'} | {gen} | {t['seconds']:.0f} | "
                     + " | ".join(cells) + " |")
    lines += ["", "Datasets:", "", "| dataset | frames | gen CPU s | gen wall s | path |", "|---|---:|---:|---:|---|"]
    for n, d in rep["datasets"].items():
        cpu = f"{d['gen_cpu_s']:.0f}" if d.get("gen_cpu_s") else "?"
        wall = f"{d['gen_wall_s']:.0f}" if d.get("gen_wall_s") else "-"
        lines.append(f"| {n} | {d.get('frames') or '?'} | {cpu} | {wall} | `{d['path']}` |")
    lines += ["", "Trainings:", "", "| training | device | epochs | images | train images/s |", "|---|---|---:|---:|---:|"]
    for n, t in rep["trainings"].items():
        lines.append(f"| {n} | {t['device']} | {t['epochs_done']} | {t['train_images']} | {t['train_images_per_s']} |")
    lines += ["", "Per-class AP50:", ""]
    for n in rep["trainings"]:
        for x in tests:
            per = rep["scores"][n][x]["per_class_AP50"]
            lines.append(f"- {n} on {x}: " + ", ".join(f"{k} {'-' if v is None else f'{v:.2f}'}"
                                                        for k, v in per.items()))
    return "\n".join(lines) + "\n"


def _plot(rep: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    tests, names = rep["tests"], list(rep["trainings"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    w = 0.8 / max(1, len(names))
    x = np.arange(len(tests))
    for i, n in enumerate(names):
        a.bar(x + i * w - 0.4 + w / 2, [rep["scores"][n][t]["AP50"] for t in tests], w, label=n)
    a.set_xticks(x, tests, rotation=15)
    a.set_ylabel("AP50")
    a.set_ylim(0, 1)
    a.set_title("AP50 per test domain")
    a.legend(fontsize=8)
    for t in tests:
        pts = [(rep["trainings"][n].get("gen_cpu_s"), rep["scores"][n][t]["AP50"], n) for n in rep["compare"]]
        pts = [p for p in pts if p[0]]
        if pts:
            b.plot([p[0] for p in pts], [p[1] for p in pts], "o", label=t)
            for cx, cy, n in pts:
                b.annotate(n, (cx, cy), fontsize=7, xytext=(3, 3), textcoords="offset points")
    b.set_xlabel("generation CPU seconds of the training data")
    b.set_ylabel("AP50")
    b.set_ylim(0, 1)
    b.set_title("AP50 against the cost of the data")
    b.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
