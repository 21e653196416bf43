"""The speaker hand-off: the voice loads off the event loop (a first use downloads it, with progress in the
window), chunks said meanwhile wait and are spoken in order, and without a neural voice the system voice speaks
and the window says so once. The player here is a recording fake; real sound is in test_spoken_reply_e2e.py."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
from ui_helpers import scripted_model

from voxtral_desktop.core.errors import SpeechError
from voxtral_desktop.core.model import LoadPhase
from voxtral_desktop.core.speech import PlayerEvent, PlayerEventKind
from voxtral_desktop.ui.view_models.speaker import Speaker


class NamedVoice:
    sample_rate = 22050

    def __init__(self, name: str) -> None:
        self.name = name

    def synthesize(self, text: str):
        yield np.zeros(10, np.float32)


class RecordingPlayer:
    """Stands in for SpeechPlayer: keeps what it was told, and lets a test fire its events."""

    def __init__(self, voice: Any, device: str) -> None:
        self.voice, self.device = voice, device
        self.calls: list[tuple[str, str]] = []
        self.listeners: list[Any] = []
        self.references: list[Any] = []
        self.is_speaking = False
        self.fail_with: SpeechError | None = None

    def add_listener(self, listener: Any) -> None:
        self.listeners.append(listener)

    def add_reference_listener(self, listener: Any) -> None:
        self.references.append(listener)

    def say(self, text: str) -> int:
        if self.fail_with is not None:
            raise self.fail_with
        self.calls.append(("say", text))
        self.is_speaking = True
        return len(self.calls)

    def end(self) -> None:
        self.calls.append(("end", ""))

    def stop(self) -> None:
        self.calls.append(("stop", ""))
        self.is_speaking = False

    def close(self) -> None:
        self.calls.append(("close", ""))

    def fire(self, kind: PlayerEventKind, t: float = 0.0) -> None:
        if kind == PlayerEventKind.IDLE:
            self.is_speaking = False
        for listener in self.listeners:
            listener(PlayerEvent(kind, t))


class Players(list):
    def __call__(self, voice: Any, device: str) -> RecordingPlayer:
        self.append(RecordingPlayer(voice, device))
        return self[-1]


def neural_model():
    model = scripted_model()
    model.config.update({"speech": {"voice": "", "engine": "mock"}})  # the default: the neural voice
    return model


def test_chunks_said_while_the_voice_loads_are_spoken_in_order_once_it_is_ready(qtbot):
    gate = threading.Event()
    players = Players()

    def resolver(setting: str, *, progress: Any) -> NamedVoice:
        gate.wait(10)
        return NamedVoice("joe")

    speaker = Speaker(resolver=resolver, player_factory=players, output_device="spk")
    future = asyncio.ensure_future(speaker.load())
    qtbot.waitUntil(lambda: speaker.status.phase == LoadPhase.LOADING, timeout=2000)
    speaker.say_chunk("The weather is")
    speaker.say_chunk("sunny today.")
    speaker.end_reply()
    assert speaker.is_speaking  # as far as Esc and barge-in go, the reply is being spoken
    gate.set()
    qtbot.waitUntil(future.done, timeout=5000)
    assert speaker.neural and speaker.voice == "joe" and players[0].device == "spk"
    assert players[0].calls == [("say", "The weather is"), ("say", "sunny today."), ("end", "")]

    players[0].fire(PlayerEventKind.IDLE)
    qtbot.waitUntil(lambda: not speaker.is_speaking, timeout=2000)


def test_stop_silences_at_once_and_a_late_idle_does_not_end_the_next_reply(qtbot):
    players = Players()
    speaker = Speaker(resolver=lambda s, progress: NamedVoice("joe"), player_factory=players)
    future = asyncio.ensure_future(speaker.load())
    qtbot.waitUntil(future.done, timeout=5000)
    speaker.say_chunk("one two three")
    speaker.stop()
    assert not speaker.is_speaking and players[0].calls[-1] == ("stop", "")
    speaker.say_chunk("the next reply")
    players[0].is_speaking = True
    for listener in players[0].listeners:  # the IDLE from the stop arrives late, from the audio thread
        listener(PlayerEvent(PlayerEventKind.IDLE, 0.0))
    qtbot.wait(50)
    assert speaker.is_speaking


def test_reference_listeners_follow_the_voice_across_changes(qtbot):
    players = Players()
    speaker = Speaker(voice="a", resolver=lambda s, progress: NamedVoice(s), player_factory=players)

    def heard(samples: np.ndarray, rate: int, t: float) -> None:
        pass

    speaker.add_reference_listener(heard)  # registered before any player exists (hands-free starts early)
    future = asyncio.ensure_future(speaker.load())
    qtbot.waitUntil(future.done, timeout=5000)
    assert speaker.configure(enabled=True, voice="b")
    assert ("close", "") in players[0].calls
    future = asyncio.ensure_future(speaker.load())
    qtbot.waitUntil(future.done, timeout=5000)
    assert [p.voice.name for p in players] == ["a", "b"]
    assert players[0].references == [heard] and players[1].references == [heard]


def test_first_use_download_shows_progress_in_the_window_then_goes(qtbot, make_app):
    halfway, finish = threading.Event(), threading.Event()

    def resolver(setting: str, *, progress: Any) -> NamedVoice:
        progress(0.0)
        progress(0.5)
        halfway.set()
        finish.wait(10)
        progress(1.0)
        return NamedVoice("en_US-ljspeech-medium")

    speaker = Speaker(resolver=resolver, player_factory=Players())
    app = make_app(neural_model(), speaker=speaker)
    qtbot.waitUntil(lambda: app.window.banner("voice") is not None and "50%" in app.window.banner("voice").text.text(),
                    timeout=5000)
    assert speaker.status.phase == LoadPhase.DOWNLOADING and speaker.status.fraction == 0.5
    finish.set()
    qtbot.waitUntil(lambda: speaker.status.phase == LoadPhase.READY, timeout=5000)
    qtbot.waitUntil(lambda: app.window.banner("voice") is None, timeout=2000)
    assert speaker.neural


def test_without_a_neural_voice_the_system_voice_speaks_and_the_window_says_so_once(qtbot, make_app):
    def offline(setting: str, *, progress: Any) -> NamedVoice:
        raise SpeechError("could not download en_US-ljspeech-medium.onnx from the hub: offline")

    speaker = Speaker(engine="mock", resolver=offline, player_factory=Players())
    fallbacks: list[str] = []
    speaker.fallback.connect(fallbacks.append)
    app = make_app(neural_model(), speaker=speaker)
    qtbot.waitUntil(lambda: speaker.status.phase == LoadPhase.FAILED, timeout=5000)
    banner = app.window.banner("voice")
    assert banner is not None and "system voice" in banner.title.text() and "offline" in banner.text.text()
    queued: list[str] = []
    speaker.chunkQueued.connect(queued.append)
    app.vms.replies.sendText("hello")
    qtbot.waitUntil(lambda: app.chat.has_reply(1) and app.vms.replies.reply_task.done(), timeout=10000)
    assert queued and queued == app.chat.reply(1).chunks  # the system voice spoke the reply
    assert not speaker.neural and speaker.engine == "mock"

    # Another voice that cannot be had either: the system voice goes on, and nothing is said again.
    banner.deleteLater()
    qtbot.waitUntil(lambda: app.window.banner("voice") is None, timeout=2000)
    app.vms.settings.save({"speech": {"voice": "en_GB-alan-low"}})
    qtbot.waitUntil(lambda: speaker.status.phase == LoadPhase.FAILED, timeout=5000)
    qtbot.wait(100)
    assert fallbacks == ["could not download en_US-ljspeech-medium.onnx from the hub: offline"]
    assert app.window.banner("voice") is None


def test_an_output_that_cannot_open_hands_the_reply_to_the_system_voice(qtbot):
    players = Players()
    speaker = Speaker(engine="mock", resolver=lambda s, progress: NamedVoice("joe"), player_factory=players)
    future = asyncio.ensure_future(speaker.load())
    qtbot.waitUntil(future.done, timeout=5000)
    fallbacks: list[str] = []
    speaker.fallback.connect(fallbacks.append)
    queued: list[str] = []
    speaker.chunkQueued.connect(queued.append)
    players[0].fail_with = SpeechError("Could not open the sound output 'system default'")
    speaker.say_chunk("The weather is")
    speaker.say_chunk("sunny today.")
    assert queued == ["The weather is", "sunny today."]
    assert fallbacks == ["Could not open the sound output 'system default'"] and not speaker.neural
    assert ("close", "") in players[0].calls


def test_offline_the_voice_banner_says_it_plainly_with_the_librarys_words_behind_details(qtbot, make_app):
    """The real voice catalogue and hub, offline (the tests run with HF_HUB_OFFLINE=1), asked for a voice that
    is not installed: the system voice speaks, and the banner says why in a person's words."""
    from PySide6.QtWidgets import QLabel

    speaker = Speaker(engine="mock", player_factory=Players())
    model = scripted_model()
    model.config.update({"speech": {"voice": "en_GB-alan-low", "engine": "mock"}})
    app = make_app(model, speaker=speaker)
    qtbot.waitUntil(lambda: app.window.banner("voice") is not None, timeout=10000)
    banner = app.window.banner("voice")
    assert "system voice" in banner.title.text()
    shown = banner.text.text()
    assert "offline" in shown and "en_GB-alan-low could not be downloaded" in shown and "hf download" in shown
    visible = " ".join(label.text() for label in banner.findChildren(QLabel) if label.isVisible())
    assert "OfflineModeIsEnabled" not in visible and "huggingface_hub" not in visible
    assert banner.details is not None and not banner.details.isVisible()
    banner.details_toggle.click()
    qtbot.waitUntil(banner.details.isVisible, timeout=2000)
    assert "OfflineModeIsEnabled" in banner.details.toPlainText()
