"""Asset packs: manifest parsing, pack discovery, and the catalog the scene
builders draw from.

A pack is a folder (or a ``.tar.gz``/``.tgz``/``.zip`` of one) with a
``pack.yaml`` manifest; the format is documented in ``assets/README.md``.
Every problem is reported as ``file: field: what is wrong``.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dropsynth.errors import AssetError, ConfigError, suggest
from dropsynth.types import Asset

BUILTIN_PACK = Path(__file__).parent / "builtin"
PRIMITIVE_DIMS = {"box": 3, "cylinder": 2, "sphere": 1}
MESH_SUFFIXES = (".obj", ".glb", ".gltf", ".ply", ".stl")
UNITS_M = {"m": 1.0, "cm": 0.01, "mm": 0.001}
COLLISION_MODES = ("auto", "hull", "decompose")  # or a collision mesh file
ENV_PACKS = "DROPSYNTH_ASSETS"  # extra pack paths, separated like PATH
NUM_OBJECTS_CAP = 200  # scene.num_objects' upper bound
_OBJECT_KEYS = {"id", "category", "supercategory", "mesh", "urdf", "collision", "unit", "scale", "mass_kg",
                "density_kg_m3", "friction", "restitution", "color", "primitive", "size_m"}
_PACK_KEYS = {"name", "version", "license", "author", "description", "objects"}


@dataclass(frozen=True)
class Problem:
    """One finding about a pack: ``file: field: message``."""

    file: str
    field: str
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        tag = "" if self.severity == "error" else " [warning]"
        return f"{self.file}: {self.field}: {self.message}{tag}" if self.field else f"{self.file}: {self.message}{tag}"


def resolve_path(ref: str, pack_dir: Path) -> Path:
    """``pybullet_data://x.obj`` -> the file inside pybullet_data; a relative
    path -> inside the pack folder."""
    if ref.startswith("pybullet_data://"):
        import pybullet_data

        return Path(pybullet_data.getDataPath()) / ref[len("pybullet_data://"):]
    p = Path(ref)
    return p if p.is_absolute() else pack_dir / p


def outside_pack(ref: str, path: Path, pack_dir: Path) -> str | None:
    """Why ``ref`` (resolved to ``path``) is not a file of the pack, or None.
    The pack format keeps every path inside the pack folder (so that a pack
    moves, archives and installs as one folder); ``pybullet_data://`` names
    PyBullet's own data."""
    if ref.startswith("pybullet_data://"):
        return None
    if Path(ref).is_absolute() or ref.startswith(("/", "\\")) or (len(ref) > 1 and ref[1] == ":"):
        return f"{ref}: an absolute path; paths must stay inside the pack (relative to pack.yaml)"
    root = os.path.realpath(pack_dir)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        return f"{ref}: outside the pack folder; paths must stay inside the pack (relative to pack.yaml)"
    return None


def texture_problem(mesh_path: Path) -> str | None:
    """Why an OBJ's texture (``map_Kd`` of its ``mtllib`` files) is a file
    that is not an image, or None. Only headers are read: cheap enough for every run."""
    import re

    if mesh_path.suffix.lower() != ".obj":
        return None
    try:
        data = mesh_path.read_bytes()
    except OSError as e:
        return f"cannot read ({e.strerror or e})"
    for m in re.finditer(rb"^[ \t]*mtllib[ \t]+(.+?)[ \t]*\r?$", data, re.M):
        mtl = mesh_path.parent / m.group(1).decode("utf-8", "replace")
        if not mtl.is_file():
            continue  # trimesh goes on without a missing material library, and so do we
        for line in mtl.read_text(errors="replace").splitlines():
            tok = line.split()
            if len(tok) < 2 or tok[0].lower() != "map_kd":  # the one map trimesh (and so the renderer) uses
                continue
            tex = mtl.parent / tok[-1]
            if not tex.is_file():
                continue  # drawn in the base colour, as trimesh does (pybullet_data's jenga names a missing .tga)
            try:
                from PIL import Image

                with Image.open(tex) as im:
                    im.verify()
            except Exception as e:  # PIL raises many kinds for a file that is not an image
                return f"{mtl.name}: {tok[0]}: {tok[-1]}: not an image ({type(e).__name__})"
    return None


class _Checker:
    """Collects problems for one manifest instead of stopping at the first."""

    def __init__(self, manifest: Path):
        self.file = str(manifest)
        self.problems: list[Problem] = []

    def error(self, field: str, msg: str) -> None:
        self.problems.append(Problem(self.file, field, msg, "error"))

    def warn(self, field: str, msg: str) -> None:
        self.problems.append(Problem(self.file, field, msg, "warning"))

    def num(self, obj: dict, key: str, where: str, default=None, lo=None, open_lo=False, hi=None):
        if key not in obj:
            return default
        v = obj[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
            self.error(f"{where}.{key}", f"must be a number, got {v!r}")
            return default
        if lo is not None and (v < lo or (open_lo and v <= lo)):
            self.error(f"{where}.{key}", f"must be {'>' if open_lo else '>='} {lo}, got {v!r}")
            return default
        if hi is not None and v > hi:
            self.error(f"{where}.{key}", f"must be <= {hi}, got {v!r}")
            return default
        return float(v)


def read_pack(path: str | Path) -> tuple[list[Asset], list[Problem]]:
    """Parse a pack folder (or its ``pack.yaml``) without loading meshes.

    Returns the assets that parsed cleanly and every problem found (never
    raises for a bad manifest). Mesh contents are checked by ``validate``.
    """
    import yaml

    path = Path(path)
    manifest = path / "pack.yaml" if path.is_dir() else path
    pack_dir = manifest.parent
    chk = _Checker(manifest)
    if not manifest.is_file():
        chk.error("", "pack manifest not found (a pack is a folder with a pack.yaml)")
        return [], chk.problems
    from dropsynth import yamlio

    try:
        data = yamlio.loads(yamlio.read_text(manifest))
    except (yamlio.DuplicateKeyError, yamlio.NotUtf8Error) as e:
        chk.error("", str(e))
        return [], chk.problems
    except yaml.YAMLError as e:
        chk.error("", f"not valid YAML: {str(e).splitlines()[0]}")
        return [], chk.problems
    if not isinstance(data, dict):
        chk.error("", "the manifest must be a mapping with name, version, license and objects")
        return [], chk.problems
    for k in data:
        if k not in _PACK_KEYS:
            chk.error(str(k), f"unknown key{suggest(str(k), _PACK_KEYS)} (valid: {', '.join(sorted(_PACK_KEYS))})")
    for k in ("name", "version", "license"):
        if k not in data:
            chk.error(k, "missing")
        elif not isinstance(data[k], (str, int, float)) or isinstance(data[k], bool) or str(data[k]) == "":
            chk.error(k, f"must be a non-empty string, got {data[k]!r}")
    if "author" not in data:
        chk.warn("author", "missing (who made these objects?)")
    name = str(data.get("name") or "")
    if name and not all(c.isalnum() or c in "-_." for c in name):
        chk.error("name", f"use only letters, digits, '-', '_' and '.', got {name!r}")
    objects = data.get("objects")
    if not isinstance(objects, list) or not objects:
        chk.error("objects", "must be a non-empty list")
        return [], chk.problems
    license_ = str(data.get("license", ""))
    assets, seen = [], {}
    for i, o in enumerate(objects):
        a = _read_object(chk, o, i, name, license_, pack_dir, seen)
        if a is not None:
            assets.append(a)
    return assets, chk.problems


def _read_object(chk: _Checker, o, i: int, pack: str, license_: str, pack_dir: Path, seen: dict) -> Asset | None:
    w = f"objects[{i}]"
    if not isinstance(o, dict):
        chk.error(w, "must be a mapping")
        return None
    n_before = sum(p.severity == "error" for p in chk.problems)
    for k in o:
        if k not in _OBJECT_KEYS:
            chk.error(f"{w}.{k}", f"unknown key{suggest(str(k), _OBJECT_KEYS)} "
                                  f"(valid: {', '.join(sorted(_OBJECT_KEYS))})")
    for k in ("id", "category"):
        if not isinstance(o.get(k), str) or not o.get(k):
            chk.error(f"{w}.{k}", "must be a non-empty string")
    oid = o.get("id")
    if isinstance(oid, str) and oid:
        if oid in seen:
            chk.error(f"{w}.id", f"duplicate id {oid!r} (also objects[{seen[oid]}])")
        else:
            seen[oid] = i
    sup = o.get("supercategory", pack or "object")
    if not isinstance(sup, str) or not sup or sup.lower() == "none":
        chk.error(f"{w}.supercategory", "must be a non-empty string other than 'none'")
    kw = dict(
        friction=chk.num(o, "friction", w, 0.6, lo=0.0, hi=10.0),
        restitution=chk.num(o, "restitution", w, 0.0, lo=0.0, hi=1.0),
        density_kg_m3=chk.num(o, "density_kg_m3", w, 500.0, lo=0.0, open_lo=True, hi=25000.0),
        mass_kg=chk.num(o, "mass_kg", w, None, lo=0.0, open_lo=True, hi=1000.0),
    )
    if "color" in o:
        c = o["color"]
        if not isinstance(c, list) or len(c) not in (3, 4) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= 1 for x in c):
            chk.error(f"{w}.color", f"must be [r, g, b] or [r, g, b, a] with values in 0..1, got {c!r}")
        else:
            kw["color_rgba"] = tuple(float(x) for x in c) + ((1.0,) if len(c) == 3 else ())
    sources = [k for k in ("mesh", "urdf", "primitive") if k in o]
    if len(sources) != 1:
        chk.error(w, "give exactly one of 'mesh', 'urdf' or 'primitive'"
                  + (f" (found {', '.join(sources)})" if sources else ""))
        return None
    if "primitive" in o:
        _read_primitive(chk, o, w, kw)
    else:
        _read_mesh_source(chk, o, w, kw, pack_dir, sources[0])
    if sum(p.severity == "error" for p in chk.problems) > n_before:
        return None
    return Asset(pack=pack, id=oid, category=o["category"], supercategory=sup, license=license_,
                 pack_dir=str(pack_dir), **kw)


def _read_primitive(chk, o, w, kw) -> None:
    kind = o["primitive"]
    if kind not in PRIMITIVE_DIMS:
        chk.error(f"{w}.primitive", f"must be one of {', '.join(PRIMITIVE_DIMS)}, got {kind!r}")
        return
    size = o.get("size_m")
    n = PRIMITIVE_DIMS[kind]
    if not isinstance(size, list) or len(size) != n:
        chk.error(f"{w}.size_m", f"{kind} needs {n} [min, max] ranges in metres")
        return
    ranges = []
    for j, r in enumerate(size):
        ok = isinstance(r, list) and len(r) == 2 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) and x > 0 for x in r)
        if not ok:
            chk.error(f"{w}.size_m[{j}]", f"must be [min, max] in metres, both > 0, got {r!r}")
            return
        if r[0] > r[1]:
            chk.error(f"{w}.size_m[{j}]", f"min {r[0]} is greater than max {r[1]}")
            return
        ranges.append((float(r[0]), float(r[1])))
    kw.update(primitive_kind=kind, primitive_size_m=tuple(ranges))


def _read_scale(chk, o, w) -> tuple[float, float, float] | None:
    if "unit" in o and "scale" in o:
        chk.error(f"{w}.scale", "give either 'unit' or 'scale', not both")
        return None
    if "unit" in o:
        u = o["unit"]
        if u not in UNITS_M:
            chk.error(f"{w}.unit", f"must be one of {', '.join(UNITS_M)}, got {u!r}")
            return None
        return (UNITS_M[u],) * 3
    scale = o.get("scale", 1.0)
    vals = scale if isinstance(scale, list) else [scale]
    if len(vals) not in (1, 3) or not all(
            isinstance(s, (int, float)) and not isinstance(s, bool) and np.isfinite(s) and s > 0 for s in vals):
        chk.error(f"{w}.scale", f"must be a number > 0 or [sx, sy, sz], got {scale!r}")
        return None
    return tuple(float(s) for s in vals) * (3 if len(vals) == 1 else 1)


def _pack_file(chk, field: str, ref, pack_dir: Path) -> Path | None:
    """The file of the pack that ``ref`` names; None once the reason it is
    not usable (outside the pack, not found) is reported under ``field``."""
    path = resolve_path(str(ref), pack_dir)
    why = outside_pack(str(ref), path, pack_dir)
    if why:
        chk.error(field, why)
        return None
    if not path.is_file():
        chk.error(field, f"file not found: {ref}")
        return None
    return path


def _mesh_format_ok(chk, field: str, path: Path) -> bool:
    if path.suffix.lower() not in MESH_SUFFIXES:
        chk.error(field, f"unsupported format {path.suffix!r} (use {', '.join(MESH_SUFFIXES)})")
        return False
    return True


def _read_mesh_source(chk, o, w, kw, pack_dir: Path, key: str) -> None:
    ref = o[key]
    if not isinstance(ref, str) or not ref:
        chk.error(f"{w}.{key}", "must be a file path")
        return
    path = _pack_file(chk, f"{w}.{key}", ref, pack_dir)
    if path is None:
        return
    scale = _read_scale(chk, o, w)
    if scale is None:
        return
    if key == "mesh":
        if not _mesh_format_ok(chk, f"{w}.mesh", path):
            return
        why = texture_problem(path)
        if why:
            chk.error(f"{w}.mesh", f"{ref}: {why}")
            return
        kw.update(mesh_path=str(path), scale=scale)
    else:
        from dropsynth.assets.urdf import read_urdf

        try:
            u = read_urdf(path)
        except AssetError as e:
            chk.error(f"{w}.urdf", str(e))
            return
        kw.update(urdf_path=str(path), mesh_path=u.visual_path, visual_primitive=u.visual_primitive,
                  scale=tuple(a * b for a, b in zip(scale, u.visual_scale)), mesh_T=u.visual_T,
                  collision_path=u.collision_path, collision_primitive=u.collision_primitive,
                  collision_scale=tuple(a * b for a, b in zip(scale, u.collision_scale)), collision_T=u.collision_T)
        # URDF values apply unless the manifest gives its own.
        if "mass_kg" not in o and u.mass_kg is not None:
            kw["mass_kg"] = u.mass_kg
        if "friction" not in o and u.friction is not None:
            kw["friction"] = u.friction
        if "restitution" not in o and u.restitution is not None:
            kw["restitution"] = u.restitution
        if "color" not in o and u.color_rgba is not None:
            kw["color_rgba"] = u.color_rgba
        for part, p in (("visual", u.visual_path), ("collision", u.collision_path)):
            if p:
                why = outside_pack(os.path.relpath(p, pack_dir), Path(p), pack_dir)
                why = why or texture_problem(Path(p)) if part == "visual" else why
                if why:
                    chk.error(f"{w}.urdf", f"{ref}: {part} mesh {why}")
                    return
    if o.get("collision") in COLLISION_MODES:
        kw.update(collision_mode=o["collision"])
    elif "collision" in o:
        cpath = _pack_file(chk, f"{w}.collision", o["collision"], pack_dir)
        if cpath is None or not _mesh_format_ok(chk, f"{w}.collision", cpath):
            return
        kw.update(collision_path=str(cpath), collision_primitive=None, collision_scale=scale, collision_T=None)


def load_pack(path: str | Path) -> list[Asset]:
    """Read a pack (folder, manifest or archive); raises AssetError on the
    first error, naming the file and the field."""
    from dropsynth.assets.archive import open_pack

    folder = open_pack(path)
    assets, problems = read_pack(folder)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        more = f" (and {len(errors) - 1} more; run: dropsynth assets validate {path})" if len(errors) > 1 else ""
        raise AssetError(f"{errors[0]}{more}")
    return assets


@dataclass(frozen=True)
class AssetCatalog:
    """All usable assets, with categories numbered 1..K in pack order, and
    optional per-category sampling weights."""

    assets: tuple[Asset, ...]
    weights: tuple[float, ...] = ()  # one per asset; empty = uniform over assets
    distractors: tuple[Asset, ...] = ()  # drawn by the builders as distractors (config: distractors)
    distractor_class: str | None = None  # their annotated class (category of every distractor), or None: not annotated

    @property
    def all_assets(self) -> tuple[Asset, ...]:
        return self.assets + self.distractors

    @property
    def categories(self) -> list[tuple[str, str]]:
        """(name, supercategory) per annotated category, in first-appearance
        order; annotated distractors are one class, last."""
        out: dict[str, str] = {}
        for a in self.assets:
            out.setdefault(a.category, a.supercategory)
        if self.distractor_class and self.distractors:
            out.setdefault(self.distractor_class, "distractor")
        return list(out.items())

    @property
    def packs(self) -> list[str]:
        return list(dict.fromkeys(a.pack for a in self.assets))

    def category_ids(self) -> dict[str, int]:
        return {name: i + 1 for i, (name, _) in enumerate(self.categories)}

    def probabilities(self) -> np.ndarray:
        """Probability of drawing each asset (uniform unless weighted)."""
        w = np.asarray(self.weights if self.weights else np.ones(len(self.assets)), dtype=np.float64)
        return w / w.sum()

    def select(self, categories: list[str] | None = None, objects: list[str] | None = None,
               category_weights: dict | None = None, source: str = "config") -> "AssetCatalog":
        """Keep only assets of the given categories and/or object ids
        (``id`` or ``pack/id``), and weight categories. Unknown names are errors.

        A category's weight is shared by its objects: with weights {mug: 2,
        duck: 1}, a mug is drawn twice as often as a duck however many mug
        models the packs hold.
        """
        known = [c for c, _ in self.categories]

        def unknown(kind, name, choices):
            noun = {"scene.categories": "category", "scene.objects": "object"}.get(kind, kind.split(".")[-1])
            raise AssetError(f"{source}: {kind}: unknown {noun} {name!r}"
                             f"{suggest(name, choices)} (known: {', '.join(choices)})")

        keep = list(self.assets)
        if categories:
            for c in categories:
                if c not in known:
                    unknown("scene.categories", c, known)
            keep = [a for a in keep if a.category in categories]
        if objects:
            ids = [a.id for a in self.assets] + [f"{a.pack}/{a.id}" for a in self.assets]
            for o in objects:
                if o not in ids:
                    unknown("scene.objects", o, sorted(set(ids)))
            keep = [a for a in keep if a.id in objects or f"{a.pack}/{a.id}" in objects]
        if not keep:
            raise AssetError(f"{source}: scene.categories/scene.objects: the selection leaves no assets")
        weights: tuple = ()
        if category_weights:
            for c in category_weights:
                if c not in known:
                    unknown("scene.category_weights", c, known)
            per_cat: dict[str, int] = {}
            for a in keep:
                per_cat[a.category] = per_cat.get(a.category, 0) + 1
            weights = tuple(float(category_weights.get(a.category, 1.0)) / per_cat[a.category] for a in keep)
            if sum(weights) <= 0:
                raise AssetError(f"{source}: scene.category_weights: all selected categories have weight 0")
        return AssetCatalog(tuple(keep), weights)


def check_composition(catalog: AssetCatalog, scene_cfg, source: str) -> None:
    """Config errors that need the catalog: unknown categories, shares above 1,
    minimums that exceed the scene's object cap (``scenes.composition``
    draws the counts)."""
    known = [c for c, _ in catalog.categories]
    for key in ("class_shares", "category_instances"):
        for c in getattr(scene_cfg, key) or {}:
            if c not in known:
                raise ConfigError(f"{source}: scene.{key}.{c}: unknown category{suggest(c, known)} "
                                  f"(known: {', '.join(known)})")
    mins = sum(r[0] for r in (scene_cfg.category_instances or {}).values())
    if mins > NUM_OBJECTS_CAP:
        raise ConfigError(f"{source}: scene.category_instances: the minimums add up to {mins} objects per scene, "
                          f"more than {NUM_OBJECTS_CAP}")
    shares = scene_cfg.class_shares or {}
    if sum(shares.values()) > 1.0 + 1e-9:
        raise ConfigError(f"{source}: scene.class_shares: the shares add up to {sum(shares.values()):g}, more than 1")
    if shares and len(shares) == len(known) and sum(shares.values()) < 1.0 - 1e-9:
        raise ConfigError(f"{source}: scene.class_shares: every category has a share and they add up to "
                          f"{sum(shares.values()):g}, not 1")


def for_run(cfg, pack_paths: list, source: str | None = None) -> AssetCatalog:
    """The catalog a run draws from: its packs, selected and weighted by the
    config's ``scene`` keys, checked against the per-category keys, and its
    distractors (config ``distractors``). ``source``: the config file named
    in errors (default: where ``cfg`` was loaded from)."""
    # A key set by --set or a flag is reported as coming from there (config.load records where).
    source_of = getattr(cfg, "_source_of", None)
    if source is None and source_of is not None:
        source, d_source = source_of("scene"), source_of("distractors")
    else:
        source = d_source = source or getattr(cfg, "_source", "config")
    sc = cfg.scene
    catalog = load_catalog(list(pack_paths), builtin=False, installed=False).select(
        sc.categories, sc.objects, sc.category_weights, source=source)
    check_composition(catalog, sc, source)
    source = d_source
    d = cfg.distractors
    if distractor_range(cfg) == (0, 0):
        return catalog
    found: list[Asset] = []
    for p in d.packs:
        try:
            found += load_pack(pack_location(p))
        except AssetError as e:
            raise AssetError(f"{source}: distractors.packs: {e}") from None
    if d.categories:
        known = sorted({a.category for a in found})
        for c in d.categories:
            if c not in known:
                raise AssetError(f"{source}: distractors.categories: unknown category {c!r}{suggest(c, known)} "
                                 f"(known: {', '.join(known)})")
        found = [a for a in found if a.category in d.categories]
    if not found:
        raise AssetError(f"{source}: distractors.packs: no distractor objects in {', '.join(d.packs)}")
    if d.annotate:
        name = d.class_name.strip()
        if not name:
            raise AssetError(f"{source}: distractors.class_name: must not be empty")
        if name in {c for c, _ in catalog.categories}:
            raise AssetError(f"{source}: distractors.class_name: {name!r} is already an object category; annotated "
                             f"distractors need a class of their own")
        found = [dataclasses.replace(a, category=d.class_name, supercategory="distractor") for a in found]
    return dataclasses.replace(catalog, distractors=tuple(found), distractor_class=d.class_name if d.annotate else None)


def distractor_range(cfg) -> tuple[int, int]:
    """[min, max] distractors per scene: the config's, else the builder's default."""
    if cfg.distractors.count is not None:
        return tuple(cfg.distractors.count)
    return (4, 10) if cfg.scene.builder == "clutter" else (0, 0)


def pack_location(ref: str | Path) -> Path:
    """A pack reference: ``builtin:NAME`` (a pack shipped with dropsynth:
    builtin, distractors, thin) or a path."""
    ref = str(ref)
    if ref.startswith("builtin:"):
        name = ref[len("builtin:"):]
        shipped = sorted(p.parent.name for p in Path(__file__).parent.glob("*/pack.yaml")
                         if p.parent.name != "example_pack")
        if name not in shipped:
            raise AssetError(f"{ref}: no built-in pack named {name!r}{suggest(name, shipped)} "
                             f"(built-in: {', '.join(shipped)})")
        return Path(__file__).parent / name
    return Path(ref)


def user_pack_dir() -> Path:
    """Where ``dropsynth assets add`` installs packs: $DROPSYNTH_HOME/packs,
    default ~/.local/share/dropsynth/packs."""
    home = os.environ.get("DROPSYNTH_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share", "dropsynth")
    return Path(home) / "packs"


def discover_packs(extra: list[str | Path] | None = None, builtin: bool = True) -> list[Path]:
    """Pack locations in load order: built-in, installed (user pack folder),
    $DROPSYNTH_ASSETS, then ``extra`` (e.g. --assets)."""
    out: list[Path] = [BUILTIN_PACK] if builtin else []
    udir = user_pack_dir()
    if udir.is_dir():
        # dot-folders are installs in progress or replaced packs being deleted (assets/validate.py)
        out += sorted(p for p in udir.iterdir() if not p.name.startswith(".") and (p / "pack.yaml").is_file())
    env = os.environ.get(ENV_PACKS, "")
    out += [Path(p) for p in env.split(os.pathsep) if p]
    out += [pack_location(p) for p in extra or []]
    return out


def load_catalog(packs: list[str | Path] | None = None, builtin: bool = True,
                 installed: bool = True) -> AssetCatalog:
    """The built-in pack (unless ``builtin=False``), installed packs, packs
    named in $DROPSYNTH_ASSETS, and ``packs``."""
    if installed:
        paths = discover_packs(packs, builtin=builtin)
    else:
        paths = ([BUILTIN_PACK] if builtin else []) + [Path(p) for p in packs or []]
    if not paths:
        raise AssetError("no asset packs: the built-in pack is off and no --assets was given")
    assets: list[Asset] = []
    seen: dict[str, str] = {}
    for p in paths:
        loaded = load_pack(p)
        if loaded and loaded[0].pack in seen:
            raise AssetError(f"{p}: name: pack {loaded[0].pack!r} is already loaded from {seen[loaded[0].pack]}")
        if loaded:
            seen[loaded[0].pack] = str(p)
        assets.extend(loaded)
    return AssetCatalog(tuple(assets))
