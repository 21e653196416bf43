"""The core must run without Qt: no module under voxtral_desktop/core imports PySide6, qasync or the UI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import voxtral_desktop

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
