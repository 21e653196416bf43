"""Silero VAD: finds espeak-ng speech, ignores noise and tones, runs from the installed package's file."""

from __future__ import annotations

import numpy as np
import pytest

from voxtral_desktop.core.audio import detect_speech as energy_detect_speech
from voxtral_desktop.core.vad import FRAME_SAMPLES, SileroVad, VoiceActivityDetector, detect_speech, model_path
from voxtral_desktop.testing.speech import synthesize

RATE = 16000


def silence(s: float) -> np.ndarray:
    return np.zeros(int(s * RATE), np.float32)


def white_noise(dbfs: float, s: float = 3.0) -> np.ndarray:
    return (np.random.default_rng(1).standard_normal(int(s * RATE)) * 10 ** (dbfs / 20)).astype(np.float32)


def tone(hz: float = 440.0, amp: float = 0.3, s: float = 3.0) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * hz * np.arange(int(s * RATE)) / RATE)).astype(np.float32)


def speech_regions(frames) -> list[tuple[float, float]]:
    regions, start = [], None
    for f in frames:
        if f.speech and start is None:
            start = f.start
        elif not f.speech and start is not None:
            regions.append((start / RATE, f.start / RATE))
            start = None
    return regions


def test_the_model_comes_from_the_installed_package_not_a_download():
    path = model_path()
    assert path.name == "silero_vad.onnx" and "site-packages" in str(path) and path.stat().st_size > 1_000_000


def test_two_utterances_with_a_pause_are_two_stretches_of_speech():
    u1, u2 = synthesize("What is the weather like today?"), synthesize("Please tell me a short joke.")
    stream = np.concatenate([silence(1), u1, silence(1.5), u2, silence(1)])
    vad = VoiceActivityDetector()
    frames = []
    for i in range(0, len(stream), 333):  # blocks that do not line up with frames
        frames += vad.push(stream[i : i + 333])
    regions = speech_regions(frames)
    assert len(regions) == 2
    (s1, e1), (s2, e2) = regions
    second_starts = 1 + len(u1) / RATE + 1.5
    assert abs(s1 - 1.0) < 0.1 and abs(s2 - second_starts) < 0.1
    assert e1 < second_starts  # the pause was heard as a pause
    assert len(frames) == len(stream) // FRAME_SAMPLES


@pytest.mark.parametrize("name,audio", [("noise -30 dBFS", white_noise(-30)), ("440 Hz tone", tone())])
def test_noise_and_a_tone_are_not_speech_though_the_energy_check_says_they_are(name, audio):
    vad = VoiceActivityDetector()
    assert not any(f.speech for f in vad.push(audio)), name
    assert not detect_speech(audio, 200).is_speech
    assert energy_detect_speech(audio, 0.01, 200).is_speech  # why push-to-talk's check moves to the VAD


def test_quiet_speech_is_heard_where_the_energy_check_misses_it():
    quiet = synthesize("What is the weather like today?")
    quiet = quiet / np.abs(quiet).max() * 10 ** (-36 / 20)
    audio = np.concatenate([silence(0.5), quiet, silence(0.5)]).astype(np.float32)
    assert detect_speech(audio, 200).is_speech
    assert not energy_detect_speech(audio, 0.01, 200).is_speech


def test_speech_over_noise_is_still_speech():
    u = synthesize("Please tell me a short joke.")
    mixed = white_noise(-30, len(u) / RATE)[: len(u)] + u
    assert detect_speech(mixed, 200).is_speech


def test_a_frame_of_the_wrong_size_is_refused():
    with pytest.raises(ValueError, match="512"):
        SileroVad().probability(np.zeros(480, np.float32))
