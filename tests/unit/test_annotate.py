"""dropsynth.annotate: masks, boxes, exact polygons, RLE and per-frame labels.

Every check decodes what we produce with pycocotools (the rasterizer that the
COCO consumers use) and compares it pixel for pixel with the source mask.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_util
from scipy import ndimage

from dropsynth.annotate import (
    annotate_frame,
    bbox_from_mask,
    instance_masks,
    largest_component,
    mask_to_polygons,
    mask_to_rle,
    masks_to_polygons,
    rle_to_mask,
)
from dropsynth.errors import DropsynthError
from dropsynth.types import Annotation, Asset, CameraSpec, ObjectSpec, SceneSpec, SettledScene

# --- helpers ------------------------------------------------------------------


def decode_polygons(polys: list[list[float]], h: int, w: int) -> np.ndarray:
    """Rasterize COCO polygons the way every consumer does (pycocotools)."""
    if not polys:
        return np.zeros((h, w), dtype=bool)
    rles = mask_util.frPyObjects(polys, h, w)
    return mask_util.decode(mask_util.merge(rles)).astype(bool)


def brute_bbox(mask: np.ndarray):
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def rings(h: int, w: int, cy: float, cx: float, period: int) -> np.ndarray:
    """Concentric square rings: holes with islands inside them, islands with holes..."""
    yy, xx = np.mgrid[:h, :w]
    r = np.maximum(np.abs(yy - cy), np.abs(xx - cx)).astype(int)
    return (r // period) % 2 == 0


def seeded_masks(n: int = 320):
    """(name, mask) pairs: random noise of every density, blobs, nested rings,
    checkerboards (pixels touching only at corners), lines, single pixels,
    full frames (touching all four borders)."""
    rng = np.random.default_rng(20240611)
    out = []
    for i in range(n):
        h, w = (int(x) for x in rng.integers(1, 33, 2))
        kind = i % 8
        if kind == 0:
            m = rng.random((h, w)) < rng.uniform(0.05, 0.95)
        elif kind == 1:  # smooth blobs, often with holes
            m = ndimage.gaussian_filter(rng.random((h, w)), rng.uniform(0.6, 2.5)) > rng.uniform(0.45, 0.55)
        elif kind == 2:  # checkerboard with dropouts: many corner-only contacts
            yy, xx = np.mgrid[:h, :w]
            m = ((yy + xx) % 2 == 0) & (rng.random((h, w)) < 0.85)
        elif kind == 3:  # nested rings: holes, islands in holes, holes in islands
            m = rings(h, w, rng.uniform(0, h), rng.uniform(0, w), int(rng.integers(1, 4)))
        elif kind == 4:  # rings with noise: pinches between holes and islands
            m = rings(h, w, rng.uniform(0, h), rng.uniform(0, w), int(rng.integers(1, 3))) ^ (
                rng.random((h, w)) < 0.08)
        elif kind == 5:  # isolated single pixels
            m = np.zeros((h, w), bool)
            k = int(rng.integers(1, 6))
            m[rng.integers(0, h, k), rng.integers(0, w, k)] = True
        elif kind == 6:  # thin diagonal lines (corner-touching staircase)
            m = np.zeros((h, w), bool)
            for _ in range(int(rng.integers(1, 4))):
                r0, c0 = int(rng.integers(0, h)), int(rng.integers(0, w))
                step = 1 if rng.random() < 0.5 else -1
                for t in range(max(h, w)):
                    r, c = r0 + t, c0 + step * t
                    if 0 <= r < h and 0 <= c < w:
                        m[r, c] = True
        else:  # mostly full: touches every border, a few holes
            m = rng.random((h, w)) > 0.05
        out.append((f"{i}-kind{kind}-{h}x{w}", m))
    return out


SEEDED = seeded_masks()


# --- instance_masks / bbox_from_mask -------------------------------------------


def _id_image() -> np.ndarray:
    ids = np.zeros((40, 50), np.uint16)
    ids[5:15, 10:30] = 7  # plain rectangle: area 200
    ids[0, 0] = 3  # one pixel in the corner
    ids[30:40, 45:50] = 1000  # id > 255, touching the bottom-right border
    ids[20:26, 2:8] = 300  # ring with a hole
    ids[22:24, 4:6] = 0
    ids[20, 40] = 12  # two separate parts of one instance
    ids[35, 20:23] = 12
    return ids


def test_instance_masks_areas_boxes_and_crops():
    ids = _id_image()
    masks = instance_masks(ids)
    assert list(masks) == [3, 7, 12, 300, 1000], "one entry per id > 0, in id order"
    for iid, m in masks.items():
        full = ids == iid
        assert m.instance_id == iid
        assert m.area == int(full.sum())
        assert m.bbox == brute_bbox(full)
        x, y, w, h = m.bbox
        assert m.mask.dtype == bool and m.mask.shape == (h, w)
        np.testing.assert_array_equal(m.mask, full[y:y + h, x:x + w])
        np.testing.assert_array_equal(m.full(ids.shape), full)
    assert masks[7].area == 200 and masks[7].bbox == (10, 5, 20, 10)
    assert masks[3].bbox == (0, 0, 1, 1)
    assert masks[1000].bbox == (45, 30, 5, 10)
    assert masks[300].area == 36 - 4
    assert masks[12].area == 4 and masks[12].bbox == (20, 20, 21, 16)


def test_instance_masks_empty_and_bad_shape():
    assert instance_masks(np.zeros((8, 9), np.uint16)) == {}
    with pytest.raises(DropsynthError):
        instance_masks(np.zeros((2, 3, 4), np.uint16))


def test_instance_masks_random_id_images_match_brute_force():
    rng = np.random.default_rng(5)
    for _ in range(20):
        ids = rng.choice(np.array([0, 1, 2, 255, 256, 4097, 65535], np.uint16), size=(17, 23),
                         p=[0.5, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05])
        masks = instance_masks(ids)
        present = sorted(int(v) for v in np.unique(ids) if v)
        assert list(masks) == present
        for iid, m in masks.items():
            np.testing.assert_array_equal(m.full(ids.shape), ids == iid)
            assert m.bbox == brute_bbox(ids == iid)


def test_bbox_from_mask():
    assert bbox_from_mask(np.zeros((5, 6), bool)) is None
    m = np.zeros((5, 6), bool)
    m[4, 5] = True
    assert bbox_from_mask(m) == (5, 4, 1, 1)
    m[1, 2] = True
    assert bbox_from_mask(m) == (2, 1, 4, 4)
    for name, mask in SEEDED[:100]:
        assert bbox_from_mask(mask) == brute_bbox(mask), name


# --- polygons -------------------------------------------------------------------


def test_polygon_simple_square_is_its_pixel_corners():
    m = np.zeros((4, 5), bool)
    m[1:3, 2:4] = True
    polys = mask_to_polygons(m)
    assert len(polys) == 1
    pts = np.asarray(polys[0]).reshape(-1, 2)
    assert {tuple(p) for p in pts.tolist()} == {(2.0, 1.0), (4.0, 1.0), (4.0, 3.0), (2.0, 3.0)}
    assert mask_to_polygons(np.zeros((3, 3), bool)) == []


@pytest.mark.parametrize("mask", [
    np.ones((1, 1), bool),
    np.ones((1, 7), bool),
    np.ones((6, 1), bool),
    np.eye(5, dtype=bool),  # diagonal only
    np.fliplr(np.eye(5, dtype=bool)),
    np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], bool),  # one-pixel hole
    rings(11, 11, 5, 5, 1),  # ring, hole, ring, hole, island...
    rings(13, 9, 0, 0, 2),  # rings cut by the border
    np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], bool),  # X: centre touches four corners
    np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], bool),  # diamond around a hole, no edge contacts
], ids=["1px", "row", "col", "diag", "antidiag", "hole", "rings", "border-rings", "x", "diamond"])
def test_polygons_handpicked_shapes_decode_exactly(mask):
    h, w = mask.shape
    polys = mask_to_polygons(mask)
    np.testing.assert_array_equal(decode_polygons(polys, h, w), mask)


def test_polygons_decode_exactly_for_seeded_random_masks():
    """Property test over a few hundred masks: pycocotools gives back the mask,
    and every polygon is a flat [x, y, ...] list that no consumer reads as a box."""
    failures = []
    for name, mask in SEEDED:
        h, w = mask.shape
        polys = mask_to_polygons(mask)
        for p in polys:
            assert isinstance(p, list) and all(type(v) is float for v in p), name
            assert len(p) % 2 == 0 and len(p) >= 8, (name, len(p))
            xy = np.asarray(p).reshape(-1, 2)
            assert (xy >= 0).all() and (xy[:, 0] <= w).all() and (xy[:, 1] <= h).all(), name
        if not mask.any():
            assert polys == [], name
            continue
        decoded = decode_polygons(polys, h, w)
        if not np.array_equal(decoded, mask):
            failures.append((name, int((decoded != mask).sum())))
    assert not failures, f"masks not reproduced exactly (name, wrong pixels): {failures[:10]}"


def test_polygons_with_offset_decode_in_the_full_frame():
    rng = np.random.default_rng(3)
    for _ in range(40):
        crop = rng.random((int(rng.integers(1, 12)), int(rng.integers(1, 12)))) < 0.6
        H, W = 30, 40
        x0, y0 = int(rng.integers(0, W - crop.shape[1] + 1)), int(rng.integers(0, H - crop.shape[0] + 1))
        full = np.zeros((H, W), bool)
        full[y0:y0 + crop.shape[0], x0:x0 + crop.shape[1]] = crop
        polys = mask_to_polygons(crop, offset=(x0, y0))
        np.testing.assert_array_equal(decode_polygons(polys, H, W), full)


def test_polygon_count_is_one_per_part_for_simple_layouts():
    m = np.zeros((10, 12), bool)
    m[1:3, 1:3] = True
    m[5:9, 5:11] = True
    m[6:8, 7:9] = False  # a hole does not add a polygon
    m[3, 3] = True  # touches the first square only at a corner: a separate part
    polys = mask_to_polygons(m)
    assert len(polys) == ndimage.label(m)[1] == 3


def test_polygon_count_island_touching_its_hole_diagonally():
    # A 1-pixel island at the centre of a hole, touching the ring at the hole's top-left corner.
    m = np.array([[1, 1, 1, 1, 1],
                  [1, 1, 0, 1, 1],
                  [1, 0, 1, 0, 1],
                  [1, 1, 0, 0, 1],
                  [1, 1, 1, 1, 1]], bool)
    polys = mask_to_polygons(m)
    np.testing.assert_array_equal(decode_polygons(polys, 5, 5), m)  # this part holds
    assert len(polys) == ndimage.label(m)[1] == 2


# --- RLE --------------------------------------------------------------------------


def test_rle_round_trip_and_agreement_with_pycocotools():
    for name, mask in SEEDED[::4]:
        rle = mask_to_rle(mask)
        assert json.loads(json.dumps(rle)) == rle, "plain JSON"
        assert isinstance(rle["counts"], str)
        assert rle["size"] == [mask.shape[0], mask.shape[1]]
        np.testing.assert_array_equal(rle_to_mask(rle), mask)
        as_bytes = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
        np.testing.assert_array_equal(rle_to_mask(as_bytes), mask)
        assert int(mask_util.area(as_bytes)) == int(mask.sum()), name
        bb = brute_bbox(mask)
        expected = [0.0, 0.0, 0.0, 0.0] if bb is None else [float(v) for v in bb]
        assert mask_util.toBbox(as_bytes).tolist() == expected, name


def test_rle_of_polygons_equals_rle_of_mask():
    for name, mask in SEEDED[1::10]:
        if not mask.any():
            continue
        h, w = mask.shape
        poly_rle = mask_util.merge(mask_util.frPyObjects(mask_to_polygons(mask), h, w))
        ours = mask_to_rle(mask)
        assert poly_rle["counts"].decode("ascii") == ours["counts"], name


# --- largest_component -----------------------------------------------------------


def test_largest_component_is_four_connected_and_keeps_holes():
    m = np.zeros((9, 9), bool)
    m[0, 0] = m[1, 1] = m[2, 2] = True  # diagonal chain: three separate 1-px parts
    m[6, 3:5] = True  # a 2-px bar: the largest 4-connected part
    out = largest_component(m)
    assert out.shape == m.shape and out.dtype == bool
    np.testing.assert_array_equal(np.argwhere(out), [[6, 3], [6, 4]])

    ring = np.zeros((9, 9), bool)
    ring[1:6, 1:6] = True
    ring[3, 3] = False
    ring[8, 8] = True
    out = largest_component(ring)
    expected = ring.copy()
    expected[8, 8] = False
    np.testing.assert_array_equal(out, expected)

    assert not largest_component(np.zeros((4, 4), bool)).any()
    single = np.zeros((4, 4), bool)
    single[2, 1] = True
    np.testing.assert_array_equal(largest_component(single), single)


# --- annotate_frame ----------------------------------------------------------------


def _asset(i: str, category: str) -> Asset:
    return Asset(pack="testpack", id=i, category=category, supercategory="things", license="CC0",
                 mesh_path=f"/nonexistent/{i}.obj")


def _rot_z(deg: float) -> np.ndarray:
    a = np.radians(deg)
    r = np.eye(4)
    r[:2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    return r


def _pose(rot_deg: float, t) -> np.ndarray:
    p = _rot_z(rot_deg)
    p[:3, 3] = t
    return p


@pytest.fixture()
def frame_scene():
    """An id image drawn by hand and a SettledScene/CameraSpec that it could come from."""
    H, W = 48, 64
    ids = np.zeros((H, W), np.uint16)
    ids[4:14, 4:24] = 1  # 200 px
    ids[30:32, 40:42] = 2  # 4 px: below min_visible_px=5
    ids[20:26, 30:36] = 3  # split by an occluder: 36 px ...
    ids[40:42, 50:53] = 3  # ... and 6 px
    ids[36:46, 4:14] = 300  # ring, id > 255
    ids[39:43, 7:11] = 0
    ids[2, 60] = 9  # an id that is not in the scene: ignored
    objects = (
        ObjectSpec(1, _asset("mug", "mug"), _pose(0, [0.1, 0.0, 0.05])),
        ObjectSpec(2, _asset("duck", "duck"), _pose(30, [0.0, 0.1, 0.02])),
        ObjectSpec(3, _asset("box", "box"), _pose(-45, [-0.1, 0.05, 0.03])),
        ObjectSpec(4, _asset("lego", "lego_brick"), _pose(10, [0.2, 0.2, 0.01])),  # not visible
        ObjectSpec(5, _asset("ball", "ball"), _pose(0, [2.0, 0.0, -1.0])),  # removed by physics
        ObjectSpec(300, _asset("bunny", "bunny"), _pose(90, [-0.2, -0.1, 0.04])),
    )
    spec = SceneSpec(scene_index=0, table_size_m=(1.2, 0.8, 0.04), objects=objects, cameras=(), lights=(),
                     ambient_rgb=(0.3, 0.3, 0.3), table_rgba=(0.5, 0.5, 0.5, 1.0), background_rgb=(0, 0, 0))
    # Physics moved the objects a little: the settled poses differ from the spawn poses.
    poses = {o.instance_id: o.world_T_obj @ _pose(5, [0.0, 0.001, -0.002]) for o in objects if o.instance_id != 5}
    settled = SettledScene(spec=spec, poses=poses, removed=(5,), steps=100, at_rest=True)
    world_T_cam = np.eye(4)
    world_T_cam[:3, :3] = np.array([[1, 0, 0], [0, -1, 0], [0, 0, -1]]) @ _rot_z(20)[:3, :3]  # looks down, rolled
    world_T_cam[:3, 3] = [0.05, -0.3, 0.9]
    camera = CameraSpec(K=np.array([[60.0, 0, 32], [0, 60.0, 24], [0, 0, 1]]), width=W, height=H,
                        world_T_cam=world_T_cam)
    return ids, settled, camera


def test_annotate_frame_polygons(frame_scene):
    ids, settled, camera = frame_scene
    anns = annotate_frame(ids, settled, camera, mask_format="polygon", min_visible_px=5)
    assert all(isinstance(a, Annotation) for a in anns)
    assert [a.instance_id for a in anns] == [1, 3, 300], "id 2 too small, 4 not visible, 9 not in the scene"
    by_id = {a.instance_id: a for a in anns}
    assert by_id[1].category == "mug" and by_id[1].asset_id == "testpack/mug"
    assert by_id[300].category == "bunny"
    H, W = ids.shape
    for a in anns:
        full = ids == a.instance_id
        assert a.area == a.px_count_visib == int(full.sum())
        assert a.bbox == brute_bbox(full)
        assert all(type(v) is int for v in a.bbox)
        json.dumps(a.segmentation)
        np.testing.assert_array_equal(decode_polygons(a.segmentation, H, W), full)
        assert len(a.segmentation) == ndimage.label(full)[1]
    assert len(by_id[3].segmentation) == 2


def test_annotate_frame_cam_T_obj(frame_scene):
    ids, settled, camera = frame_scene
    anns = annotate_frame(ids, settled, camera, min_visible_px=1)
    cam_T_world = np.linalg.inv(camera.world_T_cam)
    assert anns
    for a in anns:
        world_T_obj = settled.poses[a.instance_id]
        assert a.cam_T_obj.shape == (4, 4)
        np.testing.assert_allclose(a.cam_T_obj, cam_T_world @ world_T_obj, atol=1e-12)
        # The object's origin, seen from the camera, is where the world says it is.
        origin_cam = a.cam_T_obj @ np.array([0, 0, 0, 1.0])
        np.testing.assert_allclose(camera.world_T_cam @ origin_cam, world_T_obj[:, 3], atol=1e-12)
    # Object 1 is at world (0.1, 0.001, 0.048) (after the settle offset), the camera at (0.05, -0.3, 0.9)
    # looking down: the object is 0.852 m in front of it.
    one = next(a for a in anns if a.instance_id == 1)
    assert one.cam_T_obj[2, 3] == pytest.approx(0.9 - 0.048, abs=1e-9)
    # Spawn pose is not the settled pose: cam_T_obj must use the settled one.
    spawn = next(o for o in settled.spec.objects if o.instance_id == 1).world_T_obj
    assert not np.allclose(one.cam_T_obj, cam_T_world @ spawn)


def test_annotate_frame_min_visible_px(frame_scene):
    ids, settled, camera = frame_scene
    assert [a.instance_id for a in annotate_frame(ids, settled, camera, min_visible_px=1)] == [1, 2, 3, 300]
    assert [a.instance_id for a in annotate_frame(ids, settled, camera, min_visible_px=4)] == [1, 2, 3, 300]
    assert [a.instance_id for a in annotate_frame(ids, settled, camera, min_visible_px=5)] == [1, 3, 300]
    assert [a.instance_id for a in annotate_frame(ids, settled, camera, min_visible_px=42)] == [1, 3, 300]
    assert [a.instance_id for a in annotate_frame(ids, settled, camera, min_visible_px=43)] == [1, 300]
    assert [a.instance_id for a in annotate_frame(ids, settled, camera, min_visible_px=85)] == [1]
    assert [a.instance_id for a in annotate_frame(ids, settled, camera, min_visible_px=201)] == []


def test_annotate_frame_largest_part_only(frame_scene):
    ids, settled, camera = frame_scene
    H, W = ids.shape
    anns = {a.instance_id: a for a in annotate_frame(ids, settled, camera, largest_part_only=True,
                                                     min_visible_px=1)}
    three = anns[3]
    part = np.zeros_like(ids, dtype=bool)
    part[20:26, 30:36] = True
    assert three.area == 36
    assert three.bbox == (30, 20, 6, 6)
    assert len(three.segmentation) == 1
    np.testing.assert_array_equal(decode_polygons(three.segmentation, H, W), part)
    assert three.px_count_visib == 42, "px_count_visib still counts every visible pixel"
    for a in anns.values():  # segmentation, bbox and area agree for every object
        dec = decode_polygons(a.segmentation, H, W)
        assert int(dec.sum()) == a.area
        assert brute_bbox(dec) == a.bbox
        assert len(a.segmentation) == 1
        assert (ids[dec] == a.instance_id).all()
    np.testing.assert_array_equal(decode_polygons(anns[300].segmentation, H, W), ids == 300)  # hole kept
    # min_visible_px applies to the part that is kept
    kept = [a.instance_id for a in annotate_frame(ids, settled, camera, largest_part_only=True,
                                                  min_visible_px=37)]
    assert 3 not in kept and 1 in kept


def test_annotate_frame_rle_matches_polygons(frame_scene):
    ids, settled, camera = frame_scene
    H, W = ids.shape
    rle = annotate_frame(ids, settled, camera, mask_format="rle", min_visible_px=1)
    poly = annotate_frame(ids, settled, camera, mask_format="polygon", min_visible_px=1)
    assert [a.instance_id for a in rle] == [a.instance_id for a in poly]
    for a, b in zip(rle, poly):
        seg = a.segmentation
        assert isinstance(seg, dict) and isinstance(seg["counts"], str) and seg["size"] == [H, W]
        json.dumps(seg)
        np.testing.assert_array_equal(rle_to_mask(seg), ids == a.instance_id)
        np.testing.assert_array_equal(rle_to_mask(seg), decode_polygons(b.segmentation, H, W))
        assert (a.area, a.bbox) == (b.area, b.bbox)
        as_bytes = {"size": seg["size"], "counts": seg["counts"].encode()}
        assert int(mask_util.area(as_bytes)) == a.area
        assert mask_util.toBbox(as_bytes).tolist() == [float(v) for v in a.bbox]
    # largest part only with RLE: the RLE holds that part only
    lp = {a.instance_id: a for a in annotate_frame(ids, settled, camera, mask_format="rle",
                                                   largest_part_only=True)}
    assert int(rle_to_mask(lp[3].segmentation).sum()) == lp[3].area == 36


def test_center_polygons_run_through_pixels_of_the_mask_and_edges_stay_exact():
    """The exact check with cv2.fillPoly is in tests/consumers; here: every
    centre vertex is a pixel of the mask, each axis-aligned edge runs over
    mask pixels only; edges polygons stay exact for pycocotools."""
    from pycocotools import mask as mask_util

    rng = np.random.default_rng(3)
    for _ in range(300):
        h, w = rng.integers(1, 12, 2)
        m = rng.random((h, w)) < rng.uniform(0.3, 0.9)
        if not m.any():
            continue
        for flat in mask_to_polygons(m, convention="centers"):
            p = np.asarray(flat).reshape(-1, 2)
            assert len(flat) >= 8 and np.array_equal(p, np.rint(p))
            p = p.astype(int)
            for a, b in zip(p, np.roll(p, -1, axis=0)):
                assert a[0] == b[0] or a[1] == b[1]  # rectilinear
                xs = range(min(a[0], b[0]), max(a[0], b[0]) + 1)
                ys = range(min(a[1], b[1]), max(a[1], b[1]) + 1)
                assert all(m[y, x] for y in ys for x in xs)
        polys = mask_to_polygons(m)
        dec = mask_util.decode(mask_util.merge(mask_util.frPyObjects(polys, int(h), int(w)))).astype(bool)
        assert np.array_equal(dec, m)
    with pytest.raises(DropsynthError, match="polygon convention"):
        mask_to_polygons(np.ones((2, 2), bool), convention="middle")


def test_centers_to_mask_fills_centre_polygons_back_exactly():
    """The OpenCV rule (edges drawn, even-odd inside) without OpenCV; checked
    against cv2.fillPoly in tests/consumers."""
    from dropsynth.annotate import centers_to_mask

    rng = np.random.default_rng(5)
    for _ in range(500):
        h, w = (int(v) for v in rng.integers(1, 14, 2))
        m = rng.random((h, w)) < rng.uniform(0.2, 0.95)
        assert np.array_equal(centers_to_mask(mask_to_polygons(m, convention="centers"), h, w), m)
    with pytest.raises(DropsynthError, match="axis-aligned"):
        centers_to_mask([[0, 0, 3, 3, 0, 3]], 4, 4)


def _walked_loops(mask):
    """Reference: the boundary loops by walking edge after edge, one Python
    step per unit edge (what ``_boundary_loops`` did before it ordered the
    loops in numpy); the same edge table and pinch rule."""
    from dropsynth.annotate import _DX, _DY

    m = np.pad(mask.astype(bool), 1)
    inner = m[1:-1, 1:-1]
    edges = []  # (x, y, direction) of each edge's start corner
    for k, (out, ox, oy) in enumerate(((m[:-2, 1:-1], 0, 0), (m[1:-1, 2:], 1, 0),
                                       (m[2:, 1:-1], 1, 1), (m[1:-1, :-2], 0, 1))):
        for r, c in zip(*np.nonzero(inner & ~out)):
            edges.append((int(c) + ox, int(r) + oy, k))
    outgoing = {}
    for e, (x, y, k) in enumerate(edges):
        outgoing.setdefault((x, y), []).append(e)
    used, loops = set(), []
    for e0 in range(len(edges)):
        if e0 in used:
            continue
        seq, e = [], e0
        while e not in used:
            used.add(e)
            seq.append(e)
            x, y, k = edges[e]
            cands = outgoing[(x + int(_DX[k]), y + int(_DY[k]))]
            right = [c for c in cands if edges[c][2] == (k + 1) % 4]
            e = right[0] if len(cands) == 2 and edges[cands[0]][2] != (k + 1) % 4 and right else cands[0]
        pts = [edges[i][:2] for i in seq]
        dirs = [edges[i][2] for i in seq]
        loops.append([p for j, p in enumerate(pts) if dirs[j] != dirs[j - 1]])
    return loops


def test_boundary_loops_match_an_edge_by_edge_walk():
    from dropsynth.annotate import _boundary_loops

    rng = np.random.default_rng(14)
    pinches = 0
    for t in range(300):
        h, w = rng.integers(1, 24, 2)
        mask = rng.random((h, w)) < rng.uniform(0.1, 0.9)
        if t % 3 == 0:
            mask = ndimage.binary_closing(mask)
        got = [lp.tolist() for lp in _boundary_loops(mask)]
        want = [[list(p) for p in lp] for lp in _walked_loops(mask)]
        assert got == want, t
        a = mask[:-1, :-1] & mask[1:, 1:] & ~mask[:-1, 1:] & ~mask[1:, :-1]
        pinches += int(a.sum())
    assert pinches > 50  # corner-touching pixels, where the pinch rule picks the edge, were exercised


def test_boundary_loops_of_a_large_ring_and_a_pixel():
    from dropsynth.annotate import _boundary_loops

    yy, xx = np.mgrid[:200, :300]
    r2 = (xx - 150) ** 2 + (yy - 100) ** 2
    mask = (r2 < 90 ** 2) & (r2 >= 40 ** 2)
    mask[0, 0] = True
    loops = _boundary_loops(mask)
    assert [lp.tolist() for lp in loops] == [[list(p) for p in lp] for lp in _walked_loops(mask)]
    assert loops[0].tolist() == [[0, 0], [1, 0], [1, 1], [0, 1]]
    assert len(loops) == 3  # the pixel, the ring's outer boundary and its hole


# --- one frame's polygons traced together ---------------------------------------


@pytest.mark.parametrize("convention", ["edges", "centers"])
def test_masks_to_polygons_gives_each_mask_its_own_polygons(convention):
    """The masks packed into one canvas and traced at once give, mask by
    mask, exactly the polygons (same vertices, same order, same starting
    vertex) of tracing each alone: the COCO bytes depend on it."""
    rng = np.random.default_rng(7)
    masks = [m for _, m in SEEDED]
    for _ in range(60):
        pick = [masks[int(k)] for k in rng.integers(0, len(masks), int(rng.integers(1, 16)))]
        offsets = [(int(x), int(y)) for x, y in rng.integers(0, 600, (len(pick), 2))]
        got = masks_to_polygons(pick, offsets, convention)
        assert got == [mask_to_polygons(m, o, convention) for m, o in zip(pick, offsets)]
    # an empty mask among others keeps its place with no polygon; nothing at all gives nothing
    full = np.ones((3, 4), bool)
    assert masks_to_polygons([full, np.zeros((5, 5), bool), full], [(0, 0)] * 3, convention)[1] == []
    assert masks_to_polygons([], [], convention) == []


def test_masks_to_polygons_of_a_real_frame_decode_to_its_masks():
    """A frame of touching, nested and pinched instances (ids of every shape
    side by side, so their boxes overlap in the frame): each instance's
    polygons rasterize back to exactly its pixels."""
    rng = np.random.default_rng(3)
    ids = np.zeros((60, 80), np.uint16)
    for iid in range(1, 13):
        y, x = (int(v) for v in rng.integers(0, 50, 2))
        ids[y:y + int(rng.integers(2, 20)), x:x + int(rng.integers(2, 25))] = iid
    ids[rng.random(ids.shape) < 0.08] = 0  # holes and pinches
    masks = instance_masks(ids)
    crops = [m.mask for m in masks.values()]
    offsets = [m.bbox[:2] for m in masks.values()]
    for (iid, m), polys in zip(masks.items(), masks_to_polygons(crops, offsets)):
        np.testing.assert_array_equal(decode_polygons(polys, *ids.shape), ids == iid)
