"""Scene builder registry: name -> build(cfg, catalog, seed, scene_index) -> SceneSpec.

Third-party builders register through the ``dropsynth.scene_builders`` entry
point group (value: ``module:function`` with the same signature).
"""
from __future__ import annotations

from typing import Callable

from dropsynth.errors import ConfigError

_BUILTIN = {"tabletop": "dropsynth.scenes.builders.tabletop:build",
            "bin": "dropsynth.scenes.builders.bin:build",
            "stack": "dropsynth.scenes.builders.stack:build",
            "clutter": "dropsynth.scenes.builders.clutter:build"}


def _load(ref: str) -> Callable:
    import importlib

    mod, fn = ref.split(":")
    return getattr(importlib.import_module(mod), fn)


def available() -> dict[str, str]:
    """Builder name -> 'module:function', built-in ones and entry points."""
    out = dict(_BUILTIN)
    from importlib.metadata import entry_points

    for ep in entry_points(group="dropsynth.scene_builders"):
        out.setdefault(ep.name, ep.value)
    return out


def get(name: str) -> Callable:
    found = available()
    if name not in found:
        raise ConfigError(f"scene.builder: unknown builder {name!r} (available: {', '.join(found)})")
    return _load(found[name])
