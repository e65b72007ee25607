"""What a renderer is: the raster backend (``render/pyrender_backend.py``)
and the Cycles backend (``render/cycles_backend.py``) both provide it.

A renderer is made once per process for one image size and reused: it is
given each settled scene once (``set_scene``), renders camera views of it
(``render`` -> ``Frame``: rgb, metric depth, instance ids) and is closed at
the end. ``render``'s second argument is the backend's per-view options (the
raster backend's camera effects, ``render.realism.view_lens``; Cycles'
``render.cycles_plan.CyclesView``); None gives the plain view.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from dropsynth.types import CameraSpec, Frame, SettledScene


@runtime_checkable
class Renderer(Protocol):
    def set_scene(self, settled: "SettledScene", /) -> None:
        """Make ``settled`` the scene that ``render`` draws."""

    def render(self, camera: "CameraSpec", view: Any = None, /) -> "Frame":
        """One camera view of the current scene."""

    def close(self) -> None:
        """Free the backend's resources (GL context, Blender data)."""


def conforms(cls) -> bool:
    """Whether the class ``cls`` has the Renderer methods with compatible
    signatures (callable with the protocol's positional arguments), without
    making one (a backend may need a GL context or bpy to start)."""
    import inspect

    # name -> (positional arguments it must take, how many of them it may require)
    for name, (n_args, n_required) in {"set_scene": (1, 1), "render": (2, 1), "close": (0, 0)}.items():
        fn = getattr(cls, name, None)
        if not callable(fn):
            return False
        params = list(inspect.signature(fn).parameters.values())[1:]  # without self
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        required = [p for p in params if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if len(positional) < n_args or len(required) > n_required:
            return False
    return True
