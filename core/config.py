"""Run configuration: YAML files, ``--set`` overrides and flags -> one
checked, frozen ``RunConfig`` (its sections are the pydantic models of
``dropsynth.settings``).

Errors are one line: the source of the bad value (the file, ``--set`` or a
flag), the key path, the value and what is allowed; unknown keys suggest the
nearest valid one. Relative paths are resolved against the config file's
folder, a calibration file is read into ``camera.fixed_K``, and the image
folders are listed once here: the result pickles to workers as it is.
"""
from __future__ import annotations

import math
import numbers
import typing
from pathlib import Path
from typing import Any, Mapping

from pydantic import ValidationError

from dropsynth.errors import ConfigError
from dropsynth.settings import (HDRI_SUFFIXES, IMAGE_SUFFIXES, SECTIONS, SURFACE_KINDS, TEXTURE_KINDS,  # noqa: F401
                                AssetsConfig, BackgroundConfig, CameraConfig, DistractorConfig, GraspConfig,
                                LightConfig, MaterialsConfig, OutputConfig, PhysicsConfig, RenderConfig, RunConfig,
                                SceneConfig, Section, SensorConfig, hdri_files, image_files, origin_of)
from dropsynth.settings import suggest as _suggest

# The built-in scene builders (dropsynth.scenes.builders makes its registry from these names); more come
# from the dropsynth.scene_builders entry point group. Named here so that config imports no builder.
BUILDERS = ("tabletop", "bin", "stack", "clutter")


def builder_names() -> list[str]:
    """The built-in builders' names and the entry points'."""
    from importlib.metadata import entry_points

    return list(BUILDERS) + [ep.name for ep in entry_points(group="dropsynth.scene_builders")
                             if ep.name not in BUILDERS]


def _where(source: str, path: str) -> str:
    return f"{source}: {path}" if path else source


def _path(loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_BOUNDS = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"), "less_than_equal": ("<=", "le")}


def _error(e: ValidationError, source: str) -> ConfigError:
    """The first problem pydantic found (an unknown key first), as one line."""
    errors = e.errors()
    unknown = [er for er in errors if er["type"] == "extra_forbidden"]
    er = min(unknown, key=lambda x: len(x["loc"])) if unknown else errors[0]
    kind, ctx, value = er["type"], er.get("ctx") or {}, er.get("input")
    if kind == "extra_forbidden":
        cls = RunConfig
        for part in er["loc"][:-1]:
            cls = cls.model_fields[part].annotation
        msg = f"unknown key{_suggest(str(er['loc'][-1]), cls.model_fields)} (valid: {', '.join(cls.model_fields)})"
    elif kind == "dropsynth":
        msg = ctx["msg"]
    elif kind in _BOUNDS:
        op, bound = _BOUNDS[kind]
        msg = f"must be {op} {ctx[bound]}, got {value}"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        msg = f"must be a mapping of keys to values, got {value!r}"
    else:  # not expected: every field type checks its own values first
        msg = f"{er['msg'][:1].lower()}{er['msg'][1:]}, got {value!r}"
    return ConfigError(f"{_where(source, _path(er['loc']))}: {msg}")


def _validate(data, source: str) -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as e:
        raise _error(e, source) from None


def normalize_ratios(ratios: Mapping[str, float]) -> dict[str, float]:
    """Check split ratios and scale them to sum 1, keeping their order.

    Names must be non-empty strings usable as a folder name; values finite
    numbers >= 0 with a positive sum. Raises ConfigError otherwise.
    """
    if not isinstance(ratios, Mapping) or not ratios:
        raise ConfigError(f"split ratios: expected a non-empty mapping of split name -> ratio, got {ratios!r}")
    clean: dict[str, float] = {}
    for name, value in ratios.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"split ratios: split names must be non-empty strings, got {name!r}")
        if name != name.strip() or "/" in name or "\\" in name or name.startswith("."):
            raise ConfigError(f"split ratios: split name {name!r} is not usable as a folder name "
                              f"(no slashes, no leading dot or surrounding spaces)")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ConfigError(f"split ratios: {name}: expected a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"split ratios: {name}: must be a finite number >= 0, got {value!r}")
        clean[name] = value
    total = sum(clean.values())
    if not total > 0:
        raise ConfigError(f"split ratios: they sum to {total:g}; at least one split needs a ratio above 0")
    return {name: v / total for name, v in clean.items()}


def _cross_checks(cfg: RunConfig, source: str) -> None:
    c = cfg.camera
    if (c.fx is None) != (c.fy is None):
        raise ConfigError(f"{source}: camera.fx: fx and fy must be given together")
    for name, limit in (("cx", c.width), ("cy", c.height)):
        v = getattr(c, name)
        if v is not None and v > limit:
            raise ConfigError(f"{source}: camera.{name}: must lie inside the image (<= {limit}), got {v}")
    if (c.fixed_K is None) != (c.fixed_world_T_cam is None):
        raise ConfigError(f"{source}: camera.fixed_K: fixed_K and fixed_world_T_cam must be given together")
    if c.fixed_K is not None:
        import numpy as np

        if len(c.fixed_K) != 9:
            raise ConfigError(f"{source}: camera.fixed_K: needs 9 numbers (3x3 row-major), got {len(c.fixed_K)}")
        if len(c.fixed_world_T_cam) != 16:
            raise ConfigError(f"{source}: camera.fixed_world_T_cam: needs 16 numbers (4x4 row-major), got "
                              f"{len(c.fixed_world_T_cam)}")
        K = np.array(c.fixed_K).reshape(3, 3)
        if K[0, 0] <= 0 or K[1, 1] <= 0 or np.any(K[2] != [0, 0, 1]):
            raise ConfigError(f"{source}: camera.fixed_K: must be [fx, 0, cx, 0, fy, cy, 0, 0, 1] with fx, fy > 0")
        T = np.array(c.fixed_world_T_cam).reshape(4, 4)
        R = T[:3, :3]
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0.99 or np.any(T[3] != [0, 0, 0, 1]):
            raise ConfigError(f"{source}: camera.fixed_world_T_cam: the rotation part is not a rotation, or the "
                              f"last row is not [0, 0, 0, 1]")
    if c.znear_m >= c.zfar_m:
        raise ConfigError(f"{source}: camera.znear_m: must be less than camera.zfar_m ({c.zfar_m})")
    if cfg.output.splits is not None:
        try:
            normalize_ratios(cfg.output.splits)
        except ConfigError as e:
            raise ConfigError(f"{source}: output.splits: {e}") from None
    sc = cfg.scene
    names = builder_names()
    if sc.builder not in names:
        raise ConfigError(f"{source}: scene.builder: unknown builder {sc.builder!r}{_suggest(sc.builder, names)} "
                          f"(available: {', '.join(names)})")
    if sc.builder == "clutter" and any(a > f for a, f in zip(sc.clutter_area_m, sc.clutter_floor_m)):
        raise ConfigError(f"{source}: scene.clutter_area_m: {list(sc.clutter_area_m)} is larger than the "
                          f"floor {list(sc.clutter_floor_m)}")
    t, a = sc.table_size_m, sc.spawn_area_m
    b, wt = sc.bin_inner_m, sc.bin_wall_thickness_m
    if sc.builder == "bin" and (b[0] + 2 * wt > t[0] or b[1] + 2 * wt > t[1]):
        raise ConfigError(f"{source}: scene.bin_inner_m: the bin {list(b)} with its walls does not fit on the table "
                          f"{list(t[:2])}")
    if a[0] > t[0] or a[1] > t[1]:
        raise ConfigError(f"{source}: scene.spawn_area_m: {list(a)} is larger than the table {list(t[:2])}")


_FOLDERS = (("materials", "texture_folder"), ("background", "image_folder"), ("lights", "hdri_folder"))


def _carry_listings(cfg: RunConfig) -> None:
    """List each image/HDRI folder once; the sections carry the listing."""
    for name, key in _FOLDERS:
        sec = getattr(cfg, name)
        folder = getattr(sec, key)
        if folder is not None and Path(folder).is_dir():
            sec._files = tuple(sec.listing())


def _check_folders(cfg: RunConfig, source: str) -> None:
    for path, sec, needed in (("materials.texture_folder", cfg.materials,
                               "image" in cfg.materials.textures and cfg.materials.randomize),
                              ("background.image_folder", cfg.background, "image" in cfg.background.kinds)):
        folder = getattr(sec, path.split(".")[1])
        if folder is None:
            if needed:
                raise ConfigError(f"{source}: {path}: needed for the image kind; name a folder of PNG/JPEG images")
            continue
        if not Path(folder).is_dir():
            raise ConfigError(f"{source}: {path}: folder not found: {folder}")
        files = sec.listing()
        if needed and not files:
            raise ConfigError(f"{source}: {path}: no PNG or JPEG images in {folder}")
        if needed:
            from PIL import Image

            for f in files:  # headers only: a broken file fails here, not hours into a run
                try:
                    with Image.open(f) as im:
                        if im.size[0] < 1 or im.size[1] < 1:
                            raise OSError("empty image")
                except Exception as e:
                    raise ConfigError(f"{source}: {path}: {f}: not a readable image ({e})") from None
    folder = cfg.lights.hdri_folder
    if folder is None or not (cfg.render.backend == "cycles" and cfg.lights.hdri):
        return
    if not Path(folder).is_dir():
        raise ConfigError(f"{source}: lights.hdri_folder: folder not found: {folder}")
    if not cfg.lights.listing():
        raise ConfigError(f"{source}: lights.hdri_folder: no .hdr or .exr files in {folder}")


def apply_preset(data: dict, source: str) -> dict:
    """The preset's keys with ``data``'s own on top (``data`` unchanged
    without a preset). Applying it again to the result changes nothing."""
    from dropsynth.presets import PRESETS

    name = (data or {}).get("preset")
    if name is None:
        return data or {}
    if not isinstance(name, str) or name not in PRESETS:
        raise ConfigError(f"{_where(source, 'preset')}: must be one of {', '.join(PRESETS)}, got {name!r}"
                          + (_suggest(name, PRESETS) if isinstance(name, str) else ""))
    out = _merge(PRESETS[name], data)
    # A preset's packs hold the objects its categories name: the user's packs add to them.
    want = PRESETS[name].get("assets", {}).get("packs")
    mine = (data.get("assets") or {}).get("packs") if isinstance(data.get("assets"), dict) else None
    if want and isinstance(mine, list):
        out["assets"] = dict(out["assets"], packs=list(want) + [p for p in mine if p not in want])
    return out


def _resolved(cfg: RunConfig, base_dir: Path) -> RunConfig:
    """Relative pack paths and folders resolved against ``base_dir``."""
    def resolve(p: str) -> str:
        return p if p.startswith("builtin:") or Path(p).is_absolute() else str(base_dir / p)

    update: dict[str, Section] = {name: getattr(cfg, name).model_copy(update={
        "packs": [resolve(p) for p in getattr(cfg, name).packs]}) for name in ("assets", "distractors")}
    for name, key in _FOLDERS:
        sec = getattr(cfg, name)
        if getattr(sec, key) is not None:
            update[name] = sec.model_copy(update={key: resolve(getattr(sec, key))})
    return cfg.model_copy(update=update)


def from_dict(data: dict | None, source: str = "<config>", base_dir: Path | None = None,
              check_folders: bool = True) -> RunConfig:
    """Build and check a RunConfig from a parsed YAML mapping (after its
    preset, if any). Relative pack paths are resolved against ``base_dir``
    (the config file's folder). ``check_folders=False`` skips checking the
    image folders (reading a finished run's config, when only poses matter)."""
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys to values")
    cfg = _validate(apply_preset(data or {}, source), source)
    if cfg.camera.calibration_file is not None:
        cfg = cfg.model_copy(update={"camera": _calibrated(cfg.camera, data or {}, source, base_dir)})
    _cross_checks(cfg, source)
    if base_dir is not None:
        cfg = _resolved(cfg, base_dir)
    _carry_listings(cfg)
    if check_folders:
        _check_folders(cfg, source)
    return cfg


def _calibrated(c: CameraConfig, data: dict, source: str, base_dir: Path | None) -> CameraConfig:
    """camera.calibration_file -> fixed_K, width, height (K scaled to a size
    given in the config). The file is read once: the resolved config keeps
    the K it gave and drops the path, so workers and finished runs need no
    file."""
    from dropsynth.calibration import read_calibration

    if c.fixed_K is not None:
        raise ConfigError(f"{source}: camera.calibration_file: give either it or camera.fixed_K, not both")
    path = Path(c.calibration_file)
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    try:
        cal = read_calibration(path)
    except ConfigError as e:
        raise ConfigError(f"{source}: camera.calibration_file: {e}") from None
    given = data.get("camera") if isinstance(data.get("camera"), dict) else {}
    width, height = c.width, c.height
    if "width" not in given and "height" not in given:
        width, height = cal.width, cal.height
    elif abs(width / height - cal.width / cal.height) > 0.01:
        raise ConfigError(f"{source}: camera.width: {width}x{height} does not keep the calibrated "
                          f"{cal.width}x{cal.height} image's aspect ratio")
    return c.model_copy(update={"width": width, "height": height, "calibration_file": None,
                                "fixed_K": [float(v) for v in cal.scaled(width, height).reshape(-1)]})


def load(path: str | Path | None, overrides: dict | list | None = None) -> RunConfig:
    """Load a YAML config file (or the defaults when ``path`` is None) and
    apply ``overrides`` on top: a nested mapping (reported as ``--set``), or a
    list of ``(source, mapping)`` layers applied in order, e.g.
    ``[("--set", ...), ("--width", {"camera": {"width": 320}})]``.

    Every source is checked on its own first, so a later one never hides a
    bad value in an earlier one (``camera: 5`` in the file with ``--width``),
    and an error names the source the value came from.
    """
    import yaml

    from dropsynth import yamlio

    data: dict = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{source}: config file not found")
        try:
            data = yamlio.loads(yamlio.read_text(p)) or {}
        except (yamlio.NotUtf8Error, yamlio.DuplicateKeyError) as e:
            raise ConfigError(f"{source}: {e}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{source}: not valid YAML: {str(e).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: the top level must be a mapping of keys to values")
    if isinstance(overrides, dict):
        layers = [("--set", overrides)] if overrides else []
    else:
        layers = [(name, layer) for name, layer in overrides or [] if layer]
    origin: dict[str, str] = {}
    merged = data
    for name, layer in [(source, data)] + layers:
        _validate(layer, name)  # this source's own keys and values, before any other hides them
        origin.update(dict.fromkeys(_leaf_paths(layer), name))
        if layer is not data:
            merged = _merge(merged, layer)
    try:
        cfg = from_dict(merged, _MERGED, Path(path).parent if path is not None else None)
    except ConfigError as e:
        raise _named(e, origin, source) from None
    cfg._source, cfg._origin = source, origin
    return cfg


_MERGED = "<merged>"  # placeholder source of the merged config's checks, replaced by the key's own source


def _leaf_paths(d: dict, prefix: str = ""):
    for k, v in (d or {}).items():
        path = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            yield from _leaf_paths(v, path)
        else:
            yield path


def source_of(cfg, key: str) -> str:
    """Where ``cfg``'s value of ``key`` (a dotted path, or a section) came
    from: a --set or a flag, else the config file, else ``<defaults>``."""
    return origin_of(getattr(cfg, "_origin", {}), key, getattr(cfg, "_source", "config"))


def _named(e: ConfigError, origin: dict, file_source: str) -> ConfigError:
    """A merged-config error with its placeholder source replaced by the
    source of the key it names."""
    msg = str(e)
    if not msg.startswith(_MERGED + ": "):
        return e
    rest = msg[len(_MERGED) + 2:]
    key = rest.split(":", 1)[0].split("[", 1)[0].strip()
    return ConfigError(f"{origin_of(origin, key, file_source)}: {rest}")


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def parse_set(items: typing.Iterable[str]) -> dict:
    """``["camera.width=320", "scene.num_objects=[3, 6]"]`` -> nested mapping
    (values parsed as YAML)."""
    import yaml

    from dropsynth import yamlio

    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item}: expected KEY=VALUE, e.g. camera.width=320")
        key, raw = item.split("=", 1)
        try:
            value = yamlio.loads(raw)
        except yamlio.DuplicateKeyError as e:
            raise ConfigError(f"--set {item}: duplicate key {e.key!r} in the value") from None
        except yaml.YAMLError:
            raise ConfigError(f"--set {item}: value is not valid YAML") from None
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item}: {part} is a value, not a section; it cannot hold keys")
        node[parts[-1]] = value
    return out


def describe() -> list[tuple[str, str, Any]]:
    """(key path, doc, default) of every config field, for docs and --help."""
    rows = []
    for name, f in RunConfig.model_fields.items():
        if name in SECTIONS:
            rows += [(f"{name}.{k}", g.description, g.get_default(call_default_factory=True))
                     for k, g in f.annotation.model_fields.items()]
        else:
            rows.append((name, f.description, f.get_default(call_default_factory=True)))
    return rows


def json_schema() -> dict:
    """JSON Schema (draft 2020-12) of the run config: every key with its
    type, range, choices, default and description; unknown keys are invalid.
    Sections are written inline (no $ref), without pydantic's titles."""
    schema = RunConfig.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node):
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: inline(v) for k, v in node.items() if k != "title" or not isinstance(v, str)}
        if isinstance(node, list):
            return [inline(x) for x in node]
        return node

    schema = inline(schema)
    schema.update({"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "dropsynth run config"})
    return schema
