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
    assert len(list(UI.glob("*.py"))) >= 6


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
DOORS = ("view_models.py",)
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
VALUE_TYPES = {"LoadPhase", "Mode", "ReplyStatus", "ConversationSummary", "TurnRecord", "InputDevice", "Recording"}


def _is_door(path: Path) -> bool:
    return path.name.endswith("_vm.py") or path.name in DOORS


def test_no_ui_module_imports_the_back_ends_or_a_heavy_library():
    offenders = [
        f"{p.name} imports {name}"
        for p in sorted(UI.glob("*.py"))
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
