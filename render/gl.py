"""Headless OpenGL set-up: the one place that knows about EGL, Mesa and
pyrender's workarounds. Import nothing GL-related before ``ensure_gl()``.
"""
from __future__ import annotations

import ctypes.util
import os

from dropsynth.errors import RenderBackendError

# Debian/Ubuntu packages that provide each library (measured on Debian 12:
# libegl1 + libgl1 pull in Mesa's EGL vendor library and llvmpipe).
GL_LIBRARIES = {"EGL": "libegl1", "GL": "libgl1", "Xrender": "libxrender1"}
APT_HINT = ("apt-get install --no-install-recommends libegl1 libgl1 libxrender1 libegl-mesa0 "
            "libgl1-mesa-dri")

_ready = False


def missing_libraries() -> list[str]:
    """Debian packages whose shared library cannot be found."""
    return [pkg for lib, pkg in GL_LIBRARIES.items() if ctypes.util.find_library(lib) is None]


def ensure_gl() -> None:
    """Select EGL (unless the user chose a platform) and import pyrender.

    Raises RenderBackendError naming the Debian packages to install when the
    system GL libraries are missing or cannot start.
    """
    global _ready
    if _ready:
        return
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    # pyglet is imported by pyrender; it needs no X server in headless mode.
    os.environ.setdefault("PYGLET_HEADLESS", "1")
    missing = missing_libraries()
    if missing and os.environ["PYOPENGL_PLATFORM"] == "egl":
        raise RenderBackendError(
            f"OpenGL libraries not found ({', '.join(missing)} missing); install them with: sudo {APT_HINT}")
    import numpy as np

    # pyrender 0.1.45 uses np.infty, which NumPy 2 removed (pyrender#288).
    if not hasattr(np, "infty"):
        np.infty = np.inf
    try:
        import pyrender  # noqa: F401
    except Exception as e:  # ImportError, OSError, or AttributeError from PyOpenGL without libGL
        raise RenderBackendError(
            f"cannot load OpenGL through {os.environ['PYOPENGL_PLATFORM']} ({type(e).__name__}: {e}); "
            f"install the system libraries with: sudo {APT_HINT}") from None
    _ready = True


def draw_fullscreen_triangle() -> None:
    """One triangle over the whole viewport (the vertex shader makes its
    corners from gl_VertexID), drawn with a throw-away VAO, which a core
    profile needs even without vertex attributes."""
    from OpenGL import GL

    vao = GL.glGenVertexArrays(1)
    GL.glBindVertexArray(vao)
    GL.glDrawArrays(GL.GL_TRIANGLES, 0, 3)
    GL.glBindVertexArray(0)
    GL.glDeleteVertexArrays(1, [vao])


class _RawGL:
    """The GL entry points called per draw, as plain ctypes functions.

    PyOpenGL's wrappers convert every argument in Python and call
    ``glGetError`` after each call (about 5 us a call for an array uniform,
    a few hundred calls a view). These take ints, floats and array addresses
    (``ndarray.ctypes.data`` of a C-contiguous float32 array) as they are and
    check nothing: an error they cause is still raised, by the next
    PyOpenGL call (every view ends with PyOpenGL's checked glReadPixels).
    Made with ``raw_gl()`` after ``ensure_gl()``.
    """

    # name -> (result, argument types)
    SIGNATURES = {
        "glUseProgram": (None, ("uint",)),
        "glBindVertexArray": (None, ("uint",)),
        "glEnable": (None, ("uint",)),
        "glDisable": (None, ("uint",)),
        "glUniform1i": (None, ("int", "int")),
        "glUniform1ui": (None, ("int", "uint")),
        "glUniform1f": (None, ("int", "float")),
        "glUniform2fv": (None, ("int", "int", "ptr")),
        "glUniform3fv": (None, ("int", "int", "ptr")),
        "glUniform4fv": (None, ("int", "int", "ptr")),
        "glUniformMatrix4fv": (None, ("int", "int", "ubyte", "ptr")),
        "glDrawElementsInstanced": (None, ("uint", "int", "uint", "ptr", "int")),
        "glDrawArraysInstanced": (None, ("uint", "int", "int", "int")),
        "glReadPixels": (None, ("int", "int", "int", "int", "uint", "uint", "ptr")),
        "glGetError": ("uint", ()),
    }

    def __init__(self):
        import ctypes

        from OpenGL import platform

        types = {None: None, "uint": ctypes.c_uint, "int": ctypes.c_int, "float": ctypes.c_float, "ubyte": ctypes.c_ubyte,
                 "ptr": ctypes.c_void_p}
        dll = platform.PLATFORM.GL
        for name, (res, args) in self.SIGNATURES.items():
            proto = ctypes.CFUNCTYPE(types[res], *(types[a] for a in args))
            try:
                fn = proto((name, dll))
            except AttributeError:  # not exported by this libGL: ask the platform (EGL) for it
                address = platform.PLATFORM.getExtensionProcedure(name.encode())
                if not address:
                    raise RenderBackendError(f"OpenGL function {name} not found in {dll._name}") from None
                fn = proto(address)
            setattr(self, name, fn)


_raw = None


def raw_gl() -> _RawGL:
    """The process's ``_RawGL`` (made on first use; ``ensure_gl()`` first)."""
    global _raw
    if _raw is None:
        _raw = _RawGL()
    return _raw
