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

import typing
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dropsynth.config_checks import BUILDERS, FOLDERS, builder_names, carry_listings, cross_checks  # noqa: F401
from dropsynth.config_checks import check_folders as check_folder_files
from dropsynth.config_checks import normalize_ratios  # noqa: F401  (writers.splits uses it)
from dropsynth.config_types import (HDRI_SUFFIXES, IMAGE_SUFFIXES, TEXTURE_KINDS, hdri_files,  # noqa: F401
                                    image_files)
from dropsynth.errors import ConfigError
from dropsynth.errors import suggest as _suggest
from dropsynth.settings import (SECTIONS, SURFACE_KINDS, AssetsConfig, BackgroundConfig, CameraConfig,  # noqa: F401
                                DistractorConfig, GraspConfig, LightConfig, MaterialsConfig, OutputConfig,
                                PhysicsConfig, RenderConfig, RunConfig, SceneConfig, Section, SensorConfig, origin_of)


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
    for name, key in FOLDERS:
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
    cross_checks(cfg, source)
    if base_dir is not None:
        cfg = _resolved(cfg, base_dir)
    carry_listings(cfg)
    if check_folders:
        check_folder_files(cfg, source)
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
