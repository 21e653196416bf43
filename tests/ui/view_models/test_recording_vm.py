"""Recording: too-short presses, the level meter and time, the length limit, no microphone, a microphone that dies."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from ui_helpers import Captures, hold, scripted_model, settle, speech_like, wait_reply_done

from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.testing.wav_capture import NoMicrophone
from voxtral_desktop.ui.view_models.recording_vm import SHORT_PRESS_HINT


def test_a_very_short_press_is_ignored_with_a_hint(qtbot, make_app):
    model = scripted_model()
    app = make_app(model)
    hold(qtbot, app, until_fed=False, seconds=0.05)
    assert not app.vms.recording.is_recording
    assert app.window.hint.text() == SHORT_PRESS_HINT
    assert settle(qtbot, app) == 1  # nothing was sent before the typed turn
    assert app.chat.turn_count() == 2 and len(model.backend.requests) == 1


def test_level_meter_and_elapsed_time_move_while_recording(qtbot, make_app):
    app = make_app(scripted_model(), Captures(speech_like(3.0)))
    qtbot.mousePress(app.window.ptt, Qt.MouseButton.LeftButton, pos=app.window.ptt.rect().center())
    qtbot.waitUntil(lambda: app.window.level_meter.value > 0.5, timeout=3000)
    assert app.window.meter_box.isVisible() and not app.window.hint.isVisible()
    assert app.window.ptt.recording
    qtbot.wait(600)
    minutes, seconds = app.window.elapsed.text().split(":")
    assert minutes == "0" and float(seconds) >= 0.5
    qtbot.mouseRelease(app.window.ptt, Qt.MouseButton.LeftButton, pos=app.window.ptt.rect().center())
    assert not app.window.meter_box.isVisible() and app.window.hint.isVisible()
    wait_reply_done(qtbot, app, 1)


def test_recording_stops_at_the_configured_maximum(qtbot, make_app):
    model = scripted_model()
    model.config.audio.max_recording_s = 0.6
    app = make_app(model, Captures(speech_like(3.0)))
    qtbot.mousePress(app.window.ptt, Qt.MouseButton.LeftButton, pos=app.window.ptt.rect().center())
    # Still held, but the limit ends the recording and sends it.
    qtbot.waitUntil(lambda: not app.vms.recording.is_recording, timeout=3000)
    assert "0.6 s limit" in app.window.hint.text()
    reply = wait_reply_done(qtbot, app, 1)
    assert reply.status == ReplyStatus.COMPLETE
    assert app.chat.user_turns()[0].duration_s == pytest.approx(0.6, abs=0.01)
    qtbot.mouseRelease(app.window.ptt, Qt.MouseButton.LeftButton, pos=app.window.ptt.rect().center())
    assert settle(qtbot, app) == 2  # the late release sent nothing more
    assert app.chat.turn_count() == 4


def test_no_microphone_disables_the_button_and_says_why(qtbot, make_app):
    app = make_app(scripted_model(), NoMicrophone, wait_ready=False)
    window = app.window
    qtbot.waitUntil(lambda: window.banner("mic") is not None, timeout=5000)
    assert "No microphone found" in window.banner("mic").text.text()
    assert not window.ptt.isEnabled()
    assert "No microphone found" in window.ptt.toolTip()
    # Still alive: Space explains instead of recording, and settings open.
    qtbot.keyPress(window, Qt.Key.Key_Space)
    assert (
        not app.vms.recording.is_recording and window.hint.text() == "Talking is off: no microphone to record from."
    )
    qtbot.keyRelease(window, Qt.Key.Key_Space)
    dialog = window.open_settings()
    qtbot.waitExposed(dialog)
    dialog.reject()


def test_a_microphone_failing_mid_recording_is_reported_and_the_app_goes_on(qtbot, make_app):
    captures = Captures(speech_like(3.0), options={"fail_after_s": 0.3})
    app = make_app(scripted_model(), captures)
    qtbot.mousePress(app.window.ptt, Qt.MouseButton.LeftButton, pos=app.window.ptt.rect().center())
    qtbot.waitUntil(lambda: app.window.banner("error") is not None, timeout=5000)
    assert "stopped sending audio" in app.window.banner("error").text.text()
    assert not app.vms.recording.is_recording
    qtbot.mouseRelease(app.window.ptt, Qt.MouseButton.LeftButton, pos=app.window.ptt.rect().center())
    # The device is probed again; this one answers, so talking works again.
    captures.options = {}
    qtbot.waitUntil(lambda: app.window.ptt.isEnabled(), timeout=5000)
    hold(qtbot, app)
    assert wait_reply_done(qtbot, app, 1).status == ReplyStatus.COMPLETE


def test_without_portaudio_the_app_runs_with_typing_only_and_says_why(qtbot, make_app, monkeypatch):
    """libportaudio absent: importing sounddevice raises OSError. The window opens, says why there is no
    microphone and how to fix it, the talk button is off, and typed turns are answered."""
    import sys

    from ui_helpers import say

    from voxtral_desktop.core.portaudio import SoundDeviceCapture, list_input_devices

    class NoPortAudio:
        def find_spec(self, name, path=None, target=None):
            if name == "sounddevice":
                raise OSError("PortAudio library not found")
            return None

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [NoPortAudio(), *sys.meta_path])
    model = scripted_model()
    model.config.speech.enabled = False
    app = make_app(model, SoundDeviceCapture, device_lister=list_input_devices, wait_ready=False)
    qtbot.waitUntil(lambda: app.vms.model.status.ready and app.vms.recording.mic.checked, timeout=10000)
    assert not app.vms.recording.mic.available
    banner = app.window.banner("mic")
    assert banner is not None and "PortAudio library is missing" in banner.text.text()
    assert "libportaudio2" in banner.text.text()
    assert not app.window.ptt.isEnabled()
    assert app.chat.reply(say(qtbot, app, "hello")).text == "Hello there, how can I help you today?"
