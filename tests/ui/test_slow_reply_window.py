"""The window on a slow machine: the reply's bubble says what the model is doing before its first words, and
closing the window while a forward pass runs waits for it to stop (no thread left inside torch at exit)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from ui_helpers import tiny_config

from voxtral_desktop.core.capture import Recording
from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.model import VoxtralModel
from voxtral_desktop.testing.slow_layers import layers, slow_layers
from voxtral_desktop.testing.speech import UTTERANCES, synthesize

pytestmark = pytest.mark.integration

LAYER_S = 1.2  # the tiny model's 2 encoder + 2 text layers: ~2.4 s listening, ~2.4 s thinking


def generation_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "voxtral-generate" and t.is_alive()]


@pytest.fixture
def slow_app(make_app, tiny_model_dir):
    """The window around its own tiny model (closing the window closes it), every layer to be slowed."""
    model = VoxtralModel(tiny_config(tiny_model_dir))
    return make_app(model)


def question() -> Recording:
    audio = synthesize(UTTERANCES[0].spoken)
    assert len(audio) <= 3 * 16000
    audio = np.concatenate([audio, np.zeros(3 * 16000 - len(audio), np.float32)])  # 3 s exactly
    return Recording(audio, 16000, False)


def test_the_bubble_says_listening_then_thinking_then_shows_the_words(qtbot, slow_app):
    app = slow_app
    net = app.vms.model.model.backend.model
    seen: list[str] = []
    app.vms.replies.replyProgress.connect(lambda turn, text: seen.append(text))
    with slow_layers(net, LAYER_S, "audio"), slow_layers(net, LAYER_S, "text", only_first_forward=True):
        app.vms.replies.sendRecording(question())
        qtbot.waitUntil(lambda: app.chat.has_reply(1), timeout=5000)
        bubble = app.chat.reply(1)
        qtbot.waitUntil(lambda: bubble.progress.isVisible() and "listening" in bubble.progress.text(), timeout=10000)
        assert bubble.progress.text().startswith("listening to your 3 s question...")
        qtbot.waitUntil(lambda: bubble.progress.text().startswith("thinking..."), timeout=20000)
        qtbot.waitUntil(lambda: bubble.status != ReplyStatus.STREAMING, timeout=30000)
    assert bubble.status == ReplyStatus.COMPLETE and bubble.text == UTTERANCES[0].reply
    assert not bubble.progress.isVisible()
    said = [s.split("...")[0] for s in seen if s]
    assert said[0] == "listening to your 3 s question" and said[-1] == "thinking", seen
    assert seen[-1] == ""  # cleared once the words came


def test_closing_the_window_during_a_slow_forward_pass_waits_for_it(qtbot, slow_app):
    app = slow_app
    net = app.vms.model.model.backend.model
    with slow_layers(net, 3.0, "all") as ran:  # each layer outlasts the reply's own 2 s wait for a stop
        app.vms.replies.sendText("What is the weather like?")
        qtbot.waitUntil(ran.is_set, timeout=10000)
        assert generation_threads()
        app.window.close()
        qtbot.waitUntil(lambda: app.vms.closed, timeout=30000)
        # Shut down: the generation left torch at the end of its layer and its thread has ended, so the
        # interpreter can exit without aborting ("terminate called without an active exception").
        assert generation_threads() == []
    assert app.chat.reply(1).status == ReplyStatus.INTERRUPTED


def test_esc_during_a_slow_forward_pass_stops_it_within_a_layer_and_talking_goes_on(qtbot, slow_app):
    """A cancel while the model is still listening: the forward pass leaves torch at its next layer (no
    thread left running under the model), the reply is marked interrupted, and the next turn answers."""
    from PySide6.QtCore import Qt

    app = slow_app
    net = app.vms.model.model.backend.model
    started: list[float] = []  # when each layer's forward began
    counting = [layer.register_forward_pre_hook(lambda *_: started.append(time.perf_counter()))
                for layer in layers(net)]
    try:
        with slow_layers(net, 3.0, "all") as ran:  # each layer outlasts the reply's own 2 s wait for a stop
            app.vms.replies.sendRecording(question())
            qtbot.waitUntil(ran.is_set, timeout=10000)
            assert generation_threads()
            qtbot.keyClick(app.window, Qt.Key.Key_Escape)
            cancelled_at = time.perf_counter()
            qtbot.waitUntil(lambda: app.chat.reply(1).status == ReplyStatus.INTERRUPTED, timeout=10000)
            qtbot.waitUntil(lambda: generation_threads() == [], timeout=30000)
    finally:
        for hook in counting:
            hook.remove()
    # The layer running at the Esc finished; no other began (before: every remaining layer of the prefill ran).
    assert [t for t in started if t > cancelled_at] == []
    app.vms.replies.sendRecording(question())
    qtbot.waitUntil(lambda: app.chat.has_reply(2) and app.chat.reply(2).status != ReplyStatus.STREAMING,
                    timeout=30000)
    assert app.chat.reply(2).status == ReplyStatus.COMPLETE and app.chat.reply(2).text == UTTERANCES[0].reply
