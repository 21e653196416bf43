"""The PulseAudio rig: a missing tool is named with its package, and an echo path really carries the speaker
into the microphone (what missing() does: tests/testing/test_missing.py)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf

from voxtral_desktop.testing.missing import missing
from voxtral_desktop.testing.pulse_rig import PulseUnavailable, start_pulse_rig


def test_a_missing_pulse_tool_is_named_with_its_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PulseUnavailable, match="pulseaudio.*not installed.*apt-get install pulseaudio"):
        start_pulse_rig(tmp_path)


@pytest.mark.pulseaudio
def test_the_echo_path_carries_the_speaker_into_the_microphone(tmp_path_factory):
    try:
        rig = start_pulse_rig(tmp_path_factory.mktemp("pulse"), echo_db=-6)
    except PulseUnavailable as e:
        missing(str(e))
    try:
        tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(48000) / 48000)).astype(np.float32)
        wav = tmp_path_factory.mktemp("wav") / "tone.wav"
        sf.write(wav, tone, 48000)
        heard = rig.record(rig.microphone, rate=16000)
        time.sleep(0.2)
        assert rig.play(wav, rig.speaker).wait(10) == 0
        time.sleep(0.3)
        recording = heard.stop()
    finally:
        rig.close()
    # -6 dB of the tone (RMS 0.35) reaches the microphone: about 0.18 RMS; before it, silence.
    times, level = recording.envelope(20)
    assert 0.12 < float(np.max(level)) < 0.25
    assert float(level[0]) < 0.01
