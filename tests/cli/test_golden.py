"""Same seed, same files: every file of seven small runs (default, bin with all
exports and splits, grasps with BOP, amodal with every ground-truth extra,
realistic with domain randomization, stack, shelf) hashes as recorded in
tests/golden/hashes.json before the architecture refactor. A change that means
to alter output re-records them with ``python scripts/golden.py --record`` and
says why in its commit. The hashes hold for this machine's renderer (Mesa
llvmpipe through EGL); another GL driver may round pixels differently."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("golden", ROOT / "scripts" / "golden.py")
golden = importlib.util.module_from_spec(spec)
spec.loader.exec_module(golden)
EXPECTED = json.loads(golden.HASHES.read_text())

pytestmark = [pytest.mark.render, pytest.mark.slow]


@pytest.mark.parametrize("name", sorted(golden.RUNS))
def test_output_bytes_as_recorded(name, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    got = golden.run(name, tmp_path)
    assert golden.diff(EXPECTED[name], got) == []
