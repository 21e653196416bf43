"""PortAudio device listing and the sounddevice source, without a sound card: a fake sounddevice module."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from voxtral_desktop.core import portaudio
from voxtral_desktop.core.capture import CaptureError, Recorder
from voxtral_desktop.core.portaudio import SoundDeviceCapture, list_input_devices


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
        self.takes_16k = False  # like most hw devices: only the default rate
        self.PortAudioError = FakePortAudioError

    def check_input_settings(self, *, device: int, samplerate: float, channels: int, dtype: str) -> None:
        if samplerate != self.devices[device]["default_samplerate"] and not self.takes_16k:
            raise FakePortAudioError("Invalid sample rate")

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
        monkeypatch.setattr(portaudio, "import_sounddevice", lambda: sd)
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
    assert stream.closed and portaudio.open_stream_count() == 0
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


def test_real_sounddevice_without_a_sound_card_raises_capture_error(tmp_path):
    # The real library on a machine with no sound card and no sound server: a message, not a crash. Staged
    # in a child whose ALSA knows only a card that is not there, so it runs (never skips) on any machine.
    (tmp_path / "asound.conf").write_text("pcm.!default { type hw card 99 }\nctl.!default { type hw card 99 }\n")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),  # importing sounddevice with pulse installed writes here
        "XDG_RUNTIME_DIR": str(tmp_path),
        "PULSE_SERVER": f"unix:{tmp_path}/no-pulse",
        "ALSA_CONFIG_PATH": str(tmp_path / "asound.conf"),
        "JACK_NO_START_SERVER": "1",
    }
    code = (
        "from voxtral_desktop.core.portaudio import SoundDeviceCapture, list_input_devices\n"
        "from voxtral_desktop.core.capture import CaptureError\n"
        "print('devices', len([d for d in list_input_devices() if d.name]))\n"
        "try:\n    SoundDeviceCapture().probe()\nexcept CaptureError as e:\n    print('CaptureError', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "devices 0" in out.stdout and "CaptureError" in out.stdout, out.stdout + out.stderr[-2000:]


def test_a_recorder_whose_microphone_fails_to_start_is_left_idle(fake_sd):
    fake_sd(FakeSoundDevice([]))
    recorder = Recorder(SoundDeviceCapture(), 5)
    with pytest.raises(CaptureError):
        recorder.start()
    assert not recorder.is_recording
    assert recorder.stop().audio.size == 0


@pytest.mark.parametrize("module", ["capture", "portaudio"])
def test_capture_modules_import_sounddevice_lazily(module):
    code = f"import sys, voxtral_desktop.core.{module}; print('sounddevice' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_device_that_takes_16_khz_is_opened_at_16_khz(fake_sd):
    # What the model and the speech detector want: nothing to resample (less CPU and delay in hands-free).
    sd = fake_sd(FakeSoundDevice([_device("pulse", 2, 44100.0)], default_in=0))
    sd.takes_16k = True
    source = SoundDeviceCapture()
    assert source.sample_rate == 16000
    source.start(lambda block: None)
    assert sd.streams[-1].kw["samplerate"] == 16000 and sd.streams[-1].kw["blocksize"] == 320
    source.stop()
