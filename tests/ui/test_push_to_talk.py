"""Push-to-talk: press and hold the button or Space (the real tiny model answering), auto-repeat, Esc."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QApplication, QLineEdit
from ui_helpers import Captures, hold, scripted_model, settle, speech_like, wait_reply_done

from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.testing.speech import UTTERANCES
from voxtral_desktop.ui.push_to_talk import RELEASE_GRACE_MS

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
    assert [type(t).__name__ for t in app.chat.turns()] == ["UserBubble", "ReplyBubble"] * 2


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
    qtbot.waitUntil(lambda: not app.vms.recording.is_recording, timeout=3000)  # once no repeat follows
    wait_reply_done(qtbot, app, 1)

    field = QLineEdit(window)  # any text field in the window: Space types there
    field.show()
    field.setFocus()
    qtbot.waitUntil(field.hasFocus)
    qtbot.keyClick(field, Qt.Key.Key_Space)
    assert not app.vms.recording.is_recording and field.text() == " "


def test_a_repeat_qt_did_not_mark_as_one_neither_ends_the_recording_nor_interrupts_the_reply(qtbot, make_app):
    # On a loaded X11 machine a held key's repeats often arrive as plain release+press pairs (isAutoRepeat
    # false); tests/ui/test_push_to_talk_x11.py makes them for real. Here they are sent as Qt delivers them.
    words = [f"word{i} " for i in range(30)]
    app = make_app(scripted_model(words, delay_s=0.02), Captures(speech_like(3.0)))
    window = app.window
    started: list[bool] = []
    app.vms.recording.recordingChanged.connect(started.append)
    qtbot.keyPress(window, Qt.Key.Key_Space)
    for _ in range(10):
        qtbot.wait(40)  # the X server's repeat interval at 25 Hz
        qtbot.keyRelease(window, Qt.Key.Key_Space)
        qtbot.keyPress(window, Qt.Key.Key_Space)
    assert app.vms.recording.is_recording and started == [True]
    qtbot.keyRelease(window, Qt.Key.Key_Space)  # let go for real
    qtbot.waitUntil(lambda: not app.vms.recording.is_recording, timeout=3000)
    reply = wait_reply_done(qtbot, app, 1)

    assert started == [True, False]
    assert reply.status == ReplyStatus.COMPLETE and reply.text == "".join(words).strip()
    (user,) = app.chat.user_turns()
    assert 0.4 <= user.duration_s <= 1.5  # the whole hold, ~0.4 s plus the release's grace


def test_first_words_after_space_count_from_the_let_go_not_from_the_end_of_its_grace(qtbot, make_app):
    # Letting go of Space counts only after RELEASE_GRACE_MS without a press; the user waited all along.
    app = make_app(scripted_model())  # answers at once: nearly all of "first words in" is the grace
    qtbot.keyPress(app.window, Qt.Key.Key_Space)
    qtbot.wait(400)
    qtbot.keyRelease(app.window, Qt.Key.Key_Space)
    reply = wait_reply_done(qtbot, app, 1)
    first_words_s = float(reply.meta.text().split("First words in ")[1].split(" s")[0])
    assert first_words_s >= RELEASE_GRACE_MS / 1000 - 0.005  # shown to 10 ms


def test_a_second_press_of_a_held_button_is_not_a_second_press(qtbot, make_app):
    app = make_app(scripted_model())
    ptt, push = app.window.ptt, app.window.push_to_talk
    signals: list[str] = []
    push.pressed.connect(lambda: signals.append("pressed"))
    push.released.connect(lambda: signals.append("released"))
    center = QPointF(ptt.rect().center())
    press = QMouseEvent(
        QEvent.Type.MouseButtonPress, center, center, Qt.MouseButton.LeftButton,
        Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(ptt, press)
    QApplication.sendEvent(ptt, QMouseEvent(press))  # a second pointer (a touch and the mouse, say)
    qtbot.keyPress(app.window, Qt.Key.Key_Space)  # and Space as well
    qtbot.keyRelease(app.window, Qt.Key.Key_Space)
    qtbot.wait(400)
    qtbot.mouseRelease(ptt, Qt.MouseButton.LeftButton, pos=ptt.rect().center())
    wait_reply_done(qtbot, app, 1)
    assert signals == ["pressed", "released"]
    assert len(app.chat.user_turns()) == 1


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
    assert settle(qtbot, app) == 1  # the release sent nothing: the typed turn after it is the first
    assert app.chat.turn_count() == 2 and len(model.backend.requests) == 1
