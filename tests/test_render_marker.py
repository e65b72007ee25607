"""tests/conftest.py's guard: a test that opens GL without the render marker
fails and names the marker; marked tests, pure tests and tests of GL failing
to start pass. Run in a pytest of its own (a subprocess, so that the inner
guard does not replace this session's)."""
from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.render  # the inner run imports pyrender

INNER = '''
import pytest
from dropsynth.render import gl


def test_unmarked_opens_gl():
    gl.ensure_gl()


@pytest.mark.render
def test_marked_opens_gl():
    gl.ensure_gl()


def test_pure():
    assert 1 + 1 == 2


def test_gl_that_cannot_start(monkeypatch):
    monkeypatch.setattr(gl, "_ready", False)
    monkeypatch.setattr(gl.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(Exception, match="libegl1"):
        gl.ensure_gl()
'''


def test_an_unmarked_test_that_opens_gl_fails_naming_the_marker(pytester):
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text())
    pytester.makeini("[pytest]\nmarkers =\n    render: needs an EGL context\n")
    pytester.makepyfile(test_inner=INNER)
    res = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    res.assert_outcomes(passed=3, failed=1)
    res.stdout.fnmatch_lines(["*test_unmarked_opens_gl opens a GL context*not marked render*pytest.mark.render*"])
    assert "test_marked_opens_gl FAILED" not in res.stdout.str()
    deselected = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-m", "not render")
    deselected.assert_outcomes(passed=2, failed=1, deselected=1)
