#!/usr/bin/env python3
"""Benchmark: the standard scene end to end, with a per-stage breakdown.

Standard job: 640x480, 15 objects per scene, 5 views per scene, RGB + depth +
instance PNGs + COCO (polygons by default), with dropsynth's default render
quality. Runs in-process through ``dropsynth.pipeline.generate`` (the same
path as the CLI) into a temporary folder and prints frames/s plus
milliseconds per frame for each stage.

    .venv/bin/python scripts/bench.py [--scenes 20] [--mask-format polygon|rle]
                                      [--vs-peer [--rounds 3] [--cores N]] [--json FILE]
    .venv/bin/python scripts/bench.py --first-frame [--rounds 3]
    .venv/bin/python scripts/bench.py --workers 1,2 [--frames 1000]
    .venv/bin/python scripts/bench.py --renderer cycles [--sizes 320x240,640x480] [--samples 16,64]
    .venv/bin/python scripts/bench.py --effects [--rounds 3]

--quality fast|realistic (or a list, e.g. fast,realistic) sets render.quality
for every mode; with --vs-peer a list runs each level in every round, beside
the same peer runs (the levels compared on equal terms on a shared machine).

--effects renders the standard scenes in-process with each realism effect
alone (render.<effect>=true), all of them (realistic) and none (fast),
alternating renderers view by view, and prints the cost of each per
640x480 frame (set-up per scene spread over its views, render, camera
effects), in CPU time of the process (all its threads: other jobs on a
shared machine move it less than wall time), as the median over --rounds
rounds, with one llvmpipe thread (what each worker gets on all cores).

--vs-peer also runs ../shared/bench/peer_pybullet.py (the same job written by
hand with PyBullet's own renderer, run unchanged) in alternating rounds,
twice per round:
 - 1 worker, one core: dropsynth with one worker against one peer process,
   on --scenes scenes each, both pinned to the same single core (each a
   fresh process; dropsynth's one worker would otherwise shade on every
   core through llvmpipe's threads, the peer's TinyRenderer on one);
 - all cores: dropsynth with --workers N (N = --cores, default: the cores
   this process may use) on N x --scenes scenes, against N peer processes
   started together on --scenes scenes each.
One rule gives every frames/s figure, for both sides (steady_rate): the
frames after the first one done over the time from the first frame done to
the last, across all processes of the run. Start-up (imports, GL and
PyBullet, spawning workers) is left out alike; dropsynth's final merge and
run.json are left out as the peer's COCO file is. The peer's frames are
timed by a probe that wraps Pillow's save (a frame is done when its
instance PNG is written). Beside it: dropsynth's frames over the whole wall
time of generate(), and the peers' own printed figures summed (the rule
before: it counted each peer process over its own loop only). It prints each
round, the median frames/s of each side and their ratio, the median and
lowest of the per-round ratios, the per-stage breakdown of the median
1-worker run, and then the first-frame latency (as --first-frame).

--first-frame runs the real CLI (`dropsynth generate`, a fresh process) and
measures the time from starting the command to the first frame file in
rgb/, with 1 worker and with the default (all cores), --rounds times each.

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


QUALITY = ["fast"]  # render.quality of every dropsynth run (--quality)


def steady_rate(times: list[float]) -> float:
    """The one rule for both sides: frames per second from the first frame
    done to the last, over every process of the run together (the frames
    after the first, over the time between them). Start-up before the first
    frame is left out alike; workers or processes that start late, and a
    last one finishing alone, fall inside the window alike."""
    times = sorted(times)
    if len(times) < 2 or times[-1] <= times[0]:
        raise SystemExit("too few frames to measure a rate: raise --scenes")
    return (len(times) - 1) / (times[-1] - times[0])


def run_dropsynth(scenes: int, views: int, width: int, height: int, mask_format: str, seed: int,
                  workers: int = 1, quality: str | None = None) -> dict:
    from dropsynth import config
    from dropsynth.pipeline import generate

    overrides = {
        "seed": seed, "scenes": scenes, "views_per_scene": views,
        "scene": {"num_objects": [15, 15]},
        "camera": {"width": width, "height": height},
        "output": {"mask_format": mask_format, "preview": False},
        "render": {"quality": quality or QUALITY[0]},
    }
    cfg = config.load(None, overrides)
    done = []  # time.perf_counter() (CLOCK_MONOTONIC, one clock for every process) of each frame done

    def progress(n, _annotations=0):
        done.extend([time.perf_counter()] * n)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        s = generate(cfg, Path(tmp) / "ds", workers=workers, progress=progress)
        wall = time.perf_counter() - t0
    return {"frames": s.frames, "workers": workers, "seconds": wall, "frames_per_s": steady_rate(done) if len(done) > 1 else s.frames / wall,
            "frames_per_s_wall": s.frames / wall, "first_frame_s": min(done) - t0,
            "stage_seconds": s.stage_seconds, "annotations": s.annotations, "gl_renderer": s.gl_renderer,
            "removed": s.removed_objects, "unplaced": s.unplaced_objects}


# A child process pins itself (every thread it starts after, llvmpipe's included) to the core in BENCH_CPU.
PIN = "import os; os.environ.get('BENCH_CPU') and os.sched_setaffinity(0, {int(os.environ['BENCH_CPU'])}); "


def _pin(cpu: int | None) -> dict:
    """The environment of a child process that runs on ``cpu`` only (None: anywhere)."""
    env = {k: v for k, v in os.environ.items() if k != "BENCH_CPU"}
    return env if cpu is None else {**env, "BENCH_CPU": str(cpu)}


def run_dropsynth_on(cpu: int | None, *args, **kw) -> dict:
    """run_dropsynth in a fresh child process pinned to ``cpu`` (every thread
    of it, llvmpipe's included, on that one core)."""
    code = (PIN + "import json, sys; sys.path.insert(0, sys.argv[1]); import bench; "
            "print('RESULT', json.dumps(bench.run_dropsynth(*json.loads(sys.argv[2]), **json.loads(sys.argv[3]))))")
    p = subprocess.run([sys.executable, "-c", code, str(Path(__file__).resolve().parent), json.dumps(args),
                        json.dumps(kw)], check=False, capture_output=True, text=True, env=_pin(cpu))
    if p.returncode != 0:
        raise SystemExit(f"dropsynth run failed: {p.stderr.strip()[-2000:]}")
    return json.loads(p.stdout.rsplit("RESULT ", 1)[1])


# Runs the peer unchanged, recording when each of its frames is done (its
# instance PNG written: the last file of a frame; its RLE masks follow, a
# constant shift that the rate does not see), printed when it exits.
PEER_PROBE = PIN + """
import atexit, os, runpy, sys, time
from PIL import Image
done = []
_save = Image.Image.save
def save(self, fp, *a, **k):
    _save(self, fp, *a, **k)
    if os.path.basename(os.path.dirname(str(fp))) == 'instances':
        done.append(time.perf_counter())
Image.Image.save = save
atexit.register(lambda: print('FRAMES_DONE', ' '.join(repr(t) for t in done), flush=True))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
"""


def run_peers(processes: int, scenes: int, views: int, width: int, height: int, seed: int,
              cpu: int | None = None) -> dict:
    """``processes`` peer processes started together, each on ``scenes``
    scenes (pinned to ``cpu`` when given); returns their frames/s by the
    same rule as dropsynth's (``steady_rate`` over the frames of all of
    them), and the sum of what each printed (its own loop, as the peer
    measures itself)."""
    with tempfile.TemporaryDirectory() as tmp:
        procs = [subprocess.Popen([sys.executable, "-c", PEER_PROBE, str(PEER), "--out", str(Path(tmp) / str(k)),
                                   "--scenes", str(scenes), "--views", str(views), "--width", str(width),
                                   "--height", str(height), "--seed", str(seed + 1000 * k)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_pin(cpu))
                 for k in range(processes)]
        done, own = [], 0.0
        for p in procs:
            out, err = p.communicate()
            if p.returncode != 0:
                raise SystemExit(f"peer failed: {err.strip()}")
            own += float(re.findall(r"frames/s: ([0-9.]+)", out)[-1])
            done += [float(t) for t in out.rsplit("FRAMES_DONE", 1)[1].split()]
    if len(done) != processes * scenes * views:
        raise SystemExit(f"peer: {len(done)} frames seen, {processes * scenes * views} expected")
    return {"frames_per_s": steady_rate(done), "own_frames_per_s": own}


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("dropsynth")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "dropsynth.cli"]


def first_frame_latency(workers: int | None, seed: int) -> float:
    """Seconds from starting `dropsynth generate` (a new process) to the
    first complete frame file in rgb/ (frames are renamed into place when
    complete; temporaries start with a dot)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ds"
        cmd = _cli() + ["generate", "--out", str(out), "--scenes", "2", "--views-per-scene", "5", "--seed",
                        str(seed), "--set", "output.preview=false", "--set", f"render.quality={QUALITY[0]}",
                        "--no-progress"]
        if workers is not None:
            cmd += ["--workers", str(workers)]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        first = None
        rgb = out / "rgb"
        while first is None and proc.poll() is None:
            try:
                if any(not n.startswith(".") for n in os.listdir(rgb)):
                    first = time.perf_counter() - t0
            except FileNotFoundError:
                pass
            time.sleep(0.002)
        err = proc.communicate()[1]
        if proc.returncode != 0:
            raise SystemExit(f"generate failed: {err.strip()}")
        if first is None:  # finished between two looks
            first = time.perf_counter() - t0
    return first


def render_quality() -> str:
    """dropsynth's default render quality, in words, from the default config."""
    from dropsynth import config

    cfg = config.load(None)
    lo, hi = cfg.lights.count
    aa = "off" if cfg.render.msaa == 0 else f"{cfg.render.msaa}x MSAA"
    return (f"pyrender's metallic-roughness BRDF per pixel (textures, base colour, metallic, roughness), "
            f"{lo}-{hi} lights ({'/'.join(cfg.lights.kinds)}) + ambient; anti-aliasing {aa} "
            f"(render.msaa={cfg.render.msaa}); render.quality={','.join(QUALITY)}")


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
               "--set", "scene.num_objects=[15, 15]", "--set", "output.preview=false",
               "--set", f"render.quality={QUALITY[0]}", "--workers", str(workers),
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
    ap.add_argument("--scenes", type=int, default=12)
    ap.add_argument("--views", type=int, default=5)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--mask-format", choices=("polygon", "rle"), default="polygon")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds with --vs-peer")
    ap.add_argument("--vs-peer", action="store_true")
    ap.add_argument("--cores", type=int, help="workers and peer processes for the all-cores figure "
                                              "(default: the cores this process may use)")
    ap.add_argument("--first-frame", action="store_true", help="only the first-frame latency of the CLI")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--workers", help="comma-separated worker counts: run the CLI with each (e.g. 1,2)")
    ap.add_argument("--frames", type=int, default=1000, help="frames per run with --workers")
    ap.add_argument("--renderer", choices=("raster", "cycles"), default="raster",
                    help="cycles: seconds per Cycles frame and a mixed run (scripts/bench_cycles.py)")
    ap.add_argument("--sizes", default="320x240,640x480", help="with --renderer cycles")
    ap.add_argument("--samples", default="16,64", help="with --renderer cycles: samples per pixel")
    ap.add_argument("--mixed-frames", type=int, default=40, help="with --renderer cycles: frames of the mixed run")
    ap.add_argument("--quality", default="fast", help="render.quality: fast, realistic, or a comma-separated "
                                                      "list (with --vs-peer: each level in every round)")
    ap.add_argument("--effects", action="store_true", help="only the cost per frame of each realism effect")
    a = ap.parse_args()
    QUALITY[:] = [q.strip() for q in a.quality.split(",")]
    if a.effects:
        effect_costs(a.rounds, a.width, a.height, a.seed)
        return
    from dropsynth.pipeline import default_workers

    cores = a.cores or default_workers()

    if a.renderer == "cycles":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import bench_cycles

        a.views = 3 if a.views == 5 else a.views  # per size and setting; path tracing is slow
        res = bench_cycles.main(a)
        if a.json:
            Path(a.json).write_text(json.dumps(res, indent=2) + "\n")
        return

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

    if a.first_frame:
        report_first_frame(a.rounds, a.seed, cores)
        return

    result = {"job": {"scenes": a.scenes, "views_per_scene": a.views, "objects": 15, "width": a.width,
                      "height": a.height, "mask_format": a.mask_format}, "render": render_quality()}
    # Warm-up outside the timing: imports, GL context, mesh loading.
    run_dropsynth(1, 1, a.width, a.height, a.mask_format, a.seed + 1000)
    print(f"job: {a.views} views per scene, 15 objects, {a.width}x{a.height}, {a.mask_format} masks, "
          f"PNG files on disk")
    print(f"render: {result['render']}", flush=True)
    if a.vs_peer:
        rows = {}
        for q in QUALITY:
            tag = f", {q}" if len(QUALITY) > 1 else ""
            rows[f"1 worker, one core{tag}"] = ([], [])
            rows[f"all cores ({cores}){tag}"] = ([], [])
        # As many scenes as the peers together, rounded up to whole shards per
        # worker (an unequal last shard would leave a core idle at the end).
        per = 4 * cores  # output.shard_scenes (default 4) per worker
        all_scenes = -(-a.scenes * cores // per) * per
        cpu = min(os.sched_getaffinity(0))  # the one core of the 1-worker runs, both sides
        for r in range(a.rounds):
            seed = a.seed + r
            p1 = run_peers(1, a.scenes, a.views, a.width, a.height, seed, cpu=cpu)
            d1 = {q: run_dropsynth_on(cpu, a.scenes, a.views, a.width, a.height, a.mask_format, seed, quality=q)
                  for q in QUALITY}
            pn = run_peers(cores, a.scenes, a.views, a.width, a.height, seed)
            dn = {q: run_dropsynth(all_scenes, a.views, a.width, a.height, a.mask_format, seed, workers=cores,
                                   quality=q) for q in QUALITY}
            runs = [x for q in QUALITY for x in ((d1[q], p1), (dn[q], pn))]
            for (ours, peer), (d, p) in zip(rows.values(), runs):
                ours.append(d)
                peer.append(p)
            for q in QUALITY:
                print(f"round {r + 1} ({q}): 1 worker on one core: dropsynth {d1[q]['frames_per_s']:.2f}, "
                      f"peer {p1['frames_per_s']:.2f} frames/s (x{d1[q]['frames_per_s'] / p1['frames_per_s']:.2f}); "
                      f"all cores ({cores}): dropsynth {dn[q]['frames_per_s']:.2f} ({dn[q]['frames']} frames), "
                      f"peer x{cores} {pn['frames_per_s']:.2f} frames/s "
                      f"(x{dn[q]['frames_per_s'] / pn['frames_per_s']:.2f}; the peers' own figures summed: "
                      f"{pn['own_frames_per_s']:.2f})", flush=True)
        result["comparison"] = {}
        # The machine may be shared: besides the ratio of the medians, the
        # median of each round's own ratio (its two runs ran back to back).
        print(f"\nmedian of {a.rounds} rounds (frames/s)   dropsynth   peer   ratio   per round: median, lowest")
        for name, (ours, peer) in rows.items():
            med = sorted(ours, key=lambda x: x["frames_per_s"])[len(ours) // 2]
            pm = statistics.median(p["frames_per_s"] for p in peer)
            ratios = [o["frames_per_s"] / p["frames_per_s"] for o, p in zip(ours, peer)]
            result["comparison"][name] = {"dropsynth": med, "peer_frames_per_s": pm,
                                          "ratio": med["frames_per_s"] / pm,
                                          "ratio_per_round": statistics.median(ratios),
                                          "lowest_ratio": min(ratios),
                                          "rounds": [{"dropsynth": o["frames_per_s"],
                                                      "dropsynth_wall": o["frames_per_s_wall"],
                                                      "peer": p["frames_per_s"], "peer_own": p["own_frames_per_s"]}
                                                     for o, p in zip(ours, peer)]}
            print(f"{name:42s} {med['frames_per_s']:9.2f} {pm:6.2f} {med['frames_per_s'] / pm:7.2f} "
                  f"{statistics.median(ratios):9.2f} {min(ratios):6.2f}")
        d = result["comparison"][next(iter(rows))]["dropsynth"]
    else:
        d = run_dropsynth(a.scenes, a.views, a.width, a.height, a.mask_format, a.seed)
        result["dropsynth"] = d
    n = d["frames"]
    print(f"\ndropsynth, 1 worker: {n} frames in {d['seconds']:.2f} s = {d['frames_per_s_wall']:.2f} frames/s "
          f"(first frame to last: {d['frames_per_s']:.2f}) "
          f"({d['annotations']} annotations, {d['removed']} objects fell off, {d['unplaced']} unplaced); "
          f"GL: {d['gl_renderer']}")
    print("per frame:  " + "  ".join(f"{k} {1000 * v / n:.1f} ms" for k, v in d["stage_seconds"].items()))
    if a.vs_peer:
        print()
        result["first_frame_s"] = report_first_frame(a.rounds, a.seed, cores)
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2) + "\n")


def effect_costs(rounds: int, width: int, height: int, seed: int, scenes: int = 4) -> dict:
    """ms per frame of each realism effect alone, all (realistic) and none (fast); see --effects."""
    os.environ.setdefault("LP_NUM_THREADS", "1")
    from dropsynth import config
    from dropsynth.pipeline import selected_catalog
    from dropsynth.render import post, realism
    from dropsynth.render.pyrender_backend import PyrenderRenderer
    from dropsynth.scenes import builders
    from dropsynth.scenes.physics import PhysicsWorld

    levels = {"fast": {}, **{e: {e: True} for e in realism.EFFECTS}, "realistic (all)": {"quality": "realistic"}}
    cfgs = {k: config.load(None, {"scene": {"num_objects": [15, 15]}, "views_per_scene": 5,
                                  "camera": {"width": width, "height": height}, "render": v})
            for k, v in levels.items()}
    base = cfgs["fast"]
    _, catalog = selected_catalog(base)
    build = builders.get(base.scene.builder)
    with PhysicsWorld() as world:
        settled = [world.settle(build(base, catalog, seed, s), base.physics, seed=seed) for s in range(scenes)]
    renderers = {k: PyrenderRenderer(width, height, render_cfg=c.render) for k, c in cfgs.items()}
    per_round = {k: [] for k in levels}
    # The renderers are left to the process's exit: pyrender's delete() terminates the EGL
    # display they share, which would break the ones still open.
    for r in range(rounds + 1):  # round 0 warms up (shader compilation, mesh upload)
        spent = dict.fromkeys(levels, 0.0)
        frames = 0
        for st in settled:
            for k, rend in renderers.items():
                t = time.process_time()
                rend.set_scene(st, seed=seed)
                spent[k] += time.process_time() - t
            for v, cam in enumerate(st.spec.cameras):
                frames += 1
                for k, rend in renderers.items():  # alternate view by view
                    t = time.process_time()
                    lens = realism.view_lens(cfgs[k].render, seed, st.spec.scene_index, v) if rend.effects else None
                    f = rend.render(cam, lens)
                    if lens is not None:
                        post.apply(f.rgb, f.depth_m, cam.K, lens)
                    spent[k] += time.process_time() - t
        if r:
            for k in levels:
                per_round[k].append(1000 * spent[k] / frames)
    med = {k: statistics.median(v) for k, v in per_round.items()}
    print(f"render + camera effects per {width}x{height} frame (CPU ms of this process, all its threads: "
          f"steadier than wall time on a shared machine; scene set-up spread over its views; one llvmpipe "
          f"thread; median of {rounds} rounds, renderers alternating view by view)")
    print(f"{'effect':24s} {'ms/frame':>9s} {'cost':>7s}")
    for k in levels:
        print(f"{k:24s} {med[k]:9.1f} {med[k] - med['fast']:+7.1f}")
    return med


def report_first_frame(rounds: int, seed: int, cores: int) -> dict:
    out = {}
    for workers, name in ((1, "1 worker"), (None, f"default workers ({cores})")):
        ts = [first_frame_latency(workers, seed + r) for r in range(rounds)]
        out[name] = ts
        print(f"first frame on disk after starting `dropsynth generate` ({name}): median "
              f"{statistics.median(ts):.2f} s, max {max(ts):.2f} s over {rounds} runs", flush=True)
    return out


if __name__ == "__main__":
    main()
