"""The global push-to-talk on X11: the shortcut held while another X client has the focus records and gets a
reply, through the same path as the window's Space; the other client never sees the key. Real X events
(xdotool on a private Xvfb); the window itself runs offscreen, its grab on the Xvfb's root window."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_push_to_talk_x11 import _xvfb
from ui_helpers import Captures, scripted_model, speech_like, wait_reply_done

from voxtral_desktop.testing.missing import missing
from voxtral_desktop.ui.global_keys import Route
from voxtral_desktop.ui.view_models.status import ReplyStatus

HOLD_S = 2.0


@pytest.fixture
def x_display(tmp_path: Path, monkeypatch) -> Iterator[str]:
    """A private Xvfb (its default auto-repeat: a held shortcut repeats as real keyboards do) as DISPLAY."""
    for name in ("WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(name, raising=False)
    for display in _xvfb(tmp_path):
        monkeypatch.setenv("DISPLAY", display)
        yield display


class OtherClient:
    """xev: another X application with the keyboard focus; what it printed tells which keys it received."""

    def __init__(self, display: str, tmp_path: Path) -> None:
        if shutil.which("xev") is None:
            missing("xev is not installed (apt-get install x11-utils)")
        self.env = {"DISPLAY": display, "PATH": "/usr/bin:/bin"}
        self.log = tmp_path / "xev.log"
        self.proc = subprocess.Popen(
            ["stdbuf", "-oL", "xev", "-event", "keyboard", "-event", "focus"],
            env=self.env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while not (found := re.search(r"Outer window is (0x[0-9a-f]+)", self.output())):
            assert time.monotonic() < deadline and self.proc.poll() is None, self.output()
            time.sleep(0.05)
        self.window = found.group(1)
        self.xdotool("windowfocus", "--sync", self.window)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def xdotool(self, *args: str) -> None:
        subprocess.run(["xdotool", *args], env=self.env, check=True, timeout=30)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def other_client(x_display, tmp_path) -> Iterator[OtherClient]:
    client = OtherClient(x_display, tmp_path)
    try:
        yield client
    finally:
        client.close()


def test_holding_the_shortcut_in_another_application_records_and_answers_and_the_key_stays_ours(
    make_app, make_desktop, qtbot, other_client
):
    app = make_app(scripted_model(), Captures(speech_like(6.0)))
    desktop = make_desktop(app)
    qtbot.waitUntil(lambda: bool(desktop.keys.status), timeout=5000)
    assert desktop.keys.route == Route.X11, desktop.keys.status
    assert "hold Ctrl+Alt+Space to talk" in desktop.keys.status
    recordings: list[bool] = []
    app.vms.recording.recordingChanged.connect(recordings.append)

    other_client.xdotool("keydown", "ctrl+alt+space")
    qtbot.waitUntil(lambda: app.vms.recording.is_recording, timeout=3000)
    qtbot.wait(int(HOLD_S * 1000))
    other_client.xdotool("keyup", "space", "keyup", "alt", "keyup", "ctrl")
    qtbot.waitUntil(lambda: len(app.chat.user_turns()) == 1, timeout=5000)
    (turn,) = app.chat.user_turns()
    reply = wait_reply_done(qtbot, app, turn.turn_no)

    assert recordings.count(True) == 1  # the server's auto-repeat while held made no second recording
    assert HOLD_S - 0.3 <= turn.duration_s <= HOLD_S + 1.0
    assert reply.status == ReplyStatus.COMPLETE
    assert reply.text == "Hello there, how can I help you today?"
    # The focused application saw Ctrl and Alt go down but never the Space of the shortcut; a plain key
    # still reaches it (so it was listening all along).
    other_client.xdotool("key", "a")
    qtbot.waitUntil(lambda: "(keysym 0x61, a)" in other_client.output(), timeout=3000)
    seen = other_client.output()
    assert "FocusIn" in seen and "Control_L" in seen
    assert "(keysym 0x20, space)" not in seen


@pytest.mark.pulseaudio
@pytest.mark.integration
def test_the_shortcut_with_speech_through_the_virtual_microphone_gets_the_tiny_voxtrals_reply(
    make_app, make_desktop, qtbot, other_client, pulse_rig, tiny_model, utterance_audio, tmp_path
):
    from voxtral_desktop.core.portaudio import SoundDeviceCapture, list_input_devices
    from voxtral_desktop.testing.speech import UTTERANCES, write_wav

    if not list_input_devices(refresh=True):  # PortAudio lists devices once: look again now pulse runs
        missing("PortAudio sees no input device through PulseAudio (is libasound2-plugins installed?)")
    utterance = next(u for u in UTTERANCES if u.key == "a")
    wav = write_wav(Path(pulse_rig.root) / "a.wav", utterance_audio["a"])
    app = make_app(tiny_model, SoundDeviceCapture)
    desktop = make_desktop(app)
    qtbot.waitUntil(lambda: desktop.keys.route == Route.X11, timeout=5000)

    other_client.xdotool("keydown", "ctrl+alt+space")
    qtbot.waitUntil(lambda: app.vms.recording.is_recording, timeout=3000)
    qtbot.wait(300)
    player = pulse_rig.play(wav)
    qtbot.waitUntil(lambda: player.poll() is not None, timeout=30000)
    qtbot.wait(400)
    other_client.xdotool("keyup", "space", "keyup", "alt", "keyup", "ctrl")
    qtbot.waitUntil(lambda: len(app.chat.user_turns()) == 1, timeout=5000)
    (turn,) = app.chat.user_turns()
    reply = wait_reply_done(qtbot, app, turn.turn_no, timeout_ms=60000)

    assert reply.status == ReplyStatus.COMPLETE
    assert reply.text == utterance.reply  # the tiny Voxtral heard that sentence
    assert "(keysym 0x20, space)" not in other_client.output()


def test_a_shortcut_another_application_holds_is_said_in_words_and_the_other_one_still_works(
    make_app, make_desktop, qtbot, x_display, monkeypatch
):
    from voxtral_desktop.core.shortcuts import parse_shortcut
    from voxtral_desktop.ui.x11_keys import X11Keys

    squatter = X11Keys(x_display)  # as another application would, before us
    assert squatter.grab("theirs", parse_shortcut("Ctrl+Alt+Space")) is None
    try:
        app = make_app(scripted_model(), Captures(speech_like(6.0)))
        desktop = make_desktop(app)
        qtbot.waitUntil(lambda: bool(desktop.keys.status), timeout=5000)

        assert desktop.keys.route == Route.X11
        assert "Ctrl+Alt+Space is already taken by another application" in desktop.keys.status
        banner = app.window.banner("shortcuts")  # the window says it, and how to fix it
        assert banner is not None and "choose another in Settings" in banner.text.text()
        # Ctrl+Alt+H was free: it works, NumLock on or not (the grab covers the lock keys' variants).
        subprocess.run(["xdotool", "key", "Num_Lock"], check=True, timeout=30)
        subprocess.run(["xdotool", "key", "ctrl+alt+h"], check=True, timeout=30)
        qtbot.waitUntil(lambda: app.vms.listening.hands_free, timeout=3000)
    finally:
        squatter.close()


def test_the_same_shortcut_for_both_actions_is_said_in_words_and_does_push_to_talk(
    make_app, make_desktop, qtbot, x_display
):
    app = make_app(scripted_model(), Captures(speech_like(6.0)))
    app.vms.config.shortcuts.hands_free = "Ctrl+Alt+Space"
    desktop = make_desktop(app)
    qtbot.waitUntil(lambda: bool(desktop.keys.status), timeout=5000)

    banner = app.window.banner("shortcuts")
    assert banner is not None
    assert "Ctrl+Alt+Space is set for both push-to-talk and hands-free" in banner.text.text()
    subprocess.run(["xdotool", "keydown", "ctrl+alt+space"], check=True, timeout=30)
    qtbot.waitUntil(lambda: app.vms.recording.is_recording, timeout=3000)
    subprocess.run(["xdotool", "keyup", "space", "keyup", "alt", "keyup", "ctrl"], check=True, timeout=30)
    qtbot.waitUntil(lambda: not app.vms.recording.is_recording, timeout=3000)
    assert not app.vms.listening.hands_free
