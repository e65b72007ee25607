"""Layers run one way: types <- assets <- scenes <- render <- writers <- pipeline <- cli.

Every module of the installed ``dropsynth`` package is placed in a layer
(``LAYER_OF``, or a package pattern in ``PATTERNS``); a module may import its
own layer and the ones below it, never one above. Imports inside functions
count: a lazy import still ties the lower module to the higher one. A module
that nothing places fails the test until it is placed, so a new module is
put somewhere on purpose. Within a layer, modules must not import each other
in a cycle either.

What a lower layer needs from a higher one is handed in (a callable, a
record), never imported: V-HACD is handed to asset preparation by physics
(``scenes.physics.collision_shape``), the catalog checks the composition
keys itself, the grasp library's files (cache and run copies) sit above the
scene simulation that makes it.

``KNOWN_VIOLATIONS`` holds exactly the edges still there on this branch, each
with who removes it; the test fails when one disappears (take it off the
list) as it fails when a new one appears.
"""
from __future__ import annotations

import ast
import fnmatch
import importlib.util
import pkgutil
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAYERS = ("types", "assets", "scenes", "render", "writers", "pipeline", "cli")
RANK = {name: i for i, name in enumerate(LAYERS)}

# Modules of the root package (core/), one by one: its files do every job.
LAYER_OF = {
    # types: records, errors, randomness, configuration, pure numpy helpers
    "dropsynth.errors": "types",
    "dropsynth.types": "types",
    "dropsynth.seeding": "types",
    "dropsynth.yamlio": "types",
    "dropsynth.config": "types",
    "dropsynth.settings": "types",
    "dropsynth.presets": "types",
    "dropsynth.calibration": "types",
    "dropsynth.textures": "types",
    "dropsynth.geometry": "types",
    "dropsynth.atomic": "types",  # the atomic-write primitives: assets write through them too
    "dropsynth.annotate": "types",
    # scenes: the gripper and antipodal sampling on a mesh (pure numpy, used by the grasp simulation)
    "dropsynth.grasps": "scenes",
    # render: what is derived from a rendered frame
    "dropsynth.groundtruth": "render",
    "dropsynth.sensor": "render",
    # writers: the grasp libraries' files (the cache and the run folder's ACRONYM copies)
    "dropsynth.grasp_library": "writers",
    # pipeline: the run
    "dropsynth.pipeline": "pipeline",
    "dropsynth.runner": "pipeline",
    "dropsynth.outlock": "writers",  # the output folder's lock, taken by writers/outdir.py
    "dropsynth.api": "pipeline",
    "dropsynth.generator": "pipeline",
    "dropsynth.shards": "pipeline",
    "dropsynth.runrecord": "pipeline",
    # cli
    "dropsynth.cli": "cli",
    "dropsynth.cli_errors": "cli",
}
# Packages (and name patterns in the root package) whose every module sits in one layer.
PATTERNS = (
    ("dropsynth.config_*", "types"),
    ("dropsynth.settings_*", "types"),
    ("dropsynth.assets", "assets"),
    ("dropsynth.assets.*", "assets"),
    ("dropsynth.scenes", "scenes"),
    ("dropsynth.scenes.*", "scenes"),
    ("dropsynth.render", "render"),
    ("dropsynth.render.*", "render"),
    ("dropsynth.writers", "writers"),
    ("dropsynth.writers.*", "writers"),
    ("dropsynth.utility", "cli"),
    ("dropsynth.utility.*", "cli"),
)
# The root package ``dropsynth`` (core/__init__.py) is special: importing any
# module runs it, so at module level it may import only the types layer;
# the public API it re-exports is imported lazily (inside functions, e.g. a
# PEP 562 ``__getattr__``) from any layer. A name it defines itself (say
# ``__version__``) may be imported from anywhere.
ROOT = "dropsynth"

# (importer, imported) edges against the order that are still there, and who removes them.
KNOWN_VIOLATIONS: dict = {}
# Import cycles within a layer that are still there: (module, module) sorted, and who removes them.
KNOWN_CYCLES: dict = {}


def layer_of(module: str) -> str | None:
    if module in LAYER_OF:
        return LAYER_OF[module]
    for pattern, layer in PATTERNS:
        if fnmatch.fnmatchcase(module, pattern):
            return layer
    return None


def _packages() -> list[str]:
    """The packages of the distribution (pyproject's list, the one setuptools installs)."""
    text = (REPO / "pyproject.toml").read_text()
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:  # 3.10: the list is plain enough to read by hand
        block = re.search(r"^\[tool\.setuptools\]\s*$.*?^packages\s*=\s*\[(.*?)\]", text, re.S | re.M).group(1)
        return re.findall(r'^\s*"([^"]+)"', block, re.M)
    return list(tomllib.loads(text)["tool"]["setuptools"]["packages"])


def installed_modules() -> dict[str, Path]:
    """Every module of the installed dropsynth package -> its source file,
    found through the import system (editable or not). A code folder under a
    package that pyproject does not list is reported: it would not ship."""
    out: dict[str, Path] = {}
    packages = set(_packages())
    for pkg in sorted(packages):
        spec = importlib.util.find_spec(pkg)
        assert spec is not None, f"{pkg}: listed in pyproject.toml but not importable"
        if spec.origin and spec.origin.endswith(".py"):
            out[pkg] = Path(spec.origin)
        for info in pkgutil.iter_modules(spec.submodule_search_locations or []):
            name = f"{pkg}.{info.name}"
            if info.ispkg:
                assert name in packages, f"{name}: a package that pyproject.toml's [tool.setuptools] packages lacks"
                continue
            out[name] = Path(info.module_finder.path) / f"{info.name}.py"
    return out


def _root_names(root_file: Path) -> set[str]:
    """Names the root package binds itself at module level (not by importing)."""
    names = set()
    for node in ast.parse(root_file.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Name):
                names.add(t.id)
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def imports_of(module: str, path: Path, known: set[str], root_names: set[str]):
    """(line, imported module, at module level) for every dropsynth import in
    the file, functions included. ``from a import b`` is module ``a.b`` when
    that is a module, else ``a``; a name the root package defines itself
    counts as types."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    top_level = {id(n) for n in tree.body}
    for stmt in tree.body:  # imports under a module-level if/try still run at import
        if isinstance(stmt, (ast.If, ast.Try)):
            top_level |= {id(n) for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                parts = parts if is_pkg else parts[:-1]
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            targets = []
            for a in node.names:
                sub = f"{base}.{a.name}"
                if sub in known:
                    targets.append(sub)
                elif base == ROOT and a.name in root_names:
                    targets.append(f"{ROOT}:{a.name}")
                else:
                    targets.append(base)
        else:
            continue
        for t in targets:
            if t == ROOT or t.startswith(ROOT + ".") or t.startswith(ROOT + ":"):
                yield node.lineno, t, id(node) in top_level


@pytest.fixture(scope="module")
def graph():
    modules = installed_modules()
    known = set(modules)
    root_names = _root_names(modules[ROOT])
    edges = []  # (importer, line, imported, at module level)
    for name, path in sorted(modules.items()):
        for line, target, top in imports_of(name, path, known, root_names):
            edges.append((name, line, target, top))
    return modules, edges


def test_the_package_is_found_whole(graph):
    modules, _ = graph
    for name in ("dropsynth", "dropsynth.cli", "dropsynth.scenes.physics", "dropsynth.scenes.builders.tabletop",
                 "dropsynth.render.pyrender_backend", "dropsynth.writers.coco", "dropsynth.utility.score"):
        assert name in modules, name
    assert len(modules) >= 60, sorted(modules)


def test_every_module_is_placed_in_a_layer(graph):
    modules, _ = graph
    unplaced = sorted(m for m in modules if m != ROOT and layer_of(m) is None)
    assert not unplaced, ("modules in no layer: place each in LAYER_OF or PATTERNS of tests/unit/test_layers.py: "
                          + ", ".join(unplaced))


def _violations(modules, edges) -> dict[tuple[str, str], list[str]]:
    found: dict[tuple[str, str], list[str]] = {}
    for importer, line, target, top in edges:
        where = f"{importer}:{line}"
        if importer == ROOT:
            if top and not target.startswith(ROOT + ":") and layer_of(target) != "types":
                found.setdefault((importer, target), []).append(
                    f"{where} imports {target} at module level (the package root runs on every import: "
                    f"re-export it lazily)")
            continue
        if target.startswith(ROOT + ":"):
            continue  # a name the root defines itself (__version__)
        target_mod = target
        if target_mod == ROOT:
            found.setdefault((importer, target_mod), []).append(
                f"{where} imports from {ROOT} itself (the public API, pipeline layer): import the module instead")
            continue
        a, b = layer_of(importer), layer_of(target_mod)
        if a is None or b is None:
            continue  # reported by test_every_module_is_placed_in_a_layer
        if RANK[b] > RANK[a]:
            found.setdefault((importer, target_mod), []).append(
                f"{where} imports {target_mod} (layer {a} -> higher layer {b})")
    return found


def test_imports_run_one_way(graph):
    modules, edges = graph
    found = _violations(modules, edges)
    new = {k: v for k, v in found.items() if k not in KNOWN_VIOLATIONS}
    gone = sorted(k for k in KNOWN_VIOLATIONS if k not in found)
    msg = []
    if new:
        msg.append("imports against the layer order:\n  " + "\n  ".join(w for v in new.values() for w in v))
    if gone:
        msg.append("fixed, so take them off KNOWN_VIOLATIONS: " + ", ".join(f"{a} -> {b}" for a, b in gone))
    assert not msg, "\n".join(msg)


def _cycles(edges) -> set[tuple[str, str]]:
    """Pairs of modules of one layer that reach each other through imports within that layer."""
    adj: dict[str, set[str]] = {}
    for importer, _, target, _ in edges:
        if importer != target and ":" not in target and target != ROOT and importer != ROOT \
                and layer_of(importer) == layer_of(target):
            adj.setdefault(importer, set()).add(target)

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for n in adj.get(todo.pop(), ()):
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        return seen

    reached = {m: reach(m) for m in adj}
    return {tuple(sorted((a, b))) for a in adj for b in adj[a] if a in reached.get(b, set())}


def test_no_import_cycles_within_a_layer(graph):
    _, edges = graph
    found = _cycles(edges)
    new = sorted(found - set(KNOWN_CYCLES))
    gone = sorted(set(KNOWN_CYCLES) - found)
    where = {}
    for importer, line, target, _ in edges:
        where.setdefault((importer, target), f"{importer}:{line}")
    msg = []
    if new:
        msg.append("import cycles (hand one side what it needs instead):\n  " + "\n  ".join(
            f"{where[(a, b)]} imports {b} and {where[(b, a)] if (b, a) in where else b} reaches back to {a}"
            for a, b in new))
    if gone:
        msg.append("cycles gone, so take them off KNOWN_CYCLES: " + ", ".join(f"{a} <-> {b}" for a, b in gone))
    assert not msg, "\n".join(msg)


# --- the checker itself ----------------------------------------------------------------------------------------------

def _check_source(tmp_path: Path, module: str, source: str, known=frozenset()) -> list[str]:
    path = tmp_path / "mod.py"
    path.write_text(source)
    edges = [(module, line, t, top) for line, t, top in imports_of(module, path, set(known) | {module}, {"__version__"})]
    return [w for v in _violations({}, edges).values() for w in v]


def test_the_checker_names_module_line_and_layers(tmp_path):
    got = _check_source(tmp_path, "dropsynth.assets.mesh", "import numpy\n\n\ndef f():\n"
                        "    from dropsynth.scenes.physics import convex_decomposition\n",
                        known={"dropsynth.scenes.physics"})
    assert got == ["dropsynth.assets.mesh:5 imports dropsynth.scenes.physics (layer assets -> higher layer scenes)"]


def test_the_checker_resolves_from_imports_and_relative_ones(tmp_path):
    src = ("from dropsynth import seeding, __version__\nfrom dropsynth.scenes import builders\n"
           "from . import coco\nfrom ..pipeline import generate\n")
    got = _check_source(tmp_path, "dropsynth.writers.bop", src,
                        known={"dropsynth.seeding", "dropsynth.scenes.builders", "dropsynth.writers.coco",
                               "dropsynth.pipeline"})
    # seeding (types), builders (scenes), __version__ and writers.coco are below or beside: only the pipeline is not
    assert got == ["dropsynth.writers.bop:4 imports dropsynth.pipeline (layer writers -> higher layer pipeline)"]


def test_the_checker_refuses_the_root_api_below_the_pipeline(tmp_path):
    got = _check_source(tmp_path, "dropsynth.writers.coco", "from dropsynth import Generator\n")
    assert got and "imports from dropsynth itself" in got[0]


def test_the_root_package_imports_the_api_lazily_only(tmp_path):
    src = "__version__ = '1'\nfrom dropsynth.api import generate\n\n\ndef __getattr__(name):\n" \
          "    from dropsynth import api\n    return getattr(api, name)\n"
    got = _check_source(tmp_path, ROOT, src, known={"dropsynth.api"})
    assert len(got) == 1 and got[0].startswith("dropsynth:2 imports dropsynth.api at module level"), got


def test_cycles_are_found_within_a_layer():
    edges = [("dropsynth.pipeline", 3, "dropsynth.runner", False), ("dropsynth.runner", 9, "dropsynth.pipeline", False),
             ("dropsynth.writers.yolo", 1, "dropsynth.writers.splits", True)]
    assert _cycles(edges) == {("dropsynth.pipeline", "dropsynth.runner")}


def test_new_modules_are_placed_by_their_package():
    assert layer_of("dropsynth.writers.somethingnew") == "writers"
    assert layer_of("dropsynth.scenes.builders.shelf") == "scenes"
    assert layer_of("dropsynth.config_models") == "types"
    assert layer_of("dropsynth.somethingnew") is None  # a new root module must be placed by hand
