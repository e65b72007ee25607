"""What a renderer is: the raster backend (``render/pyrender_backend.py``)
and the Cycles backend (``render/cycles_backend.py``) both provide it, and a
user's own renderer can (``dropsynth.Generator(cfg, renderer=...)``,
``dropsynth.generate(cfg, out, renderer=...)``).

A renderer is made once per process for one image size and reused: it is
given each settled scene once (``set_scene``), renders camera views of it
(``render`` -> ``Frame``: rgb, metric depth, instance ids) and is closed at
the end. ``render``'s second argument is the backend's per-view options (the
raster backend's camera effects, ``render.realism.view_lens``; Cycles'
``render.cycles_plan.CyclesView``); None gives the plain view.

A renderer given from outside (a *custom* one) is held to the protocol and
to these defaults for the optional members (``OPTIONAL``):

- ``draws_background`` (default False): False means dropsynth composites the
  scene's background texture (``spec.background``) where depth == 0; True
  means the renderer draws it itself. A plain background colour
  (``spec.background_rgb``) is always the renderer's own to draw.
- ``amodal_masks()`` (default: absent): instance_id -> (H, W) bool, each
  visible object's whole silhouette for the camera of the last ``render``.
  Only needed when ``output.amodal`` is on or ``output.min_visible_fraction``
  is above 0; a run that asks for it without one is refused up front.
- ``gl_renderer`` (default ""): a string recorded in run.json.

Its ``render`` gets the view's ``realism.Lens`` as ``view`` when
``render.quality`` / ``render.realism`` turns any effect on (None at the fast
level): the exposure, white balance, vignetting and AO strength in it are
shader-side effects, the renderer's own to apply or ignore (the raster
backend applies them, and its shadows, surfaces, object variation, IBL and
SSAO, in its shaders). The lens effects that work on the image (motion
blur, defocus, chromatic aberration) and the sensor noise are applied by
dropsynth to the RGB it returns, as for Cycles views. ``set_scene`` gets the
settled scene only (no seed: ``settled.spec.scene_index`` and the factory's
config are there to seed from). Each Frame it returns is checked
(``check_frame``) before anything is labelled from it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from dropsynth.types import CameraSpec, Frame, SettledScene

# The optional members a custom renderer may have, with what their absence means.
OPTIONAL = {"draws_background": False, "amodal_masks": None, "gl_renderer": ""}


def optional(renderer, name: str):
    """The renderer's optional member ``name``, or its default (``OPTIONAL``) when it has none."""
    return getattr(renderer, name, OPTIONAL[name])

_METHODS = {"set_scene": ((1, 1), "(settled)"), "render": ((2, 1), "(camera, view=None)"), "close": ((0, 0), "()")}


@runtime_checkable
class Renderer(Protocol):
    def set_scene(self, settled: "SettledScene", /) -> None:
        """Make ``settled`` the scene that ``render`` draws."""

    def render(self, camera: "CameraSpec", view: Any = None, /) -> "Frame":
        """One camera view of the current scene."""

    def close(self) -> None:
        """Free the backend's resources (GL context, Blender data)."""


def qualified_name(obj) -> str:
    """``module.QualName`` of a class or function (of a partial: its
    function; of any other object: its class)."""
    import functools
    import inspect

    while isinstance(obj, functools.partial):
        obj = obj.func
    if not (isinstance(obj, type) or inspect.isroutine(obj)):
        obj = type(obj)
    module = getattr(obj, "__module__", None) or "?"
    if module == "__mp_main__":  # a spawned worker's name for the main script
        module = "__main__"
    return f"{module}.{obj.__qualname__}"


def nonconformance(cls) -> str | None:
    """Why the class ``cls`` is not a Renderer, in words naming the method
    ("has no close()", "render(camera, view=None): ..."), or None when its
    methods take the protocol's positional arguments. Checked on the class,
    without making one (a backend may need a GL context or bpy to start)."""
    import inspect

    for name, ((n_args, n_required), shape) in _METHODS.items():
        fn = getattr(cls, name, None)
        if not callable(fn):
            return f"has no {name}{shape} method"
        try:
            params = list(inspect.signature(fn).parameters.values())[1:]  # without self
        except (TypeError, ValueError):
            continue  # a builtin without a signature: taken on trust
        if any(p.kind is p.VAR_POSITIONAL for p in params):
            positional = n_args
        else:
            positional = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
        required = [p.name for p in params
                    if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if positional < n_args or len(required) > n_required:
            return (f"{name}{shape} is called with {n_args} positional argument{'s' * (n_args != 1)}, but it "
                    f"takes {positional} and requires {len(required)} ({', '.join(required) or 'none'})")
    return None


def conforms(cls) -> bool:
    """Whether the class ``cls`` has the Renderer methods with compatible
    signatures (callable with the protocol's positional arguments)."""
    return nonconformance(cls) is None


def require_renderer(cls, amodal_key: str | None = None) -> None:
    """Raise RenderBackendError, one line naming the class and the method,
    unless ``cls`` is a Renderer; ``amodal_key``: the config key that asks
    for amodal masks (then ``amodal_masks`` is required too)."""
    from dropsynth.errors import RenderBackendError

    why = nonconformance(cls)
    if why is None and amodal_key is not None and not callable(getattr(cls, "amodal_masks", None)):
        why = (f"has no amodal_masks() method, which {amodal_key} needs (instance_id -> (H, W) bool of each "
               f"visible object seen alone); turn {amodal_key} off or add the method")
    if why is not None:
        raise RenderBackendError(f"renderer {qualified_name(cls)}: not a dropsynth Renderer: {why}")


def id_table(instance_ids) -> "np.ndarray":
    """A lookup table over every uint16 value: True for 0 and ``instance_ids``
    (a scene's labelled objects: distractors are 0, as in the raster
    backend's ids), for ``check_frame``."""
    import numpy as np

    table = np.zeros(1 << 16, bool)
    table[0] = True
    table[np.fromiter(instance_ids, np.int64)] = True
    return table


def check_frame(frame, width: int, height: int, valid_ids: "np.ndarray", who: str) -> "Frame":
    """The Frame a custom renderer returned, checked once per view (shapes,
    dtypes, finite non-negative depth, ids only 0 or the scene's: about a
    millisecond at 640x480); raises RenderBackendError naming ``who`` and
    what is wrong. Returns it as a ``Frame`` of C-contiguous arrays."""
    import numpy as np

    from dropsynth.errors import RenderBackendError
    from dropsynth.types import Frame

    def bad(what: str):
        return RenderBackendError(f"renderer {who}: render() returned {what}")

    arrays = {}
    for name, dims, dtype in (("rgb", (height, width, 3), np.uint8), ("depth_m", (height, width), np.float32),
                              ("instance_ids", (height, width), np.uint16)):
        a = getattr(frame, name, None)
        if not isinstance(a, np.ndarray):
            raise bad(f"a {type(frame).__name__} whose {name} is {type(a).__name__}, not a numpy array "
                      f"(a dropsynth.types.Frame of rgb, depth_m, instance_ids is expected)")
        if a.shape != dims or a.dtype != dtype:
            raise bad(f"{name} of shape {a.shape} {a.dtype}; expected {dims} {np.dtype(dtype).name}")
        arrays[name] = np.ascontiguousarray(a)
    depth, ids = arrays["depth_m"], arrays["instance_ids"]
    if not np.all(np.isfinite(depth) & (depth >= 0)):
        raise bad("depth_m with negative, NaN or infinite values (metres along the optical axis, 0 = no surface)")
    if not valid_ids[ids].all():
        wrong = sorted(int(i) for i in np.unique(ids) if not valid_ids[i])
        known = sorted(int(i) for i in np.flatnonzero(valid_ids) if i)
        raise bad(f"instance ids {wrong[:8]}{' ...' if len(wrong) > 8 else ''} that are not in the scene "
                  f"(its instances: {known[:20]}{' ...' if len(known) > 20 else ''}; 0 = background, table or distractor)")
    return Frame(rgb=arrays["rgb"], depth_m=depth, instance_ids=ids)
