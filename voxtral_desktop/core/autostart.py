"""Starting with the desktop session: the XDG autostart entry, written or removed to match the setting."""

from __future__ import annotations

import logging
import os
import shlex
import sys
from pathlib import Path

log = logging.getLogger(__name__)

ENTRY_NAME = "voxtral-desktop.desktop"
HIDDEN_FLAG = "--hidden"  # the command-line flag that starts the app in the tray, its window not shown
# Written by the app; a file without this line is the user's own and is never overwritten or removed.
MARK = "X-Voxtral-Desktop-Autostart=true"


def autostart_dir() -> Path:
    """$XDG_CONFIG_HOME/autostart (~/.config/autostart), where desktop sessions look (XDG Autostart spec)."""
    base = os.environ.get("XDG_CONFIG_HOME", "").strip()
    return (Path(base) if base and Path(base).is_absolute() else Path.home() / ".config") / "autostart"


def entry_path() -> Path:
    return autostart_dir() / ENTRY_NAME


def launch_command() -> list[str]:
    """How this very installation is started again: the bundle's executable, or this Python with the module."""
    if getattr(sys, "frozen", False):
        return [sys.executable, HIDDEN_FLAG]
    return [sys.executable, "-m", "voxtral_desktop", HIDDEN_FLAG]


def entry_text(command: list[str]) -> str:
    """The desktop entry (Desktop Entry spec 1.5): Exec quotes each argument the spec's way."""
    return "\n".join(
        [
            "[Desktop Entry]",
            "Type=Application",
            "Version=1.5",
            "Name=Voxtral Desktop",
            "Comment=Voice assistant, started hidden in the tray",
            f"Exec={' '.join(_exec_quote(arg) for arg in command)}",
            "Icon=voxtral-desktop",
            "Terminal=false",
            "X-GNOME-Autostart-enabled=true",
            MARK,
            "",
        ]
    )


def _exec_quote(arg: str) -> str:
    # The spec reserves these characters and a literal % must be doubled; shlex's quoting is close but uses
    # single quotes, which Exec does not understand.
    arg = arg.replace("%", "%%")
    if arg and not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`"):
        return arg
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return f'"{escaped}"'


def is_ours(path: Path) -> bool:
    try:
        return MARK in path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False


def apply(enabled: bool, command: list[str] | None = None, path: Path | None = None) -> str | None:
    """Write (``enabled``) or remove the entry. Returns None when done, else why not, in words (an OSError,
    or an entry of the same name the user wrote, which is left alone)."""
    path = path or entry_path()
    if path.exists() and not is_ours(path):
        return f"{path} was not written by Voxtral Desktop; it is left as it is (remove it to let the app manage it)"
    try:
        if enabled:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(entry_text(command or launch_command()), encoding="utf-8")
            tmp.replace(path)
            log.info("autostart entry written: %s", path)
        elif path.exists():
            path.unlink()
            log.info("autostart entry removed: %s", path)
    except OSError as e:
        return f"could not {'write' if enabled else 'remove'} {path}: {e.strerror or e}"
    return None


def describe(command: list[str]) -> str:
    """The command as a shell would read it, for the log and Settings' tooltip."""
    return shlex.join(command)
