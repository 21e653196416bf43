"""The stand-in microphones for tests: a WAV file or array played in real time, and no microphone at all."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from voxtral_desktop.core.capture import CaptureError, Recorder
from voxtral_desktop.core.portaudio import NO_MICROPHONE
from voxtral_desktop.testing.speech import write_wav
from voxtral_desktop.testing.wav_capture import NoMicrophone, WavFileCapture


def test_wav_file_capture_feeds_in_real_time_then_silence(tmp_path):
    rate = 16000
    audio = np.linspace(-0.5, 0.5, rate // 2, dtype=np.float32)  # 0.5 s
    path = write_wav(tmp_path / "a.wav", audio, rate)
    source = WavFileCapture(path, block_ms=20)
    assert source.sample_rate == rate and source.device_name == "a.wav"
    blocks: list[np.ndarray] = []
    started = time.perf_counter()
    source.start(blocks.append)
    assert source.finished.wait(5)
    took = time.perf_counter() - started
    time.sleep(0.1)
    source.stop()
    assert 0.4 <= took < 10  # real time, not as fast as possible (the upper bound only catches a hang)
    got = np.concatenate(blocks)
    assert len(got) >= len(audio) + rate // 50  # audio, then at least one block of silence
    np.testing.assert_allclose(got[: len(audio)], audio, atol=1 / 32768 + 1e-6)  # 16-bit WAV round trip
    assert not got[len(audio) :].any()
    assert all(len(b) == rate // 50 for b in blocks[:-1])


def test_wav_capture_from_an_array_can_run_faster_and_replays_on_restart():
    audio = np.ones(8000, dtype=np.float32) * 0.1
    source = WavFileCapture(audio, 16000, speed=10, pad_with_silence=False)
    for _ in range(2):
        blocks: list[np.ndarray] = []
        source.start(blocks.append)
        assert source.finished.wait(2)
        source.stop()
        assert sum(len(b) for b in blocks) == 8000


def test_no_thread_outlives_a_stopped_wav_capture():
    before = threading.active_count()
    source = WavFileCapture(np.zeros(1600, np.float32), 16000)
    source.start(lambda b: None)
    assert source.is_running
    source.stop()
    assert not source.is_running
    assert threading.active_count() == before


def test_no_microphone_fails_every_way_a_missing_device_does():
    source = NoMicrophone("USB Mic")
    with pytest.raises(CaptureError, match="No microphone found"):
        source.probe()
    recorder = Recorder(source, 5)
    with pytest.raises(CaptureError) as raised:
        recorder.start()
    assert str(raised.value) == NO_MICROPHONE and not recorder.is_recording
