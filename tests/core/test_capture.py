"""The Recorder: one bounded take from any capture source, its level, its limit, and device failures."""

from __future__ import annotations

import time

import numpy as np
import pytest

from voxtral_desktop.core.capture import BlockCallback, CaptureSource, ErrorCallback, Recorder
from voxtral_desktop.testing.wav_capture import WavFileCapture


class HandFed(CaptureSource):
    """A source whose blocks the test hands over, on the test's own thread."""

    def __init__(self) -> None:
        self.on_block: BlockCallback | None = None

    @property
    def sample_rate(self) -> int:
        return 16000

    @property
    def device_name(self) -> str:
        return "hand-fed"

    def start(self, on_block: BlockCallback, on_error: ErrorCallback | None = None) -> None:
        self.on_block = on_block

    def stop(self) -> None:
        self.on_block = None

    def feed(self, block: np.ndarray) -> None:
        assert self.on_block is not None, "not started"
        self.on_block(block)


def test_recorder_collects_reports_level_and_stops(tmp_path):
    audio = (0.25 * np.sin(np.linspace(0, 400 * np.pi, 16000))).astype(np.float32)
    source = WavFileCapture(audio, 16000, speed=4)
    recorder = Recorder(source, max_recording_s=10)
    recorder.start()
    assert recorder.is_recording
    assert source.finished.wait(3)
    status = recorder.status()
    assert status.error is None and not status.limit_reached
    assert status.recorded_s >= 1.0 and status.elapsed_s > 0
    rec = recorder.stop()
    assert not recorder.is_recording
    assert rec.sample_rate == 16000 and rec.duration_s >= 1.0
    np.testing.assert_array_equal(rec.audio[:16000], audio)


def test_recorder_level_is_rms_of_the_latest_block():
    source = HandFed()
    recorder = Recorder(source, max_recording_s=1)
    recorder.start()
    source.feed(np.full(320, 0.5, dtype=np.float32))
    assert recorder.status().level_rms == pytest.approx(0.5)
    source.feed(np.zeros(320, dtype=np.float32))
    assert recorder.status().level_rms == 0.0
    assert recorder.stop().duration_s == pytest.approx(0.04)


def test_recorder_enforces_the_maximum_length():
    hits: list[int] = []
    audio = np.full(16000 * 2, 0.1, dtype=np.float32)
    recorder = Recorder(
        WavFileCapture(audio, 16000, speed=20), max_recording_s=0.5, on_limit=lambda: hits.append(1)
    )
    recorder.start()
    deadline = time.monotonic() + 3
    while not recorder.status().limit_reached and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    rec = recorder.stop()
    assert rec.limit_reached and hits == [1]
    assert len(rec.audio) == 8000  # exactly 0.5 s, the rest dropped


def test_recorder_reports_device_errors_and_stalls():
    recorder = Recorder(
        WavFileCapture(np.zeros(16000, np.float32), 16000, speed=5, fail_after_s=0.2), max_recording_s=5
    )
    recorder.start()
    deadline = time.monotonic() + 3
    while recorder.status().error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "stopped sending audio" in str(recorder.status().error)
    recorder.stop()

    quiet = Recorder(WavFileCapture(np.zeros(320, np.float32), 16000, pad_with_silence=False), 5, stall_s=0.2)
    quiet.start()
    time.sleep(0.5)
    error = quiet.status().error
    assert error is not None and "sent no audio for 0.2 s" in str(error)
    quiet.stop()

