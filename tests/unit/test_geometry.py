"""dropsynth.geometry: the one copy of the rotation, quaternion, pose and
projection helpers. The copies it replaces (and the two left in other files
until they switch) must agree with it to the bit, since output bytes hang on
them."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dropsynth import geometry as g


def _is_rotation(r: np.ndarray) -> bool:
    return r.shape == (3, 3) and np.allclose(r @ r.T, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(r), 1.0)


def test_axis_rotations_turn_the_axes_the_right_way():
    x, y, z = np.eye(3)
    np.testing.assert_allclose(g.rot_x(math.pi / 2) @ y, z, atol=1e-15)
    np.testing.assert_allclose(g.rot_y(math.pi / 2) @ z, x, atol=1e-15)
    np.testing.assert_allclose(g.rot_z(math.pi / 2) @ x, y, atol=1e-15)
    for axis, v, w in (("x", y, z), ("y", z, x), ("z", x, y)):
        np.testing.assert_allclose(g.rotation_about(axis, 90) @ v, w, atol=1e-15)
    with pytest.raises(ValueError, match="axis must be"):
        g.rotation_about("w", 90)


def test_axis_angle_agrees_with_the_axis_rotations_and_ignores_the_axis_length():
    rng = np.random.default_rng(1)
    for a in rng.uniform(-2 * math.pi, 2 * math.pi, 20):
        np.testing.assert_allclose(g.axis_angle([0, 0, 3.0], a), g.rot_z(a), atol=1e-15)
        np.testing.assert_allclose(g.axis_angle([0.5, 0, 0], a), g.rot_x(a), atol=1e-15)
        axis = rng.normal(size=3)
        r = g.axis_angle(axis, a)
        assert _is_rotation(r)
        np.testing.assert_allclose(r @ axis, axis, atol=1e-12)  # the axis stays put


def test_quaternions_round_trip_through_matrices_near_180_degrees_too():
    rng = np.random.default_rng(2)
    rs = [g.random_rotation(rng) for _ in range(200)]
    rs += [g.rotation_about(a, 180) for a in "xyz"] + [g.axis_angle([1, 1, 0], math.pi - 1e-9)]
    for r in rs:
        q = g.matrix_to_quat(r)
        assert math.isclose(sum(v * v for v in q), 1.0, rel_tol=1e-12)
        np.testing.assert_allclose(g.quat_to_matrix(q), r, atol=1e-12)
    np.testing.assert_allclose(g.quat_to_matrix((0, 0, 0, 5.0)), np.eye(3))  # any norm


def test_random_rotations_are_rotations_spread_over_all_of_them():
    rng = np.random.default_rng(3)
    rs = np.array([g.random_rotation(rng) for _ in range(4000)])
    assert all(_is_rotation(r) for r in rs[:100])
    # Uniform (Haar) rotations average to the zero matrix; each entry's variance is 1/3.
    np.testing.assert_allclose(rs.mean(axis=0), 0, atol=0.04)
    np.testing.assert_allclose((rs ** 2).mean(axis=0), 1 / 3, atol=0.03)
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    g.random_rotation(a)
    b.random(3)
    assert a.random() == b.random()  # it takes three draws from the stream it is given, nothing else


def test_pose_and_projection():
    t = g.pose(g.rot_z(math.pi / 2), [1.0, 2.0, 3.0])
    assert t.dtype == np.float64 and t.shape == (4, 4)
    np.testing.assert_allclose(t @ [1, 0, 0, 1], [1, 3, 3, 1], atol=1e-15)
    K = np.array([[500.0, 0, 320], [0, 400.0, 240], [0, 0, 1]])
    px = g.project_coco(np.array([[0.0, 0.0, 2.0], [0.2, -0.1, 1.0], [1.0, 1.0, 0.0]]), K)
    np.testing.assert_allclose(px[0], [320.5, 240.5])  # the principal point is a pixel centre, COCO-style
    np.testing.assert_allclose(px[1], [420.5, 200.5])
    assert np.isfinite(px[2]).all()  # a point on the camera plane does not divide by zero


def test_bops_snapped_half_turns_are_exact_and_as_before():
    """writers/bop.py's symmetry matrices come from rotation_about, snapped:
    exact 0, 1, -1 without -0.0, bit-equal to the numpy formula it replaced
    (so models_info.json keeps its bytes)."""
    from dropsynth.writers import bop

    for axis in "xyz":
        for deg in (90, 180, 270):
            c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
            old = {"x": [[1, 0, 0], [0, c, -s], [0, s, c]], "y": [[c, 0, s], [0, 1, 0], [-s, 0, c]],
                   "z": [[c, -s, 0], [s, c, 0], [0, 0, 1]]}[axis]
            T = bop._turn(axis, deg)
            np.testing.assert_array_equal(T[:3, :3], np.rint(np.asarray(old) * 1e12) / 1e12 + 0.0)
            assert set(T.reshape(-1)) <= {-1.0, 0.0, 1.0} and not np.signbit(T[T == 0]).any()
            np.testing.assert_array_equal(T[3], [0, 0, 0, 1])
