"""Hands-free through real (virtual) sound devices: a PulseAudio speaker that leaks into the microphone at
-6 dB / 30 ms, the assistant's real neural voice (SpeechPlayer) on it, the user's voice (espeak-ng, and a person's
recordings) played into the microphone; the Listener alone (the window's version: tests/ui/test_hands_free_e2e.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from voxtral_desktop.core.listening import BargeIn, TurnEnded
from voxtral_desktop.core.portaudio import list_output_devices
from voxtral_desktop.testing import human_speech
from voxtral_desktop.testing.hands_free import REPLIES, HandsFreeSession
from voxtral_desktop.testing.missing import missing
from voxtral_desktop.testing.pulse_rig import onset_in
from voxtral_desktop.testing.speech import synthesize

pytestmark = [pytest.mark.pulseaudio, pytest.mark.slow]


@pytest.fixture(scope="module")
def session(echo_rig, joe_voice) -> Iterator[HandsFreeSession]:
    if not list_output_devices(refresh=True):
        missing("PortAudio sees no output device through PulseAudio (is libasound2-plugins installed?)")
    s = HandsFreeSession(echo_rig, joe_voice)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def fresh(session: HandsFreeSession) -> HandsFreeSession:
    time.sleep(0.3)
    session.clear()
    return session


def test_one_utterance_gives_one_turn_and_two_with_a_pause_give_two(fresh):
    u1 = synthesize("What is the weather like today?", voice="en+f3")
    fresh.rig.say(u1)
    assert len(fresh.wait_for(TurnEnded, 1, 5)) == 1
    fresh.rig.say(np.concatenate([u1, np.zeros(24000, np.float32), synthesize("Please tell me a short joke.")]))
    turns = fresh.wait_for(TurnEnded, 3, 6)
    time.sleep(1.0)
    assert len(fresh.of_type(TurnEnded)) == 3
    assert all(t.duration_s > 1.0 for t in turns)


def test_read_sentences_a_person_recorded_are_one_turn_each_their_inner_pauses_splitting_none(
    fresh, human_sentences
):
    # Three sentences read by a person, two of them holding the reader's own ~0.45 s pause (a 300 ms end of
    # turn splits them there: tests/core/test_recorded_speech.py), 1.6 s apart.
    parts = [human_sentences[s.key] for s in human_speech.SENTENCES]
    gap = np.zeros(int(1.6 * 16000), np.float32)
    fresh.rig.say(np.concatenate([parts[0], gap, parts[1], gap, parts[2]]))
    fresh.wait_for(TurnEnded, 3, 6)
    time.sleep(1.0)  # a late fourth turn would be a split
    turns = fresh.of_type(TurnEnded)
    assert len(turns) == 3, [(round(t.start, 2), round(t.end, 2)) for t in turns]
    for turn, part in zip(turns, parts):
        assert turn.duration_s >= len(part) / 16000 - 0.6  # each holds its sentence, less the clips' quiet ends


def test_the_assistants_own_voice_never_starts_a_turn_or_a_barge_in(fresh):
    for text in REPLIES:
        fresh.speak_reply(text)
        time.sleep(0.4)
    time.sleep(1.0)
    assert fresh.of_type(TurnEnded) == [] and fresh.of_type(BargeIn) == []
    raw, clean, _ = fresh.recorded()
    assert np.abs(raw).max() > 0.05  # the echo did reach the microphone


@pytest.mark.parametrize("kind", ["noise", "tone"])
def test_white_noise_and_a_tone_start_no_turn(fresh, kind):
    n = 3 * 16000
    if kind == "noise":
        audio = np.random.default_rng(2).standard_normal(n) * 10 ** (-30 / 20)
    else:
        audio = 0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 16000)
    fresh.rig.say(audio.astype(np.float32))
    time.sleep(1.2)
    assert fresh.of_type(TurnEnded) == []


def test_speaking_over_a_reply_barges_in_soon_after_the_onset_and_is_the_next_turn(fresh):
    user = synthesize("Please tell me a short joke.", voice="en+f3")
    fresh.start_reply(" ".join(REPLIES[:2]))
    time.sleep(1.2)
    assert fresh.player.is_speaking
    skip = len(fresh.recorded()[0])
    fresh.rig.say(user, wait=False)
    (barge,) = fresh.wait_for(BargeIn, 1, 5)
    fresh.player.stop()  # what the app does on barge-in
    turns = fresh.wait_for(TurnEnded, 1, 6)
    raw, _, t0 = fresh.recorded()
    onset = t0 + (skip + onset_in(raw[skip:], user) * 16000) / 16000
    # Generous bound (min_barge_in_ms is 250): benchmarks/listening.py measures it precisely.
    assert 0.15 <= barge.wall - onset <= 0.6, (barge, onset - t0)
    assert len(turns) == 1 and turns[0].barged_in
