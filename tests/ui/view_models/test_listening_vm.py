"""Hands-free listening and voice barge-in through the window: a spoken (espeak-ng) utterance played as the
microphone, the real speech detector, a scripted model."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from tests.ui.ui_helpers import Captures, quiet_model, reply_ids, scripted_model, wait_reply_done
from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.testing.speech import synthesize
from voxtral_desktop.ui.view_models.listening_vm import ListenState

SILENCE = np.zeros(16000 * 2, np.float32)


@pytest.fixture(scope="module")
def utterance() -> np.ndarray:
    """Half a second of silence, a question, then silence: what a hands-free microphone hears."""
    return np.concatenate([SILENCE[:8000], synthesize("What is the weather like today?"), SILENCE])


def hands_free(model):
    model.config.listening.mode = "hands_free"
    return model


def states(app) -> list[ListenState]:
    seen: list[ListenState] = []
    app.vms.listening.statusChanged.connect(lambda s: seen.append(s.state))
    return seen


def test_hands_free_an_utterance_with_no_key_pressed_is_answered(make_app, qtbot, utterance):
    app = make_app(hands_free(quiet_model(["It is ", "sunny."])), Captures(utterance))
    seen = states(app)
    qtbot.waitUntil(lambda: bool(reply_ids(app.chat)), timeout=15000)
    (turn_no,) = reply_ids(app.chat)
    reply = wait_reply_done(qtbot, app, turn_no)
    assert reply.status == ReplyStatus.COMPLETE and "sunny" in reply.text
    assert [s for s in (ListenState.HEARING, ListenState.SENDING) if s in seen] == [
        ListenState.HEARING,
        ListenState.SENDING,
    ]
    qtbot.waitUntil(lambda: app.vms.listening.status.state == ListenState.LISTENING, timeout=3000)
    assert app.window.listening_bar.label.text().startswith("Microphone on")
    assert not app.vms.recording.is_recording  # no push-to-talk recording was involved
    turns = app.vms.conversations.history.turns(app.vms.conversations.current_conversation_id)
    assert [t.role for t in turns] == ["user", "assistant"]
    assert not any(t.has_audio for t in turns)  # keep_audio is off: the turn's audio is not stored


def test_push_to_talk_by_default_never_opens_the_microphone_by_itself(make_app, qtbot, utterance):
    captures = Captures(utterance)
    app = make_app(quiet_model(["Hi."]), captures)
    opened = len(captures.made)  # the microphone probe
    qtbot.wait(1500)
    assert app.vms.listening.listener is None and len(captures.made) == opened
    assert not app.window.listening_bar.indicator.isVisible()
    assert app.window.listening_bar.buttons["push_to_talk"].isChecked()
    assert reply_ids(app.chat) == set()


def test_the_switch_saves_the_mode_and_opens_then_closes_the_microphone(make_app, qtbot, utterance):
    app = make_app(quiet_model(["Hi."]), Captures(SILENCE))
    bar = app.window.listening_bar
    qtbot.mouseClick(bar.buttons["hands_free"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: app.vms.listening.listener is not None, timeout=3000)
    saved = yaml.safe_load(app.vms.config.user_file.read_text())
    assert saved["listening"]["mode"] == "hands_free"
    assert bar.indicator.isVisible() and "listening" in bar.label.text()
    qtbot.mouseClick(bar.buttons["push_to_talk"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: app.vms.listening.listener is None, timeout=3000)
    saved = yaml.safe_load(app.vms.config.user_file.read_text()) or {}  # the default is not written out
    assert saved.get("listening", {}).get("mode", "push_to_talk") == "push_to_talk"
    assert not bar.indicator.isVisible()


def test_esc_stops_listening_and_the_button_listens_again(make_app, qtbot):
    app = make_app(hands_free(quiet_model(["Hi."])), Captures(SILENCE))
    qtbot.waitUntil(lambda: app.vms.listening.listener is not None, timeout=3000)
    qtbot.keyClick(app.window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: app.vms.listening.listener is None, timeout=3000)
    assert app.vms.listening.status.paused and "paused" in app.window.listening_bar.label.text()
    assert app.vms.config.listening.mode == "hands_free"  # paused, not switched
    qtbot.mouseClick(app.window.ptt, Qt.MouseButton.LeftButton, pos=app.window.ptt.rect().center())
    qtbot.waitUntil(lambda: app.vms.listening.listener is not None, timeout=3000)
    assert not app.vms.recording.is_recording


def test_speaking_over_a_reply_interrupts_it_and_becomes_the_next_turn(make_app, qtbot, utterance):
    # A slow reply (0.4 s per piece) is still being generated when the user starts speaking 0.5 s in.
    model = hands_free(scripted_model(["One ", "two ", "three ", "four ", "five ", "six."], delay_s=0.4))
    model.config.speech.enabled = False
    app = make_app(model, Captures(SILENCE), wait_ready=True)
    app.vms.replies.sendText("Count slowly.")
    qtbot.waitUntil(lambda: app.vms.replies.is_busy, timeout=3000)
    app.captures.audio = utterance  # the next opening of the microphone hears the user
    app.vms.listening.pause()
    app.vms.listening.toggle()
    qtbot.waitUntil(lambda: len(reply_ids(app.chat)) == 2, timeout=15000)
    first, second = sorted(reply_ids(app.chat))
    assert app.chat.reply(first).status == ReplyStatus.INTERRUPTED
    wait_reply_done(qtbot, app, second, timeout_ms=20000)
    assert app.chat.reply(second).status == ReplyStatus.COMPLETE


def test_push_to_talk_barge_in_listens_only_while_a_reply_is_active(make_app, qtbot, utterance):
    model = scripted_model(["One ", "two ", "three ", "four ", "five ", "six."], delay_s=0.4)
    model.config.speech.enabled = False
    model.config.listening.push_to_talk_barge_in = True
    captures = Captures(SILENCE)
    app = make_app(model, captures)
    assert app.vms.listening.listener is None
    captures.audio = utterance
    app.vms.replies.sendText("Count slowly.")
    qtbot.waitUntil(lambda: app.vms.listening.listener is not None, timeout=3000)
    captures.audio = SILENCE  # the user speaks once (a microphone opened again later hears silence)
    assert "interrupt" in app.window.listening_bar.label.text()
    qtbot.waitUntil(lambda: len(reply_ids(app.chat)) == 2, timeout=15000)
    first, second = sorted(reply_ids(app.chat))
    assert app.chat.reply(first).status == ReplyStatus.INTERRUPTED
    wait_reply_done(qtbot, app, second, timeout_ms=20000)
    qtbot.waitUntil(lambda: app.vms.listening.listener is None, timeout=5000)  # closed once all is quiet


def test_hands_free_without_echo_cancellation_says_so_once(make_app, qtbot):
    model = hands_free(quiet_model(["Hi."]))
    model.config.listening.echo_cancellation = False
    app = make_app(model, Captures(SILENCE))
    qtbot.waitUntil(lambda: app.window.banner("echo") is not None, timeout=3000)
    texts = " ".join(label.text() for label in app.window.banner("echo").findChildren(QLabel))
    assert "headset" in texts and "turned off in Settings" in texts
    assert "no echo cancellation" in app.window.listening_bar.label.text()
    app.window.banners.clear("echo")
    app.vms.listening.pause()
    app.vms.listening.toggle()
    qtbot.waitUntil(lambda: app.vms.listening.listener is not None, timeout=3000)
    qtbot.wait(200)
    assert app.window.banner("echo") is None  # once per window


def test_hands_free_the_empty_chat_says_just_talk_and_the_button_shows_the_open_microphone(make_app, qtbot):
    app = make_app(hands_free(quiet_model(["Hi."])), Captures(SILENCE))
    window = app.window
    qtbot.waitUntil(lambda: app.vms.listening.status.state == ListenState.LISTENING, timeout=5000)
    title, text = window.chat.empty_text
    assert title == "Just talk" and "Hold" not in title and "hold" not in text and "pause" in text
    assert window.ptt.live == "listening"
    qtbot.mouseClick(window.listening_bar.buttons["push_to_talk"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not app.vms.listening.status.hands_free, timeout=3000)
    assert window.chat.empty_text[0] == "Hold to talk" and window.ptt.live == ""
