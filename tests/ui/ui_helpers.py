"""Helpers for the UI tests: fake models and microphones, and press-and-hold driving."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import Qt

from voxtral_desktop.core.backends.base import Backend, GenerationRequest, ProgressCallback
from voxtral_desktop.core.capture import CaptureSource
from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.config import Config, load_config
from voxtral_desktop.core.model import VoxtralModel
from voxtral_desktop.testing.fakes import ScriptedBackend
from voxtral_desktop.testing.wav_capture import WavFileCapture
from voxtral_desktop.ui.bubbles import ReplyBubble
from voxtral_desktop.ui.chat_view import ChatView
from voxtral_desktop.ui.main_window import MainWindow
from voxtral_desktop.ui.view_models import ViewModels


class SharedBackend(Backend):
    """One loaded back-end lent to many tests: closing a window must not unload it for the next test."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner

    @property
    def is_loaded(self) -> bool:
        return self.inner.is_loaded

    @property
    def device(self) -> str | None:
        return self.inner.device

    @property
    def context_tokens(self) -> int:
        return self.inner.context_tokens

    def load(self, progress: ProgressCallback | None = None) -> None:
        self.inner.load(progress)

    def stream(self, request: GenerationRequest, stop: threading.Event) -> AsyncIterator[str]:
        return self.inner.stream(request, stop)

    def close(self) -> None:
        pass

    def wait_idle(self, timeout_s: float) -> bool:
        return self.inner.wait_idle(timeout_s)

    @property
    def load_notice(self) -> str:
        return self.inner.load_notice

    @property
    def first_words_s(self) -> float | None:
        return self.inner.first_words_s


# Where speech is not what a test is about: the system voice on Qt's mock engine, which "speaks" on timers
# (real timing, no sound card, no speech-dispatcher). The neural voice has its own tests (test_speaker.py).
TEST_SPEECH: dict[str, Any] = {"speech": {"voice": "system", "engine": "mock"}}


def tiny_config(tiny_model_dir: Any, **streaming: Any) -> Config:
    return load_config(
        overrides={
            "model": {"id": str(tiny_model_dir)},
            "streaming": {"temperature": 0, **streaming},
            # The tiny model learned single-turn prompts only: with memory on, a second turn's prompt is
            # one it never saw. Memory itself is tested on the built inputs (tests/integration).
            "conversation": {"max_turns": 0},
            **TEST_SPEECH,
        }
    )


def scripted_model(pieces: list[str] | None = None, delay_s: float = 0.0, **kw: Any) -> VoxtralModel:
    pieces = pieces if pieces is not None else ["Hello ", "there, ", "how can ", "I help ", "you today?"]
    backend = ScriptedBackend(pieces=pieces, delay_s=delay_s, **kw)
    return VoxtralModel(load_config(overrides=TEST_SPEECH), backend=backend)


@dataclass
class Captures:
    """Makes a WavFileCapture of ``audio`` each time the app opens the "microphone", and keeps them."""

    audio: np.ndarray
    rate: int = 16000
    options: dict[str, Any] = field(default_factory=dict)
    made: list[WavFileCapture] = field(default_factory=list)
    devices: list[str | None] = field(default_factory=list)

    def __call__(self, device: str | None) -> CaptureSource:
        self.devices.append(device)
        source = WavFileCapture(self.audio, self.rate, **self.options)
        self.made.append(source)
        return source

    @property
    def last(self) -> WavFileCapture:
        return self.made[-1]


def speech_like(seconds: float = 1.0, rate: int = 16000) -> np.ndarray:
    """A loud warbling tone: passes the speech detector without espeak-ng."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


LOUD = 0.01  # RMS of a 5 ms window that counts as sound (the voice peaks at 0.9; the null sink is exact)


def loud_times(recording: Any, after: float, before: float) -> np.ndarray:
    """When a PulseAudio rig's recording (testing/pulse_rig.Recording) was loud between two instants."""
    times, rms = recording.envelope()
    return times[(times >= after) & (times <= before) & (rms > LOUD)]


@dataclass
class App:
    window: MainWindow
    vms: ViewModels
    captures: Any

    @property
    def chat(self) -> ChatView:
        return self.window.chat


def hold(
    qtbot, app: App, *, seconds: float | None = None, until_fed: bool = True, space: bool = False
) -> None:
    """Press the talk button (or Space), keep it down while the source plays, then let go."""
    window = app.window
    if space:
        qtbot.keyPress(window, Qt.Key.Key_Space)
    else:
        qtbot.mousePress(window.ptt, Qt.MouseButton.LeftButton, pos=window.ptt.rect().center())
    recording = app.vms.recording
    qtbot.waitUntil(lambda: recording.is_recording, timeout=3000)
    source = recording.capture_source  # the one recording (a microphone probe may have made a later one)
    if until_fed:
        qtbot.waitUntil(lambda: source.finished.is_set(), timeout=30000)
        qtbot.wait(150)  # a little trailing silence, as a person leaves
    if seconds is not None:
        qtbot.wait(int(seconds * 1000))
    if space:
        qtbot.keyRelease(window, Qt.Key.Key_Space)
    else:
        qtbot.mouseRelease(window.ptt, Qt.MouseButton.LeftButton, pos=window.ptt.rect().center())


def wait_reply_done(qtbot, app: App, turn_no: int, timeout_ms: int = 30000) -> ReplyBubble:
    chat = app.chat
    qtbot.waitUntil(
        lambda: chat.has_reply(turn_no) and chat.reply(turn_no).status != ReplyStatus.STREAMING, timeout=timeout_ms
    )
    return chat.reply(turn_no)


def quiet_model(pieces: list[str]):
    """A scripted model whose replies are not spoken (speech has tests of its own)."""
    model = scripted_model(pieces)
    model.config.speech.enabled = False
    return model


def type_message(qtbot, app, text: str) -> None:
    """Click in the message box, type, press Enter."""
    box = app.window.composer
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(box.hasFocus, timeout=3000)
    qtbot.keyClicks(box, text)
    qtbot.keyClick(box, Qt.Key.Key_Return)


def say(qtbot, app, text: str) -> int:
    """A typed exchange; returns its turn id once the reply is done."""
    before = reply_ids(app.chat)
    type_message(qtbot, app, text)
    qtbot.waitUntil(lambda: bool(reply_ids(app.chat) - before), timeout=5000)
    (turn_no,) = reply_ids(app.chat) - before
    wait_reply_done(qtbot, app, turn_no, timeout_ms=10000)
    return turn_no


def settle(qtbot, app) -> int:
    """A typed exchange after a check that something did NOT happen; returns its turn id. The window handles
    events in order and numbers turns as they start, so a turn the earlier action wrongly set going would have
    taken an id (and a bubble) before this one: assert the id instead of waiting a fixed time."""
    return say(qtbot, app, "settle")


def reply_ids(chat: ChatView) -> set[int]:
    return {reply.turn_no for reply in chat.replies()}


def bubble_texts(chat: ChatView) -> list[str]:
    out = []
    for turn in chat.turns():
        out.append(turn.text_label.text() if hasattr(turn, "text_label") else turn.label.text())
    return out


class StallProbe:
    """A 10 ms QTimer: the longest gap between its ticks is the longest the window could not respond."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.worst = 0.0
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setInterval(10)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self._last)
        self._last = now

    def stop(self) -> float:
        self._timer.stop()
        self._tick()
        return self.worst


# How long a history call waits for another program's lock in the tests that hold one and then let go (the
# app waits 0.25 s, history.BUSY_TIMEOUT_S): a call made on the event loop stalls the window that long.
LOCK_WAIT_S = 3.0
LOCK_HELD_MS = 400  # how long those tests hold the lock while they watch the window
LOCKED_STALL_LIMIT_S = 0.1  # a call on the loop stalls it for its whole wait (0.25 s in the app, 3 s here)


def history_waits_for_locks(monkeypatch) -> None:
    """History calls wait up to LOCK_WAIT_S for a lock (call before make_app): a test can hold the lock,
    watch the window, and let go before the call gives up, so the call then lands."""
    from voxtral_desktop.core.history import store

    monkeypatch.setattr(store, "BUSY_TIMEOUT_S", LOCK_WAIT_S)


def locked_stall(qtbot, act, while_locked) -> tuple[float, bool]:
    """Hold the history's write lock from another process, ``act()``, watch the window for LOCK_HELD_MS, let
    go. Returns the longest the event loop went without running in that time (printed), and what
    ``while_locked()`` said just before letting go (True: the action had not landed: it waited)."""
    from voxtral_desktop.core.history import default_path
    from voxtral_desktop.testing.small_disk import locked_by_another_process

    with locked_by_another_process(default_path()):
        probe = StallProbe()
        act()
        qtbot.wait(LOCK_HELD_MS)
        stall = probe.stop()
        waited = bool(while_locked())
    print(f"\nlongest event-loop stall with the history locked: {stall * 1000:.0f} ms")
    return stall, waited
