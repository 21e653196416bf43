"""Layering: the core never imports Qt, the UI or test tooling; only portaudio.py touches sounddevice; the UI
reaches the core's working objects only through its view-models, and never its back-ends."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import voxtral_desktop
import voxtral_desktop.ui

PACKAGE = Path(voxtral_desktop.__file__).parent
CORE = PACKAGE / "core"
UI = Path(voxtral_desktop.ui.__file__).parent
FORBIDDEN = ("PySide6", "qasync", "voxtral_desktop.ui", "shiboken6")


def imports(path: Path, *, top_level_only: bool = False) -> list[tuple[str, tuple[str, ...]]]:
    """(module, names imported from it) for every import in ``path``; names are empty for ``import x``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: list[tuple[str, tuple[str, ...]]] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(a.name, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, tuple(a.name for a in node.names)))
    return found


def _under(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_no_core_module_imports_qt_the_ui_or_test_tooling():
    offenders = [
        f"{p.relative_to(PACKAGE)} imports {name}"
        for p in sorted(CORE.rglob("*.py"))
        for name, _ in imports(p)
        if _under(name, FORBIDDEN) or _under(name, ("voxtral_desktop.testing",))
    ]
    assert offenders == []


def test_the_layering_check_sees_core_files():
    # Guards the checks here against silently scanning nothing.
    assert len(list(CORE.rglob("*.py"))) >= 8
    assert len(list(UI.glob("*.py"))) >= 6 and len(list((UI / "view_models").glob("*.py"))) >= 6


def test_importing_the_package_loads_neither_qt_nor_torch():
    code = (
        "import sys, voxtral_desktop, voxtral_desktop.core.model;"
        "bad=[m for m in ('PySide6','qasync','torch','transformers') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_only_portaudio_imports_sounddevice():
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in sorted(PACKAGE.rglob("*.py"))
        if p != CORE / "portaudio.py" and any(_under(name, ("sounddevice",)) for name, _ in imports(p))
    ]
    assert offenders == []


# --- the UI: widgets use the core's value types; view-models are the doors to its working objects -----

# The doors: each view-model is the one way into one part of the core; view_models.py composes them.
HEAVY = ("torch", "transformers", "sounddevice")
# The core's working objects: widgets never hold them.
WORKING = (
    "voxtral_desktop.core.model",
    "voxtral_desktop.core.capture",
    "voxtral_desktop.core.portaudio",
    "voxtral_desktop.core.conversation",
    "voxtral_desktop.core.history",
)
# Values a widget may name (to compare a state, or read a snapshot), even from a working module.
VALUE_TYPES = {
    "LoadPhase",
    "Mode",
    "ReplyStatus",
    "ConversationSummary",
    "TurnRecord",
    "InputDevice",
    "Recording",
}


def _is_door(path: Path) -> bool:
    """The view-models (ui/view_models/) are the doors; every module beside that package is a widget."""
    return path.parent.name == "view_models"


def test_no_ui_module_imports_the_back_ends_or_a_heavy_library():
    offenders = [
        f"{p.name} imports {name}"
        for p in sorted(UI.rglob("*.py"))
        for name, _ in imports(p)
        if _under(name, ("voxtral_desktop.core.backends", *HEAVY))
    ]
    assert offenders == []


def test_widgets_reach_the_cores_working_objects_only_through_view_models():
    widgets = [p for p in sorted(UI.glob("*.py")) if not _is_door(p)]
    assert len(widgets) >= 6  # the check must look at something
    offenders = [
        f"{p.name} imports {name} ({', '.join(names) or 'the module'})"
        for p in widgets
        for name, names in imports(p)
        if _under(name, WORKING) and not (names and set(names) <= VALUE_TYPES)
    ]
    assert offenders == []


# --- tests, benchmarks and scripts use the package's public names only ----------------------------------

ROOT = PACKAGE.parent
USERS = ("tests", "benchmarks", "scripts")


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_definitions(tree: ast.AST) -> set[str]:
    """The ``_name``s a module defines: globals, class members, and attributes it assigns (``self._name``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {n for n in names if _is_private(n)}


def private_names_defined(package: Path) -> set[str]:
    """Every ``_name`` the package defines."""
    trees = (ast.parse(p.read_text(encoding="utf-8")) for p in package.rglob("*.py"))
    return set().union(*(_private_definitions(t) for t in trees))


def private_uses(path: Path, private: set[str]) -> list[str]:
    """Where ``path`` reaches a private name of the package: imports, attributes, and names given as strings
    to getattr/setattr/monkeypatch.setattr."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    private = private - _private_definitions(tree)  # a script's own helpers are its own business
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    found: list[str] = []
    for node in ast.walk(tree):
        where = f"{shown}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("voxtral_desktop"):
            parts = (node.module or "").split(".") + [a.name for a in node.names]
            found += [f"{where} imports {p}" for p in parts if _is_private(p)]
        elif isinstance(node, ast.Import):
            found += [
                f"{where} imports {a.name}"
                for a in node.names
                if a.name.startswith("voxtral_desktop") and any(_is_private(p) for p in a.name.split("."))
            ]
        elif isinstance(node, ast.Attribute) and node.attr in private:
            found.append(f"{where} uses .{node.attr}")
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            second = node.args[1] if len(node.args) > 1 else None
            text = second.value if isinstance(second, ast.Constant) and isinstance(second.value, str) else ""
            if name in ("getattr", "setattr", "hasattr", "delattr") and text in private:
                found.append(f"{where} {name}(..., {text!r})")
    return found


def test_the_private_name_scanner_finds_private_uses(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from voxtral_desktop.core.model import _Marks\n"
        "import voxtral_desktop.ui._pyside_fixes\n"
        "store._db.execute('x')\n"
        "getattr(bridge, '_closed', False)\n"
        "monkeypatch.setattr(portaudio, '_open_streams', 0)\n"
        "source.is_running and model.build_request\n"
        "class Probe:\n    def _tick(self): self._own = 1\n",
        encoding="utf-8",
    )
    found = private_uses(sample, {"_Marks", "_db", "_closed", "_open_streams", "_tick"})
    assert sorted(f.split(" ", 1)[1] for f in found) == [
        "getattr(..., '_closed')",
        "imports _Marks",
        "imports voxtral_desktop.ui._pyside_fixes",
        "setattr(..., '_open_streams')",
        "uses ._db",
    ]


def test_tests_benchmarks_and_scripts_touch_no_private_name_of_the_package():
    private = private_names_defined(PACKAGE)
    assert {"_Marks", "_open_streams"} <= private  # the scan sees the package
    files = [p for folder in USERS for p in sorted((ROOT / folder).rglob("*.py"))]
    assert len(files) >= 20
    offenders = [use for p in files for use in private_uses(p, private)]
    assert offenders == []
