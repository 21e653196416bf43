"""The system voice: chunks reach the text-to-speech engine in order, as they arrive, and stop at once."""

from __future__ import annotations

import time

import pytest

from voxtral_desktop.ui.view_models.system_voice import SystemVoice


@pytest.fixture
def speaker(qtbot):
    s = SystemVoice("mock")
    assert s.available, s.error
    yield s
    s.stop()


def test_chunks_are_spoken_in_order(qtbot, speaker):
    queued: list[str] = []
    speaker.chunkQueued.connect(queued.append)
    for text in ["The weather is", "sunny today,", "with a breeze."]:
        speaker.say_chunk(text)
    assert queued == ["The weather is", "sunny today,", "with a breeze."]
    qtbot.waitUntil(lambda: speaker.is_speaking, timeout=2000)


def test_stop_silences_at_once(qtbot, speaker):
    for _ in range(8):  # the mock engine takes about a second per ten words: ~8 s queued
        speaker.say_chunk("one two three four five six seven eight nine ten")
    qtbot.waitUntil(lambda: speaker.is_speaking, timeout=2000)
    started = time.perf_counter()
    speaker.stop()
    qtbot.waitUntil(lambda: not speaker.is_speaking, timeout=5000)
    # The queue was dropped, not spoken to its end (the stop latency itself is benchmarks/ui.py's figure).
    assert time.perf_counter() - started < 5.0


def test_disabled_speaker_says_nothing(qtbot, speaker):
    queued: list[str] = []
    speaker.chunkQueued.connect(queued.append)
    speaker.configure(enabled=False)
    speaker.say_chunk("hello")
    assert queued == [] and not speaker.is_speaking


def test_unknown_engine_is_reported_not_raised(qtbot):
    s = SystemVoice("no-such-engine")
    assert not s.available and "no-such-engine" in s.error
    s.say_chunk("hello")  # silently nothing


def test_voice_and_rate_are_applied(qtbot, speaker):
    voices = speaker.voices()
    assert voices
    speaker.configure(enabled=True, voice=voices[-1], rate=0.5)
    assert speaker.voice == voices[-1] and speaker.rate == pytest.approx(0.5)
