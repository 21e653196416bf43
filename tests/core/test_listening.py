"""Turn-taking on real (espeak-ng) speech: turns, pre-roll, end of turn, barge-in, and the live Listener."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from voxtral_desktop.testing.wav_capture import WavFileCapture
from voxtral_desktop.core.config import ConfigError, ListeningConfig, load_config
from voxtral_desktop.core.listening import BargeIn, Listener, SpeechDropped, SpeechStarted, TurnEnded, TurnDetector
from voxtral_desktop.testing.speech import synthesize

RATE = 16000


def z(s: float) -> np.ndarray:
    return np.zeros(int(s * RATE), np.float32)


@pytest.fixture(scope="module")
def u1() -> np.ndarray:
    return synthesize("What is the weather like today?")


@pytest.fixture(scope="module")
def u2() -> np.ndarray:
    return synthesize("Please tell me a short joke.")


def last_sound(audio: np.ndarray) -> float:
    return np.flatnonzero(np.abs(audio) > 10 ** (-45 / 20))[-1] / RATE


def first_sound(audio: np.ndarray) -> float:
    return np.flatnonzero(np.abs(audio) > 10 ** (-45 / 20))[0] / RATE


def run(detector: TurnDetector, stream: np.ndarray, speaking=lambda t: False, block: int = 320) -> list:
    events = []
    for i in range(0, len(stream), block):
        events += detector.feed(stream[i : i + block], assistant_speaking=speaking(i / RATE))
    return events


def turns(events) -> list[TurnEnded]:
    return [e for e in events if isinstance(e, TurnEnded)]


def test_one_utterance_is_one_turn_sent_after_the_end_of_turn_silence(u1):
    stream = np.concatenate([z(1), u1, z(1.5)])
    events = run(TurnDetector(end_of_turn_ms=700), stream)
    assert [type(e) for e in events] == [SpeechStarted, TurnEnded]
    turn = events[1]
    speech_end = 1 + last_sound(u1)
    assert 0.7 <= turn.at - speech_end <= 0.75  # end_of_turn_ms + at most 50 ms
    assert not turn.barged_in


@pytest.mark.parametrize(
    "text", ["Please tell me a short joke.", "Turn on the kitchen lights.", "Set a timer for ten minutes."]
)
def test_the_turn_is_sent_end_of_turn_ms_after_the_sound_ends_and_keeps_all_of_it(text):
    # In this voice Silero still calls the frame or two after the last sound voiced: the silence must be
    # counted from the end of the sound, not of those frames (they made the turn 60-90 ms late).
    u = synthesize(text, voice="en+f3")
    (turn,) = turns(run(TurnDetector(end_of_turn_ms=700, pre_roll_ms=300), np.concatenate([z(1), u, z(1.5)])))
    speech_end = 1 + last_sound(u)
    assert 0.55 <= turn.at - speech_end <= 0.75
    assert turn.start - 0.3 + turn.duration_s >= speech_end + 0.05  # the soft end of the last word is kept


def test_the_turn_keeps_the_first_syllable_through_the_pre_roll(u1):
    stream = np.concatenate([z(1), u1, z(1.5)])
    (turn,) = turns(run(TurnDetector(pre_roll_ms=300), stream))
    onset = 1 + first_sound(u1)
    begins = turn.start - 0.3
    assert begins < onset - 0.1  # starts well before the first sound...
    assert turn.audio[: int((onset - begins) * RATE) - 160].max() < 0.01  # ...with silence before it
    kept = turn.audio[int((onset - begins) * RATE) :]
    assert np.corrcoef(kept[: len(u1) - int(first_sound(u1) * RATE)][:16000], u1[int(first_sound(u1) * RATE) :][:16000])[0, 1] > 0.99


def test_two_utterances_with_a_pause_are_two_turns_and_a_short_pause_is_not(u1, u2):
    two = run(TurnDetector(), np.concatenate([z(1), u1, z(1.5), u2, z(1.5)]))
    assert len(turns(two)) == 2
    one = run(TurnDetector(), np.concatenate([z(1), u1, z(0.3), u2, z(1.5)]))
    assert len(turns(one)) == 1
    assert turns(one)[0].duration_s > (len(u1) + len(u2)) / RATE


def test_a_longer_end_of_turn_setting_waits_longer(u1):
    stream = np.concatenate([z(1), u1, z(2.5)])
    (turn,) = turns(run(TurnDetector(end_of_turn_ms=1500), stream))
    assert 1.5 <= turn.at - (1 + last_sound(u1)) <= 1.55


@pytest.mark.parametrize(
    "name,audio",
    [
        ("noise -30 dBFS", (np.random.default_rng(1).standard_normal(5 * RATE) * 10 ** (-30 / 20)).astype(np.float32)),
        ("440 Hz tone", (0.3 * np.sin(2 * np.pi * 440 * np.arange(5 * RATE) / RATE)).astype(np.float32)),
    ],
)
def test_noise_and_a_tone_start_no_turn(name, audio):
    assert run(TurnDetector(), audio) == [], name


def test_speaking_over_the_assistant_barges_in_within_300_ms_and_becomes_the_next_turn(u2):
    stream = np.concatenate([z(1), u2, z(1.5)])
    events = run(TurnDetector(min_barge_in_ms=250), stream, speaking=lambda t: t < 2.0)
    assert [type(e) for e in events] == [SpeechStarted, BargeIn, TurnEnded]
    onset = 1 + first_sound(u2)
    assert 0.2 <= events[1].at - onset <= 0.32  # ~300 ms from the first audible sample
    assert events[2].barged_in


def test_a_cough_does_not_interrupt(u2):
    cough = u2[int(first_sound(u2) * RATE) :][: int(0.15 * RATE)]  # 150 ms of voice
    events = run(TurnDetector(min_barge_in_ms=250), np.concatenate([z(1), cough, z(1.5)]), speaking=lambda t: True)
    assert not any(isinstance(e, (BargeIn, TurnEnded)) for e in events)
    assert isinstance(events[-1], SpeechDropped)


def test_push_to_talk_hears_only_interruptions(u1, u2):
    stream = np.concatenate([z(1), u1, z(1.5), u2, z(1.5)])
    second = 1 + len(u1) / RATE + 1.5
    events = run(TurnDetector(hands_free=False), stream, speaking=lambda t: t >= second - 0.2)
    assert [type(e) for e in events] == [SpeechStarted, BargeIn, TurnEnded]  # the first utterance was not a turn
    assert events[0].at > second - 0.1


def test_with_barge_in_off_speech_over_the_assistant_is_ignored(u1):
    events = run(TurnDetector(barge_in=False), np.concatenate([z(1), u1, z(1.5)]), speaking=lambda t: True)
    assert events == []


def test_the_listener_delivers_turns_from_a_live_source_off_its_thread(u1):
    audio48 = np.repeat(np.concatenate([z(0.5), u1, z(1.2)]), 3)  # a 48 kHz "device"
    source = WavFileCapture(audio48, 48000)
    cfg = ListeningConfig()
    cfg.mode = "hands_free"
    got: list = []
    done = threading.Event()
    threads: set[str] = set()

    def on_event(e) -> None:
        got.append(e)
        threads.add(threading.current_thread().name)
        if isinstance(e, TurnEnded):
            done.set()

    listener = Listener(source, cfg, on_event)
    listener.start()
    try:
        assert done.wait(15)
    finally:
        listener.stop()
        listener.stop()  # idempotent
    assert [type(e) for e in got] == [SpeechStarted, TurnEnded]
    assert threads == {"voxtral-listener"}
    assert got[1].wall >= got[0].wall > 0
    assert listener.echo_cancelling
    # The 20 ms blocks reach the worker once per 32 ms detector frame, not one wake-up each (CPU).
    frames = listener.processed_s * RATE / 512
    assert frames - 2 <= listener.handoffs <= frames + 2


def test_a_dying_microphone_is_reported_to_the_caller():
    errors: list[Exception] = []
    seen = threading.Event()
    source = WavFileCapture(z(2), RATE, fail_after_s=0.2)
    listener = Listener(source, ListeningConfig(), lambda e: None, on_error=lambda e: (errors.append(e), seen.set()))
    listener.start()
    assert seen.wait(5)
    listener.stop()
    assert "stopped sending audio" in str(errors[0])


def test_listening_settings_have_defaults_and_refuse_bad_values():
    cfg = load_config()
    assert (cfg.listening.mode, cfg.listening.end_of_turn_ms, cfg.listening.pre_roll_ms) == ("push_to_talk", 700, 300)
    assert cfg.listening.barge_in and cfg.listening.echo_cancellation and cfg.listening.min_barge_in_ms == 250
    for bad, key in [({"mode": "always"}, "listening.mode"), ({"end_of_turn_ms": 50}, "listening.end_of_turn_ms"),
                     ({"min_barge_in_ms": "soon"}, "listening.min_barge_in_ms")]:
        with pytest.raises(ConfigError, match=key):
            load_config(overrides={"listening": bad})
    cfg.update({"listening": {"mode": "hands_free", "echo_cancellation": False}})
    assert cfg.listening.mode == "hands_free" and not cfg.listening.echo_cancellation
