"""The reply's first words sound sooner (issue 21): a resident espeak-ng, a short first piece, trimmed edges;
still one CHUNK_STARTED per chunk, in order, and no pause added inside the cut chunk."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import numpy as np
import pytest

from voxtral_desktop.core.speech.phonemes import EspeakPhonemizer
from voxtral_desktop.core.speech.player import PlayerEvent, PlayerEventKind, SpeechPlayer, first_piece

TEXTS = ["The weather is sunny", "Hello there, how are you?", "Dr. Smith went home; it was late!"]


def test_one_resident_espeak_answers_every_text_as_a_process_per_text_would():
    resident, once = EspeakPhonemizer("en-us"), EspeakPhonemizer("en-us", resident=False)
    try:
        assert [resident.sentences(t) for t in TEXTS] == [once.sentences(t) for t in TEXTS]
        pid = resident.child_pid
        assert pid is not None
        resident.sentences("And one more.")
        assert resident.child_pid == pid  # the same process served them all
    finally:
        resident.close()


def test_a_resident_espeak_that_died_is_started_again():
    phonemizer = EspeakPhonemizer("en-us")
    try:
        before = phonemizer.sentences("Good morning.")
        pid = phonemizer.child_pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        assert phonemizer.sentences("Good morning.") == before
        assert phonemizer.child_pid not in (None, pid)
    finally:
        phonemizer.close()


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("The weather is sunny", ["The weather", "is sunny"]),
        ("Yes, it is sunny today", ["Yes,", "it is sunny today"]),
        ("Well then, it is sunny", ["Well then,", "it is sunny"]),
        ("Hello there", ["Hello there"]),
        ("Hi you all", ["Hi you all"]),  # cutting one word off gains nothing
    ],
)
def test_the_first_chunk_is_cut_at_its_first_pause_or_after_two_words(text, pieces):
    assert first_piece(text, 2) == pieces


class RecordingVoice:
    """The real voice, noting each text it is asked to say."""

    def __init__(self, voice) -> None:
        self.voice, self.name, self.sample_rate = voice, voice.name, voice.sample_rate
        self.quick_first_piece = True
        self.asked: list[str] = []

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        self.asked.append(text)
        yield from self.voice.synthesize(text)


@pytest.mark.pulseaudio
def test_the_first_chunk_is_said_in_two_pieces_without_a_pause_between(pulse_rig, joe_voice):
    voice = RecordingVoice(joe_voice)
    player = SpeechPlayer(voice)
    events: list[PlayerEvent] = []
    player.add_listener(events.append)
    try:
        player.prepare()
        recorder = pulse_rig.record()
        time.sleep(0.3)
        t0 = time.monotonic()
        for chunk in ["The weather is sunny", "and warm today."]:
            player.say(chunk)
        player.end()
        assert player.wait_idle(30)
        time.sleep(0.2)
        recording = recorder.stop()
    finally:
        player.close()

    # the first chunk in two pieces, the second whole
    assert voice.asked == ["The weather", "is sunny", "and warm today."]
    # one start per chunk said, numbered from 0, in order
    assert [(e.kind, e.index) for e in events] == [
        (PlayerEventKind.FIRST_SOUND, 0),
        (PlayerEventKind.CHUNK_STARTED, 0),
        (PlayerEventKind.CHUNK_STARTED, 1),
        (PlayerEventKind.IDLE, -1),
    ]
    # The first chunk sounds as one phrase: no silence longer than a word's own gaps between its two pieces
    # (untrimmed, Piper's ~120 ms tail + ~50 ms head made a 170 ms hole mid-phrase).
    times, rms = recording.envelope(5.0)
    chunk_1 = (times >= events[1].t - 0.05) & (times <= events[2].t - 0.2)
    loud = times[chunk_1][rms[chunk_1] > 0.01]
    assert len(loud) > 10, "the first chunk was not heard"
    assert np.max(np.diff(loud)) < 0.1
    assert loud[0] - t0 < 1.5  # heard soon (generous: a loaded machine)
