"""Import directions between the packages (checked on the source, like napari's import-linter).

- ``lfmri_core`` is pure compute: no GUI toolkit at module level (matplotlib only inside
  functions), never ``lfmri_viewer`` or the plugins;
- ``plugins`` use ``lfmri_core``'s public modules only (no ``_private`` names);
- in ``lfmri_viewer`` only the front ends (``napari_plugin``, ``jupyter``) import a GUI toolkit
  at module level, the rest (the session controller) imports neither toolkit nor front end at
  module level, and the two front ends never import each other;
- inside ``lfmri_core``: the import graph (module-level and function-level imports alike) has
  no cycle, ``models`` never reaches ``training`` (nor the paper study), and only the CLI (the
  package ``lfmri_core.cli``) imports the paper-study package ``lfmri_core.study``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUI_MODULES = {"napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "ipywidgets", "ipympl", "matplotlib", "vispy"}


def _package_of(path: Path, root: Path = ROOT) -> str:
    """Dotted package a source file belongs to, its folder (``lfmri_viewer/napari_plugin/
    _reader.py`` and ``.../__init__.py`` -> ``lfmri_viewer.napari_plugin``)."""
    return ".".join(path.relative_to(root).parent.parts)


def _imported(node: ast.AST, path: Path, submodules: bool, root: Path = ROOT) -> list[tuple[str, int]]:
    """Modules an import statement names, relative imports resolved; with ``submodules``,
    ``from a import b`` also names ``a.b`` (``b`` may be a module)."""
    if isinstance(node, ast.Import):
        return [(alias.name, node.lineno) for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    module = node.module or ""
    if node.level:
        # "from ..jupyter import x" in lfmri_viewer/napari_plugin/ names lfmri_viewer.jupyter.
        package = _package_of(path, root).split(".")
        module = ".".join([*package[: len(package) - node.level + 1], *([node.module] if node.module else [])])
    names = [module]
    if submodules or not node.module:
        names += [f"{module}.{alias.name}" for alias in node.names]
    return [(name, node.lineno) for name in names]


def _module_level_imports(path: Path, *, submodules: bool = False) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [found for node in tree.body for found in _imported(node, path, submodules)]


def _all_imports(path: Path, *, submodules: bool = False) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [found for node in ast.walk(tree) for found in _imported(node, path, submodules)]


CORE_FILES = sorted((ROOT / "lfmri_core").rglob("*.py"))


def test_the_tree_has_the_packages() -> None:
    assert len(CORE_FILES) > 10
    for folder in ("lfmri_core", "lfmri_viewer", "plugins", "sample_data", "tests"):
        assert (ROOT / folder).is_dir()


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_no_gui_and_no_viewer(path: Path) -> None:
    for name, line in _module_level_imports(path):
        assert name.split(".")[0] not in GUI_MODULES, f"{path.name}:{line} imports {name} at module level"
    for name, line in _all_imports(path):
        top = name.split(".")[0]
        assert top not in GUI_MODULES - {"matplotlib"}, f"{path.name}:{line} imports {name}"
        assert top not in ("lfmri_viewer", "lfmri_plugins"), f"{path.name}:{line} imports {name}"


@pytest.mark.parametrize("path", sorted((ROOT / "plugins").rglob("*.py")), ids=lambda p: p.name)
def test_plugins_use_public_core_api(path: Path) -> None:
    for name, line in _all_imports(path):
        if name.startswith("lfmri_core"):
            assert not any(part.startswith("_") for part in name.split(".")), f"{path.name}:{line} imports {name}"
        assert not name.startswith("lfmri_viewer"), f"{path.name}:{line} imports {name}"


FRONT_ENDS = ("lfmri_viewer.napari_plugin", "lfmri_viewer.jupyter")
VIEWER_FILES = sorted((ROOT / "lfmri_viewer").rglob("*.py"))


def _front_end_of(name: str) -> str | None:
    return next((f for f in FRONT_ENDS if name == f or name.startswith(f + ".")), None)


def test_the_viewer_has_the_napari_front_end() -> None:
    assert (ROOT / "lfmri_viewer" / "napari_plugin" / "__init__.py").is_file()
    assert any(_front_end_of(_package_of(p)) is None for p in VIEWER_FILES)


@pytest.mark.parametrize("path", VIEWER_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_viewer_model_imports_no_gui_and_front_ends_stay_apart(path: Path) -> None:
    own = _front_end_of(_package_of(path))
    if own is None:
        # The controller and other shared modules: a GUI toolkit (or a front end, which would
        # bring one) only inside functions, so importing them needs no display.
        for name, line in _module_level_imports(path, submodules=True):
            assert name.split(".")[0] not in GUI_MODULES, f"{path.name}:{line} imports {name} at module level"
            assert _front_end_of(name) is None, f"{path.name}:{line} imports the front end {name} at module level"
    else:
        for name, line in _all_imports(path, submodules=True):
            other = _front_end_of(name)
            assert other in (None, own), f"{path.name}:{line}: {own} imports the other front end ({name})"


@pytest.mark.parametrize(
    ("source", "line", "expected", "front_end"),
    [
        ("lfmri_viewer/napari_plugin/_reader.py", "from ..jupyter import widget", "lfmri_viewer.jupyter.widget", FRONT_ENDS[1]),
        ("lfmri_viewer/napari_plugin/__init__.py", "from lfmri_viewer import jupyter", "lfmri_viewer.jupyter", FRONT_ENDS[1]),
        ("lfmri_viewer/jupyter/__init__.py", "from . import _layers", "lfmri_viewer.jupyter._layers", FRONT_ENDS[1]),
        ("lfmri_viewer/controller.py", "from .napari_plugin import _layers", "lfmri_viewer.napari_plugin._layers", FRONT_ENDS[0]),
        ("lfmri_viewer/controller.py", "from lfmri_core.io import volume", "lfmri_core.io.volume", None),
    ],
)
def test_imports_resolve_to_the_modules_they_name(source: str, line: str, expected: str, front_end: str | None) -> None:
    names = [name for name, _ in _imported(ast.parse(line).body[0], ROOT / source, submodules=True)]
    assert expected in names
    assert _front_end_of(expected) == front_end


# --- the import graph of lfmri_core ----------------------------------------------------------


def _module_name(path: Path, root: Path = ROOT) -> str:
    """``lfmri_core/recon/registry.py`` -> ``lfmri_core.recon.registry``; a package's
    ``__init__.py`` is the package."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


CORE_MODULES = {_module_name(path): path for path in CORE_FILES}


def _resolve(name: str, modules: Iterable[str]) -> str | None:
    """The module an imported name executes: the longest module of ``modules`` that is ``name``
    or one of its parents (``lfmri_core.recon.METHOD_REGISTRY`` -> ``lfmri_core.recon``)."""
    modules = set(modules)
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(modules: dict[str, Path], root: Path = ROOT) -> dict[str, set[str]]:
    """``module -> modules it imports`` among ``modules``, from every import statement (at module
    level, in functions, under ``if``), relative imports resolved. ``from a import b`` is an edge
    to ``a.b`` when that is a module, else to ``a``."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            imported = _imported(node, path, submodules=True, root=root)
            if isinstance(node, ast.ImportFrom):
                base = imported[0][0]
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            else:
                targets = [found for found, _ in imported]
            for target in targets:
                resolved = _resolve(target, modules)
                if resolved is not None and resolved != name:
                    graph[name].add(resolved)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle ``[a, b, ..., a]`` of ``graph``, or None (depth-first search, colours)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def _reachable(graph: dict[str, set[str]], start: str) -> dict[str, str]:
    """Every module reachable from ``start``, each with the module that first imported it."""
    via: dict[str, str] = {}
    todo = [start]
    while todo:
        node = todo.pop()
        for nxt in sorted(graph[node]):
            if nxt not in via and nxt != start:
                via[nxt] = node
                todo.append(nxt)
    return via


def _chain(via: dict[str, str], start: str, end: str) -> str:
    chain = [end]
    while chain[-1] != start:
        chain.append(via[chain[-1]])
    return " -> ".join(reversed(chain))


CORE_GRAPH = import_graph(CORE_MODULES)


def test_the_import_graph_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    # A loop made only of imports inside functions, one of them relative, as the models' was.
    package = tmp_path / "lfmri_core" / "models"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "weights.py").write_text("def kinds():\n    from .classifier import Net\n    return Net\n")
    (package / "classifier.py").write_text(
        "class Net:\n    def save(self):\n        from lfmri_core.models import weights\n        return weights\n")
    modules = {_module_name(p, tmp_path): p for p in sorted(tmp_path.rglob("*.py"))}
    graph = import_graph(modules, tmp_path)
    assert graph["lfmri_core.models.weights"] == {"lfmri_core.models.classifier"}
    assert graph["lfmri_core.models.classifier"] == {"lfmri_core.models.weights"}
    assert find_cycle(graph) in (
        ["lfmri_core.models.classifier", "lfmri_core.models.weights", "lfmri_core.models.classifier"],
        ["lfmri_core.models.weights", "lfmri_core.models.classifier", "lfmri_core.models.weights"],
    )
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_core_import_graph_has_no_cycle() -> None:
    assert {"lfmri_core.models.weights", "lfmri_core.recon.registry", "lfmri_core.cli"} <= set(CORE_GRAPH)
    # an edge the checker must see (the slice pipeline builds methods from the registry; before
    # the pipeline, lfmri_core.recon.pipeline did)
    assert "lfmri_core.recon.registry" in CORE_GRAPH["lfmri_core.pipeline.run"]
    cycle = find_cycle(CORE_GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("module", sorted(m for m in CORE_MODULES if m.startswith("lfmri_core.models")))
def test_models_never_reach_training_or_the_study(module: str) -> None:
    via = _reachable(CORE_GRAPH, module)
    for target in via:
        assert not target.startswith(("lfmri_core.training", "lfmri_core.study")), (
            f"{module} imports {target}: {_chain(via, module, target)}")


def _is_cli(module: str) -> bool:
    """The CLI is the package ``lfmri_core.cli`` and its modules (one per command group)."""
    return module == "lfmri_core.cli" or module.startswith("lfmri_core.cli.")


@pytest.mark.parametrize("module", sorted(m for m in CORE_MODULES if not m.startswith("lfmri_core.study")))
def test_only_the_cli_imports_the_study(module: str) -> None:
    if _is_cli(module):
        cli_imports = {t for m in CORE_GRAPH if _is_cli(m) for t in CORE_GRAPH[m]}
        assert any(t.startswith("lfmri_core.study") for t in cli_imports)  # the check sees its imports
        return
    study = sorted(t for t in CORE_GRAPH[module] if t == "lfmri_core.study" or t.startswith("lfmri_core.study."))
    assert not study, f"{module} imports {', '.join(study)} (only lfmri_core.cli may)"


# Files long enough to be read in one sitting (issue 16); the synthetic anatomy is one table of
# tissue shapes and stays whole.
MAX_LINES = 600
LONG_FILES_ALLOWED = {"lfmri_core/synthetic/anatomy.py"}


def test_no_module_of_the_packages_is_over_600_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): count
        for package in ("lfmri_core", "lfmri_viewer")
        for path in sorted((ROOT / package).rglob("*.py"))
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert set(long) <= LONG_FILES_ALLOWED, {k: v for k, v in long.items() if k not in LONG_FILES_ALLOWED}
