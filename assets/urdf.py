"""Single-link URDF objects: visual and collision geometry, mass, friction.

Only what an object (not a robot) needs is read: the first link's first
visual and first collision element (mesh, box, cylinder or sphere, with
origin and mesh scale), its inertial mass, the ``<contact>`` friction and
restitution, and the visual material colour. Joints and further links are
refused, because a rigid object has none.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from dropsynth.errors import AssetError
from dropsynth.geometry import pose, rot_x, rot_y, rot_z


@dataclass(frozen=True)
class UrdfObject:
    visual_path: str | None
    visual_primitive: tuple | None
    visual_scale: tuple[float, float, float]
    visual_T: tuple[float, ...] | None
    collision_path: str | None
    collision_primitive: tuple | None
    collision_scale: tuple[float, float, float]
    collision_T: tuple[float, ...] | None
    mass_kg: float | None
    friction: float | None
    restitution: float | None
    color_rgba: tuple[float, float, float, float] | None


def _floats(text: str | None, n: int, what: str, default) -> tuple:
    if text is None:
        return default
    try:
        vals = tuple(float(v) for v in text.split())
    except ValueError:
        raise AssetError(f"{what}: expected {n} numbers, got {text!r}") from None
    if len(vals) != n or not all(math.isfinite(v) for v in vals):
        raise AssetError(f"{what}: expected {n} numbers, got {text!r}")
    return vals


def _origin(el, what: str) -> tuple | None:
    o = el.find("origin")
    if o is None:
        return None
    xyz = _floats(o.get("xyz"), 3, f"{what}/origin xyz", (0.0, 0.0, 0.0))
    rpy = _floats(o.get("rpy"), 3, f"{what}/origin rpy", (0.0, 0.0, 0.0))
    if not any(xyz) and not any(rpy):
        return None
    r, p, y = rpy
    t = pose(rot_z(y) @ rot_y(p) @ rot_x(r), xyz)  # URDF: fixed-axis roll, then pitch, then yaw
    return tuple(float(v) for v in t.ravel())


def _geometry(el, base: Path, what: str):
    """-> (mesh path or None, primitive or None, scale)"""
    g = el.find("geometry")
    if g is None or len(g) == 0:
        raise AssetError(f"{what}: no <geometry>")
    shape = g[0]
    if shape.tag == "mesh":
        fn = shape.get("filename")
        if not fn:
            raise AssetError(f"{what}/mesh: no filename")
        if fn.startswith("package://"):
            raise AssetError(f"{what}/mesh: package:// paths are not supported; use a path relative to the URDF")
        path = Path(fn[len("file://"):] if fn.startswith("file://") else fn)
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            raise AssetError(f"{what}/mesh: file not found: {fn}")
        scale = _floats(shape.get("scale"), 3, f"{what}/mesh scale", (1.0, 1.0, 1.0))
        if min(scale) <= 0:
            raise AssetError(f"{what}/mesh scale: must be > 0, got {shape.get('scale')!r}")
        return str(path), None, scale
    if shape.tag == "box":
        size = _floats(shape.get("size"), 3, f"{what}/box size", None)
        prim = ("box", size)
    elif shape.tag == "cylinder":
        prim = ("cylinder", (float(shape.get("radius", "nan")), float(shape.get("length", "nan"))))
    elif shape.tag == "sphere":
        prim = ("sphere", (float(shape.get("radius", "nan")),))
    else:
        raise AssetError(f"{what}: unsupported geometry <{shape.tag}>")
    if prim[1] is None or not all(math.isfinite(v) and v > 0 for v in prim[1]):
        raise AssetError(f"{what}/{shape.tag}: sizes must be numbers > 0")
    return None, prim, (1.0, 1.0, 1.0)


def read_urdf(path: str | Path) -> UrdfObject:
    """Parse a single-link URDF; raises AssetError naming what is wrong."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise AssetError(f"cannot read URDF {path.name}: {e}") from None
    if root.tag != "robot":
        raise AssetError(f"{path.name}: the root element must be <robot>")
    links = root.findall("link")
    if len(links) != 1 or root.find("joint") is not None:
        raise AssetError(f"{path.name}: only single-link URDFs (rigid objects) are supported, found "
                         f"{len(links)} links")
    link = links[0]
    visual = link.find("visual")
    if visual is None:
        raise AssetError(f"{path.name}: link has no <visual>")
    vpath, vprim, vscale = _geometry(visual, path.parent, f"{path.name}: visual")
    color = None
    mat = visual.find("material")
    if mat is not None and mat.find("color") is not None:
        rgba = _floats(mat.find("color").get("rgba"), 4, f"{path.name}: material color rgba", None)
        if rgba is not None:
            color = tuple(min(max(c, 0.0), 1.0) for c in rgba)
    collision = link.find("collision")
    cpath, cprim, cscale, cT = None, None, (1.0, 1.0, 1.0), None
    if collision is not None:
        cpath, cprim, cscale = _geometry(collision, path.parent, f"{path.name}: collision")
        cT = _origin(collision, f"{path.name}: collision")
    mass = None
    inertial = link.find("inertial")
    if inertial is not None and inertial.find("mass") is not None:
        mass = _floats(inertial.find("mass").get("value"), 1, f"{path.name}: inertial mass", (None,))[0]
        if mass is not None and mass <= 0:
            raise AssetError(f"{path.name}: inertial mass: must be > 0, got {mass}")
    friction = restitution = None
    contact = link.find("contact")
    if contact is not None:
        if contact.find("lateral_friction") is not None:
            friction = _floats(contact.find("lateral_friction").get("value"), 1,
                               f"{path.name}: contact lateral_friction", (None,))[0]
        if contact.find("restitution") is not None:
            restitution = _floats(contact.find("restitution").get("value"), 1,
                                  f"{path.name}: contact restitution", (None,))[0]
    return UrdfObject(visual_path=vpath, visual_primitive=vprim, visual_scale=vscale,
                      visual_T=_origin(visual, f"{path.name}: visual"), collision_path=cpath,
                      collision_primitive=cprim, collision_scale=cscale, collision_T=cT, mass_kg=mass,
                      friction=friction, restitution=restitution, color_rgba=color)
