"""BOP export: the files have the documented structure (bop_toolkit's
docs/bop_datasets_format.md), the camera, poses and depth match the COCO file
in BOP units, the masks reproduce the instance image exactly, and the models
project onto the objects' pixels."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dropsynth.annotate import rle_to_mask
from dropsynth.errors import DropsynthError
from dropsynth.writers.bop import export_bop

pytestmark = pytest.mark.render

SPLIT = "train_pbr"


@pytest.fixture(scope="module")
def dataset(amodal_dataset) -> Path:
    return amodal_dataset  # the session's: 3 scenes x 2 views, amodal (tests/cli/helpers.py AMODAL)


@pytest.fixture(scope="module")
def bop(dataset) -> Path:
    return export_bop(dataset)


@pytest.fixture(scope="module")
def coco(dataset) -> dict:
    return json.loads((dataset / "annotations" / "instances.json").read_text())


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def _j(path: Path):
    return json.loads(Path(path).read_text())


def _frames(coco: dict):
    """(image, its annotations in COCO order) for every image."""
    by = {img["id"]: [] for img in coco["images"]}
    for a in coco["annotations"]:
        by[a["image_id"]].append(a)
    return [(img, by[img["id"]]) for img in coco["images"]]


def _scene_files(bop: Path, scene_id: int) -> tuple[dict, dict, dict]:
    d = bop / SPLIT / f"{scene_id:06d}"
    return _j(d / "scene_camera.json"), _j(d / "scene_gt.json"), _j(d / "scene_gt_info.json")


_PLY_CACHE: dict = {}


def _ply(path: Path):
    import trimesh

    if path not in _PLY_CACHE:
        _PLY_CACHE[path] = trimesh.load(path, process=False)
    return _PLY_CACHE[path]


def _floats(v, n):
    return isinstance(v, list) and len(v) == n and all(isinstance(x, float) for x in v)


def _ints(v, n):
    return isinstance(v, list) and len(v) == n and all(isinstance(x, int) and not isinstance(x, bool) for x in v)


# --- structure -----------------------------------------------------------------


def test_layout_and_documented_keys(dataset, bop, coco):
    assert bop == dataset / "bop" and not list(dataset.glob(".bop.*"))
    scenes = sorted({img["scene_id"] for img in coco["images"]})
    assert sorted(p.name for p in (bop / SPLIT).iterdir()) == [f"{s:06d}" for s in scenes]
    obj_ids = _j(bop / "dropsynth_obj_ids.json")
    info = _j(bop / "models" / "models_info.json")
    assert set(info) == set(obj_ids) and sorted(map(int, info)) == list(range(1, len(info) + 1))
    for k, v in info.items():
        for key in ("diameter", "min_x", "min_y", "min_z", "size_x", "size_y", "size_z"):
            assert isinstance(v[key], float), (k, key)
        assert (bop / "models" / f"obj_{int(k):06d}.ply").is_file()
    used = set()
    for s in scenes:
        sdir = bop / SPLIT / f"{s:06d}"
        cam, gt, gt_info = _scene_files(bop, s)
        views = sorted(img["view_id"] for img in coco["images"] if img["scene_id"] == s)
        assert sorted(map(int, cam)) == sorted(map(int, gt)) == sorted(map(int, gt_info)) == views
        masks, masks_visib = set(), set()
        for im_id in views:
            key = str(im_id)
            assert (sdir / "rgb" / f"{im_id:06d}.png").is_file() and (sdir / "depth" / f"{im_id:06d}.png").is_file()
            c = cam[key]
            assert set(c) == {"cam_K", "depth_scale", "cam_R_w2c", "cam_t_w2c"}
            assert _floats(c["cam_K"], 9) and _floats(c["cam_R_w2c"], 9) and _floats(c["cam_t_w2c"], 3)
            assert isinstance(c["depth_scale"], float)
            assert len(gt[key]) == len(gt_info[key])
            for gt_id, (g, gi) in enumerate(zip(gt[key], gt_info[key])):
                assert set(g) == {"cam_R_m2c", "cam_t_m2c", "obj_id"}
                assert _floats(g["cam_R_m2c"], 9) and _floats(g["cam_t_m2c"], 3) and type(g["obj_id"]) is int
                assert str(g["obj_id"]) in obj_ids
                used.add(str(g["obj_id"]))
                assert set(gi) == {"bbox_obj", "bbox_visib", "px_count_all", "px_count_valid", "px_count_visib",
                                   "visib_fract"}
                assert _ints(gi["bbox_obj"], 4) and _ints(gi["bbox_visib"], 4)
                assert all(type(gi[k]) is int for k in ("px_count_all", "px_count_valid", "px_count_visib"))
                assert isinstance(gi["visib_fract"], float)
                masks.add(f"{im_id:06d}_{gt_id:06d}.png")
                masks_visib.add(f"{im_id:06d}_{gt_id:06d}.png")
        assert {p.name for p in (sdir / "mask").iterdir()} == masks
        assert {p.name for p in (sdir / "mask_visib").iterdir()} == masks_visib
    assert used == set(obj_ids), "every model is used, every used obj_id has a model"
    assert sum(len(_scene_files(bop, s)[1][str(v)]) for s in scenes for v in (0, 1)) == len(coco["annotations"])
    cam_json = _j(bop / "camera.json")
    K = np.asarray(coco["images"][0]["K"])
    assert cam_json == {"fx": K[0, 0], "fy": K[1, 1], "cx": K[0, 2], "cy": K[1, 2], "width": 240, "height": 180,
                        "depth_scale": pytest.approx(0.1)}
    assert _j(bop / "dropsynth_export.json")["amodal"] is True


def test_ply_models_use_only_what_the_bop_loader_reads(bop):
    """bop_toolkit_lib.inout.load_ply reads float/double/int/uchar properties,
    triangles as 'property list ... vertex_indices', texture via 'comment
    TextureFile' and per-vertex texture_u/texture_v."""
    for path in sorted((bop / "models").glob("obj_*.ply")):
        head = path.read_bytes().split(b"end_header\n", 1)[0].decode("ascii").splitlines()
        assert head[:2] == ["ply", "format binary_little_endian 1.0"]
        props = [ln.split() for ln in head if ln.startswith("property")]
        scalar = [p for p in props if p[1] != "list"]
        assert all(p[1] in ("float", "double", "int", "uchar") for p in scalar), path
        names = [p[-1] for p in scalar]
        assert names[:6] == ["x", "y", "z", "nx", "ny", "nz"] and {"red", "green", "blue"} <= set(names)
        assert [p for p in props if p[1] == "list"] == [["property", "list", "uchar", "int", "vertex_indices"]]
        tex = [ln.split()[-1] for ln in head if ln.startswith("comment TextureFile")]
        if tex:
            assert (path.parent / tex[0]).is_file() and {"texture_u", "texture_v"} <= set(names)
        mesh = _ply(path)
        assert len(mesh.faces) > 0 and np.all(np.isfinite(mesh.vertices))


# --- camera, poses, depth -----------------------------------------------------------


def test_camera_equals_coco_in_bop_units(bop, coco):
    for img, _ in _frames(coco):
        c = _scene_files(bop, img["scene_id"])[0][str(img["view_id"])]
        assert np.array_equal(np.reshape(c["cam_K"], (3, 3)), np.asarray(img["K"]))
        assert c["depth_scale"] == pytest.approx(img["depth_scale"] * 1000) == pytest.approx(0.1)
        w2c = np.eye(4)
        w2c[:3, :3] = np.reshape(c["cam_R_w2c"], (3, 3))
        w2c[:3, 3] = np.asarray(c["cam_t_w2c"]) / 1000
        assert np.allclose(w2c @ np.asarray(img["world_T_cam"]), np.eye(4), atol=1e-9)


def test_poses_are_rotations_and_equal_cam_T_obj_in_mm(bop, coco):
    for img, anns in _frames(coco):
        gts = _scene_files(bop, img["scene_id"])[1][str(img["view_id"])]
        assert len(gts) == len(anns)
        for g, a in zip(gts, anns):
            R = np.reshape(g["cam_R_m2c"], (3, 3))
            assert np.allclose(R @ R.T, np.eye(3), atol=1e-9) and np.linalg.det(R) == pytest.approx(1.0, abs=1e-9)
            T = np.asarray(a["cam_T_obj"])
            assert np.allclose(R, T[:3, :3], atol=1e-12)
            assert np.allclose(np.asarray(g["cam_t_m2c"]), T[:3, 3] * 1000, atol=1e-9)


def test_depth_is_the_same_png_and_gives_metres(dataset, bop, coco):
    for img, _ in _frames(coco):
        sdir = bop / SPLIT / f"{img['scene_id']:06d}"
        ours, theirs = dataset / img["depth_file"], sdir / "depth" / f"{img['view_id']:06d}.png"
        assert ours.read_bytes() == theirs.read_bytes()
        assert os.stat(ours).st_ino == os.stat(theirs).st_ino, "hard link on one file system"
        assert (dataset / img["file_name"]).read_bytes() == (sdir / "rgb" / f"{img['view_id']:06d}.png").read_bytes()
        scale = _scene_files(bop, img["scene_id"])[0][str(img["view_id"])]["depth_scale"]
        d = _png(theirs)
        assert d.dtype == np.uint16 and (d > 0).any()
        assert np.allclose(d * scale / 1000.0, _png(ours) * img["depth_scale"], rtol=1e-12, atol=1e-12)


# --- masks and gt info ---------------------------------------------------------


def _bop_box(mask):
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min()), int(ys.max() - ys.min())]


def test_masks_reproduce_the_instance_image_and_gt_info_matches(dataset, bop, coco):
    occluded = 0
    for img, anns in _frames(coco):
        sdir = bop / SPLIT / f"{img['scene_id']:06d}"
        im_id = img["view_id"]
        infos = _scene_files(bop, img["scene_id"])[2][str(im_id)]
        ids = _png(dataset / img["instances_file"])
        depth = _png(dataset / img["depth_file"])
        for gt_id, (a, gi) in enumerate(zip(anns, infos)):
            vis_png = _png(sdir / "mask_visib" / f"{im_id:06d}_{gt_id:06d}.png")
            full_png = _png(sdir / "mask" / f"{im_id:06d}_{gt_id:06d}.png")
            assert vis_png.dtype == full_png.dtype == np.uint8 and vis_png.shape == ids.shape
            assert set(np.unique(vis_png)) <= {0, 255} and set(np.unique(full_png)) <= {0, 255}
            vis, full = vis_png == 255, full_png == 255
            assert np.array_equal(vis, ids == a["inst_id"])
            assert not (vis & ~full).any(), "mask contains mask_visib"
            assert np.array_equal(full, rle_to_mask(a["segmentation_amodal"]))
            assert gi["px_count_visib"] == vis.sum() == a["px_count_visib"]
            assert gi["px_count_all"] == full.sum() == a["px_count_all"]
            assert gi["px_count_valid"] == ((depth > 0) & full).sum()
            assert gi["visib_fract"] == pytest.approx(gi["px_count_visib"] / gi["px_count_all"], abs=1e-12)
            assert gi["bbox_visib"] == _bop_box(vis) and gi["bbox_obj"] == _bop_box(full)
            occluded += gi["visib_fract"] < 1
    assert occluded >= 3, "the fixture has partly hidden objects, so mask and mask_visib differ somewhere"


# --- models --------------------------------------------------------------------------


def test_models_project_onto_their_bbox_obj(bop, coco):
    """Each model's vertices, projected with cam_K and R|t (mm), bound the
    amodal box: no object pixel outside them, and the box within a few pixels
    of them (a sharp corner may cover no pixel centre)."""
    n = 0
    for img, anns in _frames(coco):
        cam, gts, infos = (f[str(img["view_id"])] for f in _scene_files(bop, img["scene_id"]))
        K = np.reshape(cam["cam_K"], (3, 3))
        W, H = img["width"], img["height"]
        for g, gi in zip(gts, infos):
            v = np.asarray(_ply(bop / "models" / f"obj_{g['obj_id']:06d}.ply").vertices, dtype=np.float64)
            p = v @ np.reshape(g["cam_R_m2c"], (3, 3)).T + np.asarray(g["cam_t_m2c"])
            assert (p[:, 2] > 0).all()
            uv = (p @ K.T)[:, :2] / p[:, 2:]
            lo = np.clip(uv.min(axis=0), 0, [W - 1, H - 1])
            hi = np.clip(uv.max(axis=0), 0, [W - 1, H - 1])
            x, y, w, h = gi["bbox_obj"]
            b0, b1 = np.array([x, y]), np.array([x + w, y + h])
            assert (b0 >= lo - 0.75).all() and (b1 <= hi + 0.75).all(), (g["obj_id"], gi["bbox_obj"], lo, hi)
            assert (b0 <= lo + 3).all() and (b1 >= hi - 3).all(), (g["obj_id"], gi["bbox_obj"], lo, hi)
            n += 1
    assert n == len(coco["annotations"])


def test_models_info_matches_the_vertices(bop):
    from scipy.spatial import ConvexHull
    from scipy.spatial.distance import pdist

    for k, info in _j(bop / "models" / "models_info.json").items():
        v = np.asarray(_ply(bop / "models" / f"obj_{int(k):06d}.ply").vertices, dtype=np.float64)
        lo, hi = v.min(axis=0), v.max(axis=0)
        assert [info["min_x"], info["min_y"], info["min_z"]] == pytest.approx(lo.tolist(), abs=1e-4)
        size = np.array([info["size_x"], info["size_y"], info["size_z"]])
        assert size == pytest.approx((hi - lo).tolist(), abs=1e-4)
        brute = pdist(v if len(v) <= 4000 else v[ConvexHull(v).vertices]).max()
        assert info["diameter"] == pytest.approx(brute, abs=1e-4)
        assert size.max() - 1e-6 <= info["diameter"] <= np.linalg.norm(size) + 1e-6
        assert 5 < info["diameter"] < 500, "millimetres"


def test_obj_ids_one_per_mesh_asset_and_one_per_primitive_size(dataset, bop, coco):
    from dropsynth.assets.catalog import load_catalog

    run = _j(dataset / "run.json")
    assets = {a.key: a for a in load_catalog(run["pack_paths"], builtin=False, installed=False).assets}
    obj_ids = _j(bop / "dropsynth_obj_ids.json")
    prims = _j(bop / "dropsynth_export.json")["primitives"]
    mesh_ids = [k for k, a in obj_ids.items() if not assets[a].primitive_kind]
    assert len({obj_ids[k] for k in mesh_ids}) == len(mesh_ids), "one obj_id per mesh asset"
    assert set(prims) == set(obj_ids) - set(mesh_ids)
    assert {assets[a].primitive_kind for a in (obj_ids[k] for k in prims)} == {"box", "cylinder", "sphere"}
    # the same object seen from several views keeps its obj_id; a primitive obj_id is one scene's object
    seen: dict[tuple[int, int], int] = {}
    for img, anns in _frames(coco):
        gts = _scene_files(bop, img["scene_id"])[1][str(img["view_id"])]
        for g, a in zip(gts, anns):
            assert obj_ids[str(g["obj_id"])] == a["asset_id"]
            assert seen.setdefault((img["scene_id"], a["inst_id"]), g["obj_id"]) == g["obj_id"]
            if str(g["obj_id"]) in prims:
                assert {"scene_id": img["scene_id"], "inst_id": a["inst_id"]} in \
                    prims[str(g["obj_id"])]["instances"]
    for k, p in prims.items():
        asset = assets[p["asset_id"]]
        assert all(lo <= s <= hi for s, (lo, hi) in zip(p["size_m"], asset.primitive_size_m))
        size = np.ptp(np.asarray(_ply(bop / "models" / f"obj_{int(k):06d}.ply").vertices), axis=0) / 1000
        s = p["size_m"]
        expected = (s if p["kind"] == "box" else [2 * s[0], 2 * s[0], s[1]] if p["kind"] == "cylinder"
                    else [2 * s[0]] * 3)
        assert size == pytest.approx(expected, rel=0.02), (p["kind"], size, s)


# --- without amodal data, errors, overwrite -------------------------------------


def test_without_amodal_data_nothing_is_made_up(poly_dataset, tmp_path):
    out = export_bop(poly_dataset, tmp_path / "bop", split="val")
    assert out == tmp_path / "bop" and not (poly_dataset / "bop").exists()
    assert _j(out / "dropsynth_export.json")["amodal"] is False
    coco = _j(poly_dataset / "annotations" / "instances.json")
    for img, anns in _frames(coco):
        sdir = out / "val" / f"{img['scene_id']:06d}"
        assert not (sdir / "mask").exists()
        infos = _j(sdir / "scene_gt_info.json")[str(img["view_id"])]
        ids = _png(poly_dataset / img["instances_file"])
        for gt_id, (a, gi) in enumerate(zip(anns, infos)):
            assert set(gi) == {"bbox_visib", "px_count_visib"}
            vis = _png(sdir / "mask_visib" / f"{img['view_id']:06d}_{gt_id:06d}.png") == 255
            assert np.array_equal(vis, ids == a["inst_id"]) and gi["px_count_visib"] == vis.sum()


def test_errors_name_the_file_and_output_is_only_replaced_when_ours(dataset, bop, tmp_path):
    with pytest.raises(DropsynthError, match=r"instances\.json: not found"):
        export_bop(tmp_path / "nothing")
    with pytest.raises(DropsynthError, match=r"bop: folder is not empty; pass overwrite=True"):
        export_bop(dataset)
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(DropsynthError, match=r"other: not empty and not a dropsynth BOP export"):
        export_bop(dataset, other, overwrite=True)
    assert (other / "keep.txt").read_text() == "mine"
    with pytest.raises(DropsynthError, match=r"split: must be a folder name"):
        export_bop(dataset, tmp_path / "x", split="../up")
    # a previous export is replaced, in one rename
    again = export_bop(dataset, bop, overwrite=True)
    assert again == bop and (bop / SPLIT).is_dir() and not list(dataset.glob(".bop.*"))


# --- from the files alone --------------------------------------------------------


def _copy(dataset: Path, dst: Path) -> Path:
    """A copy of the dataset (PNGs hard-linked) without its BOP export, whose JSON files may be edited."""
    shutil.copytree(dataset, dst, copy_function=os.link, ignore=shutil.ignore_patterns("bop"))
    for name in ("run.json", "annotations/instances.json"):
        data = (dst / name).read_bytes()
        (dst / name).unlink()  # a hard link: write a file of its own
        (dst / name).write_bytes(data)
    return dst


def _edit_coco(root: Path, edit) -> None:
    path = root / "annotations" / "instances.json"
    coco = _j(path)
    edit(coco)
    path.write_text(json.dumps(coco))


def _hashes(root: Path) -> dict:
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes().replace(str(root).encode(), b"<OUT>")).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_primitive_annotations_record_what_the_models_are_made_of(dataset, coco):
    from dropsynth.assets.catalog import load_catalog

    run = _j(dataset / "run.json")
    assets = {a.key: a for a in load_catalog(run["pack_paths"], builtin=False, installed=False).assets}
    kinds = set()
    for a in coco["annotations"]:
        asset = assets[a["asset_id"]]
        if not asset.primitive_kind:
            assert "primitive" not in a
            continue
        p = a["primitive"]
        kinds.add(p["kind"])
        assert p["kind"] == asset.primitive_kind and set(p) == {"kind", "size_m", "color_rgba"}
        assert all(lo <= s <= hi for s, (lo, hi) in zip(p["size_m"], asset.primitive_size_m))
        assert len(p["size_m"]) == len(asset.primitive_size_m) and len(p["color_rgba"]) == 4
    assert kinds == {"box", "cylinder", "sphere"}


def test_bop_needs_no_config_seed_or_scene_builder(dataset, bop, tmp_path):
    """run.json stripped to its pack paths gives the same export: nothing is rebuilt, and the
    export imports neither the config nor the scene builders."""
    import subprocess
    import sys

    copy = _copy(dataset, tmp_path / "copy")
    run = _j(copy / "run.json")
    (copy / "run.json").write_text(json.dumps({"tool": "dropsynth", "pack_paths": run["pack_paths"]}))
    code = ("import sys; from dropsynth.writers.bop import export_bop; export_bop(sys.argv[1]); "
            "print(' '.join(m for m in sys.modules if m.startswith('dropsynth')))")
    res = subprocess.run([sys.executable, "-c", code, str(copy)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    loaded = res.stdout.split()
    assert "dropsynth.writers.bop" in loaded
    assert not [m for m in loaded if m.startswith(("dropsynth.config", "dropsynth.scenes.builders",
                                                   "dropsynth.scenes.composition", "dropsynth.pipeline"))], loaded
    ours = {k: v for k, v in _hashes(copy / "bop").items() if k != "dropsynth_export.json"}
    assert ours == {k: v for k, v in _hashes(bop).items() if k != "dropsynth_export.json"}
    mine, theirs = _j(copy / "bop" / "dropsynth_export.json"), _j(bop / "dropsynth_export.json")
    assert {**mine, "source": None} == {**theirs, "source": None}


def _first_primitive(coco: dict) -> dict:
    return next(a for a in coco["annotations"] if "primitive" in a)


def test_edited_or_missing_primitive_records_are_refused(dataset, tmp_path):
    copy = _copy(dataset, tmp_path / "copy")
    coco_path = copy / "annotations" / "instances.json"

    def grow(coco):
        p = _first_primitive(coco)["primitive"]
        p["size_m"] = [3 * s for s in p["size_m"]]

    _edit_coco(copy, grow)
    with pytest.raises(DropsynthError, match=r"the recorded primitive \(builtin/\w+\) does not match the object's "
                                             r"pixels: bbox_amodal .* is smaller than the projected model") as e:
        export_bop(copy)
    assert str(e.value).startswith(f"{coco_path}: annotation ") and "\n" not in str(e.value)
    assert not (copy / "bop").exists() and not list(copy.glob(".bop.*"))

    for bad, match in ((lambda p: p.update(kind="cone"), r"primitive\.kind: must be one of box, cylinder, sphere"),
                       (lambda p: p.update(size_m=[-1.0] * len(p["size_m"])), r"primitive\.size_m: a \w+ needs"),
                       (lambda p: p.update(color_rgba=[2, 0, 0, 1]), r"primitive\.color_rgba: must be 4 numbers")):
        copy2 = _copy(dataset, tmp_path / f"c{len(list(tmp_path.iterdir()))}")
        _edit_coco(copy2, lambda coco: bad(_first_primitive(coco)["primitive"]))
        with pytest.raises(DropsynthError, match=match):
            export_bop(copy2)

    old = _copy(dataset, tmp_path / "old")  # a dataset made before annotations recorded primitives
    _edit_coco(old, lambda coco: [a.pop("primitive", None) for a in coco["annotations"]])
    with pytest.raises(DropsynthError, match=r"no 'primitive' key, and builtin/\w+ is a procedural \w+ .* made by an "
                                             r"older dropsynth; generate it again"):
        export_bop(old)
    assert not (old / "bop").exists() and not list(old.glob(".bop.*"))


def test_bop_toolkit_loaders_read_the_files(bop, coco):
    inout = pytest.importorskip("bop_toolkit_lib.inout")
    for img, anns in _frames(coco):
        sdir = bop / SPLIT / f"{img['scene_id']:06d}"
        cam = inout.load_scene_camera(str(sdir / "scene_camera.json"))[img["view_id"]]
        gts = inout.load_scene_gt(str(sdir / "scene_gt.json"))[img["view_id"]]
        infos = inout.load_json(str(sdir / "scene_gt_info.json"), keys_to_int=True)[img["view_id"]]
        assert np.allclose(cam["cam_K"], img["K"]) and cam["depth_scale"] == pytest.approx(0.1)
        for g, gi, a in zip(gts, infos, anns):
            T = np.asarray(a["cam_T_obj"])
            assert np.allclose(g["cam_R_m2c"], T[:3, :3]) and np.allclose(g["cam_t_m2c"].ravel(), T[:3, 3] * 1000)
            assert gi["px_count_visib"] == a["px_count_visib"]
    info = inout.load_json(str(bop / "models" / "models_info.json"), keys_to_int=True)
    model = inout.load_ply(str(bop / "models" / f"obj_{min(info):06d}.ply"))
    assert model["pts"].shape[1] == 3 and "normals" in model and "colors" in model
