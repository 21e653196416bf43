"""The desktop integration (ui/desktop.py) around a test window, closed again at the end of the test."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

from PySide6.QtCore import QObject

from voxtral_desktop.ui.desktop import Desktop


def desktops(qtbot) -> Iterator[Callable[..., Desktop]]:
    """The make_desktop fixture (conftest.py): builds Desktops, and closes them at the end of the test."""
    made: list[Desktop] = []
    # Not the window's child: pytest-qt deletes the window before this fixture's teardown closes the desktop.
    holder = QObject()

    def make(app) -> Desktop:
        desktop = Desktop(app.window, app.vms, holder)
        made.append(desktop)
        desktop.start()
        return desktop

    yield make
    for desktop in made:
        task = asyncio.ensure_future(desktop.close())
        qtbot.waitUntil(task.done, timeout=10000)
        task.result()
