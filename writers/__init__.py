"""Writers: per-frame files (images), COCO, and exporters to other formats.

``EXPORTERS`` is the registry of formats that run on a finished dataset
(``output.export`` in the config, ``dropsynth export``): name ->
"module:function" taking ``(dataset_dir, *, ratios, seed)`` and returning the
folder written. Several run in one pass.
"""
from __future__ import annotations

import importlib
from pathlib import Path

EXPORTERS = {
    "yolo": "dropsynth.writers.yolo:export_detect",
    "yolo-seg": "dropsynth.writers.yolo:export_segment",
    "bop": "dropsynth.writers.bop:export_registered",
    "datumaro": "dropsynth.writers.datumaro:export_registered",
}


def run_exporter(name: str, dataset_dir: str | Path, *, ratios=None, seed=None) -> Path:
    """Run the exporter ``name`` (replacing its previous output)."""
    module, fn = EXPORTERS[name].split(":")
    return getattr(importlib.import_module(module), fn)(dataset_dir, ratios=ratios, seed=seed)
