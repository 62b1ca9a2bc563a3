"""Import directions between the packages (checked on the source, like napari's import-linter).

- ``lfmri_core`` is pure compute: no GUI toolkit at module level (matplotlib only inside
  functions), never ``lfmri_viewer`` or the plugins;
- ``plugins`` use ``lfmri_core``'s public modules only (no ``_private`` names).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUI_MODULES = {"napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "ipywidgets", "ipympl", "matplotlib", "vispy"}


def _module_level_imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
    return found


def _all_imports(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
    return found


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
