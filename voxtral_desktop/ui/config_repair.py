"""The dialog shown at start when the settings file cannot be used: what is wrong, reset it (a copy is kept) or quit."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

TITLE = "Your settings could not be read"
RESET = "Reset settings"
QUIT = "Quit"


def broken_settings_box(problem: str, settings_file: Path | None, parent: QWidget | None = None) -> QMessageBox:
    """``settings_file`` is the file that can be reset, or None when the problem is elsewhere (--config)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Voxtral")
    box.setText(TITLE)
    if settings_file is not None:
        info = (
            f"{problem[:1].upper()}{problem[1:]}.\n\n"
            f"Reset settings starts with the defaults and keeps your file as a copy next to it "
            f"({settings_file.name}.corrupt-…), so you can fix it and copy settings back. "
            f"Quit leaves everything as it is."
        )
        box.addButton(RESET, QMessageBox.ButtonRole.AcceptRole)
    else:
        info = f"{problem[:1].upper()}{problem[1:]}.\n\nFix the file named above, or start without --config."
    box.setInformativeText(info)
    quit_button = box.addButton(QUIT, QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(quit_button)
    box.setEscapeButton(quit_button)
    return box


def ask_to_reset(problem: str, settings_file: Path | None) -> bool:
    """Show the dialog until the user answers; True if they chose to reset the settings file."""
    box = broken_settings_box(problem, settings_file)
    box.exec()
    clicked = box.clickedButton()
    return clicked is not None and clicked.text() == RESET
