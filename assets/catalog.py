"""Asset packs: manifest loading and the catalog the scene builders draw from.

A pack is a folder with a ``pack.yaml`` manifest (see the built-in one in
``builtin/pack.yaml``). Errors name the manifest file and the field.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dropsynth.errors import AssetError
from dropsynth.types import Asset

BUILTIN_PACK = Path(__file__).parent / "builtin"
PRIMITIVE_DIMS = {"box": 3, "cylinder": 2, "sphere": 1}
_OBJECT_KEYS = {"id", "category", "supercategory", "mesh", "collision", "scale", "mass_kg", "density_kg_m3",
                "friction", "restitution", "color", "primitive", "size_m"}
_PACK_KEYS = {"name", "version", "license", "author", "objects"}


def resolve_path(ref: str, pack_dir: Path) -> Path:
    """``pybullet_data://x.obj`` -> the file inside pybullet_data; a relative
    path -> inside the pack folder."""
    if ref.startswith("pybullet_data://"):
        import pybullet_data

        return Path(pybullet_data.getDataPath()) / ref[len("pybullet_data://"):]
    p = Path(ref)
    return p if p.is_absolute() else pack_dir / p


def _num(v, where: str, lo: float | None = None, open_lo: bool = False, hi: float | None = None) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
        raise AssetError(f"{where}: must be a number, got {v!r}")
    if lo is not None and (v < lo or (open_lo and v <= lo)):
        raise AssetError(f"{where}: must be {'>' if open_lo else '>='} {lo}, got {v!r}")
    if hi is not None and v > hi:
        raise AssetError(f"{where}: must be <= {hi}, got {v!r}")
    return float(v)


def load_pack(path: str | Path) -> list[Asset]:
    """Read and check a pack folder (or its ``pack.yaml``); returns its assets."""
    import yaml

    path = Path(path)
    manifest = path / "pack.yaml" if path.is_dir() else path
    pack_dir = manifest.parent
    if not manifest.is_file():
        raise AssetError(f"{manifest}: pack manifest not found")
    try:
        data = yaml.safe_load(manifest.read_text())
    except yaml.YAMLError as e:
        raise AssetError(f"{manifest}: not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise AssetError(f"{manifest}: the manifest must be a mapping")
    for k in data:
        if k not in _PACK_KEYS:
            raise AssetError(f"{manifest}: {k}: unknown key (valid: {', '.join(sorted(_PACK_KEYS))})")
    for k in ("name", "license", "objects"):
        if k not in data:
            raise AssetError(f"{manifest}: {k}: missing")
    name = data["name"]
    if not isinstance(name, str) or not name:
        raise AssetError(f"{manifest}: name: must be a non-empty string")
    objects = data["objects"]
    if not isinstance(objects, list) or not objects:
        raise AssetError(f"{manifest}: objects: must be a non-empty list")
    assets, seen = [], set()
    for i, o in enumerate(objects):
        w = f"{manifest}: objects[{i}]"
        if not isinstance(o, dict):
            raise AssetError(f"{w}: must be a mapping")
        for k in o:
            if k not in _OBJECT_KEYS:
                raise AssetError(f"{w}.{k}: unknown key (valid: {', '.join(sorted(_OBJECT_KEYS))})")
        for k in ("id", "category"):
            if not isinstance(o.get(k), str) or not o.get(k):
                raise AssetError(f"{w}.{k}: must be a non-empty string")
        if o["id"] in seen:
            raise AssetError(f"{w}.id: duplicate id {o['id']!r}")
        seen.add(o["id"])
        sup = o.get("supercategory", name)
        if not isinstance(sup, str) or not sup or sup.lower() == "none":
            raise AssetError(f"{w}.supercategory: must be a non-empty string other than 'none'")
        common = dict(
            pack=name, id=o["id"], category=o["category"], supercategory=sup, license=str(data["license"]),
            friction=_num(o.get("friction", 0.6), f"{w}.friction", 0.0),
            restitution=_num(o.get("restitution", 0.0), f"{w}.restitution", 0.0),
            density_kg_m3=_num(o.get("density_kg_m3", 500.0), f"{w}.density_kg_m3", 0.0, open_lo=True),
            mass_kg=(_num(o["mass_kg"], f"{w}.mass_kg", 0.0, open_lo=True) if "mass_kg" in o else None),
        )
        if "color" in o:
            c = o["color"]
            if not isinstance(c, list) or len(c) not in (3, 4):
                raise AssetError(f"{w}.color: must be [r, g, b] or [r, g, b, a] in 0..1")
            c = [_num(x, f"{w}.color", 0.0, hi=1.0) for x in c] + ([1.0] if len(c) == 3 else [])
            common["color_rgba"] = tuple(c)
        if ("mesh" in o) == ("primitive" in o):
            raise AssetError(f"{w}: give exactly one of 'mesh' or 'primitive'")
        if "primitive" in o:
            kind = o["primitive"]
            if kind not in PRIMITIVE_DIMS:
                raise AssetError(f"{w}.primitive: must be one of {', '.join(PRIMITIVE_DIMS)}, got {kind!r}")
            size = o.get("size_m")
            n = PRIMITIVE_DIMS[kind]
            if not isinstance(size, list) or len(size) != n:
                raise AssetError(f"{w}.size_m: {kind} needs {n} [min, max] ranges in metres")
            ranges = []
            for j, r in enumerate(size):
                if not isinstance(r, list) or len(r) != 2:
                    raise AssetError(f"{w}.size_m[{j}]: must be [min, max] in metres")
                lo_, hi_ = (_num(x, f"{w}.size_m[{j}]", 0.0, open_lo=True) for x in r)
                if lo_ > hi_:
                    raise AssetError(f"{w}.size_m[{j}]: min {lo_} is greater than max {hi_}")
                ranges.append((lo_, hi_))
            assets.append(Asset(primitive_kind=kind, primitive_size_m=tuple(ranges), **common))
            continue
        if not isinstance(o["mesh"], str):
            raise AssetError(f"{w}.mesh: must be a file path")
        mesh = resolve_path(o["mesh"], pack_dir)
        if not mesh.is_file():
            raise AssetError(f"{w}.mesh: file not found: {mesh}")
        coll = None
        if "collision" in o:
            coll = resolve_path(str(o["collision"]), pack_dir)
            if not coll.is_file():
                raise AssetError(f"{w}.collision: file not found: {coll}")
        scale = o.get("scale", 1.0)
        if isinstance(scale, list):
            if len(scale) != 3:
                raise AssetError(f"{w}.scale: must be a number or [sx, sy, sz]")
            scale = tuple(_num(s, f"{w}.scale", 0.0, open_lo=True) for s in scale)
        else:
            s = _num(scale, f"{w}.scale", 0.0, open_lo=True)
            scale = (s, s, s)
        assets.append(Asset(mesh_path=str(mesh), collision_path=str(coll) if coll else None, scale=scale,
                            **common))
    return assets


@dataclass(frozen=True)
class AssetCatalog:
    """All usable assets, with categories numbered 1..K in pack order."""

    assets: tuple[Asset, ...]

    @property
    def categories(self) -> list[tuple[str, str]]:
        """(name, supercategory) per category, in first-appearance order."""
        out: dict[str, str] = {}
        for a in self.assets:
            out.setdefault(a.category, a.supercategory)
        return list(out.items())

    def category_ids(self) -> dict[str, int]:
        return {name: i + 1 for i, (name, _) in enumerate(self.categories)}

    def select(self, categories: list[str] | None, source: str = "config") -> "AssetCatalog":
        """Keep only assets of the given categories; unknown names are errors."""
        if not categories:
            return self
        known = [c for c, _ in self.categories]
        for c in categories:
            if c not in known:
                import difflib

                close = difflib.get_close_matches(c, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise AssetError(f"{source}: scene.categories: unknown category {c!r}{hint} "
                                 f"(known: {', '.join(known)})")
        return AssetCatalog(tuple(a for a in self.assets if a.category in categories))


def load_catalog(packs: list[str | Path] | None = None) -> AssetCatalog:
    """The built-in pack plus any extra pack folders."""
    assets = list(load_pack(BUILTIN_PACK))
    for p in packs or []:
        assets.extend(load_pack(p))
    ids = set()
    for a in assets:
        key = (a.pack, a.id)
        if key in ids:
            raise AssetError(f"pack {a.pack}: object id {a.id!r} appears twice")
        ids.add(key)
    return AssetCatalog(tuple(assets))
