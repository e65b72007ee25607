"""Scene builder registry: name -> ``build(ctx, catalog) -> SceneSpec``.

A builder gets a ``BuildContext``: the config sections it reads (scene,
camera, lights, materials, background, distractors), the number of views,
and the scene's named random streams; never the whole run config or the
seed, so a builder cannot draw from a stream that is not its scene's.
Third-party builders register through the ``dropsynth.scene_builders`` entry
point group (value: ``module:function`` with the same signature).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import numpy as np

from dropsynth import seeding
from dropsynth.config import (BUILDERS, BackgroundConfig, CameraConfig, DistractorConfig, LightConfig,
                              MaterialsConfig, RunConfig, SceneConfig)
from dropsynth.errors import ConfigError, suggest

_BUILTIN = {name: f"dropsynth.scenes.builders.{name}:build" for name in BUILDERS}


@dataclasses.dataclass(frozen=True)
class Streams:
    """The named random streams of one scene (see ``dropsynth.seeding``):
    ``streams("placement")``, ``streams.view(v, "camera")``. Each call starts
    the stream afresh, so the numbers depend only on (seed, scene, name)."""
    seed: int
    scene_index: int

    def __call__(self, name: str) -> np.random.Generator:
        return seeding.scene_rng(self.seed, self.scene_index, name)

    def view(self, view_index: int, name: str) -> np.random.Generator:
        return seeding.view_rng(self.seed, self.scene_index, view_index, name)


@dataclasses.dataclass(frozen=True)
class BuildContext:
    """What a scene builder may read: its sections, the view count and streams."""
    scene_index: int
    views: int
    scene: SceneConfig
    camera: CameraConfig
    lights: LightConfig
    materials: MaterialsConfig
    background: BackgroundConfig
    distractors: DistractorConfig
    streams: Streams


def context(cfg: RunConfig, seed: int, scene_index: int) -> BuildContext:
    """The build context of scene ``scene_index`` of a run of ``cfg`` with ``seed``."""
    return BuildContext(scene_index=scene_index, views=cfg.views_per_scene, scene=cfg.scene, camera=cfg.camera,
                        lights=cfg.lights, materials=cfg.materials, background=cfg.background,
                        distractors=cfg.distractors, streams=Streams(seed, scene_index))


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


def get_builder(name: str, source: str = "") -> Callable:
    """The builder ``name``: ``build(ctx, catalog) -> SceneSpec``."""
    found = available()
    if name not in found:
        raise ConfigError(f"{source + ': ' if source else ''}scene.builder: unknown builder {name!r}"
                          f"{suggest(name, found)} (available: {', '.join(found)})")
    build = _load(found[name])
    _check_signature(name, found[name], build, source)
    return build


def _check_signature(name: str, ref: str, build: Callable, source: str) -> None:
    """A builder takes (ctx, catalog); one written for the old
    (cfg, catalog, seed, scene_index) is refused in one line, not a TypeError mid-run."""
    import inspect

    try:
        params = list(inspect.signature(build).parameters.values())
    except (TypeError, ValueError):  # a C function or an odd callable: let the call decide
        return
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if len(required) > 2 or len(positional) < 2:
        raise ConfigError(f"{source + ': ' if source else ''}scene.builder: {name!r} ({ref}) takes "
                          f"({', '.join(p.name for p in params)}); a builder takes (ctx, catalog): ctx is a "
                          f"dropsynth.scenes.builders.BuildContext with its sections and named streams "
                          f"(builders written for (cfg, catalog, seed, scene_index) must be updated)")


def _with_run_config(build: Callable, cfg: RunConfig, catalog, seed: int, scene_index: int):
    return build(context(cfg, seed, scene_index), catalog)


def get(name: str, source: str = "") -> Callable:
    """The builder ``name`` called as ``build(cfg, catalog, seed, scene_index)``."""
    return functools.partial(_with_run_config, get_builder(name, source))


def build_scene(cfg: RunConfig, catalog, seed: int, scene_index: int):
    """Scene ``scene_index`` of a run of ``cfg`` (before physics)."""
    return get(cfg.scene.builder)(cfg, catalog, seed, scene_index)
