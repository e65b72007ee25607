"""Grasp labels through the CLI: per-frame files, COCO grasps_2d, exports."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dropsynth.writers import grasps as gw

from .helpers import generate_ok, run_cli, tree_hashes

pytestmark = pytest.mark.render

GRASP_RUN = ["--scenes", "2", "--views-per-scene", "2", "--width", "320", "--height", "240", "--seed", "11",
             "--no-progress",
             "--set", "scene.num_objects=[8, 8]", "--set", "scene.objects=[duck, box, cylinder]",
             "--set", "camera.elevation_deg=[75, 89]",
             "--set", "grasps.enabled=true", "--set", "grasps.candidates=24", "--set", "grasps.robust_trials=1",
             "--set", "grasps.primitive_candidates=8", "--set", "grasps.planar_max_angle_deg=35",
             "--set", "grasps.formats=[jacquard, cornell, maps]"]


@pytest.fixture(scope="module")
def grasp_dataset(tmp_path_factory) -> Path:
    return generate_ok(tmp_path_factory.mktemp("grasps") / "ds", *GRASP_RUN, "--workers", "1")


def _coco(ds: Path) -> dict:
    return json.loads((ds / "annotations" / "instances.json").read_text())


def _frames(ds: Path):
    coco = _coco(ds)
    anns = {}
    for a in coco["annotations"]:
        anns.setdefault(a["image_id"], []).append(a)
    for im in coco["images"]:
        yield im, anns.get(im["id"], []), gw.read_frame_grasps(ds / im["grasps_file"])


def test_rectangles_land_on_their_objects_visible_mask(grasp_dataset):
    total = 0
    on_mask = candidates = 0
    for im, anns, g in _frames(grasp_dataset):
        # Independently of the writer's own filter: project the centres of the
        # grasps that held, clear the scene and face the camera; nearly all
        # must land on their object (the rest are hidden behind another).
        K = np.asarray(im["K"])
        ids_img = np.asarray(Image.open(grasp_dataset / im["instances_file"]))
        ok = (g["success"] == 1) & (g["collision_free"] == 1) & (g["cam_T_grasp"][:, 2, 2] >= np.cos(np.deg2rad(35)))
        for T, iid in zip(g["cam_T_grasp"][ok], g["instance_id"][ok]):
            c = T[:3, 3] + T[:3, 2] * 0.1034
            u, v = K[0, 0] * c[0] / c[2] + K[0, 2] + 0.5, K[1, 1] * c[1] / c[2] + K[1, 2] + 0.5
            candidates += 1
            on_mask += bool(0 <= u < 320 and 0 <= v < 240 and ids_img[int(v), int(u)] == iid)
        assert len(g["rects"]) <= int(ok.sum())
        ids = np.asarray(Image.open(grasp_dataset / im["instances_file"]))
        annotated = {a["inst_id"] for a in anns}
        assert set(np.unique(g["instance_id"])) <= annotated
        for (cx, cy, *_), iid in zip(g["rects"], g["rect_instance_id"]):
            assert ids[int(np.floor(cy)), int(np.floor(cx))] == iid
            total += 1
        # Rectangles come only from grasps that held and clear the scene.
        assert (g["success"][g["rect_index"]] == 1).all() and (g["collision_free"][g["rect_index"]] == 1).all()
    assert total > 0, "the run should give some planar grasps"
    assert total == on_mask and on_mask >= 0.7 * candidates


def test_6dof_grasps_are_in_the_camera_frame(grasp_dataset):
    for im, anns, g in _frames(grasp_dataset):
        by_iid = {a["inst_id"]: np.asarray(a["cam_T_obj"]) for a in anns}
        for T, iid in zip(g["cam_T_grasp"], g["instance_id"]):
            centre = T[:3, 3] + T[:3, 2] * 0.1034
            # The grasp centre lies within the object's reach of its centre.
            assert np.linalg.norm(centre - by_iid[int(iid)][:3, 3]) < 0.12
            np.testing.assert_allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-9)


def test_coco_grasps_2d_are_the_best_rectangles_of_each_object(grasp_dataset):
    per_annotation = 5
    for im, anns, g in _frames(grasp_dataset):
        for a in anns:
            mine = g["rects"][g["rect_instance_id"] == a["inst_id"]][:per_annotation]
            assert len(a["grasps_2d"]) == len(mine)
            np.testing.assert_allclose(np.asarray(a["grasps_2d"]).reshape(-1, 5), mine, atol=2e-3)
            robust = g["robust"][g["rect_index"][g["rect_instance_id"] == a["inst_id"]]]
            assert (np.diff(robust) <= 1e-6).all(), "best robust rate first"
            assert a["grasps_count"] == int((g["instance_id"] == a["inst_id"]).sum())


def test_jacquard_and_cornell_files_read_back_as_the_rectangles(grasp_dataset):
    for im, anns, g in _frames(grasp_dataset):
        jac = gw.read_jacquard(grasp_dataset / im["grasps_jacquard_file"])
        cor = gw.read_cornell(grasp_dataset / im["grasps_cornell_file"])
        assert len(jac) == len(cor) == len(g["rects"])
        for got in (jac, cor):
            np.testing.assert_allclose(got[:, [0, 1, 3, 4]], g["rects"][:, [0, 1, 3, 4]], atol=2e-3)
            d = np.angle(np.exp(2j * (got[:, 2] - g["rects"][:, 2].astype(np.float64)))) / 2
            assert np.abs(d).max(initial=0) < 1e-3
        maps = np.load(grasp_dataset / im["grasp_maps_file"])
        assert maps["quality"].shape == (240, 320)
        assert (maps["quality"] > 0).any() == (len(g["rects"]) > 0)


def test_libraries_are_written_in_acronym_layout(grasp_dataset):
    lib = grasp_dataset / "grasps" / "library"
    assert sorted(p.name for p in lib.iterdir()) == ["builtin__duck.h5", "builtin__duck.ply"]
    d = gw.read_acronym(lib / "builtin__duck.h5")
    assert d["transforms"].shape == (24, 4, 4) and d["object_file"] == "builtin__duck.ply"
    import h5py
    import trimesh

    with h5py.File(lib / "builtin__duck.h5", "r") as f:  # what acronym_tools.load_grasps reads
        assert f["grasps/transforms"].shape == (24, 4, 4)
        assert set(np.unique(f["grasps/qualities/flex/object_in_gripper"][()])) <= {0, 1}
    from dropsynth.grasps import ray_hits

    mesh = trimesh.load(lib / "builtin__duck.ply")
    # The mesh is in the grasps' frame: a ray along the closing axis, started
    # 0.1 mm before the first contact, meets the mesh's surface at that contact.
    x = d["transforms"][:, :3, 0]
    t, _ = ray_hits(np.asarray(mesh.vertices), np.asarray(mesh.faces), d["contacts"][:, 0] - x * 1e-4, x,
                    t_min=1e-6)
    np.testing.assert_allclose(t, 1e-4, atol=2e-6)


def test_same_seed_gives_identical_grasp_files_with_two_workers(grasp_dataset, tmp_path, monkeypatch):
    # A fresh cache: this run builds the libraries again, in worker processes.
    monkeypatch.setenv("DROPSYNTH_CACHE", str(tmp_path / "cache"))
    again = generate_ok(tmp_path / "ds", *GRASP_RUN, "--workers", "2")
    assert (tmp_path / "cache" / "grasps").is_dir()
    a, b = tree_hashes(grasp_dataset), tree_hashes(again)
    assert any(k.startswith("grasps/") for k in a)
    assert a == b


def test_coco_with_grasps_loads_in_pycocotools(grasp_dataset):
    from pycocotools.coco import COCO

    c = COCO(str(grasp_dataset / "annotations" / "instances.json"))
    assert len(c.getAnnIds()) > 0


def test_grasps_build_reports_and_reuses_the_cache():
    args = ["grasps", "build", "--no-progress", "--workers", "1", "--set", "scene.objects=[jenga]",
            "--set", "grasps.candidates=8", "--set", "grasps.robust_trials=0"]
    first = run_cli(*args)
    assert first.exit_code == 0, first.output
    row = next(line for line in first.output.splitlines() if line.startswith("builtin/jenga"))
    assert row.split()[1] == "8"
    second = run_cli(*args)
    assert second.exit_code == 0 and "(cached)" in second.output


def test_grasps_show_draws_a_picture(tmp_path):
    out = tmp_path / "jenga.png"
    res = run_cli("grasps", "show", "jenga", "--out", str(out), "--set", "grasps.candidates=8",
                  "--set", "grasps.robust_trials=0")
    assert res.exit_code == 0, res.output
    im = Image.open(out)
    assert im.size[0] > 400 and np.asarray(im.convert("L")).std() > 5


def test_grasps_show_unknown_asset_is_a_clear_error():
    res = run_cli("grasps", "show", "nosuch")
    assert res.exit_code != 0
    assert "ASSET: no asset 'nosuch'" in res.output and "builtin/duck" in res.output


def test_merge_keeps_grasp_files(grasp_dataset, tmp_path):
    res = run_cli("merge", str(grasp_dataset), str(grasp_dataset), "--out", str(tmp_path / "m"), "--no-preview")
    assert res.exit_code == 0, res.output
    m = tmp_path / "m"
    coco = _coco(m)
    assert len(coco["images"]) == 2 * len(_coco(grasp_dataset)["images"])
    for im in coco["images"]:
        for key in ("grasps_file", "grasps_jacquard_file", "grasps_cornell_file", "grasp_maps_file"):
            assert (m / im[key]).is_file()
    assert (m / "grasps" / "library" / "builtin__duck.h5").is_file()


def test_overwrite_removes_the_grasp_files_of_the_previous_run(grasp_dataset, tmp_path):
    import shutil

    out = tmp_path / "ds"
    shutil.copytree(grasp_dataset, out)
    res = run_cli("generate", "--out", str(out), "--overwrite", "--scenes", "1", "--views-per-scene", "1",
                  "--width", "64", "--height", "48", "--no-progress", "--workers", "1")
    assert res.exit_code == 0, res.output
    for d in ("grasps", "grasps_jacquard", "grasps_cornell", "grasp_maps"):
        assert not (out / d).exists(), f"{d}/ of the previous run was left behind"
