"""The tray icon as the desktop sees it: a StatusNotifierItem registered with a test org.kde.StatusNotifierWatcher
on a private session bus; its tooltip and menu (com.canonical.dbusmenu), read back over D-Bus, follow what the
app does, its menu items act, and closing the window hides it to the tray. The window runs in a child process
on a private Xvfb (Qt's tray needs the xcb platform)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_push_to_talk_x11 import _xvfb

from voxtral_desktop.testing.desktop_services import DesktopServices, desktop_services

CHILD = Path(__file__).with_name("tray_window.py")
ITEM = "org.kde.StatusNotifierItem"
MENU = "com.canonical.dbusmenu"


class TrayApp:
    """The child window and a D-Bus connection that reads its tray item as a desktop's panel would."""

    def __init__(
        self, display: str, services: DesktopServices, tmp_path: Path, argv: list[str] | None = None
    ) -> None:
        """``argv``: the process to start instead of tray_window.py (which says ``ready`` first)."""
        from jeepney.io.blocking import open_dbus_connection

        self.env = {
            **os.environ,
            "DISPLAY": display,
            "QT_QPA_PLATFORM": "xcb",
            "DBUS_SESSION_BUS_ADDRESS": services.address,
            "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
            "VOXTRAL_DESKTOP_HOME": str(tmp_path / "home"),
        }
        self.env.pop("XDG_SESSION_TYPE", None)
        self.log = tmp_path / "tray_window.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                argv or [sys.executable, str(CHILD)],
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        if argv is None:
            first = self.proc.stdout.readline().strip()  # type: ignore[union-attr]
            assert first == "ready", f"{first}: {self.log.read_text()[-3000:]}"
        registered = services.wait_for("item_registered", timeout_s=60)
        self.service, self.path = registered["service"], registered["path"]
        self.bus = open_dbus_connection(services.address)
        self.services = services

    def command(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]

    def report(self) -> dict:
        self.command("report")
        return json.loads(self.proc.stdout.readline())  # type: ignore[union-attr]

    def call(self, path: str, iface: str, member: str, signature: str = "", body: tuple = ()) -> tuple:
        from jeepney import DBusAddress, new_method_call

        msg = new_method_call(
            DBusAddress(path, bus_name=self.service, interface=iface), member, signature, body
        )
        reply = self.bus.send_and_get_reply(msg, timeout=10)
        return tuple(reply.body)

    def item(self) -> dict[str, Any]:
        (props,) = self.call(self.path, "org.freedesktop.DBus.Properties", "GetAll", "s", (ITEM,))
        return {key: value for key, (_, value) in props.items()}

    def tooltip(self) -> str:
        _, _, title, text = self.item()["ToolTip"]
        return f"{title} {text}"

    def menu(self) -> dict[str, dict[str, Any]]:
        """The menu's items by label (mnemonic '&' dropped), each with its id and properties."""
        menu_path = self.item()["Menu"]
        _, layout = self.call(menu_path, MENU, "GetLayout", "iias", (0, -1, []))
        items: dict[str, dict[str, Any]] = {}

        def walk(node: tuple) -> None:
            node_id, props, children = node
            plain = {k: v for k, (_, v) in props.items()}
            if "label" in plain:
                items[plain["label"].replace("&", "")] = {"id": node_id, **plain}
            for _, child in children:
                walk(child)

        walk(layout)
        return items

    def click(self, label: str) -> None:
        item_id = self.menu()[label]["id"]
        self.call(self.item()["Menu"], MENU, "Event", "isvu", (item_id, "clicked", ("i", 0), 0))

    def wait_tooltip(self, words: str, timeout_s: float = 10) -> str:
        deadline = time.monotonic() + timeout_s
        while words not in (seen := self.tooltip()):
            assert time.monotonic() < deadline, f"tooltip {seen!r}, waited for {words!r}"
            time.sleep(0.05)
        return seen

    def close(self) -> None:
        self.bus.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def icon_of(item: dict[str, Any]) -> Any:
    """The icon the panel draws: a theme name or file (IconName), else the pixels sent (IconPixmap)."""
    return item.get("IconName") or [bytes(data) for _, _, data in item.get("IconPixmap", [])]


@pytest.fixture
def tray_app(tmp_path) -> Iterator[TrayApp]:
    for display in _xvfb(tmp_path):
        with desktop_services(tmp_path) as services:
            app = TrayApp(display, services, tmp_path)
            try:
                yield app
            finally:
                app.close()


def test_the_tray_item_shows_the_state_and_its_menu_acts_and_closing_hides_to_it(tray_app, tmp_path):
    app = tray_app
    assert app.item()["Status"] in ("Active", "NeedsAttention")
    assert "Voxtral: Ready" in app.tooltip()
    labels = list(app.menu())
    assert labels == ["Talk", "Hands-free", "Show the window", "New conversation", "Quit"]
    shot = os.environ.get("VOXTRAL_TRAY_SCREENSHOT")
    if shot:
        app.command(f"menu {shot}")

    idle_icon = icon_of(app.item())
    app.command("press")
    app.wait_tooltip("Recording")
    assert icon_of(app.item()) != idle_icon  # the icon itself changes colour, not only the tooltip
    assert "Stop and send" in app.menu()  # the menu's talk item follows: it now sends
    app.command("release")
    app.wait_tooltip("Ready")

    app.click("Hands-free")
    app.wait_tooltip("Listening (hands-free)")
    menu = app.menu()
    assert menu["Hands-free"]["toggle-state"] == 1
    assert "Pause listening" in menu
    app.click("Pause listening")
    app.wait_tooltip("Ready")
    assert "Resume listening" in app.menu()

    # Closing the window (hide_to_tray on) only hides it; the tray brings it back, and Quit quits.
    app.command("close")
    assert app.report() == {
        "visible": False,
        "tray": True,
        "state": "idle",
        "hands_free": True,
        "closed": False,
    }
    app.services.wait_for("notified", summary="Voxtral keeps running in the tray")
    app.click("Show the window")
    deadline = time.monotonic() + 5
    while not app.report()["visible"]:
        assert time.monotonic() < deadline
    app.command("close")  # again: hidden, and not told twice
    assert not app.report()["visible"]
    app.click("Show the window")
    app.click("Quit")
    out, _ = app.proc.communicate(timeout=30)
    assert json.loads(out.strip().splitlines()[-1]) == {"quit": True, "closed": True}
    told = [e for e in app.services.pump() if e.get("summary") == "Voxtral keeps running in the tray"]
    assert len(told) == 1


def test_the_icons_state_puts_what_the_user_does_first_then_the_assistant_then_the_microphone():
    from voxtral_desktop.ui.view_models.listening_vm import ListeningStatus, ListenState
    from voxtral_desktop.ui.tray import TrayState, tray_state

    push_to_talk = ListeningStatus()
    hands_free = ListeningStatus(hands_free=True, state=ListenState.LISTENING)
    paused = ListeningStatus(hands_free=True, state=ListenState.OFF, paused=True)
    hearing = ListeningStatus(hands_free=True, state=ListenState.HEARING)

    def state(listening=push_to_talk, *, recording=False, thinking=False, speaking=False, error=False):
        return tray_state(
            recording=recording, thinking=thinking, speaking=speaking, listening=listening, error=error
        )

    assert state() == TrayState.IDLE
    assert state(hands_free) == TrayState.LISTENING
    assert state(paused) == TrayState.IDLE
    assert state(hearing, speaking=True) == TrayState.RECORDING  # talking over the reply
    assert state(recording=True, thinking=True, error=True) == TrayState.RECORDING
    assert state(thinking=True, speaking=True) == TrayState.SPEAKING
    assert state(thinking=True, error=True) == TrayState.THINKING
    assert state(hands_free, error=True) == TrayState.ERROR  # until the next turn clears it


def test_started_hidden_the_app_is_only_in_the_tray_holds_its_shortcut_and_quits_from_the_menu(tmp_path):
    """The app as the autostart entry starts it (`voxtral-desktop --hidden`): app.py's wiring, for real."""
    from voxtral_desktop.core.shortcuts import parse_shortcut
    from voxtral_desktop.ui.x11_keys import X11Keys

    for display in _xvfb(tmp_path):
        with desktop_services(tmp_path) as services:
            # No model to load: the app runs all the same (its window would say why), and loads nothing heavy.
            argv = [
                sys.executable,
                "-m",
                "voxtral_desktop",
                "--hidden",
                "--model",
                str(tmp_path / "no-model"),
            ]
            app = TrayApp(display, services, tmp_path, argv=argv)
            try:
                assert "Voxtral" in app.tooltip()
                assert "Quit" in app.menu()
                visible = subprocess.run(
                    ["xdotool", "search", "--onlyvisible", "--name", "^Voxtral$"],
                    env=app.env,
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=False,
                )
                assert visible.stdout.strip() == "", "the window was shown"
                # The global push-to-talk is held by the app (X11 here): another client cannot take it.
                probe = X11Keys(display)
                try:
                    assert "already taken" in (probe.grab("theirs", parse_shortcut("Ctrl+Alt+Space")) or "")
                finally:
                    probe.close()
                app.click("Show the window")
                deadline = time.monotonic() + 20
                while not subprocess.run(
                    ["xdotool", "search", "--onlyvisible", "--name", "^Voxtral$"],
                    env=app.env,
                    capture_output=True,
                    check=False,
                ).stdout.strip():
                    assert time.monotonic() < deadline, "the tray's Show the window did not show it"
                    time.sleep(0.1)
                app.click("Quit")
                assert app.proc.wait(60) == 0, app.log.read_text()[-3000:]
            finally:
                app.close()
