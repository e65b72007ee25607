#!/usr/bin/env python3
"""CPU time per frame, per stage, of the standard job on one core.

The standard job of ``scripts/bench.py`` (640x480, 15 objects per scene,
5 views per scene, RGB + depth + instance PNGs + COCO polygons, the default
``render.quality=fast``) runs in-process through
``dropsynth.pipeline.generate`` with 1 worker, pinned to one core
(``os.sched_setaffinity``) with one llvmpipe thread (``LP_NUM_THREADS=1``,
set before GL starts). Every figure is CPU time of the whole process (all
its threads, llvmpipe's included: ``time.process_time``), not wall time, so
other jobs on a shared machine move it little.

    .venv/bin/python scripts/profile_frame.py [--scenes 8] [--repeats 3] [--cpu 0] [--json FILE]

The generator's stages (build, physics, render, annotate, write) are its own
timers, read here through CPU time instead of wall time; the sub-stages
(render: set_scene and the frame pass; annotate: instance masks and
polygons; write: PNG encoding and the depth conversion) time the named
functions. ``total`` is the CPU time of the whole ``generate`` call (per-run
work included: catalog, GL and PyBullet start-up, merge) over its frames.
A warm-up run of one scene (shader compilation, imports, caches) comes
first and is not counted; each figure is the median over ``--repeats`` runs.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

SUB = {  # sub-stage -> (module, attribute path)
    "render.set_scene": ("dropsynth.render.pyrender_backend", "PyrenderRenderer.set_scene"),
    "render.frame_pass": ("dropsynth.render.frame_pass", "FramePass.render"),
    "annotate.instance_masks": ("dropsynth.annotate", "instance_masks"),
    "annotate.polygons": ("dropsynth.annotate", "mask_to_polygons"),  # one mask at a time (yolo, older code)
    "annotate.polygons_frame": ("dropsynth.annotate", "masks_to_polygons"),  # a frame's masks together
    "write.encode_png": ("dropsynth.writers.png", "encode_png"),
    "write.depth_units": ("dropsynth.writers.images", "depth_to_png_units"),
}


def _instrument(acc: dict) -> None:
    """Wrap the sub-stage functions and point the generator's and shard's
    stage timers at CPU time."""
    import importlib

    cpu_clock = types.SimpleNamespace(perf_counter=time.process_time)
    for mod in ("dropsynth.generator", "dropsynth.shards"):
        importlib.import_module(mod).time = cpu_clock
    for name, (mod, path) in SUB.items():
        owner = importlib.import_module(mod)
        *head, attr = path.split(".")
        for h in head:
            owner = getattr(owner, h)
        fn = getattr(owner, attr, None)
        if fn is None:  # not in this version of the code
            continue

        def timed(*a, _fn=fn, _name=name, **k):
            t0 = time.process_time()
            try:
                return _fn(*a, **k)
            finally:
                acc[_name] = acc.get(_name, 0.0) + time.process_time() - t0

        setattr(owner, attr, timed)


def run_once(scenes: int, seed: int, acc: dict) -> dict:
    """One standard run; returns {stage: CPU ms per frame} and the frame count."""
    from dropsynth import config
    from dropsynth.pipeline import generate

    cfg = config.load(None, {"seed": seed, "scenes": scenes, "views_per_scene": 5,
                             "scene": {"num_objects": [15, 15]}, "camera": {"width": 640, "height": 480},
                             "output": {"mask_format": "polygon", "preview": False},
                             "render": {"quality": "fast"}})
    acc.clear()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.process_time()
        s = generate(cfg, Path(tmp) / "ds", workers=1)
        total = time.process_time() - t0
    n = s.frames
    out = {k: 1e3 * v / n for k, v in s.stage_seconds.items() if v}
    out.update({k: 1e3 * v / n for k, v in acc.items()})
    out["total"] = 1e3 * total / n
    return {"frames": n, "ms": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cpu", type=int, default=None, help="the core to pin to (default: the first allowed)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = ap.parse_args()
    cpu = a.cpu if a.cpu is not None else min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})  # before GL starts: llvmpipe's thread inherits it
    os.environ["LP_NUM_THREADS"] = "1"
    acc: dict = {}
    _instrument(acc)
    run_once(1, a.seed + 1, acc)  # warm-up
    runs = [run_once(a.scenes, a.seed, acc) for _ in range(a.repeats)]
    keys = list(dict.fromkeys(k for r in runs for k in r["ms"]))
    med = {k: statistics.median(r["ms"].get(k, 0.0) for r in runs) for k in keys}
    print(f"CPU ms per frame, core {cpu}, LP_NUM_THREADS=1, {a.scenes} scenes x 5 views, "
          f"median of {a.repeats} runs:")
    for k in keys:
        spread = " ".join(f"{r['ms'].get(k, 0.0):6.2f}" for r in runs)
        print(f"  {k:26s} {med[k]:7.2f}   ({spread})")
    if a.json is not None:
        a.json.write_text(json.dumps({"median_ms": med, "runs": runs}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
