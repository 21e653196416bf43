"""The window on the llama.cpp engine (a real child process, a small random-weight GGUF pair): it says which
engine answers, answers a spoken turn, survives the engine dying mid-reply, and the next turn answers again.
Random weights say random words: the checks are on what the window shows, never the words."""

from __future__ import annotations

import os
import signal

from PySide6.QtWidgets import QLabel
from ui_helpers import Captures, hold, say, wait_reply_done

from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.config import default_config


def llamacpp_config(folder):
    cfg = default_config()
    cfg.backend = "llamacpp"
    cfg.model.id = str(folder)
    cfg.llamacpp.threads = 2
    cfg.llamacpp.context = 4096
    cfg.streaming.max_new_tokens = 16
    cfg.speech.enabled = False
    return cfg


def test_the_window_answers_through_llamacpp_and_survives_the_engine_dying(
    qtbot, make_app, tiny_gguf_dir, utterance_audio
):
    audio = next(iter(utterance_audio.values()))
    app = make_app(capture=Captures(audio), config=llamacpp_config(tiny_gguf_dir))
    status = app.vms.model.status
    assert status.ready and status.message.startswith("Running on llama.cpp")

    hold(qtbot, app)
    spoken = wait_reply_done(qtbot, app, 1)
    assert spoken.status == ReplyStatus.COMPLETE and spoken.text.split()

    engine = app.vms.model.model.backend.engine
    app.vms.config.streaming.max_new_tokens = 4000
    app.window.composer.setText("keep talking")
    app.window.send_button.click()
    qtbot.waitUntil(lambda: app.chat.has_reply(2) and bool(app.chat.reply(2).text), timeout=20000)
    os.kill(engine.pid, signal.SIGKILL)
    failed = wait_reply_done(qtbot, app, 2)
    assert failed.status == ReplyStatus.ERROR
    shown = " ".join(label.text() for label in failed.findChildren(QLabel) if label.isVisible())
    assert "llama.cpp engine stopped" in shown and "starts again" in shown
    banner = app.window.banner("engine")  # said where the user looks too, until it answers again
    assert banner is not None and banner.isVisible() and "starts again" in banner.text.text()

    app.vms.config.streaming.max_new_tokens = 16
    turn = say(qtbot, app, "are you back?")
    assert app.chat.reply(turn).status == ReplyStatus.COMPLETE and app.chat.reply(turn).text.split()
    assert app.vms.model.model.backend.engine.pid != engine.pid
    assert app.window.banner("engine") is None
