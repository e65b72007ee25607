"""The public Python API (dropsynth.load_config, Generator, Sample, generate),
the Renderer and Writer protocols, and the one-way imports of the run's
modules."""
from __future__ import annotations

import ast
import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dropsynth
from dropsynth.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

# Every per-frame writer on: sensor noise changes the RGB written (so the
# sample must hold the final pixels), depth_noisy/, class/, normals/, nocs/,
# 3-D boxes and keypoints in the COCO records.
RICH = {"scenes": 2, "views_per_scene": 2, "seed": 3, "camera.width": 160, "camera.height": 120,
        "output.ground_truth": ["class", "normals", "nocs", "bbox3d"], "output.keypoints": True,
        "output.preview": False, "sensor.gaussian_noise": 0.02, "sensor.depth_noise": 1.0}


def test_import_is_cheap_and_names_the_api():
    code = ("import sys, dropsynth; heavy = [m for m in ('numpy', 'pybullet', 'pyrender', 'dropsynth.pipeline') "
            "if m in sys.modules]; assert not heavy, heavy; "
            "print(sorted(n for n in dropsynth.__all__ if not n.startswith('_')))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for name in ("load_config", "generate", "Generator", "Sample", "Renderer", "Writer"):
        assert name in res.stdout
    assert dropsynth.Generator.__module__ == "dropsynth.generator"
    with pytest.raises(AttributeError):
        dropsynth.no_such_name


def test_load_config_takes_dotted_and_nested_overrides():
    cfg = dropsynth.load_config(scenes=3, camera={"width": 200}, **{"camera.height": 100,
                                                                    "output.mask_format": "rle"})
    assert (cfg.scenes, cfg.camera.width, cfg.camera.height, cfg.output.mask_format) == (3, 200, 100, "rle")
    base = dropsynth.load_config()
    assert cfg.camera.fov_y_deg == base.camera.fov_y_deg  # a nested keyword changes only what it names


def test_load_config_reads_a_file_then_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("scenes: 5\ncamera:\n  width: 320\n")
    cfg = dropsynth.load_config(p, **{"camera.width": 64})
    assert (cfg.scenes, cfg.camera.width) == (5, 64)


@pytest.mark.parametrize("overrides, words", [
    ({"camera.widht": 3}, ["load_config", "camera.widht", "width"]),  # did-you-mean
    ({"camera.width": -5}, ["load_config", "camera.width"]),
    ({"scenes": 2, "scenes.n": 2}, ["load_config", "scenes.n", "not a section"]),
])
def test_load_config_errors_are_one_line_naming_the_key(overrides, words):
    with pytest.raises(ConfigError) as e:
        dropsynth.load_config(**overrides)
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_a_bad_file_is_named(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("camera:\n  width: wide\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: camera\.width"):
        dropsynth.load_config(p)


def _png(path):
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im)


@pytest.mark.render
def test_samples_in_memory_equal_what_generate_writes(tmp_path):
    from dropsynth.writers.coco import annotation_record
    from dropsynth.writers.images import depth_to_png_units

    cfg = dropsynth.load_config(**RICH)
    out = tmp_path / "run"
    summary = dropsynth.generate(cfg, out, workers=1)
    assert summary.frames == 4
    coco = json.loads((out / "annotations" / "instances.json").read_text())
    images = {im["id"]: im for im in coco["images"]}
    with dropsynth.Generator(cfg) as gen:
        samples = list(gen.samples(1)) + list(gen.samples(0))  # any scene, in any order
        cat = gen.category_ids
    assert sorted(s.image_index for s in samples) == [0, 1, 2, 3]
    checked = 0
    for s in samples:
        assert isinstance(s, dropsynth.Sample) and s.scene.index == s.image_index // 2
        im = images[s.image_index + 1]
        assert (im["scene_id"], im["view_id"]) == (s.scene.index, s.view)
        assert np.array_equal(_png(out / im["file_name"]), s.frame.rgb)
        assert np.array_equal(_png(out / im["depth_file"]), depth_to_png_units(s.frame.depth_m))
        assert np.array_equal(_png(out / im["instances_file"]), s.frame.instance_ids)
        assert np.array_equal(_png(out / im["depth_noisy_file"]), depth_to_png_units(s.extras["depth_noisy"]))
        for kind in ("class", "normals", "nocs"):
            assert np.array_equal(_png(out / im[f"{kind}_file"]), s.extras[kind]), kind
        assert np.allclose(im["K"], s.camera.K) and np.allclose(im["world_T_cam"], s.camera.world_T_cam)
        written = [{k: v for k, v in a.items() if k != "id"} for a in coco["annotations"] if a["image_id"] == im["id"]]
        mine = [{**annotation_record(a, im["id"], cat[a.category]), **s.annotation_keys.get(a.instance_id, {})}
                for a in s.annotations]
        assert json.loads(json.dumps(mine)) == written
        checked += len(written)
        assert all("bbox3d_px" in a and "keypoints" in a for a in written)
    assert checked == summary.annotations > 0
    from dropsynth.outlock import LOCK_NAME
    from dropsynth.writers.outdir import our_entries

    # what --overwrite would replace covers everything the run wrote
    assert {p.name for p in out.iterdir()} - {LOCK_NAME} <= set(our_entries())
    listed = json.loads((out / "run.json").read_text())["files"]
    assert [listed[k] for k in ("rgb", "depth_noisy", "class", "normals", "nocs")] == [
        "rgb/", "depth_noisy/", "class/", "normals/", "nocs/"]
    # the sensor noise is in the written pixels: the noiseless render differs from them
    assert not np.array_equal(_png(out / images[1]["file_name"]), _render_without_noise(cfg, 0))


@pytest.mark.render
def test_samples_of_two_scenes_taken_in_turn_equal_those_taken_one_by_one():
    cfg = dropsynth.load_config(**RICH)
    with dropsynth.Generator(cfg) as gen:
        apart = list(gen.samples(0)) + list(gen.samples(1))
        turns = [s for pair in zip(gen.samples(0), gen.samples(1)) for s in pair]
    assert sorted(s.image_index for s in turns) == [s.image_index for s in apart]
    by_index = {s.image_index: s for s in turns}
    for a in apart:
        b = by_index[a.image_index]
        assert np.array_equal(a.frame.rgb, b.frame.rgb) and np.array_equal(a.frame.instance_ids, b.frame.instance_ids)
        assert [x.bbox for x in a.annotations] == [x.bbox for x in b.annotations]


def _render_without_noise(cfg, scene: int) -> np.ndarray:
    clean = dropsynth.load_config(**{**RICH, "sensor.gaussian_noise": 0.0})
    with dropsynth.Generator(clean) as gen:
        return next(iter(gen.samples(scene))).frame.rgb


@pytest.mark.render
def test_the_readme_python_api_example_runs(tmp_path):
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Python API", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "example.py").write_text(code)  # run as a user runs it: a script, whose workers import it again
    res = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "out" / "api" / "run.json").is_file()
    assert (tmp_path / "out" / "api" / "annotations" / "instances.json").is_file()


@pytest.mark.render
def test_the_readme_custom_renderer_example_runs(tmp_path):
    """The README's "A renderer of your own" example, run as a script with 2
    workers: its class reaches them, and what it drew is what was written."""
    import json

    import numpy as np
    from PIL import Image

    text = (ROOT / "README.md").read_text()
    section = text.split("\n### A renderer of your own", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "example.py").write_text(code)
    res = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().splitlines()[-1] == "__main__.Silhouettes"
    out = tmp_path / "out" / "custom"
    assert json.loads((out / "run.json").read_text())["renderer"] == "__main__.Silhouettes"
    frames = sorted((out / "rgb").glob("*.png"))
    assert len(frames) == 4
    for f in frames:
        rgb = np.asarray(Image.open(f))
        ids = np.asarray(Image.open(out / "instances" / f.name))
        assert set(np.unique(rgb).tolist()) <= {0, 200} and ((rgb[..., 0] == 200) == (ids > 0)).all()


@pytest.mark.render
def test_generate_in_a_script_without_the_main_guard_says_to_add_it(tmp_path):
    (tmp_path / "unguarded.py").write_text(
        "import dropsynth\n"
        "cfg = dropsynth.load_config(scenes=2, **{'camera.width': 64, 'camera.height': 48, "
        "'output.preview': False, 'output.shard_scenes': 1})\n"
        "dropsynth.generate(cfg, 'out', workers=2)\n")
    res = subprocess.run([sys.executable, "unguarded.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert 'if __name__ == "__main__":' in last and "worker" in last, last
    assert not (tmp_path / "out" / "run.json").exists()


# --- protocols ------------------------------------------------------------------


def test_both_render_backends_are_renderers():
    from dropsynth.render.base import conforms
    from dropsynth.render.cycles_backend import CyclesRenderer
    from dropsynth.render.pyrender_backend import PyrenderRenderer

    assert conforms(PyrenderRenderer) and conforms(CyclesRenderer)

    class NoClose:
        def set_scene(self, settled): ...
        def render(self, camera, view=None): ...

    class NeedsMore:
        def set_scene(self, settled, seed): ...
        def render(self, camera, view=None): ...
        def close(self): ...

    assert not conforms(NoClose) and not conforms(NeedsMore)


def test_the_writers_of_a_run_are_writers_and_name_what_they_write(tmp_path):
    from dropsynth.shards import run_writer
    from dropsynth.writers.base import Writer
    from dropsynth.writers.outdir import our_entries

    cfg = dropsynth.load_config(**RICH)
    w = run_writer(cfg, tmp_path)
    assert not any(tmp_path.iterdir()), "a writer made to ask what a run writes touched the folder"
    assert isinstance(w, Writer) and all(isinstance(f, Writer) for f in w.file_writers)
    assert set(w.entries) == {"annotations", "rgb", "depth", "instances", "class", "normals", "nocs", "depth_noisy"}
    assert set(w.entries) <= set(our_entries())
    assert list(w.listing) == ["coco", "rgb", "depth", "instances", "class", "normals", "nocs", "depth_noisy"]
    plain = run_writer(dropsynth.load_config(), tmp_path)
    assert plain.listing == {"coco": "annotations/instances.json", "rgb": "rgb/", "depth": "depth/",
                             "instances": "instances/"}


def test_overwrite_replaces_what_any_writer_may_have_written(tmp_path):
    """A previous run's grasp folders go when the new run has no grasps: what
    --overwrite moves aside comes from every writer, not from this run's."""
    from dropsynth.writers.outdir import MARKER, prepare_output

    out = tmp_path / "o"
    out.mkdir()
    (out / MARKER).write_text("{}")
    for d in ("grasps_cornell", "grasp_maps", "nocs", "bop"):
        (out / d).mkdir()
        (out / d / "x").write_text("old")
    prepare_output(out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, ".dropsynth.replaced"])


# --- workers get the config object ----------------------------------------------


@pytest.mark.render
def test_a_job_carries_the_validated_config_and_workers_do_not_validate_again(tmp_path, monkeypatch):
    from dropsynth import config as config_mod
    from dropsynth.generator import selected_catalog
    from dropsynth.shards import Job, ShardWorker

    from PIL import Image

    folder = tmp_path / "backgrounds"
    folder.mkdir()
    for k in range(2):
        Image.fromarray(np.full((8, 8, 3), 60 * k, np.uint8)).save(folder / f"{k}.png")
    cfg = dropsynth.load_config(scenes=1, views_per_scene=1, **{"camera.width": 64, "camera.height": 48,
                                                                "background.kinds": ["image"],
                                                                "background.image_folder": str(folder)})
    paths, _ = selected_catalog(cfg)
    tmp_path = tmp_path / "out"
    job = pickle.loads(pickle.dumps(Job(config=cfg, out_dir=str(tmp_path), pack_paths=tuple(paths),
                                        shard_scenes=1)))
    assert job.config.camera.width == 64 and job.n_shards == 1

    def refuse(*a, **k):
        raise AssertionError("a worker validated the config again")

    monkeypatch.setattr(config_mod, "from_dict", refuse)
    from dropsynth import config_checks

    monkeypatch.setattr(config_checks, "check_folders", refuse)  # what re-opened the image folders
    monkeypatch.setattr(config_checks, "carry_listings", refuse)  # what lists them
    w = ShardWorker(job)
    try:
        stats = w.run(0)
    finally:
        w.close()
    assert stats["frames_attempted"] == 1 and (tmp_path / "annotations" / "parts" / "shard_000000.json").is_file()


# --- one-way imports ------------------------------------------------------------


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_runner_and_pipeline_do_not_import_each_other():
    assert not {m for m in _imports(ROOT / "core" / "runner.py") if m.startswith("dropsynth.pipeline")}
    for mod in ("shards.py", "generator.py"):
        assert not {m for m in _imports(ROOT / "core" / mod)
                    if m.startswith(("dropsynth.pipeline", "dropsynth.runner", "dropsynth.api", "dropsynth.cli"))}


@pytest.mark.parametrize("path", ["writers/base.py", "writers/frame_files.py", "writers/outdir.py",
                                  "render/base.py"])
def test_protocol_modules_import_only_below_them(path):
    upward = ("dropsynth.pipeline", "dropsynth.runner", "dropsynth.shards", "dropsynth.generator",
              "dropsynth.api", "dropsynth.cli", "dropsynth.config")
    bad = {m for m in _imports(ROOT / path) if m.startswith(upward)}
    assert not bad, f"{path} imports {bad}"
