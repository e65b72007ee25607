"""The atomic-write primitives (dropsynth.atomic): one temporary-name scheme,
used by every file-writing site of the package. No GL, no physics."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dropsynth import atomic

REPO = Path(__file__).resolve().parents[2]


def _leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if p.name.startswith("."))


def test_atomic_writes_give_the_bytes_and_leave_no_temporary(tmp_path):
    p = atomic.write_json_atomic(tmp_path / "sub" / "a.json", {"b": [1, 2.5], "a": "x"})
    assert p.read_text() == '{"b":[1,2.5],"a":"x"}'  # compact, key order kept
    atomic.write_json_atomic(tmp_path / "b.json", {"k": 1}, indent=2, durable=True)
    assert json.loads((tmp_path / "b.json").read_text()) == {"k": 1}
    atomic.write_text_atomic(tmp_path / "t.txt", "one\ntwo\n")
    assert (tmp_path / "t.txt").read_bytes() == b"one\ntwo\n"
    atomic.write_bytes_atomic(tmp_path / "t.txt", b"\x00\x01", durable=True)  # replaces
    assert (tmp_path / "t.txt").read_bytes() == b"\x00\x01"
    assert _leftovers(tmp_path) == [] and _leftovers(tmp_path / "sub") == []


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    target = tmp_path / "x.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp.name == f".x.json.{os.getpid()}.tmp"
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old" and _leftovers(tmp_path) == []
    with pytest.raises(TypeError):
        atomic.write_json_atomic(target, {"bad": object()})
    assert target.read_text() == "old" and _leftovers(tmp_path) == []


def test_stale_temporaries_of_dead_processes_are_removed_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    (tmp_path / f".out.{dead}.tmp").mkdir()
    (tmp_path / f".out.{dead}.tmp" / "f").write_text("x")
    (tmp_path / f".out.json.{dead}.tmp").write_text("x")  # a temporary of another name: not ours to judge
    (tmp_path / f".out.{os.getpid()}.tmp").write_text("mine")  # this process is alive
    (tmp_path / ".out.notapid.tmp").write_text("x")
    (tmp_path / "out").mkdir()
    atomic.remove_stale(tmp_path / "out")
    assert _leftovers(tmp_path) == [f".out.{os.getpid()}.tmp", f".out.json.{dead}.tmp", ".out.notapid.tmp"]


def test_temporary_names_are_recognised_by_their_target_and_pid():
    assert atomic.temp_pid(".a.json.123.tmp") == 123 and atomic.temp_pid(".a.json.123.tmp", "a.json") == 123
    assert atomic.temp_pid(".a.json.123.tmp", "a") is None
    assert not atomic.is_temporary(".a.json.tmp") and not atomic.is_temporary("a.json.1.tmp")
    assert not atomic.is_temporary(".a.x1.tmp") and atomic.is_temporary(atomic.temp_path(Path("d/x.png")).name)


def test_a_folder_is_swapped_in_whole_or_not_at_all(tmp_path):
    out = tmp_path / "pack"
    with atomic.atomic_folder(out) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic.atomic_folder(out) as tmp:
            (tmp / "b").write_text("2")
            raise RuntimeError("killed half-way")
    assert sorted(p.name for p in out.iterdir()) == ["a"] and _leftovers(tmp_path) == []
    with atomic.atomic_folder(out) as tmp:  # replace: the old folder goes
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["b"] and _leftovers(tmp_path) == []
    with atomic.atomic_folder(out, replace=False) as tmp:  # a finished one is kept, ours dropped
        (tmp / "c").write_text("3")
    assert sorted(p.name for p in out.iterdir()) == ["b"] and _leftovers(tmp_path) == []


def test_a_file_copy_goes_through_the_temporary_name(tmp_path):
    (tmp_path / "src").write_bytes(b"abc")
    atomic.copy_file_atomic(tmp_path / "src", tmp_path / "d" / "dst")
    assert (tmp_path / "d" / "dst").read_bytes() == b"abc" and _leftovers(tmp_path / "d") == []


# The renames the package may do outside dropsynth/atomic.py: deliberate folder moves, not temporaries.
FOLDER_MOVES = {"writers/outdir.py": 2}  # --overwrite's move-aside and the move back


def _renames_and_temp_names(path: Path):
    """(line, what) for each os.replace/os.rename call, each one-argument
    ``.replace``/``.rename`` call (Path's; str.replace takes two) and each
    string literal naming a ".tmp" file (docstrings aside)."""
    tree = ast.parse(path.read_text())
    docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("replace", "rename"):
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id == "os":
                yield node.lineno, "os"
            elif len(node.args) + len(node.keywords) == 1:
                yield node.lineno, "path"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs \
                and re.search(r"\.tmp\b", node.value):
            yield node.lineno, "name"


def test_every_rename_of_a_temporary_goes_through_the_helper():
    """No module renames a temporary of its own (os.replace, Path.replace or
    rename) or builds a ".tmp" name by hand: one scheme, one helper."""
    found, moves = [], {}
    for top in ("core", "assets", "scenes", "render", "writers"):
        for path in sorted((REPO / top).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel == "core/atomic.py":
                continue
            lines = path.read_text().splitlines()
            for n, kind in _renames_and_temp_names(path):
                if kind == "os":
                    moves[rel] = moves.get(rel, 0) + 1
                    if moves[rel] <= FOLDER_MOVES.get(rel, 0):
                        continue
                found.append(f"{rel}:{n}: {lines[n - 1].strip()}")
    assert not found, "write through dropsynth.atomic instead:\n  " + "\n  ".join(found)


def test_the_rename_guard_sees_what_it_guards(tmp_path):
    src = tmp_path / "m.py"
    src.write_text('"""a .tmp docstring"""\nimport os\nos.replace(a, b)\np.replace(q)\ns.replace("a", "b")\n'
                   'n = f".{x}.tmp"\n')
    assert sorted(_renames_and_temp_names(src)) == [(3, "os"), (4, "path"), (6, "name")]
