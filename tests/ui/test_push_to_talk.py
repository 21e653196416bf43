"""Push-to-talk in the window: mouse and Space, the real tiny model answering spoken audio, and the edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QLineEdit
from ui_helpers import Captures, hold, scripted_model, speech_like, wait_reply_done

from voxtral_desktop.core import chunks as C
from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.testing.speech import UTTERANCES
from voxtral_desktop.testing.wav_capture import NoMicrophone
from voxtral_desktop.ui.recording_vm import SHORT_PRESS_HINT

REPLY = {u.key: u.reply for u in UTTERANCES}


@pytest.mark.integration
def test_mouse_press_and_hold_gets_reply_a_in_chunks(qtbot, make_app, tiny_model, utterance_audio):
    app = make_app(tiny_model, Captures(utterance_audio["a"]))
    hold(qtbot, app)
    reply = wait_reply_done(qtbot, app, 1)

    assert reply.status == ReplyStatus.COMPLETE
    assert reply.text == REPLY["a"]
    assert len(reply.chunks) >= 2  # it grew chunk by chunk, not in one piece
    assert all(1 <= len(chunk.split()) <= 6 for chunk in reply.chunks)
    assert reply.label.text() == REPLY["a"]
    assert reply.meta.text().startswith("First words in ") and " in all" in reply.meta.text()
    user = app.chat.user_turns()[0]
    spoken_s = len(utterance_audio["a"]) / 16000
    assert spoken_s <= user.duration_s <= spoken_s + 1.0
    assert user.duration.text().endswith(" s")


@pytest.mark.integration
def test_holding_space_talks_too_and_turns_follow_each_other(qtbot, make_app, tiny_model, utterance_audio):
    captures = Captures(utterance_audio["a"])
    app = make_app(tiny_model, captures)
    hold(qtbot, app, space=True)
    first = wait_reply_done(qtbot, app, 1)
    assert first.text == REPLY["a"] and len(first.chunks) >= 2

    captures.audio = utterance_audio["b"]
    hold(qtbot, app, space=True)
    second = wait_reply_done(qtbot, app, 2)
    assert second.text == REPLY["b"]
    assert [type(t).__name__ for t in app.chat.turns()] == ["UserTurn", "AssistantTurn"] * 2


def test_space_auto_repeat_is_ignored_and_text_fields_keep_their_space(qtbot, make_app):
    app = make_app(scripted_model())
    window = app.window
    qtbot.keyPress(window, Qt.Key.Key_Space)
    assert app.vms.recording.is_recording
    # A held key sends repeated press/release pairs; they must not end the recording.
    for etype in (QEvent.Type.KeyRelease, QEvent.Type.KeyPress):
        QApplication.sendEvent(
            window, QKeyEvent(etype, Qt.Key.Key_Space, Qt.KeyboardModifier.NoModifier, " ", True)
        )
    assert app.vms.recording.is_recording
    qtbot.wait(400)
    qtbot.keyRelease(window, Qt.Key.Key_Space)
    assert not app.vms.recording.is_recording
    wait_reply_done(qtbot, app, 1)

    field = QLineEdit(window)  # any text field in the window: Space types there
    field.show()
    field.setFocus()
    qtbot.waitUntil(field.hasFocus)
    qtbot.keyClick(field, Qt.Key.Key_Space)
    assert not app.vms.recording.is_recording and field.text() == " "


def test_a_very_short_press_is_ignored_with_a_hint(qtbot, make_app):
    model = scripted_model()
    app = make_app(model)
    hold(qtbot, app, until_fed=False, seconds=0.05)
    assert not app.vms.recording.is_recording
    assert app.window.hint.text() == SHORT_PRESS_HINT
    qtbot.wait(200)
    assert app.chat.turn_count() == 0
    assert model.backend.requests == []


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
    qtbot.wait(100)
    assert app.chat.turn_count() == 2  # the late release sent nothing more


def test_escape_cancels_a_reply_in_progress(qtbot, make_app):
    words = [f"word{i} " for i in range(200)]
    model = scripted_model(words, delay_s=0.02)
    app = make_app(model)
    hold(qtbot, app, seconds=0.0)
    qtbot.waitUntil(lambda: app.chat.has_reply(1) and len(app.chat.reply(1).chunks) >= 2, timeout=5000)
    qtbot.keyClick(app.window, Qt.Key.Key_Escape)
    reply = wait_reply_done(qtbot, app, 1, timeout_ms=5000)
    assert reply.status == ReplyStatus.INTERRUPTED
    assert reply.meta.text().startswith("Interrupted")
    assert 2 <= len(reply.text.split()) < 200
    assert not app.vms.replies.is_busy


def test_escape_while_recording_discards_it(qtbot, make_app):
    model = scripted_model()
    app = make_app(model)
    qtbot.keyPress(app.window, Qt.Key.Key_Space)
    qtbot.wait(400)
    qtbot.keyClick(app.window, Qt.Key.Key_Escape)
    assert not app.vms.recording.is_recording
    qtbot.keyRelease(app.window, Qt.Key.Key_Space)
    qtbot.wait(100)
    assert app.chat.turn_count() == 0 and model.backend.requests == []


def test_generation_error_shows_a_distinct_error_bubble(qtbot, make_app):
    model = scripted_model(["One ", "two ", "three ", "four ", "five ", "six "], fail_after=5)
    app = make_app(model)
    hold(qtbot, app)
    reply = wait_reply_done(qtbot, app, 1)
    assert reply.status == ReplyStatus.ERROR
    assert reply.error_bubble is not None and reply.error_bubble.objectName() == "errorBubble"
    texts = [label.text() for label in reply.error_bubble.findChildren(type(reply.label))]
    assert any(C.FALLBACK_TEXT in t for t in texts)
    assert any("CUDA out of memory" in t for t in texts)
    assert reply.text.startswith("One two three")  # words shown before the failure stay


def test_silence_gets_the_no_speech_error_bubble(qtbot, make_app):
    model = scripted_model()
    app = make_app(model, Captures(np.zeros(16000, dtype=np.float32)))
    hold(qtbot, app)
    reply = wait_reply_done(qtbot, app, 1)
    assert reply.status == ReplyStatus.ERROR and reply.bubble.isHidden()
    assert model.backend.requests == []


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
