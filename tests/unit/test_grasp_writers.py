"""dropsynth.writers.grasps: grasp-label file formats, read back the way the
datasets' own loaders read them.

GG-CNN's loaders (dougsm/ggcnn, utils/dataset_processing/grasp.py) are
re-implemented here in their own (row, col) terms, independently of the module,
so that a sign or axis slip in the module shows up as a mismatch.
"""
from __future__ import annotations

import math
import os

import h5py
import numpy as np
import pytest

from dropsynth.errors import DropsynthError
from dropsynth.writers import grasps as G


# --------------------------------------------------------------------------- GG-CNN, re-implemented

def ggcnn_as_gr(center_rc, angle, length, width):
    """GG-CNN ``Grasp(center, angle, length, width).as_gr.points``: (4, 2) as (row, col)."""
    xo, yo = math.cos(angle), math.sin(angle)
    y1 = center_rc[0] + length / 2 * yo
    x1 = center_rc[1] - length / 2 * xo
    y2 = center_rc[0] - length / 2 * yo
    x2 = center_rc[1] + length / 2 * xo
    return np.array([
        [y1 - width / 2 * xo, x1 - width / 2 * yo],
        [y2 - width / 2 * xo, x2 - width / 2 * yo],
        [y2 + width / 2 * xo, x2 + width / 2 * yo],
        [y1 + width / 2 * xo, x1 + width / 2 * yo],
    ])


def ggcnn_load_jacquard(path):
    """``GraspRectangles.load_from_jacquard_file``: list of (4, 2) (row, col) point arrays."""
    out = []
    with open(path) as f:
        for line in f:
            x, y, theta, w, h = [float(v) for v in line[:-1].split(";")]
            out.append(ggcnn_as_gr(np.array([y, x]), -theta / 180.0 * np.pi, w, h))
    return out


def ggcnn_load_cornell(path):
    """``GraspRectangles.load_from_cornell_file`` (points rounded to int, (row, col))."""
    def to_no(line):
        x, y = line.split()
        return [int(round(float(y))), int(round(float(x)))]

    out = []
    with open(path) as f:
        while True:
            p0 = f.readline()
            if not p0:
                break
            p1, p2, p3 = f.readline(), f.readline(), f.readline()
            try:
                out.append(np.array([to_no(p0), to_no(p1), to_no(p2), to_no(p3)]))
            except ValueError:
                continue
    return out


def ggcnn_props(points):
    """``GraspRectangle`` angle, length, width and (unrounded) centre of (row, col) points."""
    dx = points[1, 1] - points[0, 1]
    dy = points[1, 0] - points[0, 0]
    angle = (np.arctan2(-dy, dx) + np.pi / 2) % np.pi - np.pi / 2
    length = np.hypot(dx, dy)
    width = np.hypot(points[2, 1] - points[1, 1], points[2, 0] - points[1, 0])
    return angle, length, width, points.mean(axis=0)


def _random_rects(n, seed=0):
    rng = np.random.default_rng(seed)
    return np.column_stack([
        rng.uniform(20, 600, n), rng.uniform(20, 440, n), rng.uniform(-np.pi, np.pi, n),
        rng.uniform(10, 120, n), rng.uniform(4, 40, n),
    ])


def _angle_diff(a, b):
    """Difference of rectangle angles modulo pi, in [-pi/2, pi/2)."""
    return (np.asarray(a) - np.asarray(b) + np.pi / 2) % np.pi - np.pi / 2


# --------------------------------------------------------------------------- conventions

def test_horizontal_grasp_first_edge_is_the_opening_at_constant_y():
    c = G.rect_corners([[50.5, 40.5, 0.0, 30.0, 10.0]])[0]
    assert c[0, 1] == c[1, 1] == pytest.approx(35.5)          # first edge horizontal
    assert c[1, 0] - c[0, 0] == pytest.approx(30.0)           # ... as long as the opening
    assert c[2, 0] == pytest.approx(c[1, 0])                  # second edge vertical
    assert c[2, 1] - c[1, 1] == pytest.approx(10.0)           # ... as long as the jaw
    assert c.mean(axis=0) == pytest.approx([50.5, 40.5])
    np.testing.assert_allclose(c, [[35.5, 35.5], [65.5, 35.5], [65.5, 45.5], [35.5, 45.5]])


def test_positive_angle_is_counter_clockwise_on_screen():
    # +30 deg CCW on screen with y down: the opening edge goes right and UP.
    c = G.rect_corners([[100.0, 100.0, math.radians(30), 40.0, 10.0]])[0]
    d = c[1] - c[0]
    assert d[0] > 0 and d[1] < 0
    assert math.degrees(math.atan2(-d[1], d[0])) == pytest.approx(30.0)
    assert np.hypot(*d) == pytest.approx(40.0)
    # A vertical grasp (90 deg): the opening edge points straight up.
    c = G.rect_corners([[100.0, 100.0, math.pi / 2, 40.0, 10.0]])[0]
    np.testing.assert_allclose(c[1] - c[0], [0.0, -40.0], atol=1e-12)


def test_rects_from_corners_inverts_rect_corners():
    r = _random_rects(50, seed=1)
    back = G.rects_from_corners(G.rect_corners(r))
    np.testing.assert_allclose(back[:, [0, 1, 3, 4]], r[:, [0, 1, 3, 4]], atol=1e-9)
    np.testing.assert_allclose(_angle_diff(back[:, 2], r[:, 2]), 0, atol=1e-9)
    assert (back[:, 2] >= -np.pi / 2).all() and (back[:, 2] < np.pi / 2).all()


def test_bad_rects_are_refused():
    with pytest.raises(DropsynthError, match=r"\(N, 5\)"):
        G.rect_corners([[1.0, 2.0, 0.0, 3.0]])
    with pytest.raises(DropsynthError, match="non-finite"):
        G.jacquard_text([[1.0, np.nan, 0.0, 3.0, 4.0]])
    with pytest.raises(DropsynthError, match="negative"):
        G.jacquard_text([[1.0, 2.0, 0.0, -3.0, 4.0]])


# --------------------------------------------------------------------------- Jacquard

def test_jacquard_line_format_and_angle_sign():
    text = G.jacquard_text([[100.5, 50.5, math.radians(30), 40.0, 20.0], [10.0, 20.0, 0.0, 5.0, 2.0]])
    # pixel-index x, y; Jacquard's angle is clockwise on screen; every line ends in \n
    assert text == "100.000;50.000;-30.000;40.000;20.000\n9.500;19.500;0.000;5.000;2.000\n"
    assert G.jacquard_text(np.zeros((0, 5))) == ""


def test_jacquard_round_trip(tmp_path):
    r = _random_rects(40)
    p = G.write_jacquard(tmp_path / "0_grasps.txt", r)
    back = G.read_jacquard(p)
    assert back.shape == (40, 5)
    np.testing.assert_allclose(back, r, atol=1e-3)


def test_jacquard_file_read_by_ggcnn_gives_our_corners(tmp_path):
    r = _random_rects(30, seed=2)
    r[0] = [100.5, 50.5, math.radians(30), 40.0, 20.0]
    p = G.write_jacquard(tmp_path / "g.txt", r, decimals=6)
    theirs = ggcnn_load_jacquard(p)
    ours = G.rect_corners(r) - G.FILE_PIXEL_OFFSET     # (x, y) in pixel-index coordinates
    assert len(theirs) == len(r)
    for pts_rc, ours_xy, rect in zip(theirs, ours, r):
        np.testing.assert_allclose(pts_rc[:, ::-1], ours_xy, atol=1e-5)
        angle, length, width, centre = ggcnn_props(pts_rc)
        assert _angle_diff(angle, rect[2]) == pytest.approx(0, abs=1e-6)
        assert length == pytest.approx(rect[3], abs=1e-5)     # GG-CNN's width map = opening
        assert width == pytest.approx(rect[4], abs=1e-5)
        np.testing.assert_allclose(centre, [rect[1] - 0.5, rect[0] - 0.5], atol=1e-5)
    # The +30 deg grasp: GG-CNN's angle is +30 deg too (its angles are CCW on screen).
    assert ggcnn_props(theirs[0])[0] == pytest.approx(math.radians(30))


def test_jacquard_bad_line_names_file_and_line(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text("1;2;3;4;5\n\n1;2;3;4\n")
    with pytest.raises(DropsynthError, match=r"bad\.txt:3: expected"):
        G.read_jacquard(p)


# --------------------------------------------------------------------------- Cornell

def test_cornell_round_trip(tmp_path):
    r = _random_rects(40, seed=3)
    p = G.write_cornell(tmp_path / "pcd0100cpos.txt", r)
    lines = p.read_text().splitlines()
    assert len(lines) == 4 * 40 and all(len(line.split()) == 2 for line in lines)
    back = G.read_cornell(p)
    np.testing.assert_allclose(back[:, [0, 1, 3, 4]], r[:, [0, 1, 3, 4]], atol=2e-3)
    np.testing.assert_allclose(_angle_diff(back[:, 2], r[:, 2]), 0, atol=1e-4)


def test_cornell_file_read_by_ggcnn(tmp_path):
    # GG-CNN rounds Cornell points to integers: compare within that rounding.
    r = _random_rects(30, seed=4)
    p = G.write_cornell(tmp_path / "cpos.txt", r)
    theirs = ggcnn_load_cornell(p)
    assert len(theirs) == len(r)
    for pts_rc, rect in zip(theirs, r):
        angle, length, width, centre = ggcnn_props(pts_rc.astype(float))
        assert length == pytest.approx(rect[3], abs=1.5)
        assert width == pytest.approx(rect[4], abs=1.5)
        assert abs(_angle_diff(angle, rect[2])) < 1.5 / rect[3] * 2
        np.testing.assert_allclose(centre, [rect[1] - 0.5, rect[0] - 0.5], atol=0.51)
    # Hand-made: a horizontal grasp's first two Cornell lines share their y.
    p = G.write_cornell(tmp_path / "h.txt", [[50.5, 40.5, 0.0, 30.0, 10.0]])
    assert p.read_text().splitlines() == ["35.000 35.000", "65.000 35.000", "65.000 45.000", "35.000 45.000"]


def test_cornell_nan_rectangle_skipped_and_bad_files_refused(tmp_path):
    p = tmp_path / "cpos.txt"
    good = G.write_cornell(tmp_path / "good.txt", [[50.5, 40.5, 0.0, 30.0, 10.0]]).read_text()
    p.write_text("NaN NaN\n1 2\n3 4\n5 6\n" + good)
    back = G.read_cornell(p)
    assert back.shape == (1, 5)
    np.testing.assert_allclose(back[0], [50.5, 40.5, 0.0, 30.0, 10.0], atol=1e-9)
    p.write_text("1 2\n3 4\n5 6\n")
    with pytest.raises(DropsynthError, match="multiple of 4"):
        G.read_cornell(p)
    p.write_text("1 2\n3 4 5\n")
    with pytest.raises(DropsynthError, match=r"cpos\.txt:2"):
        G.read_cornell(p)


# --------------------------------------------------------------------------- GG-CNN maps

def test_maps_fill_the_centre_third_with_quality_angle_and_width():
    rect = [50.5, 40.5, 0.0, 30.0, 10.0]                    # covers columns 35..64, rows 35..44
    m = G.grasp_maps([rect], 80, 100)
    assert set(m) == set(G.MAP_KEYS)
    assert all(a.shape == (80, 100) and a.dtype == np.float32 for a in m.values())
    q = m["quality"]
    assert q[40, 50] == 1.0                                  # the centre pixel
    assert q[0, 0] == 0.0 and q[70, 90] == 0.0              # far away
    rows, cols = np.nonzero(q)
    # centre third: 10 px along the opening (x 45.5..55.5 -> columns 45..54), the full jaw (rows 35..44)
    assert (cols.min(), cols.max(), rows.min(), rows.max()) == (45, 54, 35, 44)
    assert q.sum() == 100
    assert q[40, 38] == 0.0 and q[40, 62] == 0.0             # inside the rectangle, outside its centre third
    assert (m["width"][q > 0] == 30.0).all() and (m["width"][q == 0] == 0).all()
    assert (m["angle"] == 0).all() and (m["cos2"] == 1).all() and (m["sin2"] == 0).all()


def test_maps_angle_convention_and_quality_values():
    # Vertical grasp (opening along y): the centre third is 10 rows by 10 columns, angle folded to -pi/2.
    rects = [[30.0, 30.0, math.pi / 2, 30.0, 10.0], [70.0, 30.0, 3 * math.pi / 4, 30.0, 6.0]]
    m = G.grasp_maps(rects, 60, 100, quality=[0.25, 0.8])
    q = m["quality"]
    rows, cols = np.nonzero(q[:, :50])
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (25, 34, 25, 34)
    assert np.unique(q[:, :50][q[:, :50] > 0]).tolist() == [0.25]
    assert m["angle"][30, 30] == pytest.approx(-math.pi / 2)
    assert m["cos2"][30, 30] == pytest.approx(-1.0) and m["sin2"][30, 30] == pytest.approx(0.0, abs=1e-6)
    # 135 deg is the same rectangle as -45 deg
    assert q[30, 70] == pytest.approx(0.8)
    assert m["angle"][30, 70] == pytest.approx(-math.pi / 4)
    assert m["cos2"][30, 70] == pytest.approx(0.0, abs=1e-6) and m["sin2"][30, 70] == pytest.approx(-1.0)
    # 135 deg CCW on screen: the opening runs up-left / down-right. Its centre third is a
    # 10 px bar along that diagonal, 6 px (the jaw) across it.
    assert q[27, 67] > 0 and q[32, 72] > 0                   # along the opening, within its third
    assert q[25, 65] == 0 and q[34, 74] == 0                 # along the opening, beyond its third
    assert q[27, 73] == 0 and q[33, 67] == 0                 # across, beyond the jaw


def test_maps_clip_at_the_border_and_check_inputs(tmp_path):
    m = G.grasp_maps([[1.0, 1.0, 0.3, 60.0, 30.0], [500.0, 500.0, 0.0, 10.0, 10.0]], 20, 30)
    assert m["quality"][0, 0] == 1 and m["quality"].shape == (20, 30)
    with pytest.raises(DropsynthError, match="quality has 1 values for 2"):
        G.grasp_maps([[5, 5, 0, 3, 3], [6, 6, 0, 3, 3]], 10, 10, quality=[1.0])
    with pytest.raises(DropsynthError, match="did you mean 'width'"):
        G.write_grasp_maps(tmp_path / "m.npz", {**m, "widht": m["width"]})


def test_grasp_maps_npz_round_trip(tmp_path):
    m = G.grasp_maps(_random_rects(5), 480, 640)
    p = G.write_grasp_maps(tmp_path / "000000.npz", m)
    with np.load(p) as z:
        assert sorted(z.files) == sorted(G.MAP_KEYS)
        for k in G.MAP_KEYS:
            assert z[k].dtype == np.float32
            np.testing.assert_array_equal(z[k], m[k])


# --------------------------------------------------------------------------- ACRONYM

def _library(n=6, seed=0):
    rng = np.random.default_rng(seed)
    T = np.tile(np.eye(4), (n, 1, 1))
    for i in range(n):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        T[i, :3, :3] = q * np.sign(np.linalg.det(q))
        T[i, :3, 3] = rng.normal(scale=0.05, size=3)
    return dict(transforms=T, success=rng.integers(0, 2, n), robust=rng.uniform(0, 1, n),
                width_m=rng.uniform(0.01, 0.08, n), contacts=rng.normal(scale=0.03, size=(n, 2, 3)))


def _write_lib(path, **over):
    lib = _library()
    kw = dict(**lib, object_file="meshes/Mug/abc.obj", object_scale=0.5, mass_kg=0.3, friction=0.8,
              gripper={"type": "dropsynth_parallel_jaw", "configuration": [0.08], "finger_depth_m": 0.045},
              extra_attrs={"mesh_sha256": "ff00", "dropsynth_version": "0.1.0", "trials": 8})
    kw.update(over)
    return G.write_acronym(path, **kw), kw


def test_acronym_read_by_acronym_tools_code(tmp_path):
    import trimesh

    mesh_root = tmp_path / "root"
    (mesh_root / "meshes" / "Mug").mkdir(parents=True)
    trimesh.creation.box(extents=[1.0, 2.0, 3.0]).export(mesh_root / "meshes" / "Mug" / "abc.obj")
    path, kw = _write_lib(tmp_path / "Mug_abc_0.5.h5")

    # acronym_tools.load_grasps, line for line
    data = h5py.File(str(path), "r")
    T = np.array(data["grasps/transforms"])
    success = np.array(data["grasps/qualities/flex/object_in_gripper"])
    np.testing.assert_array_equal(T, kw["transforms"])
    np.testing.assert_array_equal(success, kw["success"])
    assert T.dtype == np.float64 and T.shape == (6, 4, 4)
    assert success.dtype == np.int64 and success.shape == (6,)
    # acronym_tools.load_mesh (current version: the file name is decoded from bytes)
    mesh_fname = data["object/file"][()].decode("utf-8")
    mesh_scale = data["object/scale"][()]
    mesh = trimesh.load(os.path.join(str(mesh_root), mesh_fname)).apply_scale(mesh_scale)
    np.testing.assert_allclose(mesh.extents, [0.5, 1.0, 1.5])
    assert data["object/mass"][()] == 0.3 and data["object/friction"][()] == 0.8
    assert data["gripper/type"][()] == b"dropsynth_parallel_jaw"
    assert data["gripper/configuration"][()].tolist() == [0.08]
    data.close()


def test_acronym_round_trip(tmp_path):
    path, kw = _write_lib(tmp_path / "lib.h5")
    got = G.read_acronym(path)
    np.testing.assert_array_equal(got["transforms"], kw["transforms"])
    np.testing.assert_array_equal(got["success"], kw["success"])
    np.testing.assert_array_equal(got["robust"], kw["robust"])
    np.testing.assert_array_equal(got["width_m"], kw["width_m"])
    np.testing.assert_array_equal(got["contacts"], kw["contacts"])
    assert (got["object_file"], got["object_scale"], got["mass_kg"], got["friction"]) == \
        ("meshes/Mug/abc.obj", 0.5, 0.3, 0.8)
    assert got["gripper"]["type"] == "dropsynth_parallel_jaw"
    assert got["gripper"]["configuration"].tolist() == [0.08]
    assert got["gripper"]["finger_depth_m"] == 0.045
    assert got["attrs"] == {"mesh_sha256": "ff00", "dropsynth_version": "0.1.0", "trials": 8}
    assert set(got["qualities"]) == {"flex/object_in_gripper", "dropsynth/robust_success"}
    with h5py.File(path, "r") as f:
        assert f[G.ROBUST_SUCCESS].dtype == np.float64
        assert f["grasps/width"].shape == (6,) and f["grasps/contacts"].shape == (6, 2, 3)
    # Optional arrays may be left out.
    path, _ = _write_lib(tmp_path / "min.h5", robust=None, width_m=None, contacts=None, extra_attrs=None)
    got = G.read_acronym(path)
    assert got["robust"] is None and got["width_m"] is None and got["contacts"] is None and got["attrs"] == {}


def test_acronym_is_deterministic_and_checks_inputs(tmp_path):
    a, _ = _write_lib(tmp_path / "a.h5")
    b, _ = _write_lib(tmp_path / "b.h5")
    assert a.read_bytes() == b.read_bytes()
    with pytest.raises(DropsynthError, match=r"must end in \.h5"):
        _write_lib(tmp_path / "lib.hdf5")
    with pytest.raises(DropsynthError, match="each 0 or 1"):
        _write_lib(tmp_path / "c.h5", success=np.full(6, 2))
    with pytest.raises(DropsynthError, match=r"robust must have shape \(6,\)"):
        _write_lib(tmp_path / "c.h5", robust=np.zeros(5))
    with pytest.raises(DropsynthError, match="last row"):
        bad = _library()["transforms"].copy()
        bad[0, 3, 3] = 2.0
        _write_lib(tmp_path / "c.h5", transforms=bad)
    with pytest.raises(DropsynthError, match="'type'"):
        _write_lib(tmp_path / "c.h5", gripper={"configuration": [0.08]})
    with pytest.raises(DropsynthError, match="not an ACRONYM grasp file"):
        with h5py.File(tmp_path / "other.h5", "w") as f:
            f["x"] = 1
        G.read_acronym(tmp_path / "other.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5", "b.h5", "other.h5"]


# --------------------------------------------------------------------------- frame sidecar

def _frame(m=5, k=3, seed=0):
    rng = np.random.default_rng(seed)
    inst = rng.integers(1, 4, m)
    idx = rng.integers(0, m, k)
    return dict(cam_T_grasp=np.tile(np.eye(4), (m, 1, 1)), instance_id=inst, width_m=rng.uniform(0, 0.08, m),
                success=rng.integers(0, 2, m).astype(bool), robust=rng.uniform(0, 1, m),
                collision_free=rng.integers(0, 2, m), rects=_random_rects(k, seed), rect_index=idx,
                rect_instance_id=inst[idx])


def test_frame_sidecar_round_trip_with_documented_dtypes(tmp_path):
    arrays = _frame()
    p = G.write_frame_grasps(tmp_path / "000000.npz", **arrays)
    got = G.read_frame_grasps(p)
    assert set(got) == set(G.FRAME_KEYS)
    for key, (dtype, tail, _) in G.FRAME_KEYS.items():
        assert got[key].dtype == np.dtype(dtype), key
        assert got[key].shape[1:] == tail, key
        np.testing.assert_allclose(got[key], np.asarray(arrays[key]).astype(dtype), rtol=1e-6, err_msg=key)
    # A frame without grasps is a valid, empty sidecar.
    empty = {k: [] for k in G.FRAME_KEYS}
    got = G.read_frame_grasps(G.write_frame_grasps(tmp_path / "000001.npz", **empty))
    assert got["cam_T_grasp"].shape == (0, 4, 4) and got["rects"].shape == (0, 5)
    a = G.write_frame_grasps(tmp_path / "x.npz", **arrays).read_bytes()
    assert a == G.write_frame_grasps(tmp_path / "y.npz", **arrays).read_bytes()


def test_frame_sidecar_refuses_inconsistent_arrays(tmp_path):
    out = tmp_path / "f.npz"
    with pytest.raises(DropsynthError, match="did you mean 'width_m'"):
        G.write_frame_grasps(out, **{**_frame(), "width": np.zeros(5)})
    arrays = _frame()
    del arrays["robust"]
    with pytest.raises(DropsynthError, match="missing grasp arrays robust"):
        G.write_frame_grasps(out, **arrays)
    with pytest.raises(DropsynthError, match="robust has 4 rows but cam_T_grasp has 5"):
        G.write_frame_grasps(out, **{**_frame(), "robust": np.zeros(4)})
    with pytest.raises(DropsynthError, match="instance_id must be int32, got float64"):
        G.write_frame_grasps(out, **{**_frame(), "instance_id": np.ones(5)})
    with pytest.raises(DropsynthError, match="rect_instance_id must equal"):
        G.write_frame_grasps(out, **{**_frame(), "rect_instance_id": np.full(3, 99)})
    with pytest.raises(DropsynthError, match="rect_index must point"):
        G.write_frame_grasps(out, **{**_frame(), "rect_index": np.array([0, 1, 5]), "rect_instance_id": [0, 0, 0]})
    with pytest.raises(DropsynthError, match=r"rects must have shape \(K, 5\)"):
        G.write_frame_grasps(out, **{**_frame(), "rects": np.zeros((3, 4))})
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- atomic writes

def test_writes_leave_only_the_final_files(tmp_path):
    r = _random_rects(4)
    G.write_jacquard(tmp_path / "a.txt", r)
    G.write_cornell(tmp_path / "b.txt", r)
    G.write_grasp_maps(tmp_path / "c.npz", G.grasp_maps(r, 48, 64))
    G.write_frame_grasps(tmp_path / "d.npz", **_frame())
    _write_lib(tmp_path / "e.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "c.npz", "d.npz", "e.h5"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    p = G.write_frame_grasps(tmp_path / "f.npz", **_frame(seed=1))
    before = p.read_bytes()

    def broken(f, **arrays):
        f.write(b"PK partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(OSError, match="disk full"):
        G.write_frame_grasps(p, **_frame(seed=2))
    assert p.read_bytes() == before
    assert [q.name for q in tmp_path.iterdir()] == ["f.npz"]
