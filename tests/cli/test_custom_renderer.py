"""A renderer of the user's own, plugged in from Python: ``Generator(cfg,
renderer=...)`` and ``generate(cfg, out, renderer=..., workers=N)``.

The renderers are in ``custom_renderers.py`` (module level: spawned workers
import them by name). ``Discs`` needs no GL, so most of these tests run
without the ``render`` marker: the run's physics, labels and writers are
dropsynth's own, the pixels the renderer's.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import dropsynth
from dropsynth.errors import ConfigError, RenderBackendError

from . import custom_renderers as cr
from .helpers import tree_hashes

SMALL = {"scenes": 2, "views_per_scene": 2, "seed": 5, "camera.width": 160, "camera.height": 120,
         "output.preview": False, "output.shard_scenes": 1}
DISCS = "tests.cli.custom_renderers.Discs"


def _cfg(**extra):
    return dropsynth.load_config(**{**SMALL, **extra})


def _png(path):
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im)


def _one_line(e) -> str:
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg


def _check_labels_come_from_ids(anns, ids, min_px):
    """Every labelled object is one the ids show, with the ids' box and area;
    every id with enough pixels is labelled."""
    present = {int(i): int((ids == i).sum()) for i in np.unique(ids) if i}
    assert {a.instance_id for a in anns} == {i for i, n in present.items() if n >= min_px}
    for a in anns:
        ys, xs = np.nonzero(ids == a.instance_id)
        assert a.area == present[a.instance_id] == a.px_count_visib
        assert a.bbox == (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)


# --- in memory ------------------------------------------------------------------


def test_generator_samples_are_the_custom_renderers_frames_and_labels_come_from_its_ids():
    cfg = _cfg()
    with dropsynth.Generator(cfg, renderer=cr.Discs) as gen:
        assert gen.renderer_name == DISCS and isinstance(gen.renderer, cr.Discs)
        samples = list(gen.samples(1)) + list(gen.samples(0))
        made = gen.renderer
    assert made.closed, "a renderer the Generator made is closed with it"
    assert sorted(s.image_index for s in samples) == [0, 1, 2, 3]
    fresh = cr.Discs(160, 120)
    for s in samples:
        fresh.set_scene(s.scene.settled)
        mine = fresh.render(s.camera)  # the same scene and camera, drawn outside dropsynth
        assert np.array_equal(s.frame.rgb, mine.rgb) and np.array_equal(s.frame.instance_ids, mine.instance_ids)
        assert np.array_equal(s.frame.depth_m, mine.depth_m)
        assert s.annotations, "the discs of a tabletop scene are seen"
        _check_labels_come_from_ids(s.annotations, s.frame.instance_ids, cfg.output.min_visible_px)
    # dropsynth's side (scene, camera) does not depend on the renderer: the raster run's cameras and poses
    with dropsynth.Generator(cfg, renderer=cr.make_discs) as gen:  # a factory function
        again = {s.image_index: s for s in gen.samples(0)}
        assert gen.renderer_name == DISCS
    for s in samples:
        if s.image_index in again:
            assert np.array_equal(again[s.image_index].camera.world_T_cam, s.camera.world_T_cam)
            assert np.array_equal(again[s.image_index].frame.rgb, s.frame.rgb)


def test_a_renderer_object_is_used_as_it_is_and_left_open():
    cfg = _cfg(views_per_scene=1)
    obj = cr.Discs(160, 120)
    with dropsynth.Generator(cfg, renderer=obj) as gen:
        assert gen.renderer is obj
        (s,) = list(gen.samples(0))
    assert not obj.closed, "the caller's renderer is the caller's to close"
    assert s.frame.instance_ids.max() > 0


def test_a_lambda_factory_works_in_process():
    with dropsynth.Generator(_cfg(views_per_scene=1), renderer=lambda w, h, cfg: cr.Discs(w, h, cfg)) as gen:
        (s,) = list(gen.samples(0))
        assert gen.renderer_name == DISCS  # the class it made, not the lambda
    assert s.annotations


def test_amodal_masks_come_from_the_renderer_when_it_has_them():
    cfg = _cfg(views_per_scene=1, **{"output.amodal": True})
    with dropsynth.Generator(cfg, renderer=cr.AmodalDiscs) as gen:
        (s,) = list(gen.samples(0))
    assert s.annotations
    for a in s.annotations:
        assert a.px_count_all >= a.px_count_visib and 0 < a.visib_fract <= 1


def test_realistic_camera_effects_apply_to_the_custom_rgb():
    """render.quality realistic: the renderer gets the view's Lens as
    ``view``; the image-space lens effects are applied to the RGB it returns."""
    from dropsynth.render import post
    from dropsynth.render.realism import Lens, view_lens

    seen = []

    class Recording(cr.Discs):
        def render(self, camera, view=None):
            seen.append(view)
            return super().render(camera, view)

    cfg = _cfg(**{"render.quality": "realistic", "render.motion_blur_share": 1.0})
    with dropsynth.Generator(cfg, renderer=Recording(160, 120)) as gen:
        samples = list(gen.samples(0))
    assert len(seen) == 2 and all(isinstance(v, Lens) for v in seen)
    raw = cr.Discs(160, 120)
    raw.set_scene(samples[0].scene.settled)
    for s, lens in zip(samples, seen):
        assert lens == view_lens(cfg.render, cfg.seed, 0, s.view)
        plain = raw.render(s.camera)
        assert lens.shake_px >= 0.2  # motion blur on every view: the image must change
        assert np.array_equal(s.frame.rgb, post.apply(plain.rgb, plain.depth_m, s.camera.K, lens))
        assert not np.array_equal(s.frame.rgb, plain.rgb)
        assert np.array_equal(s.frame.instance_ids, plain.instance_ids)  # labels untouched


# --- written by a run -------------------------------------------------------------


def test_generate_with_two_workers_writes_the_custom_frames_and_names_the_renderer(tmp_path):
    from pycocotools.coco import COCO

    cfg = _cfg()
    out = tmp_path / "two"
    summary = dropsynth.generate(cfg, out, renderer=cr.make_discs, workers=2)  # a factory function, sent by name
    assert summary.workers == 2 and summary.frames == 4 and summary.renderer == DISCS  # the class it made
    run = json.loads((out / "run.json").read_text())
    assert run["renderer"] == DISCS and run["execution"]["workers"] == 2
    with dropsynth.Generator(cfg, renderer=cr.Discs) as gen:
        samples = {s.image_index: s for i in range(2) for s in gen.samples(i)}
    coco = COCO(str(out / "annotations" / "instances.json"))
    checked = 0
    for img in coco.dataset["images"]:
        s = samples[img["id"] - 1]
        assert np.array_equal(_png(out / img["file_name"]), s.frame.rgb)  # the discs, not the raster frame
        ids = _png(out / img["instances_file"])
        assert np.array_equal(ids, s.frame.instance_ids)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]]))
        assert {a["inst_id"] for a in anns} == {a.instance_id for a in s.annotations}
        for a in anns:
            assert np.array_equal(coco.annToMask(a).astype(bool), ids == a["inst_id"]), a["id"]
            checked += 1
    assert checked == summary.annotations > 0
    # any worker count, the same files (run.json holds timings)
    one = tmp_path / "one"
    dropsynth.generate(cfg, one, renderer=cr.make_discs, workers=1)
    assert tree_hashes(one) == tree_hashes(out)
    # a resume must use the same renderer (factory)
    with pytest.raises(ConfigError) as e:
        dropsynth.generate(cfg, out, resume=True, workers=1)
    assert 'renderer is "tests.cli.custom_renderers.make_discs" there, null now' in _one_line(e)
    assert dropsynth.generate(cfg, out, resume=True, workers=1, renderer=cr.make_discs).renderer == DISCS


# --- refusals, one line each --------------------------------------------------------


def _local_factory():
    def make(w, h, cfg):
        return cr.Discs(w, h, cfg)

    return make


@pytest.mark.parametrize("factory, words", [
    (lambda w, h, cfg: cr.Discs(w, h), ["<lambda>", "top level of a module", "import the factory by its name"]),
    (_local_factory(), ["_local_factory.<locals>.make", "top level of a module"]),
])
def test_a_factory_the_workers_cannot_import_is_refused_before_anything_is_written(tmp_path, factory, words):
    out = tmp_path / "out"
    with pytest.raises(RenderBackendError) as e:
        dropsynth.generate(_cfg(), out, renderer=factory, workers=2)
    msg = _one_line(e)
    assert all(w in msg for w in words), msg
    assert not out.exists() or not any(p for p in out.iterdir() if not p.name.startswith(".dropsynth.lock"))


def test_generate_refuses_a_renderer_object(tmp_path):
    with pytest.raises(RenderBackendError) as e:
        dropsynth.generate(_cfg(), tmp_path / "out", renderer=cr.Discs(160, 120), workers=1)
    msg = _one_line(e)
    assert "factory" in msg and DISCS in msg and "Generator(cfg, renderer=obj)" in msg


@pytest.mark.parametrize("renderer, words", [
    (cr.NoClose, ["tests.cli.custom_renderers.NoClose", "not a dropsynth Renderer", "close()"]),
    (cr.RenderNeedsThree, ["RenderNeedsThree", "render(camera, view=None)", "requires 3"]),
    (lambda w, h, cfg: cr.NoClose(w, h, cfg), ["NoClose", "close()"]),  # found once the factory has made it
    ("Discs", ["expected a Renderer or a factory", "str"]),
])
def test_a_non_conforming_renderer_is_refused_naming_the_class_and_method(renderer, words):
    with pytest.raises(RenderBackendError) as e:
        dropsynth.Generator(_cfg(), renderer=renderer)
    msg = _one_line(e)
    assert all(w in msg for w in words), msg


def test_a_non_conforming_class_is_refused_by_generate_before_the_folder_is_touched(tmp_path):
    with pytest.raises(RenderBackendError, match="NoClose: not a dropsynth Renderer: has no close"):
        dropsynth.generate(_cfg(), tmp_path / "out", renderer=cr.NoClose, workers=2)
    assert not (tmp_path / "out" / "rgb").exists()


@pytest.mark.parametrize("key, value", [("output.amodal", True), ("output.min_visible_fraction", 0.3)])
def test_amodal_labels_without_amodal_masks_are_refused_naming_the_key_and_class(tmp_path, key, value):
    with pytest.raises(RenderBackendError) as e:
        dropsynth.Generator(_cfg(**{key: value}), renderer=cr.Discs)
    msg = _one_line(e)
    assert key in msg and DISCS in msg and "amodal_masks()" in msg
    with pytest.raises(RenderBackendError, match=key):
        dropsynth.generate(_cfg(**{key: value}), tmp_path / "out", renderer=cr.Discs, workers=2)


def test_cycles_and_a_custom_renderer_are_refused_together():
    with pytest.raises(RenderBackendError) as e:
        dropsynth.Generator(_cfg(**{"render.backend": "cycles"}), renderer=cr.Discs)
    msg = _one_line(e)
    assert "render.backend" in msg and "cycles" in msg and DISCS in msg and "render.backend=raster" in msg


@pytest.mark.parametrize("mode, words", [
    ("rgb_shape", ["rgb of shape (120, 160, 1) uint8", "expected (120, 160, 3) uint8"]),
    ("depth_dtype", ["depth_m of shape (120, 160) float64", "expected (120, 160) float32"]),
    ("ids_dtype", ["instance_ids of shape (120, 160) int32", "uint16"]),
    ("unknown_id", ["instance ids [999]", "not in the scene"]),
    ("nan_depth", ["depth_m with negative, NaN or infinite values"]),
    ("not_a_frame", ["ndarray whose rgb is NoneType", "dropsynth.types.Frame"]),
])
def test_a_bad_frame_is_refused_naming_the_class_and_what_is_wrong(mode, words):
    bad = cr.BadFrames(160, 120)
    bad.mode = mode
    with dropsynth.Generator(_cfg(views_per_scene=1), renderer=bad) as gen:
        with pytest.raises(RenderBackendError) as e:
            list(gen.samples(0))
    msg = _one_line(e)
    assert "renderer tests.cli.custom_renderers.BadFrames: render() returned" in msg
    assert all(w in msg for w in words), msg


def test_a_bad_frame_in_a_worker_stops_the_run_with_the_same_line(tmp_path):
    with pytest.raises(RenderBackendError) as e:
        dropsynth.generate(_cfg(), tmp_path / "out", renderer=cr.WrongSize, workers=2)
    msg = _one_line(e)
    assert "WrongSize: render() returned rgb of shape (60, 80, 3) uint8; expected (120, 160, 3)" in msg
    assert not (tmp_path / "out" / "run.json").exists()


# --- the raster backend, wrapped (GL) ---------------------------------------------


@pytest.mark.render
def test_a_wrapped_raster_renderer_writes_its_own_rgb_with_the_raster_labels(tmp_path):
    cfg = _cfg(views_per_scene=1, scenes=1)
    with dropsynth.Generator(cfg) as gen:
        (plain,) = list(gen.samples(0))
    with dropsynth.Generator(cfg, renderer=cr.InvertedRaster) as gen:
        (inv,) = list(gen.samples(0))
    assert np.array_equal(inv.frame.rgb, 255 - plain.frame.rgb)
    assert np.array_equal(inv.frame.instance_ids, plain.frame.instance_ids)
    assert [a.bbox for a in inv.annotations] == [a.bbox for a in plain.annotations]
    summary = dropsynth.generate(cfg, tmp_path / "out", renderer=cr.InvertedRaster, workers=1)
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["renderer"] == "tests.cli.custom_renderers.InvertedRaster" == summary.renderer
    assert run["gl_renderer"] and run["gl_renderer"] == summary.gl_renderer
    assert np.array_equal(_png(tmp_path / "out" / "rgb" / "000000.png"), 255 - plain.frame.rgb)


SCRIPT = '''
import numpy as np

import dropsynth
from dropsynth.types import Frame


class Square:
    """The scene's first labelled object as a grey square in the middle (pure numpy)."""

    def __init__(self, width, height, cfg):
        self.shape = (height, width)

    def set_scene(self, settled):
        self.iid = min(o.instance_id for o in settled.objects() if o.annotate)

    def render(self, camera, view=None):
        h, w = self.shape
        ids = np.zeros((h, w), np.uint16)
        ids[h // 4:3 * h // 4, w // 4:3 * w // 4] = self.iid
        rgb = np.where(ids[..., None] > 0, np.uint8(200), np.uint8(0)).repeat(3, axis=2)
        return Frame(rgb=rgb, depth_m=np.where(ids > 0, 0.5, 0).astype(np.float32), instance_ids=ids)

    def close(self):
        pass


if __name__ == "__main__":
    cfg = dropsynth.load_config(scenes=2, views_per_scene=1, **{"camera.width": 64, "camera.height": 48,
                                                                 "output.preview": False, "output.shard_scenes": 1})
    summary = dropsynth.generate(cfg, "out", renderer=Square, workers=2)
    print(summary.renderer, summary.workers, summary.annotations)
'''


def test_a_renderer_class_in_the_users_script_reaches_spawned_workers(tmp_path):
    """The usual case: the class is defined in the script that calls generate
    (workers import the script again, under the main guard)."""
    import subprocess
    import sys

    (tmp_path / "script.py").write_text(SCRIPT)
    res = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.split() == ["__main__.Square", "2", "2"]
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["renderer"] == "__main__.Square" and run["gl_renderer"] == ""
    rgb = _png(tmp_path / "out" / "rgb" / "000001.png")
    assert rgb[24, 32].tolist() == [200, 200, 200] and rgb[0, 0].tolist() == [0, 0, 0]
    coco = json.loads((tmp_path / "out" / "annotations" / "instances.json").read_text())
    assert [a["bbox"] for a in coco["annotations"]] == [[16, 12, 32, 24]] * 2
