"""Recorded human speech (not espeak-ng) through core's "was anything said?" check and hands-free turn-taking:
read sentences at 16 kHz and as a telephone-band (8 kHz) microphone would hear them."""

from __future__ import annotations

import numpy as np
import pytest

from voxtral_desktop import VoxtralModel, load_config
from voxtral_desktop.core import chunks as C
from voxtral_desktop.core.listening import TurnEnded, TurnDetector
from voxtral_desktop.core.model import GenerationRequest
from voxtral_desktop.testing import human_speech
from voxtral_desktop.testing.fakes import ScriptedBackend

RATES = [human_speech.SAMPLE_RATE, human_speech.TELEPHONE_RATE]
PAUSED = ["ill_disposed", "amiable"]  # the sentences holding the reader's own ~0.45 s pause
GAP = np.zeros(int(1.6 * 16000), np.float32)  # between sentences: more than end_of_turn_ms (700)


def model() -> tuple[VoxtralModel, ScriptedBackend]:
    backend = ScriptedBackend(pieces=["Yes, ", "he ", "was."])
    m = VoxtralModel(load_config(), backend=backend)
    m.initialize()
    return m, backend


def turns(audio16k: np.ndarray, **options) -> list[TurnEnded]:
    """The hands-free turns in ``audio16k`` with the default settings unless ``options`` change them."""
    detector = TurnDetector(hands_free=True, **options)
    stream = np.concatenate([np.zeros(8000, np.float32), audio16k, np.zeros(32000, np.float32)])
    events = []
    for i in range(0, len(stream), 320):  # 20 ms blocks, as a microphone delivers them
        events += detector.feed(stream[i : i + 320])
    return [e for e in events if isinstance(e, TurnEnded)]


def as_heard(key: str, rate: int) -> np.ndarray:
    """The sentence as the app has it after the microphone: at 16 kHz, band-limited if the mic was 8 kHz."""
    import soxr

    audio = human_speech.load(key, rate)
    return audio if rate == 16000 else soxr.resample(audio, rate, 16000).astype(np.float32)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("key", [s.key for s in human_speech.SENTENCES])
def test_a_read_sentence_is_answered_and_the_same_length_of_silence_is_not(human_sentences, key, rate):
    m, backend = model()
    audio = human_speech.load(key, rate)
    request = m.build_request(audio, "conversation", sample_rate=rate)
    assert isinstance(request, GenerationRequest), request
    assert request.audio is not None and abs(len(request.audio) - len(human_sentences[key])) <= 2
    refused = m.build_request(np.zeros_like(audio), "conversation", sample_rate=rate)
    assert isinstance(refused, dict) and refused["text"] == C.NO_SPEECH_TEXT
    assert backend.requests == []  # build_request never calls the back-end; the reply is tested below


async def test_a_read_sentence_streams_a_reply_and_silence_gets_the_no_speech_answer(human_sentences):
    m, backend = model()
    said = [c async for c in m.process_realtime_chunk_streaming(human_sentences["dashwood"], "human")]
    assert all(c["success"] for c in said) and " ".join(c["text"] for c in said if c["text"]) == "Yes, he was."
    silent = [c async for c in m.process_realtime_chunk_streaming(np.zeros_like(human_sentences["dashwood"]), "z")]
    assert len(silent) == 1 and silent[0]["text"] == C.NO_SPEECH_TEXT
    assert len(backend.requests) == 1


def test_a_distant_speaker_the_level_check_refuses_is_still_answered(human_sentences):
    # 30 dB down: quieter than audio.speech_threshold everywhere, so only Silero's second opinion hears it.
    m, _ = model()
    quiet = human_sentences["amiable"] * np.float32(10 ** (-30 / 20))
    loudest = np.sqrt(np.mean(quiet[: len(quiet) // 320 * 320].reshape(-1, 320) ** 2, axis=1)).max()
    assert loudest < m.config.audio.speech_threshold
    assert isinstance(m.build_request(quiet, "conversation"), GenerationRequest)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("key", [s.key for s in human_speech.SENTENCES])
def test_each_read_sentence_is_one_hands_free_turn_holding_all_of_it(human_sentences, key, rate):
    audio = as_heard(key, rate)
    (turn,) = turns(audio)
    assert turn.duration_s >= len(audio) / 16000 - 0.6  # the clips' own lead-in and trailing quiet, at most


@pytest.mark.parametrize("key", PAUSED)
def test_the_readers_pause_inside_a_sentence_is_real_yet_does_not_split_it(human_sentences, key):
    audio = human_sentences[key]
    assert len(turns(audio)) == 1
    # The same audio with a 300 ms end of turn: the pause is long enough to end a turn there, so the test above
    # proves the default bridges a real pause (on speech without one it would pass whatever the setting).
    assert len(turns(audio, end_of_turn_ms=300)) == 2


@pytest.mark.parametrize("rate", RATES)
def test_three_sentences_with_pauses_between_are_three_turns_in_order(human_sentences, rate):
    keys = [s.key for s in human_speech.SENTENCES]
    parts = [as_heard(k, rate) for k in keys]
    stream = np.concatenate([p for part in parts for p in (part, GAP)][:-1])
    found = turns(stream)
    assert len(found) == 3
    starts = np.cumsum([0] + [len(p) + len(GAP) for p in parts[:-1]]) / 16000 + 0.5  # turns() adds 0.5 s
    for turn, start, part in zip(found, starts, parts):
        assert start <= turn.start <= start + 0.6 and turn.end <= start + len(part) / 16000 + 0.1
