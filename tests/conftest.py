"""Test-session isolation: nothing from the user's machine leaks in.

Installed packs ($DROPSYNTH_HOME) and extra packs ($DROPSYNTH_ASSETS) would
change the catalog that tests expect; the collision cache goes to a fresh
folder so that a test run also exercises building it.
"""
import os
import tempfile

_ROOT = tempfile.mkdtemp(prefix="dropsynth-tests-")
os.environ["DROPSYNTH_HOME"] = os.path.join(_ROOT, "home")
os.environ["DROPSYNTH_CACHE"] = os.path.join(_ROOT, "cache")
os.environ.pop("DROPSYNTH_ASSETS", None)
