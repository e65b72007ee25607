"""dropsynth: synthetic training data for robot vision (PyBullet physics, pyrender, COCO).

The public API (``dropsynth.api``): ``load_config``, ``Generator``,
``Sample``, ``Scene``, ``generate``, ``RunConfig``, ``RunSummary``; the protocols ``Renderer``
(``dropsynth.render.base``) and ``Writer`` (``dropsynth.writers.base``).
They are imported on first use, so ``import dropsynth`` stays cheap.
"""
__version__ = "0.1.0"

_LAZY = {
    "load_config": "dropsynth.api",
    "generate": "dropsynth.api",
    "Generator": "dropsynth.generator",
    "Sample": "dropsynth.writers.base",
    "Scene": "dropsynth.writers.base",
    "Writer": "dropsynth.writers.base",
    "Renderer": "dropsynth.render.base",
    "RunSummary": "dropsynth.runrecord",
    "RunConfig": "dropsynth.settings",
    "DropsynthError": "dropsynth.errors",
    "ConfigError": "dropsynth.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dropsynth' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
