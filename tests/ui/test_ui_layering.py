"""Widgets reach the core only through the Bridge: no widget module imports the model, a back-end or audio I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import voxtral_desktop.ui

UI = Path(voxtral_desktop.ui.__file__).parent
DOOR = "bridge.py"
FORBIDDEN = (
    "voxtral_desktop.core.model",
    "voxtral_desktop.core.backends",
    "voxtral_desktop.core.capture",
    "torch",
    "transformers",
    "sounddevice",
)


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_only_the_bridge_imports_the_model_back_ends_and_capture():
    widgets = [p for p in sorted(UI.glob("*.py")) if p.name != DOOR]
    assert len(widgets) >= 6  # the check must look at something
    offenders = [
        f"{p.name} imports {name}"
        for p in widgets
        for name in _imports(p)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    ]
    assert offenders == []


def test_the_bridge_imports_no_heavy_library_at_module_level():
    tree = ast.parse((UI / DOOR).read_text(encoding="utf-8"))
    top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top_level if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in top_level if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n.split(".")[0] in ("torch", "transformers", "sounddevice")]
