"""Test-session isolation, and the ``render`` marker kept honest.

Installed packs ($DROPSYNTH_HOME) and extra packs ($DROPSYNTH_ASSETS) would
change the catalog that tests expect; the collision cache goes to a fresh
folder so that a test run also exercises building it.

A test that opens a GL context (``dropsynth.render.gl.ensure_gl``: every
renderer, and so every ``dropsynth generate``) must be marked ``render``
(module ``pytestmark = pytest.mark.render`` or the decorator), so that
``pytest -m "not render"`` runs the pure tests alone, in seconds. One that is
not fails, naming the marker to add. Runs with ``--workers`` > 1 open GL in
worker processes, which this guard cannot see; it catches them in the parent
instead, at the run's check that the GL libraries are there
(``dropsynth.render.gl.missing_libraries``, which the pipeline calls before
it starts workers).
"""
import functools
import os
import sys
import tempfile

import pytest

_ROOT = tempfile.mkdtemp(prefix="dropsynth-tests-")
os.environ["DROPSYNTH_HOME"] = os.path.join(_ROOT, "home")
os.environ["DROPSYNTH_CACHE"] = os.path.join(_ROOT, "cache")
os.environ.pop("DROPSYNTH_ASSETS", None)

from dropsynth.render import gl as _gl  # noqa: E402  (after the environment above; imports no GL itself)

pytest_plugins = ("pytester",)  # tests/test_render_marker.py runs this file's guard in a pytest of its own

_running: list = [None]  # the test item whose setup, call or teardown runs now
_UNMARKED = pytest.StashKey[list]()


def _unmarked_gl_message(item) -> str:
    return (f"{item.nodeid} opens a GL context (dropsynth.render.gl.ensure_gl, or starts a run whose workers do) "
            f"but is not marked render: "
            f"add pytestmark = pytest.mark.render to its module (or @pytest.mark.render), so that "
            f"-m 'not render' leaves it out")


def _flag_unmarked() -> None:
    item = _running[0]
    if item is not None and item.get_closest_marker("render") is None:
        item.stash.setdefault(_UNMARKED, []).append(_unmarked_gl_message(item))
        pytest.fail(_unmarked_gl_message(item), pytrace=False)


def _guard_ensure_gl(real):
    @functools.wraps(real)
    def ensure_gl(*args, **kwargs):
        out = real(*args, **kwargs)  # a test of GL failing to start (libraries missing) needs no marker
        _flag_unmarked()
        return out

    return ensure_gl


def _guard_missing_libraries(real):
    """The run's check, before it starts worker processes that will open GL
    (the guard cannot see into them): libraries all there means GL is next."""
    @functools.wraps(real)
    def missing_libraries(*args, **kwargs):
        out = real(*args, **kwargs)
        if not out:
            _flag_unmarked()
        return out

    return missing_libraries


_REAL = {"ensure_gl": _gl.ensure_gl, "missing_libraries": _gl.missing_libraries}
_GUARDED = {"ensure_gl": _guard_ensure_gl(_gl.ensure_gl),
            "missing_libraries": _guard_missing_libraries(_gl.missing_libraries)}
for _name, _fn in _GUARDED.items():
    setattr(_gl, _name, _fn)


def _rebind_copies() -> None:
    """Modules that did ``from dropsynth.render.gl import ensure_gl`` before
    this file ran hold the real function: point them at the guard too."""
    for name, mod in list(sys.modules.items()):
        if name.startswith("dropsynth"):
            for attr, real in _REAL.items():
                if getattr(mod, attr, None) is real:
                    setattr(mod, attr, _GUARDED[attr])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _rebind_copies()
    _running[0] = item
    try:
        yield
    finally:
        _running[0] = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A GL call that library code swallowed (or made in a thread) still fails the test."""
    outcome = yield
    report = outcome.get_result()
    found = item.stash.get(_UNMARKED, [])
    if found and report.passed and call.when in ("setup", "call"):
        report.outcome = "failed"
        report.longrepr = found[0]
