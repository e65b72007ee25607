#!/usr/bin/env python3
"""Benchmark of the Cycles backend (needs the [cycles] extra); run through
``scripts/bench.py --renderer cycles``.

Seconds per frame of ``CyclesRenderer.render`` (path tracing, denoising,
reading the passes back; the raster labels are not in it) for each size and
sample count, with and without the denoiser, on the standard job's scenes
(15 objects, the default lights, an HDR environment drawn per view from the
built-in set): one warm-up view, then --views views, median. Then the
frames/s of a mixed run (``render.cycles_share`` 0.1, end to end through
``generate``, 1 worker) at the first size.

    .venv/bin/python scripts/bench.py --renderer cycles [--sizes 320x240,640x480] [--samples 16,64]
                                      [--views 3] [--mixed-frames 40] [--json FILE]
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path


def seconds_per_frame(width: int, height: int, samples: int, denoise: bool, views: int, seed: int = 0) -> float:
    from dropsynth import config
    from dropsynth.pipeline import selected_catalog
    from dropsynth.render import cycles_plan
    from dropsynth.render.cycles_backend import CyclesRenderer, CyclesSettings
    from dropsynth.scenes import builders
    from dropsynth.scenes.physics import PhysicsWorld

    cfg = config.load(None, {"seed": seed, "views_per_scene": views + 1, "scene": {"num_objects": [15, 15]},
                             "camera": {"width": width, "height": height}, "render": {"backend": "cycles"}})
    _, catalog = selected_catalog(cfg)
    world = PhysicsWorld()
    settled = world.settle(builders.get(cfg.scene.builder)(cfg, catalog, seed, 0), cfg.physics)
    world.close()
    r = CyclesRenderer(width, height, CyclesSettings(samples=samples, denoise=denoise,
                                                     threads=cycles_plan.threads_per_worker(cfg, 1)))
    hdris = cycles_plan.hdri_set(cfg)
    r.set_scene(settled)
    times = []
    for v, cam in enumerate(settled.spec.cameras):
        t0 = time.perf_counter()
        r.render(cam, cycles_plan.plan_view(cfg, seed, 0, v, hdris))
        if v > 0:  # the first view loads its environment and builds the scene: warm-up
            times.append(time.perf_counter() - t0)
    r.close()
    return statistics.median(times)


def mixed_run(width: int, height: int, frames: int, samples: int) -> dict:
    from dropsynth import config
    from dropsynth.pipeline import generate

    views = 5
    cfg = config.load(None, {"scenes": max(1, frames // views), "views_per_scene": views,
                             "scene": {"num_objects": [15, 15]}, "camera": {"width": width, "height": height},
                             "output": {"preview": False},
                             "render": {"backend": "cycles", "cycles_share": 0.1, "cycles_samples": samples}})
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        s = generate(cfg, Path(tmp) / "ds", workers=1)
        wall = time.perf_counter() - t0
    return {"frames": s.frames, "cycles_frames": s.renderers.get("cycles", 0), "seconds": round(wall, 2),
            "frames_per_s": round(s.frames / wall, 3)}


def main(args) -> dict:
    import os

    sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",")]
    samples = [int(x) for x in args.samples.split(",")]
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    out = {"cores": cores, "per_frame_s": [], "mixed": None}
    print(f"Cycles seconds per frame (CPU, {cores} cores, median of {args.views} views after a warm-up)")
    print(f"{'size':>9} {'samples':>7} {'denoise':>7} {'s/frame':>8}")
    for w, h in sizes:
        for n in samples:
            for dn in (False, True):
                s = seconds_per_frame(w, h, n, dn, args.views)
                out["per_frame_s"].append({"size": f"{w}x{h}", "samples": n, "denoise": dn, "s": round(s, 2)})
                print(f"{w}x{h:<4} {n:>7} {str(dn):>7} {s:8.2f}", flush=True)
    if args.mixed_frames > 0:
        w, h = sizes[0]
        m = mixed_run(w, h, args.mixed_frames, samples[0])
        out["mixed"] = {"size": f"{w}x{h}", "samples": samples[0], **m}
        print(f"mixed run, cycles_share 0.1, {w}x{h}, {samples[0]} samples, 1 worker: {m['frames']} frames "
              f"({m['cycles_frames']} by Cycles) in {m['seconds']} s = {m['frames_per_s']} frames/s")
    return out
