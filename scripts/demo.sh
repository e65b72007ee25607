#!/usr/bin/env bash
# Install everything, then generate the built-in default dataset into ./out/demo
# (with out/demo/preview.png).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/dropsynth generate --out out/demo --overwrite "$@"
