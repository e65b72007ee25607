"""The public Python API, re-exported from ``dropsynth``::

    import dropsynth

    cfg = dropsynth.load_config(scenes=2, **{"camera.width": 320, "camera.height": 240})
    with dropsynth.Generator(cfg) as gen:
        for sample in gen.samples(0):          # in memory, nothing written
            print(sample.image_index, sample.frame.rgb.shape, len(sample.annotations))
    if __name__ == "__main__":     # worker processes import the script again
        summary = dropsynth.generate(cfg, "out/api", workers=2)   # the same frames, as files

``load_config`` gives the validated config (the CLI's, with the same error
messages); ``Generator`` makes scenes and samples; ``generate`` writes a
dataset exactly as ``dropsynth generate`` does (the CLI calls it).

Both take ``renderer=``: a renderer of your own in place of the raster
backend (``dropsynth.Renderer``; ``render/base.py`` lists what it must have
and the defaults of what it may), given as a factory
``(width, height, cfg) -> Renderer`` (a class works); ``Generator`` also
takes a renderer object. Labels come from its ids and depth.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from dropsynth.errors import ConfigError
from dropsynth.generator import Generator  # noqa: F401  (re-exported)
from dropsynth.writers.base import Sample, Scene  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    from dropsynth.runrecord import RunSummary
    from dropsynth.settings import RunConfig

__all__ = ["load_config", "generate", "Generator", "Sample", "Scene"]


def _nested(overrides: dict[str, Any], source: str) -> dict:
    """{"camera.width": 320, "output": {"mask_format": "rle"}} -> one nested mapping."""
    out: dict = {}

    def put(node: dict, parts: list[str], value, key: str) -> None:
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{source}: {key}: {part} is a value, not a section; it cannot hold keys")
        last = parts[-1]
        if isinstance(value, dict) and isinstance(node.get(last), dict):
            for k, v in value.items():
                put(node[last], [str(k)], v, f"{key}.{k}")
        else:
            node[last] = value

    for key, value in overrides.items():
        put(out, str(key).split("."), value, str(key))
    return out


def load_config(path: str | Path | None = None, *, sources: Iterable[tuple[str, dict]] = (),
                **overrides) -> "RunConfig":
    """The validated, resolved config: the YAML file ``path`` (None: the
    defaults), then ``sources`` (named layers of nested mappings, applied in
    order; the CLI passes one per flag so that an error names the flag), then
    ``overrides``: keywords by dotted key (``**{"camera.width": 320}``) or by
    section (``camera={"width": 320}``, ``scenes=4``).

    Bad input raises ConfigError in one line naming the file or source and
    the key path (with a did-you-mean for a misspelt key).
    """
    from dropsynth import config as config_mod

    layers = list(sources)
    if overrides:
        layers.append(("load_config", _nested(overrides, "load_config")))
    return config_mod.load(path, layers)


def generate(cfg: "RunConfig", out: str | Path, *, workers: int | None = None, overwrite: bool = False, resume: bool = False,
             packs: list | None = None, backend: str = "local", ray_address: str | None = None,
             progress: Callable[[int, int], None] | None = None,
             library_progress: Callable[[int, int], None] | None = None, renderer=None) -> "RunSummary":
    """Write the dataset of ``cfg`` into the folder ``out``; returns a
    ``RunSummary`` (frames, annotations, per-class counts, timings).

    ``workers``: processes (default: all cores) or, with ``backend="ray"``,
    Ray actors (``ray_address``: a cluster to join). ``out`` must be empty,
    or a previous dropsynth output with ``overwrite``; ``resume`` finishes an
    interrupted run of the same config. ``packs``: extra asset packs.
    ``progress(frames, annotations)`` follows the frames as they complete.
    The files are the same for any worker count or backend. Workers are
    spawned processes that import the calling script again: in a script,
    call ``generate`` under ``if __name__ == "__main__":`` (without the
    guard it fails in one line saying so).

    ``renderer``: a custom renderer's factory, called as
    ``factory(width, height, cfg)`` once in each worker (a class works);
    with more than one worker (or Ray) it is sent to the workers, which
    import it by name: a class or function defined at the top level of a
    module, not a lambda or a local function (refused in one line). It
    replaces the raster backend for every view, cannot be combined with
    ``render.backend: cycles``, and is named in run.json (``renderer``) and
    in ``RunSummary.renderer``; a ``resume`` must use the same one.
    """
    from dropsynth import pipeline

    return pipeline.generate(cfg, out, packs=packs, overwrite=overwrite, resume=resume,
                             workers=pipeline.default_workers() if workers is None else workers,
                             backend=backend, ray_address=ray_address, progress=progress,
                             library_progress=library_progress, renderer=renderer)
