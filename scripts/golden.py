#!/usr/bin/env python3
"""Golden outputs: hashes of every file that a set of small, fixed runs writes.

A refactor must leave these bytes alone; a change that means to alter output
re-records them (``--record``) and says why in its commit. Text files have the
output folder's own path replaced by ``<OUT>`` (YOLO's data.yaml and the
export markers name it); run.json holds timings and is left out.

    python scripts/golden.py --check            # compare against tests/golden/hashes.json
    python scripts/golden.py --record           # write it anew
    python scripts/golden.py --check --only bin # one run
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HASHES = ROOT / "tests" / "golden" / "hashes.json"
SMALL = ["--views-per-scene", "2", "--width", "320", "--height", "240", "--workers", "1", "--no-progress"]

# name -> generate arguments (after --out); small but covering every writer
RUNS: dict[str, list[str]] = {
    "default": ["--scenes", "2", "--views-per-scene", "2", "--workers", "1", "--no-progress"],
    "bin": ["--config", "configs/bin_picking.yaml", "--scenes", "2", *SMALL,
            "--set", "output.export=[yolo, yolo-seg, bop, datumaro]",
            "--set", "output.splits={train: 0.5, val: 0.5}"],
    "grasps": ["--scenes", "2", *SMALL, "--seed", "11", "--set", "scene.num_objects=[8, 8]",
               "--set", "scene.objects=[duck, box, cylinder]", "--set", "camera.elevation_deg=[75, 89]",
               "--set", "grasps.enabled=true", "--set", "grasps.candidates=24", "--set", "grasps.robust_trials=1",
               "--set", "grasps.primitive_candidates=8", "--set", "grasps.planar_max_angle_deg=35",
               "--set", "grasps.formats=[jacquard, cornell, maps]", "--set", "output.export=[bop]"],
    "amodal": ["--scenes", "2", *SMALL, "--set", "output.amodal=true",
               "--set", "output.ground_truth=[class, normals, nocs, bbox3d]", "--set", "output.keypoints=true",
               "--mask-format", "rle"],
    "realistic": ["--config", "configs/domain_randomization.yaml", "--scenes", "2", *SMALL,
                  "--set", "render.quality=realistic"],
    "stack": ["--config", "configs/stacking.yaml", "--scenes", "2", *SMALL],
    "shelf": ["--config", "configs/shelf.yaml", "--scenes", "2", *SMALL],
}


def tree_hashes(root: Path) -> dict[str, str]:
    out = {}
    token = str(root).encode()
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.name == "run.json":
            continue
        data = p.read_bytes()
        if p.suffix in (".json", ".yaml", ".txt", ".md", "") or p.name.startswith(".dropsynth"):
            data = data.replace(token, b"<OUT>")
        out[str(p.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return out


def run(name: str, workdir: Path) -> dict[str, str]:
    from click.testing import CliRunner

    from dropsynth.cli import main

    out = workdir / name
    res = CliRunner().invoke(main, ["generate", "--out", str(out), *RUNS[name]], catch_exceptions=False)
    if res.exit_code != 0:
        raise SystemExit(f"golden run {name} failed:\n{res.output}")
    return tree_hashes(out)


def diff(expected: dict, got: dict) -> list[str]:
    lines = [f"missing: {k}" for k in sorted(set(expected) - set(got))]
    lines += [f"new: {k}" for k in sorted(set(got) - set(expected))]
    lines += [f"changed: {k}" for k in sorted(set(got) & set(expected)) if got[k] != expected[k]]
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--only", action="append", choices=sorted(RUNS))
    args = ap.parse_args()
    names = args.only or list(RUNS)
    import os
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("DROPSYNTH_CACHE", os.path.join(tmp, "cache"))
        os.environ.setdefault("DROPSYNTH_HOME", os.path.join(tmp, "home"))
        os.environ.pop("DROPSYNTH_ASSETS", None)
        got = {n: run(n, Path(tmp)) for n in names}
    if args.record:
        old = json.loads(HASHES.read_text()) if HASHES.exists() else {}
        old.update(got)
        HASHES.write_text(json.dumps(old, indent=1, sort_keys=True) + "\n")
        print(f"recorded {', '.join(names)} in {HASHES.relative_to(ROOT)}")
        return 0
    expected = json.loads(HASHES.read_text())
    bad = 0
    for n in names:
        d = diff(expected[n], got[n])
        print(f"{n}: {'same bytes' if not d else f'{len(d)} differences'}")
        for line in d[:20]:
            print("   ", line)
        bad += bool(d)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
