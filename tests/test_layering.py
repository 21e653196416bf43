"""Layering: the core never imports Qt or the UI; widgets reach the core only through the Bridge."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import voxtral_desktop
import voxtral_desktop.ui

CORE = Path(voxtral_desktop.__file__).parent / "core"
FORBIDDEN = ("PySide6", "qasync", "voxtral_desktop.ui", "shiboken6")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_no_core_module_imports_qt_or_the_ui():
    offenders = [
        f"{p.relative_to(CORE.parent)} imports {name}"
        for p in sorted(CORE.rglob("*.py"))
        for name in _imports(p)
        if name.split(".")[0] in FORBIDDEN or name.startswith("voxtral_desktop.ui")
    ]
    assert offenders == []


def test_the_layering_check_sees_core_files():
    # Guards the check above against silently scanning nothing.
    assert len(list(CORE.rglob("*.py"))) >= 8


def test_importing_the_package_loads_neither_qt_nor_torch():
    code = (
        "import sys, voxtral_desktop, voxtral_desktop.core.model;"
        "bad=[m for m in ('PySide6','qasync','torch','transformers') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# --- the UI: widgets talk to the core only through the bridge -----------------------------------

UI = Path(voxtral_desktop.ui.__file__).parent
DOOR = "bridge.py"
WIDGET_FORBIDDEN = (
    "voxtral_desktop.core.model",
    "voxtral_desktop.core.backends",
    "voxtral_desktop.core.capture",
    "torch",
    "transformers",
    "sounddevice",
)


def test_only_the_bridge_imports_the_model_back_ends_and_capture():
    widgets = [p for p in sorted(UI.glob("*.py")) if p.name != DOOR]
    assert len(widgets) >= 6  # the check must look at something
    offenders = [
        f"{p.name} imports {name}"
        for p in widgets
        for name in _imports(p)
        if any(name == f or name.startswith(f + ".") for f in WIDGET_FORBIDDEN)
    ]
    assert offenders == []


def test_the_bridge_imports_no_heavy_library_at_module_level():
    tree = ast.parse((UI / DOOR).read_text(encoding="utf-8"))
    top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top_level if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in top_level if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if n.split(".")[0] in ("torch", "transformers", "sounddevice")]
