"""The global shortcuts through the XDG desktop portal (Wayland's way): on a private session bus, a test portal
written from org.freedesktop.portal.GlobalShortcuts' published interface gets the app's shortcuts bound, and
its Activated / Deactivated signals drive a real recording and reply."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ui_helpers import Captures, scripted_model, speech_like, wait_reply_done

from voxtral_desktop.testing.desktop_services import DesktopServices, desktop_services
from voxtral_desktop.ui.global_keys import Route
from voxtral_desktop.ui.view_models.status import ReplyStatus

HOLD_S = 1.5


@pytest.fixture
def services(tmp_path, monkeypatch) -> Iterator[DesktopServices]:
    """The private bus as the session bus, on a Wayland session (where only the portal can do it)."""
    with desktop_services(tmp_path) as bus:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.address)
        monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
        yield bus


def test_the_portal_binds_both_shortcuts_and_its_signals_record_and_answer(
    services, make_app, make_desktop, qtbot
):
    app = make_app(scripted_model(), Captures(speech_like(6.0)))
    desktop = make_desktop(app)
    qtbot.waitUntil(lambda: bool(services.find("shortcuts_bound")), timeout=10000)
    qtbot.waitUntil(lambda: desktop.keys.route == Route.PORTAL, timeout=5000)

    (bound,) = services.find("shortcuts_bound")
    assert [(s["id"], s["preferred_trigger"]) for s in bound["shortcuts"]] == [
        ("push_to_talk", "CTRL+ALT+space"),
        ("hands_free", "CTRL+ALT+h"),
    ]
    assert all(s["description"] for s in bound["shortcuts"])
    assert "through your desktop" in desktop.keys.status and not desktop.keys.trouble

    services.send("activate push_to_talk")
    qtbot.waitUntil(lambda: app.vms.recording.is_recording, timeout=5000)
    qtbot.wait(int(HOLD_S * 1000))
    services.send("deactivate push_to_talk")
    qtbot.waitUntil(lambda: len(app.chat.user_turns()) == 1, timeout=5000)
    (turn,) = app.chat.user_turns()
    reply = wait_reply_done(qtbot, app, turn.turn_no)

    assert HOLD_S - 0.3 <= turn.duration_s <= HOLD_S + 1.0
    assert reply.status == ReplyStatus.COMPLETE

    # The user picks another key in the desktop's settings: the words follow, and it still records.
    services.send("rebind push_to_talk Ctrl+Alt+P")
    qtbot.waitUntil(lambda: "hold Ctrl+Alt+P to talk" in desktop.keys.status, timeout=5000)
    services.send("activate push_to_talk")
    qtbot.waitUntil(lambda: app.vms.recording.is_recording, timeout=5000)
    services.send("deactivate push_to_talk")
    qtbot.waitUntil(lambda: not app.vms.recording.is_recording, timeout=5000)

    services.send("activate hands_free")
    qtbot.waitUntil(lambda: app.vms.listening.hands_free, timeout=5000)
    assert app.vms.config.listening.mode == "hands_free"


def test_without_a_portal_on_wayland_the_window_says_so_and_space_still_works(
    make_app, make_desktop, qtbot, tmp_path, monkeypatch
):
    # A session bus with nothing on it: no portal answers.
    import subprocess

    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.stdout.readline().strip())  # type: ignore[union-attr]
        monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
        app = make_app(scripted_model(), Captures(speech_like(6.0)))
        desktop = make_desktop(app)
        qtbot.waitUntil(lambda: bool(desktop.keys.status), timeout=15000)

        assert desktop.keys.route == Route.NONE
        banner = app.window.banner("shortcuts")
        assert banner is not None
        assert "Global shortcuts are off on Wayland" in banner.text.text()
        assert "Space still works" in banner.text.text()
    finally:
        bus.terminate()
        bus.wait(10)
