#!/usr/bin/env bash
# The utility study of study.yaml: installs the extra, gathers the image
# folder of the shifted test domain (photos and textures that ship with
# pybullet_data and matplotlib: none is used by any training set), then runs
# dropsynth utility experiment. Report: out/utility/report.md, .json, .png.
# The photoreal test set is path-traced by Blender Cycles (the [cycles] extra:
# Python 3.11, numpy < 2 in this venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup.sh --utility --cycles
.venv/bin/python scripts/utility/gather_images.py out/utility/images
exec .venv/bin/dropsynth utility experiment --config scripts/utility/study.yaml "$@"
