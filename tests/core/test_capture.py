"""Capture sources and the Recorder, without a sound card: a fake sounddevice module and WAV-fed sources."""

from __future__ import annotations

import sys
import threading
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from voxtral_desktop.core import capture
from voxtral_desktop.core.capture import (
    CaptureError,
    Recorder,
    SoundDeviceCapture,
    WavFileCapture,
    list_input_devices,
)
from voxtral_desktop.testing.speech import write_wav


class FakePortAudioError(Exception):
    pass


class FakeSoundDevice:
    """Just enough of sounddevice: a device list, a default, streams that call back with canned audio."""

    def __init__(
        self, devices: list[dict[str, Any]], default_in: int = -1, *, after_reinit: list | None = None
    ):
        self.devices = devices
        self.after_reinit = after_reinit
        self.default = SimpleNamespace(device=[default_in, -1])
        self.reinits = 0
        self.streams: list[FakeStream] = []
        self.refuse_channels: set[int] = set()
        self.PortAudioError = FakePortAudioError

    def query_devices(self, kind: str | None = None):
        if kind == "input":
            raise FakePortAudioError("Error querying device -1")
        return [dict(d, index=i) for i, d in enumerate(self.devices)]

    def _terminate(self) -> None:
        pass

    def _initialize(self) -> None:
        self.reinits += 1
        if self.after_reinit is not None:
            self.devices = self.after_reinit

    def InputStream(self, **kw: Any) -> FakeStream:
        if kw["channels"] in self.refuse_channels:
            raise FakePortAudioError(f"Invalid number of channels {kw['channels']}")
        stream = FakeStream(**kw)
        self.streams.append(stream)
        return stream


class FakeStream:
    def __init__(self, **kw: Any) -> None:
        self.kw = kw
        self.started = self.closed = False

    def start(self) -> None:
        self.started = True

    def feed(self, block: np.ndarray) -> None:
        self.kw["callback"](block.reshape(len(block), -1), len(block), None, None)

    def die(self) -> None:
        self.kw["finished_callback"]()

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True


def _device(name: str, inputs: int = 2, rate: float = 48000.0) -> dict[str, Any]:
    return {"name": name, "max_input_channels": inputs, "max_output_channels": 0, "default_samplerate": rate}


@pytest.fixture
def fake_sd(monkeypatch: pytest.MonkeyPatch):
    holder: dict[str, FakeSoundDevice] = {}

    def install(sd: FakeSoundDevice) -> FakeSoundDevice:
        holder["sd"] = sd
        monkeypatch.setattr(capture, "_import_sounddevice", lambda: sd)
        return sd

    return install


def test_no_devices_gives_a_clear_capture_error(fake_sd):
    sd = fake_sd(FakeSoundDevice([_device("HDMI out", inputs=0)]))
    assert list_input_devices() == []
    assert sd.reinits == 1  # re-initialised once in case the sound server started after import
    with pytest.raises(CaptureError, match="No microphone found"):
        SoundDeviceCapture().probe()


def test_devices_appearing_after_reinitialisation_are_found(fake_sd):
    # sounddevice imported before PulseAudio started: the first listing is empty.
    fake_sd(FakeSoundDevice([], after_reinit=[_device("pulse"), _device("default")], default_in=-1))
    names = [d.name for d in list_input_devices()]
    assert names == ["pulse", "default"]


def test_default_and_named_devices_are_resolved(fake_sd):
    fake_sd(FakeSoundDevice([_device("USB Mic", 1, 44100.0), _device("default", 2, 48000.0)], default_in=1))
    default = SoundDeviceCapture()
    assert default.device_name == "system default microphone"  # nothing resolved yet, nothing raised
    default.probe()
    assert (default.device_name, default.sample_rate) == ("default", 48000)
    usb = SoundDeviceCapture("usb mic")  # case-insensitive part of the name
    usb.probe()
    assert (usb.device_name, usb.sample_rate) == ("USB Mic", 44100)
    with pytest.raises(CaptureError, match="'Studio' is not connected.*'USB Mic'"):
        SoundDeviceCapture("Studio").probe()


def test_stream_runs_at_native_rate_and_downmixes(fake_sd):
    sd = fake_sd(FakeSoundDevice([_device("hw", 2, 44100.0)], default_in=0))
    sd.refuse_channels = {1}  # a raw hw device that only does stereo
    got: list[np.ndarray] = []
    source = SoundDeviceCapture()
    source.start(got.append)
    stream = sd.streams[-1]
    assert stream.kw["samplerate"] == 44100 and stream.kw["channels"] == 2 and stream.kw["dtype"] == "float32"
    stream.feed(np.array([[0.2, 0.4], [0.0, -0.2]], dtype=np.float32))
    source.stop()
    assert stream.closed and capture._open_streams == 0
    np.testing.assert_allclose(got[0], [0.3, -0.1], rtol=1e-6)
    assert got[0].ndim == 1


def test_open_failure_is_a_capture_error(fake_sd):
    sd = fake_sd(FakeSoundDevice([_device("busy", 1)], default_in=0))
    sd.refuse_channels = {1}
    with pytest.raises(CaptureError, match="Could not open the microphone 'busy'"):
        SoundDeviceCapture().start(lambda b: None)


def test_a_stream_that_dies_reports_an_error_but_a_stopped_one_does_not(fake_sd):
    sd = fake_sd(FakeSoundDevice([_device("mic", 1)], default_in=0))
    errors: list[CaptureError] = []
    source = SoundDeviceCapture()
    source.start(lambda b: None, errors.append)
    sd.streams[-1].die()
    assert len(errors) == 1 and "stopped sending audio" in str(errors[0])
    source.stop()
    source.start(lambda b: None, errors.append)
    source.stop()
    sd.streams[-1].die()  # PortAudio calls it after a normal stop too
    assert len(errors) == 1


def test_real_sounddevice_without_a_sound_card_raises_capture_error(tmp_path, monkeypatch):
    # The real library on a machine with no sound card (and no sound server): a message, not a crash.
    pytest.importorskip("sounddevice")
    monkeypatch.setenv("HOME", str(tmp_path))  # importing sounddevice with pulse installed writes here
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    if any(d.name for d in list_input_devices()):
        pytest.skip("this machine has an input device")
    with pytest.raises(CaptureError):
        SoundDeviceCapture().probe()


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
    assert 0.4 <= took < 1.5  # real time, not as fast as possible
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
    recorder = Recorder(WavFileCapture(np.zeros(10, np.float32), 16000), max_recording_s=1)
    recorder._rate, recorder._max_samples, recorder._running = 16000, 16000, True
    recorder._on_block(np.full(320, 0.5, dtype=np.float32))
    assert recorder.status().level_rms == pytest.approx(0.5)
    recorder._on_block(np.zeros(320, dtype=np.float32))
    assert recorder.status().level_rms == 0.0


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


def test_recorder_start_failure_leaves_it_idle(fake_sd):
    fake_sd(FakeSoundDevice([]))
    recorder = Recorder(SoundDeviceCapture(), 5)
    with pytest.raises(CaptureError):
        recorder.start()
    assert not recorder.is_recording
    assert recorder.stop().audio.size == 0


def test_capture_module_imports_sounddevice_lazily():
    code = "import sys, voxtral_desktop.core.capture; print('sounddevice' in sys.modules)"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_no_thread_outlives_a_stopped_wav_capture():
    before = threading.active_count()
    source = WavFileCapture(np.zeros(1600, np.float32), 16000)
    source.start(lambda b: None)
    source.stop()
    assert threading.active_count() == before
