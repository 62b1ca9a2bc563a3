"""Import directions between the packages (checked on the source, like napari's import-linter).

- ``lfmri_core`` is pure compute: no GUI toolkit at module level (matplotlib only inside
  functions), never ``lfmri_viewer`` or the plugins;
- ``plugins`` use ``lfmri_core``'s public modules only (no ``_private`` names);
- in ``lfmri_viewer`` only the front ends (``napari_plugin``, ``jupyter``) import a GUI toolkit
  at module level, the rest (the session controller) imports neither toolkit nor front end at
  module level, and the two front ends never import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUI_MODULES = {"napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "ipywidgets", "ipympl", "matplotlib", "vispy"}


def _package_of(path: Path) -> str:
    """Dotted package a source file belongs to, its folder (``lfmri_viewer/napari_plugin/
    _reader.py`` and ``.../__init__.py`` -> ``lfmri_viewer.napari_plugin``)."""
    return ".".join(path.relative_to(ROOT).parent.parts)


def _imported(node: ast.AST, path: Path, submodules: bool) -> list[tuple[str, int]]:
    """Modules an import statement names, relative imports resolved; with ``submodules``,
    ``from a import b`` also names ``a.b`` (``b`` may be a module)."""
    if isinstance(node, ast.Import):
        return [(alias.name, node.lineno) for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    module = node.module or ""
    if node.level:
        # "from ..jupyter import x" in lfmri_viewer/napari_plugin/ names lfmri_viewer.jupyter.
        package = _package_of(path).split(".")
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
