"""Ultralytics without the network.

Ultralytics reaches for the network in three places a training run meets:
its import-time connectivity check (``ONLINE``, DNS look-ups), its usage
analytics (sent when online and ``sync`` is on), and ``check_font``, which
downloads Arial.ttf for label plots and dataset checks when no font of that
name is found. :func:`prepare` sets ``YOLO_OFFLINE`` (the library's own
switch for the first two), points ``YOLO_CONFIG_DIR`` at a folder of ours
(so no settings land in the user's home) and puts matplotlib's DejaVu Sans
there under the names ``check_font`` looks for. It must run before the first
``import ultralytics``; the AMP self-test, which downloads weights on CUDA,
is avoided by training with ``amp=False``.
"""
from __future__ import annotations

import os
from pathlib import Path

from dropsynth.atomic import copy_file_atomic

__all__ = ["prepare", "config_dir"]

FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")


def config_dir() -> Path:
    from dropsynth.assets.archive import cache_dir

    return cache_dir() / "ultralytics"


def prepare() -> Path:
    """Make Ultralytics run offline; returns its config folder."""
    os.environ["YOLO_OFFLINE"] = "true"
    d = Path(os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir())))
    sub = d / "Ultralytics"  # Ultralytics appends this to YOLO_CONFIG_DIR
    sub.mkdir(parents=True, exist_ok=True)
    import matplotlib

    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in FONT_NAMES:
        dst = sub / name
        if not dst.exists():
            copy_file_atomic(font, dst)
    return d
