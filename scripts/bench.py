#!/usr/bin/env python3
"""Benchmark: the standard scene end to end, with a per-stage breakdown.

Standard job: 640x480, 15 objects per scene, 5 views per scene, RGB + depth +
instance PNGs + COCO (polygons by default). Runs in-process through
``dropsynth.pipeline.generate`` (the same path as the CLI) into a temporary
folder and prints frames/s plus seconds per frame for each stage.

    .venv/bin/python scripts/bench.py [--scenes 20] [--mask-format polygon|rle]
                                      [--vs-peer] [--json FILE]
    .venv/bin/python scripts/bench.py --workers 1,2 [--frames 1000]

--vs-peer also runs ../shared/bench/peer_pybullet.py (the same job written by
hand with PyBullet's own renderer) on the same number of scenes and views, in
alternating rounds, and prints the median frames/s of each and their ratio.

--workers 1,2 runs the CLI (`dropsynth generate --workers N`) as a separate
process tree for each worker count on a run of --frames frames, sampling the
resident memory (RSS) of the parent and of every worker from /proc four times
a second: it prints frames/s, the peak RSS of the parent and of the largest
worker, and how much each grew between the first and the last fifth of the
run (flat memory: growth near zero).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT.parent / "shared" / "bench" / "peer_pybullet.py"


def run_dropsynth(scenes: int, views: int, width: int, height: int, mask_format: str, seed: int) -> dict:
    from dropsynth import config
    from dropsynth.pipeline import generate

    overrides = {
        "seed": seed, "scenes": scenes, "views_per_scene": views,
        "scene": {"num_objects": [15, 15]},
        "camera": {"width": width, "height": height},
        "output": {"mask_format": mask_format, "preview": False},
    }
    cfg = config.load(None, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        s = generate(cfg, Path(tmp) / "ds")
        wall = time.perf_counter() - t0
    return {"frames": s.frames, "seconds": wall, "frames_per_s": s.frames / wall,
            "stage_seconds": s.stage_seconds, "annotations": s.annotations, "gl_renderer": s.gl_renderer,
            "removed": s.removed_objects, "unplaced": s.unplaced_objects}


def run_peer(scenes: int, views: int, width: int, height: int, seed: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, str(PEER), "--out", tmp, "--scenes", str(scenes), "--views",
                              str(views), "--width", str(width), "--height", str(height), "--seed", str(seed)],
                             capture_output=True, text=True, check=True).stdout
    return float(re.findall(r"frames/s: ([0-9.]+)", out)[-1])


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def run_workers(workers: int, frames: int, views: int, width: int, height: int, seed: int) -> dict:
    """The CLI as its own process tree, with RSS sampled from /proc."""
    scenes = -(-frames // views)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ds"
        cmd = [sys.executable, "-m", "dropsynth.cli", "generate", "--out", str(out), "--scenes", str(scenes),
               "--views-per-scene", str(views), "--width", str(width), "--height", str(height), "--seed", str(seed),
               "--set", "scene.num_objects=[15, 15]", "--set", "output.preview=false", "--workers", str(workers),
               "--no-progress"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        samples = []  # (t, parent MB, {worker pid: MB})
        while proc.poll() is None:
            kids = {k: _rss_mb(k) for k in _children(proc.pid)}
            # spawn's resource tracker is a child too, but tiny; workers are the big ones
            samples.append((time.perf_counter() - t0, _rss_mb(proc.pid), {k: v for k, v in kids.items() if v}))
            time.sleep(0.25)
        wall = time.perf_counter() - t0
        err = proc.stderr.read()
        if proc.returncode != 0:
            raise SystemExit(f"generate failed: {err.strip()}")
        run = json.loads((out / "run.json").read_text())
    samples = [s for s in samples if s[1]]
    n = len(samples)
    first = samples[n // 10: max(n // 10 + 1, n // 5)]
    last = samples[-max(1, n // 5):]

    def worker_max(ss):
        return max((max(s[2].values()) if s[2] else 0.0) for s in ss)

    def avg(xs):
        return sum(xs) / max(len(xs), 1)

    res = {
        "workers": workers, "frames": run["counts"]["frames"], "seconds": wall,
        "frames_per_s": run["counts"]["frames"] / wall,
        "peak_rss_parent_mb": max(s[1] for s in samples),
        "peak_rss_worker_mb": worker_max(samples) if workers > 1 else max(s[1] for s in samples),
        "parent_growth_mb": avg([s[1] for s in last]) - avg([s[1] for s in first]),
    }
    if workers > 1:
        res["worker_growth_mb"] = avg([max(s[2].values()) for s in last if s[2]]) - avg(
            [max(s[2].values()) for s in first if s[2]])
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=20)
    ap.add_argument("--views", type=int, default=5)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--mask-format", choices=("polygon", "rle"), default="polygon")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds with --vs-peer")
    ap.add_argument("--vs-peer", action="store_true")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--workers", help="comma-separated worker counts: run the CLI with each (e.g. 1,2)")
    ap.add_argument("--frames", type=int, default=1000, help="frames per run with --workers")
    a = ap.parse_args()

    if a.workers:
        rows = []
        for w in [int(x) for x in a.workers.split(",")]:
            r = run_workers(w, a.frames, a.views, a.width, a.height, a.seed)
            rows.append(r)
            grow = f", worker growth {r['worker_growth_mb']:+.1f} MB" if "worker_growth_mb" in r else ""
            print(f"workers {w}: {r['frames']} frames in {r['seconds']:.1f} s = {r['frames_per_s']:.2f} frames/s; "
                  f"peak RSS parent {r['peak_rss_parent_mb']:.0f} MB, per worker {r['peak_rss_worker_mb']:.0f} MB; "
                  f"parent growth {r['parent_growth_mb']:+.1f} MB{grow} (first vs last fifth)", flush=True)
        if a.json:
            Path(a.json).write_text(json.dumps(rows, indent=2) + "\n")
        return

    result = {"job": {"scenes": a.scenes, "views_per_scene": a.views, "objects": 15, "width": a.width,
                      "height": a.height, "mask_format": a.mask_format}}
    # Warm-up outside the timing: imports, GL context, mesh loading.
    run_dropsynth(1, 1, a.width, a.height, a.mask_format, a.seed + 1000)
    if a.vs_peer:
        ours, peer = [], []
        for r in range(a.rounds):
            d = run_dropsynth(a.scenes, a.views, a.width, a.height, a.mask_format, a.seed + r)
            ours.append(d)
            peer.append(run_peer(a.scenes, a.views, a.width, a.height, a.seed + r))
            print(f"round {r + 1}: dropsynth {d['frames_per_s']:.2f} frames/s, peer {peer[-1]:.2f} frames/s",
                  flush=True)
        d = sorted(ours, key=lambda x: x["frames_per_s"])[len(ours) // 2]
        result["peer_frames_per_s"] = statistics.median(peer)
    else:
        d = run_dropsynth(a.scenes, a.views, a.width, a.height, a.mask_format, a.seed)
    result["dropsynth"] = d
    n = d["frames"]
    print(f"job: {a.scenes} scenes x {a.views} views, 15 objects, {a.width}x{a.height}, "
          f"{a.mask_format} masks, 1 process; GL: {d['gl_renderer']}")
    print(f"dropsynth: {n} frames in {d['seconds']:.2f} s = {d['frames_per_s']:.2f} frames/s "
          f"({d['annotations']} annotations, {d['removed']} objects fell off, {d['unplaced']} unplaced)")
    print("per frame:  " + "  ".join(f"{k} {1000 * v / n:.1f} ms" for k, v in d["stage_seconds"].items()))
    if a.vs_peer:
        ratio = d["frames_per_s"] / result["peer_frames_per_s"]
        result["ratio"] = ratio
        print(f"peer (PyBullet TinyRenderer, by hand): {result['peer_frames_per_s']:.2f} frames/s (median)")
        print(f"ratio dropsynth / peer: {ratio:.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
