"""The test folders collect in any combination and order.

Every folder of tests/ is a package, and tests import their helpers
relatively (``from .helpers import run_cli``), never as top-level modules:
``from conftest import ...`` took whichever conftest.py pytest had loaded
last, so ``pytest tests/unit tests/cli tests/consumers`` failed to collect.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
FOLDERS = ("tests/unit", "tests/cli", "tests/consumers")


def _test_dirs() -> list[Path]:
    return sorted({p.parent for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts})


def test_every_test_folder_is_a_package():
    missing = [str(d.relative_to(REPO)) for d in _test_dirs() if not (d / "__init__.py").is_file()]
    assert not missing, f"test folders without __init__.py (their modules would be top-level names): {missing}"


def test_no_test_imports_a_test_module_as_a_top_level_name():
    local = {p.stem for p in TESTS.rglob("*.py")} - {"__init__"}
    bad = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            bad += [f"{path.relative_to(REPO)}:{node.lineno}: {n}" for n in names if n.split(".")[0] in local]
    assert not bad, f"import these relatively (from .module import ...): {bad}"


def _collect(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.Popen([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                             *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _ids(proc: subprocess.Popen, what: str) -> set[str]:
    out, _ = proc.communicate(timeout=300)
    errors = [line for line in out.splitlines() if "Error" in line or line.startswith("ERROR")]
    assert proc.returncode == 0 and not errors, f"pytest --collect-only ({what}) failed: {errors[:6]}\n{out[-2000:]}"
    return {line for line in out.splitlines() if "::" in line}


def test_folders_collect_together_in_any_order():
    """The exact command that broke, its reverse, and the default run (the
    same tests must be found each way). The consumer tests skip at collection
    without their extras; their folder must still collect without an error."""
    runs = {"forward": _collect(*FOLDERS), "reverse": _collect(*reversed(FOLDERS)), "all": _collect()}
    ids = {name: _ids(proc, name) for name, proc in runs.items()}
    expected = {i for i in ids["all"] if i.startswith(tuple(f + "/" for f in FOLDERS))}
    assert any(i.startswith("tests/cli/") for i in expected) and any(i.startswith("tests/unit/") for i in expected)
    assert ids["forward"] == expected
    assert ids["reverse"] == expected
