"""What the data is worth: train a detector on dropsynth frames, score it on
other domains, per CPU-hour of generation.

- :mod:`dropsynth.utility.score`: COCOeval (pycocotools) of a results file
  against any COCO file, images matched by file name and categories by name.
  Needs only the core install.
- :mod:`dropsynth.utility.train` and :mod:`dropsynth.utility.predict`: an
  Ultralytics YOLO detector trained from its model YAML (no weights are
  downloaded) on a dropsynth dataset through our YOLO export, and COCO
  results for any folder of images. They need the optional extra
  ``pip install -e '.[utility]'`` (torch, torchvision, ultralytics), imported
  only inside the functions that use it.
- :mod:`dropsynth.utility.experiment`: the whole study from one YAML file.
"""
from __future__ import annotations

from dropsynth.errors import DropsynthError

EXTRA_HINT = "pip install -e '.[utility]'  (torch, torchvision, ultralytics)"


class MissingExtraError(DropsynthError):
    """The optional ``utility`` extra is not installed."""


def require_extra() -> None:
    """Raise a one-line MissingExtraError when torch or ultralytics is missing."""
    import importlib.util

    missing = [m for m in ("torch", "torchvision", "ultralytics") if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(f"dropsynth utility needs {', '.join(missing)}: install the extra with {EXTRA_HINT}")
