"""Settings' Desktop page: the global shortcuts (checked in words, bound again on save), closing to the tray,
notifications and starting with the session (the autostart entry written and removed)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_push_to_talk_x11 import _xvfb
from ui_helpers import Captures, scripted_model, speech_like

from voxtral_desktop.ui.global_keys import Route


@pytest.fixture
def x_display(tmp_path: Path, monkeypatch) -> Iterator[str]:
    for name in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(name, raising=False)
    for display in _xvfb(tmp_path):
        monkeypatch.setenv("DISPLAY", display)
        yield display


def test_a_new_shortcut_is_checked_in_words_saved_and_bound_at_once(
    make_app, make_desktop, qtbot, x_display, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    app = make_app(scripted_model(), Captures(speech_like(6.0)))
    desktop = make_desktop(app)
    qtbot.waitUntil(lambda: desktop.keys.route == Route.X11, timeout=5000)
    dialog = app.window.open_settings()
    dialog.show_page(dialog.page_of("shortcuts.push_to_talk"))
    talk = dialog.inputs["shortcuts.push_to_talk"]
    assert talk.text() == "Ctrl+Alt+Space" and dialog.inputs["shortcuts.hands_free"].text() == "Ctrl+Alt+H"
    assert not dialog.inputs["desktop.hide_to_tray"].isChecked()  # off by default
    assert dialog.inputs["desktop.notifications"].isChecked()
    shot = os.environ.get("VOXTRAL_SETTINGS_SCREENSHOT")
    if shot:
        qtbot.waitExposed(dialog)
        dialog.grab().save(shot)

    talk.setText("Space")
    error = dialog.errors["shortcuts.push_to_talk"]
    assert error.isVisible() and "needs Ctrl, Alt, Shift or Super" in error.text()
    assert not dialog.save_button.isEnabled()
    talk.setText("Ctrl+Alt+Bogus")
    assert "not a key this app can bind" in error.text()
    talk.setText("Ctrl+Shift+T")
    assert not error.isVisible() and dialog.save_button.isEnabled()
    dialog.inputs["desktop.autostart"].setChecked(True)
    dialog.save()
    qtbot.waitUntil(lambda: "hold Ctrl+Shift+T to talk" in desktop.keys.status, timeout=5000)

    entry = tmp_path / "xdg" / "autostart" / "voxtral-desktop.desktop"
    assert entry.exists() and "--hidden" in entry.read_text()
    env = {"DISPLAY": x_display, "PATH": os.environ["PATH"]}
    subprocess.run(["xdotool", "keydown", "ctrl+shift+t"], env=env, check=True, timeout=30)
    qtbot.waitUntil(lambda: app.vms.recording.is_recording, timeout=3000)
    subprocess.run(
        ["xdotool", "keyup", "t", "keyup", "shift", "keyup", "ctrl"], env=env, check=True, timeout=30
    )
    qtbot.waitUntil(lambda: not app.vms.recording.is_recording, timeout=3000)
    # The old shortcut is free again: the grab was given back.
    from voxtral_desktop.core.shortcuts import parse_shortcut
    from voxtral_desktop.ui.x11_keys import X11Keys

    other = X11Keys(x_display)
    try:
        assert other.grab("theirs", parse_shortcut("Ctrl+Alt+Space")) is None
    finally:
        other.close()

    again = app.window.open_settings()
    again.inputs["desktop.autostart"].setChecked(False)
    again.save()
    qtbot.waitUntil(lambda: not entry.exists(), timeout=3000)
