"""A settings file that cannot be used at start: a dialog says what is wrong and offers to reset it (keeping a copy)
or quit, instead of a line on stderr nobody sees when the app is started from a desktop menu."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

from voxtral_desktop.app import settings_or_ask
from voxtral_desktop.core import paths
from voxtral_desktop.ui.config_repair import QUIT, RESET, TITLE

BROKEN = "model:\n  id: [unclosed\n# my own notes\n"


def answer(button: str, seen: list[dict]) -> Callable[[], None]:
    """Clicks ``button`` in the dialog once it is up, noting what it said."""

    def poll() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, poll)
            return
        buttons = [b.text() for b in box.findChildren(QPushButton)]
        seen.append({"title": box.text(), "info": box.informativeText(), "buttons": buttons})
        next(b for b in box.findChildren(QPushButton) if b.text() == button).click()

    return poll


@pytest.fixture
def broken_settings():
    path = paths.user_config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BROKEN)
    return path


def test_reset_starts_with_the_defaults_and_keeps_a_copy(qapp, broken_settings):
    seen: list[dict] = []
    QTimer.singleShot(0, answer(RESET, seen))
    cfg = settings_or_ask(None, None)
    assert cfg is not None and cfg.model.id  # the defaults
    assert seen[0]["title"] == TITLE
    assert "not valid YAML" in seen[0]["info"] and str(broken_settings) in seen[0]["info"]
    assert sorted(seen[0]["buttons"]) == sorted([RESET, QUIT])
    assert not broken_settings.exists()
    (copy,) = broken_settings.parent.glob(broken_settings.name + ".corrupt-*")
    assert copy.read_text() == BROKEN  # nothing the user wrote is lost


def test_quit_leaves_the_file_as_it_was(qapp, broken_settings):
    seen: list[dict] = []
    QTimer.singleShot(0, answer(QUIT, seen))
    assert settings_or_ask(None, None) is None
    assert seen and broken_settings.read_text() == BROKEN
    assert not list(broken_settings.parent.glob("*.corrupt-*"))


def test_a_bad_value_in_the_settings_can_be_reset_too(qapp):
    path = paths.user_config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("streaming:\n  chunk_size_words: -3\n")
    seen: list[dict] = []
    QTimer.singleShot(0, answer(RESET, seen))
    assert settings_or_ask(None, None) is not None
    assert "chunk_size_words" in seen[0]["info"]


def test_a_broken_config_option_file_is_named_but_never_reset(qapp, tmp_path):
    other = tmp_path / "team.yaml"
    other.write_text(BROKEN)
    seen: list[dict] = []
    QTimer.singleShot(0, answer(QUIT, seen))
    assert settings_or_ask(other, None) is None
    assert seen[0]["buttons"] == [QUIT] and str(other) in seen[0]["info"]
    assert other.read_text() == BROKEN
