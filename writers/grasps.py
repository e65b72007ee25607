"""Grasp-label files: planar rectangles (Jacquard, Cornell, GG-CNN maps),
6-DoF object grasp libraries (ACRONYM's HDF5 layout) and the per-frame sidecar.

Conventions (see ../shared/GRASPS.md):

Planar grasp rectangle
    ``[cx, cy, theta, opening_px, jaw_px]`` (float, pixels / radians), in the
    continuous image coordinates the rest of dropsynth uses (COCO, OpenCV):
    pixel (row i, column j) covers x in [j, j+1) and y in [i, i+1), so the
    centre of column j is x = j + 0.5. ``theta`` is counter-clockwise *on
    screen*: with y pointing down, the opening (closing) direction is
    ``u = (cos theta, -sin theta)`` in (x, y). ``opening_px`` is the edge
    along ``u`` (how far the jaws open), ``jaw_px`` the other edge (finger
    width), along ``v = (sin theta, cos theta)``. A grasp and the same grasp
    turned by pi are the same rectangle.

Files read by GG-CNN-family loaders (Jacquard, Cornell)
    Those loaders index arrays with the numbers they read (skimage's
    ``polygon`` and ``GraspRectangle.center`` treat coordinate ``c`` as the
    centre of pixel ``c``), so these files hold *pixel-index* coordinates:
    ``x_file = cx - 0.5``, ``y_file = cy - 0.5`` (``FILE_PIXEL_OFFSET``).
    Our readers add the half pixel back, so write -> read is the identity.

6-DoF grasps
    4x4 float64 ``obj_T_grasp`` (object library) or ``cam_T_grasp`` (frame),
    metres; gripper frame with +z the approach direction and +x the closing
    axis, as ACRONYM and Contact-GraspNet.

Every writer goes through a temporary name in the target folder
(``.NAME.PID.tmp``, ``dropsynth.atomic.atomic_path``) and a rename, so an interrupted run never leaves a
file that looks whole; the same inputs give byte-identical files.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np

from dropsynth.atomic import atomic_path, write_text_atomic
from dropsynth.errors import DropsynthError, suggest

FILE_PIXEL_OFFSET = 0.5
"""Continuous image coordinate minus the pixel-index coordinate that
Jacquard / Cornell files hold (pixel centres at integers there)."""

MAP_KEYS = ("quality", "angle", "cos2", "sin2", "width")

FRAME_KEYS: dict[str, tuple[str, tuple[int, ...], str]] = {
    # key: (dtype, trailing shape, leading dimension: M grasps or K rectangles)
    "cam_T_grasp": ("float64", (4, 4), "M"),
    "instance_id": ("int32", (), "M"),
    "width_m": ("float32", (), "M"),
    "success": ("uint8", (), "M"),
    "robust": ("float32", (), "M"),
    "collision_free": ("uint8", (), "M"),
    "rects": ("float32", (5,), "K"),
    "rect_index": ("int32", (), "K"),
    "rect_instance_id": ("int32", (), "K"),
}
"""Arrays of a frame sidecar (``write_frame_grasps``): M 6-DoF grasps of the
visible objects in the camera frame, K planar rectangles projected from some
of them (``rect_index`` points into the M arrays)."""

ACRONYM_SUCCESS = "grasps/qualities/flex/object_in_gripper"
ROBUST_SUCCESS = "grasps/qualities/dropsynth/robust_success"


# --------------------------------------------------------------------------- helpers

def _atomic(path, write: Callable[[Path], None]) -> Path:
    """Run ``write(tmp)`` on the temporary name of ``path`` (``dropsynth.atomic``),
    then rename it to ``path``; on any failure the temporary file is removed."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def _write_text(path, text: str) -> Path:
    return write_text_atomic(path, text, encoding="ascii")


def _save_npz(path, arrays: dict) -> Path:
    def write(tmp: Path) -> None:
        # A file object, not a name: np.savez would append ".npz" to a name
        # that lacks it (and our temporary name ends in ".tmp").
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    return _atomic(path, write)


def _text_lines(path: Path):
    """(line number from 1, stripped text) of every non-blank line of a text file."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                yield n, line.strip()


def _as_rects(rects, what: str = "rects") -> np.ndarray:
    r = np.asarray(rects, dtype=np.float64)
    if r.ndim == 1 and r.size == 0:
        r = r.reshape(0, 5)
    if r.ndim != 2 or r.shape[1] != 5:
        raise DropsynthError(f"{what}: expected shape (N, 5) [cx, cy, theta, opening_px, jaw_px], got {r.shape}")
    if not np.isfinite(r).all():
        raise DropsynthError(f"{what}: rectangle {int(np.flatnonzero(~np.isfinite(r).all(axis=1))[0])} "
                             f"has a non-finite value")
    bad = np.flatnonzero((r[:, 3] < 0) | (r[:, 4] < 0))
    if bad.size:
        raise DropsynthError(f"{what}: rectangle {int(bad[0])} has a negative opening_px or jaw_px")
    return r


def _fmt(v: float, decimals: int) -> str:
    # round, then + 0.0 turns -0.0 into 0.0 so that no "-0.000" is written
    return f"{round(float(v), decimals) + 0.0:.{decimals}f}"


def wrap_angle(theta):
    """Angles folded into [-pi/2, pi/2) (a parallel-jaw grasp and the same
    grasp turned by pi are one rectangle), as GG-CNN's
    ``GraspRectangle.angle``. Array or scalar in, same out (radians)."""
    return (np.asarray(theta, dtype=np.float64) + np.pi / 2) % np.pi - np.pi / 2


# --------------------------------------------------------------------------- rectangles

def rect_corners(rects) -> np.ndarray:
    """Corner points of planar grasp rectangles.

    Parameters
    ----------
    rects : array-like, (N, 5) float
        ``[cx, cy, theta, opening_px, jaw_px]``: continuous image coordinates
        (pixels, x right, y down), theta in radians counter-clockwise on screen.

    Returns
    -------
    (N, 4, 2) float64
        Corners as (x, y), in GG-CNN's ``Grasp.as_gr`` order: the first edge
        (corner 0 -> 1) runs along the opening direction ``u = (cos theta,
        -sin theta)`` and has length ``opening_px`` (Cornell's ``cpos.txt``
        convention); corner 1 -> 2 runs along ``v = (sin theta, cos theta)``
        with length ``jaw_px``.
    """
    r = _as_rects(rects)
    c = r[:, None, 0:2]
    th = r[:, 2]
    u = np.stack([np.cos(th), -np.sin(th)], axis=-1)[:, None, :]
    v = np.stack([np.sin(th), np.cos(th)], axis=-1)[:, None, :]
    a = np.array([-0.5, 0.5, 0.5, -0.5])[None, :, None] * r[:, None, 3:4]
    b = np.array([-0.5, -0.5, 0.5, 0.5])[None, :, None] * r[:, None, 4:5]
    return c + a * u + b * v


def rects_from_corners(corners) -> np.ndarray:
    """Inverse of ``rect_corners`` (the maths of GG-CNN's ``GraspRectangle``
    ``center``/``angle``/``length``/``width``, on unrounded points).

    Parameters
    ----------
    corners : array-like, (N, 4, 2) float
        (x, y) corners in continuous image coordinates; the first edge is the
        opening.

    Returns
    -------
    (N, 5) float64
        ``[cx, cy, theta, opening_px, jaw_px]``; the centre is the mean of the
        four corners and theta is folded into [-pi/2, pi/2) (``wrap_angle``).
    """
    p = np.asarray(corners, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (4, 2):
        raise DropsynthError(f"corners: expected shape (N, 4, 2), got {p.shape}")
    e1 = p[:, 1] - p[:, 0]
    e2 = p[:, 2] - p[:, 1]
    theta = wrap_angle(np.arctan2(-e1[:, 1], e1[:, 0]))
    return np.column_stack([p.mean(axis=1), theta, np.hypot(*e1.T), np.hypot(*e2.T)])


# --------------------------------------------------------------------------- Jacquard

def jacquard_text(rects, decimals: int = 3) -> str:
    """Jacquard grasp-file text: one line ``x;y;theta_deg;opening;jaw`` per
    rectangle, each line ending in a newline.

    ``x, y`` are pixel-index coordinates (``cx - 0.5``, ``cy - 0.5``);
    ``theta_deg = -degrees(theta)``: Jacquard counts angles clockwise on
    screen, and GG-CNN's ``load_from_jacquard_file`` builds
    ``Grasp((y, x), -theta_deg * pi / 180, opening, jaw)``, whose angle is
    counter-clockwise on screen like ours. The angle is written as given
    (not folded). Every line, the last one too, ends in ``\\n`` because that
    loader drops each line's last character.

    Parameters
    ----------
    rects : array-like, (N, 5) float
        ``[cx, cy, theta, opening_px, jaw_px]`` (see the module docstring).
    decimals : int
        Digits after the decimal point.
    """
    r = _as_rects(rects)
    out = []
    for cx, cy, th, opening, jaw in r:
        vals = (cx - FILE_PIXEL_OFFSET, cy - FILE_PIXEL_OFFSET, -math.degrees(th), opening, jaw)
        out.append(";".join(_fmt(v, decimals) for v in vals) + "\n")
    return "".join(out)


def write_jacquard(path, rects, decimals: int = 3) -> Path:
    """Write ``jacquard_text(rects)`` to ``path`` (atomically); returns the path."""
    return _write_text(path, jacquard_text(rects, decimals))


def read_jacquard(path) -> np.ndarray:
    """Read a Jacquard grasp file.

    Returns
    -------
    (N, 5) float64
        ``[cx, cy, theta, opening_px, jaw_px]`` in our conventions (continuous
        coordinates, theta counter-clockwise on screen, as written, not folded).
        Blank lines are skipped; any other line that is not five
        ``;``-separated numbers is an error naming the file and line.
    """
    path = Path(path)
    rows = []
    for n, line in _text_lines(path):
        try:
            x, y, t, opening, jaw = (float(p) for p in line.split(";"))
        except ValueError:
            raise DropsynthError(f"{path}:{n}: expected 'x;y;theta_deg;opening;jaw' (5 numbers), "
                                 f"got {line!r}") from None
        rows.append((x + FILE_PIXEL_OFFSET, y + FILE_PIXEL_OFFSET, -math.radians(t), opening, jaw))
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


# --------------------------------------------------------------------------- Cornell

def write_cornell(path, rects, decimals: int = 3) -> Path:
    """Write a Cornell ``cpos.txt``-style file (atomically): four lines
    ``x y`` per rectangle, its corners in ``rect_corners`` order (the first
    edge is the jaw opening), in pixel-index coordinates (``x - 0.5``,
    ``y - 0.5``). Returns the path."""
    corners = rect_corners(rects) - FILE_PIXEL_OFFSET
    lines = [f"{_fmt(x, decimals)} {_fmt(y, decimals)}\n" for x, y in corners.reshape(-1, 2)]
    return _write_text(path, "".join(lines))


def read_cornell(path) -> np.ndarray:
    """Read a Cornell ``cpos.txt``/``cneg.txt``-style file.

    Same maths as GG-CNN's ``load_from_cornell_file`` and ``GraspRectangle``
    (first edge = opening, angle folded into [-pi/2, pi/2)), on the unrounded
    points; like that loader, a rectangle with a NaN corner (the Cornell set
    has a few) is skipped.

    Returns
    -------
    (N, 5) float64
        ``[cx, cy, theta, opening_px, jaw_px]`` in our conventions.
    """
    path = Path(path)
    pts = []
    for n, line in _text_lines(path):
        try:
            x, y = (float(v) for v in line.split())
        except ValueError:
            raise DropsynthError(f"{path}:{n}: expected 'x y' (2 numbers), got {line!r}") from None
        pts.append((x, y))
    if len(pts) % 4:
        raise DropsynthError(f"{path}: {len(pts)} corner lines, not a multiple of 4 (4 corners per rectangle)")
    p = np.array(pts, dtype=np.float64).reshape(-1, 4, 2)
    p = p[np.isfinite(p).all(axis=(1, 2))]
    return rects_from_corners(p + FILE_PIXEL_OFFSET)


# --------------------------------------------------------------------------- GG-CNN maps

def grasp_maps(rects, height: int, width: int, quality=None) -> dict[str, np.ndarray]:
    """Pixel-wise training maps as GG-CNN / GR-ConvNet draw them.

    Each rectangle's centre third (same centre and angle, opening / 3, full
    jaw) is filled, in input order (a later rectangle overwrites an earlier
    one where they overlap, as ``GraspRectangles.draw``). A pixel is filled
    when its centre (j + 0.5, i + 0.5) lies in the rectangle (half-open
    edges, so an axis-aligned rectangle of integer size fills exactly that
    many pixels). Unlike GG-CNN, the centre is not truncated to an integer
    pixel first.

    Parameters
    ----------
    rects : array-like, (N, 5) float
        ``[cx, cy, theta, opening_px, jaw_px]`` (continuous coordinates).
    height, width : int
        Map size in pixels.
    quality : array-like, (N,) float, optional
        Value drawn into ``quality`` per rectangle (for example the robust
        success rate); default 1.0 for every rectangle, as GG-CNN.

    Returns
    -------
    dict of float32 (height, width) arrays
        ``quality`` (0 outside every rectangle), ``angle`` (theta folded into
        [-pi/2, pi/2), GG-CNN's convention: counter-clockwise on screen; 0
        outside), ``cos2`` and ``sin2`` (cos and sin of 2 * ``angle`` at every
        pixel, so ``cos2`` is 1 on the background, exactly as GG-CNN's data
        loader computes them), ``width`` (full ``opening_px`` in pixels, 0
        outside; GG-CNN then clips it to [0, 150] and divides by 150).
    """
    r = _as_rects(rects)
    h, w = int(height), int(width)
    if h <= 0 or w <= 0:
        raise DropsynthError(f"grasp_maps: height and width must be positive, got {height}x{width}")
    if quality is None:
        q = np.ones(len(r))
    else:
        q = np.asarray(quality, dtype=np.float64).reshape(-1)
        if q.shape != (len(r),):
            raise DropsynthError(f"grasp_maps: quality has {q.size} values for {len(r)} rectangles")
    pos = np.zeros((h, w), np.float32)
    ang = np.zeros((h, w), np.float32)
    wid = np.zeros((h, w), np.float32)
    angles = wrap_angle(r[:, 2])
    third = r.copy()
    third[:, 3] /= 3.0
    for k, corners in enumerate(rect_corners(third)):
        (x0, y0), (x1, y1) = np.floor(corners.min(axis=0)), np.ceil(corners.max(axis=0))
        c0, c1 = int(max(x0, 0)), int(min(x1, w))
        r0, r1 = int(max(y0, 0)), int(min(y1, h))
        if c0 >= c1 or r0 >= r1:
            continue
        cx, cy, th, opening, jaw = third[k]
        dx = np.arange(c0, c1) + 0.5 - cx
        dy = np.arange(r0, r1)[:, None] + 0.5 - cy
        a = dx * math.cos(th) - dy * math.sin(th)   # along the opening
        b = dx * math.sin(th) + dy * math.cos(th)   # along the jaw
        inside = (a >= -opening / 2) & (a < opening / 2) & (b >= -jaw / 2) & (b < jaw / 2)
        rr, cc = np.nonzero(inside)
        rr += r0
        cc += c0
        pos[rr, cc] = q[k]
        ang[rr, cc] = angles[k]
        wid[rr, cc] = r[k, 3]
    return {"quality": pos, "angle": ang, "cos2": np.cos(2 * ang), "sin2": np.sin(2 * ang), "width": wid}


def write_grasp_maps(path_npz, maps: dict) -> Path:
    """Write ``grasp_maps`` output as a compressed ``.npz`` (atomically) with
    the float32 (H, W) arrays ``quality, angle, cos2, sin2, width``."""
    missing = [k for k in MAP_KEYS if k not in maps]
    extra = [k for k in maps if k not in MAP_KEYS]
    if missing or extra:
        raise DropsynthError(f"{path_npz}: grasp maps need exactly the keys {', '.join(MAP_KEYS)}"
                             + (f"; missing {', '.join(missing)}" if missing else "")
                             + (f"; unknown {extra[0]!r}{suggest(extra[0], MAP_KEYS)}" if extra else ""))
    arrays = {k: np.asarray(maps[k], dtype=np.float32) for k in MAP_KEYS}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise DropsynthError(f"{path_npz}: grasp maps must all be (H, W) of one size, got "
                             + ", ".join(f"{k} {a.shape}" for k, a in arrays.items()))
    return _save_npz(path_npz, arrays)


# --------------------------------------------------------------------------- ACRONYM

def _vec(a, n: int, what: str, path, shape=()) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.shape != (n, *shape):
        raise DropsynthError(f"{path}: {what} must have shape {(n, *shape)}, got {a.shape}")
    if not np.isfinite(a).all():
        raise DropsynthError(f"{path}: {what} has non-finite values")
    return a


def _h5_attr_value(v, where: str):
    if isinstance(v, (str, bool, int, float, np.generic)):
        return v
    a = np.asarray(v)
    if a.dtype.kind not in "biuf":
        raise DropsynthError(f"{where}: attribute values must be strings, numbers or numeric arrays, "
                             f"got {type(v).__name__}")
    return a


def write_acronym(path, *, transforms, success, object_file: str, object_scale: float, mass_kg: float,
                  friction: float, gripper: dict, robust=None, width_m=None, contacts=None,
                  extra_attrs: dict | None = None) -> Path:
    """Write an object's grasp library in ACRONYM's HDF5 layout (atomically).

    ``acronym_tools.load_grasps(path)`` and ``load_mesh(path, mesh_root)``
    read the file unchanged (they need the ``.h5`` suffix).

    Parameters
    ----------
    path : str or Path
        Output file, ending in ``.h5``.
    transforms : (N, 4, 4) float
        ``obj_T_grasp`` in the mesh frame, metres; gripper +z approach, +x
        closing axis -> ``grasps/transforms`` float64.
    success : (N,) 0/1
        Held after close, lift and shake -> ``grasps/qualities/flex/
        object_in_gripper`` int64 (ACRONYM's name and dtype, though our
        trials run in PyBullet, not FleX).
    object_file : str
        Mesh path relative to the mesh root -> ``object/file`` (UTF-8 string).
    object_scale, mass_kg, friction : float
        -> ``object/scale``, ``object/mass`` (kg), ``object/friction``, float64.
    gripper : dict
        ``type`` (str) -> ``gripper/type``; ``configuration`` (float or 1-D
        floats, e.g. the maximum opening in metres) -> ``gripper/configuration``
        float64 (1-D); any other keys become attributes of the ``gripper`` group.
    robust : (N,) float in [0, 1], optional
        Success rate under pose and friction perturbations ->
        ``grasps/qualities/dropsynth/robust_success`` float64.
    width_m : (N,) float, optional
        Jaw opening at contact, metres -> ``grasps/width`` float64.
    contacts : (N, 2, 3) float, optional
        The two finger contact points in the mesh frame, metres ->
        ``grasps/contacts`` float64.
    extra_attrs : dict, optional
        Attributes of the file's root (strings, numbers, numeric arrays), for
        example the mesh hash and the dropsynth version.
    """
    path = Path(path)
    if path.suffix != ".h5":
        raise DropsynthError(f"{path}: an ACRONYM grasp file must end in .h5 (acronym_tools picks its reader "
                             f"by the file ending)")
    T = np.asarray(transforms, dtype=np.float64)
    if T.ndim != 3 or T.shape[1:] != (4, 4):
        raise DropsynthError(f"{path}: transforms must have shape (N, 4, 4), got {T.shape}")
    n = len(T)
    if not np.isfinite(T).all() or not np.allclose(T[:, 3], [0, 0, 0, 1]):
        raise DropsynthError(f"{path}: transforms must be finite homogeneous matrices (last row 0 0 0 1)")
    s = np.asarray(success)
    if s.shape != (n,) or not np.isin(s, (0, 1)).all():
        raise DropsynthError(f"{path}: success must be {n} values, each 0 or 1")
    if robust is not None:
        robust = _vec(robust, n, "robust", path)
        if ((robust < 0) | (robust > 1)).any():
            raise DropsynthError(f"{path}: robust success rates must lie in [0, 1]")
    if width_m is not None:
        width_m = _vec(width_m, n, "width_m", path)
    if contacts is not None:
        contacts = _vec(contacts, n, "contacts", path, (2, 3))
    if not isinstance(gripper, dict) or not isinstance(gripper.get("type"), str) or "configuration" not in gripper:
        raise DropsynthError(f"{path}: gripper must be a dict with 'type' (str) and 'configuration' (floats)")
    config = np.atleast_1d(np.asarray(gripper["configuration"], dtype=np.float64))
    if config.ndim != 1:
        raise DropsynthError(f"{path}: gripper configuration must be a number or a 1-D list of numbers")
    scalars = {"object/scale": object_scale, "object/mass": mass_kg, "object/friction": friction}
    for name, v in scalars.items():
        if not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
            raise DropsynthError(f"{path}: {name} must be a finite number, got {v!r}")
    if not isinstance(object_file, str) or not object_file:
        raise DropsynthError(f"{path}: object_file must be a non-empty string (mesh path under the mesh root)")
    gripper_attrs = {k: _h5_attr_value(v, f"{path}: gripper[{k!r}]") for k, v in gripper.items()
                     if k not in ("type", "configuration")}
    root_attrs = {k: _h5_attr_value(v, f"{path}: extra_attrs[{k!r}]") for k, v in (extra_attrs or {}).items()}

    import h5py

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("grasps/transforms", data=T)
            f.create_dataset(ACRONYM_SUCCESS, data=s.astype(np.int64))
            if robust is not None:
                f.create_dataset(ROBUST_SUCCESS, data=robust)
            if width_m is not None:
                f.create_dataset("grasps/width", data=width_m)
            if contacts is not None:
                f.create_dataset("grasps/contacts", data=contacts)
            # A str becomes a variable-length UTF-8 string; h5py >= 3 reads it
            # back as bytes, which acronym_tools' load_mesh .decode()s.
            f.create_dataset("object/file", data=object_file)
            for name, v in scalars.items():
                f.create_dataset(name, data=np.float64(v))
            f.create_dataset("gripper/type", data=gripper["type"])
            f.create_dataset("gripper/configuration", data=config)
            for k, v in gripper_attrs.items():
                f["gripper"].attrs[k] = v
            for k, v in root_attrs.items():
                f.attrs[k] = v

    return _atomic(path, write)


def _decode(v):
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.dtype.kind in "SO":
        return [_decode(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        return v.item()
    return v


def read_acronym(path) -> dict:
    """Read an ACRONYM-layout grasp file (ours or ACRONYM's own).

    Returns
    -------
    dict
        ``transforms`` (N, 4, 4) float64, ``success`` (N,) int64,
        ``robust`` (N,) float64 or None, ``width_m`` (N,) float64 or None,
        ``contacts`` (N, 2, 3) float64 or None, ``object_file`` str,
        ``object_scale``, ``mass_kg``, ``friction`` (float or None when the
        file lacks them), ``gripper`` dict (``type`` str, ``configuration``
        float64 array or None, and the group's attributes), ``qualities``
        dict of every array under ``grasps/qualities/<source>/<name>`` keyed
        ``"<source>/<name>"``, and ``attrs`` (the root attributes).
    """
    import h5py

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise DropsynthError(f"{path}: cannot open as HDF5 ({e})") from None
    with f:
        for need in ("grasps/transforms", ACRONYM_SUCCESS):
            if need not in f:
                raise DropsynthError(f"{path}: no dataset {need!r}; not an ACRONYM grasp file")

        def opt(name, dtype=np.float64):
            return np.asarray(f[name][()], dtype=dtype) if name in f else None

        def scalar(name):
            return float(f[name][()]) if name in f else None

        qualities = {}
        for src, grp in f["grasps/qualities"].items():
            if isinstance(grp, h5py.Group):
                for name, ds in grp.items():
                    if isinstance(ds, h5py.Dataset):
                        qualities[f"{src}/{name}"] = ds[()]
        gripper = {}
        if "gripper" in f:
            gripper = {k: _decode(v) for k, v in f["gripper"].attrs.items()}
            gripper["type"] = _decode(f["gripper/type"][()]) if "gripper/type" in f else None
            gripper["configuration"] = opt("gripper/configuration")
        return {
            "transforms": np.asarray(f["grasps/transforms"][()], dtype=np.float64),
            "success": np.asarray(f[ACRONYM_SUCCESS][()]).astype(np.int64),
            "robust": opt(ROBUST_SUCCESS),
            "width_m": opt("grasps/width"),
            "contacts": opt("grasps/contacts"),
            "object_file": _decode(f["object/file"][()]) if "object/file" in f else None,
            "object_scale": scalar("object/scale"),
            "mass_kg": scalar("object/mass"),
            "friction": scalar("object/friction"),
            "gripper": gripper,
            "qualities": qualities,
            "attrs": {k: _decode(v) for k, v in f.attrs.items()},
        }


# --------------------------------------------------------------------------- frame sidecar

def write_frame_grasps(path_npz, **arrays) -> Path:
    """Write one frame's grasp labels as a compressed ``.npz`` (atomically).

    Every key of ``FRAME_KEYS`` is required (empty arrays when a frame has
    none) and no other; arrays are cast to the dtypes below (integer columns
    take only booleans and integers in range: floats never become integers
    silently).

    ==================  ============  ========  =====================================
    key                 shape         dtype     meaning
    ==================  ============  ========  =====================================
    cam_T_grasp         (M, 4, 4)     float64   grasp poses in the OpenCV camera
                                                frame, metres (+z approach, +x closing)
    instance_id         (M,)          int32     object of each grasp (as in the
                                                instance masks)
    width_m             (M,)          float32   jaw opening at contact, metres
    success             (M,)          uint8     1 = held in the library's trial
    robust              (M,)          float32   success rate under perturbations
    collision_free      (M,)          uint8     1 = the gripper at this pose hits
                                                nothing in the settled scene
    rects               (K, 5)        float32   planar rectangles [cx, cy, theta,
                                                opening_px, jaw_px] (module docstring)
    rect_index          (K,)          int32     row of each rectangle's 6-DoF grasp
    rect_instance_id    (K,)          int32     = instance_id[rect_index]
    ==================  ============  ========  =====================================
    """
    unknown = [k for k in arrays if k not in FRAME_KEYS]
    if unknown:
        raise DropsynthError(f"{path_npz}: unknown grasp array {unknown[0]!r}{suggest(unknown[0], FRAME_KEYS)}")
    missing = [k for k in FRAME_KEYS if k not in arrays]
    if missing:
        raise DropsynthError(f"{path_npz}: missing grasp arrays {', '.join(missing)} (pass empty arrays when a "
                             f"frame has none)")
    out, size = {}, {}
    for key, (dtype, tail, dim) in FRAME_KEYS.items():
        a = np.asarray(arrays[key])
        if a.size == 0:
            a = a.reshape(0, *tail).astype(dtype)   # np.asarray([]) is float64
        if a.ndim != 1 + len(tail) or a.shape[1:] != tail:
            want = "(" + ", ".join([dim, *map(str, tail)]) + ("" if tail else ",") + ")"
            raise DropsynthError(f"{path_npz}: {key} must have shape {want}, got {a.shape}")
        kinds = "biu" if np.dtype(dtype).kind in "iu" else "biuf"
        if a.dtype.kind not in kinds:
            raise DropsynthError(f"{path_npz}: {key} must be {dtype}, got {a.dtype}")
        if np.dtype(dtype).kind in "iu" and a.size:
            info = np.iinfo(dtype)
            if a.min() < info.min or a.max() > info.max:
                raise DropsynthError(f"{path_npz}: {key} has values outside the {dtype} range")
        if size.setdefault(dim, len(a)) != len(a):
            first = next(k for k, v in FRAME_KEYS.items() if v[2] == dim)
            raise DropsynthError(f"{path_npz}: {key} has {len(a)} rows but {first} has {size[dim]}")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise DropsynthError(f"{path_npz}: {key} has non-finite values")
        out[key] = a.astype(dtype)
    for key in ("success", "collision_free"):
        if not np.isin(out[key], (0, 1)).all():
            raise DropsynthError(f"{path_npz}: {key} values must be 0 or 1")
    idx = out["rect_index"]
    if ((idx < 0) | (idx >= size["M"])).any():
        raise DropsynthError(f"{path_npz}: rect_index must point into the {size['M']} 6-DoF grasps")
    if not np.array_equal(out["rect_instance_id"], out["instance_id"][idx]):
        raise DropsynthError(f"{path_npz}: rect_instance_id must equal instance_id[rect_index]")
    return _save_npz(path_npz, out)


def read_frame_grasps(path) -> dict[str, np.ndarray]:
    """Read a frame sidecar written by ``write_frame_grasps``: a dict of the
    ``FRAME_KEYS`` arrays, loaded into memory (the file is closed)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise DropsynthError(f"{path}: cannot read grasp sidecar ({e})") from None
    missing = [k for k in FRAME_KEYS if k not in data]
    if missing:
        raise DropsynthError(f"{path}: not a grasp sidecar, missing {', '.join(missing)}")
    return data
