"""Rendering. ``dropsynth.render.pyrender_backend`` is the only module that imports
OpenGL; import it lazily (inside worker processes, after any fork)."""
