"""PortAudio through sounddevice: input devices and recording, output devices and the output stream for
spoken replies (the only sounddevice importer).

sounddevice is imported lazily, on the first listing or recording, so importing the core stays light and a
machine without libportaudio gets a CaptureError with advice instead of an ImportError. Never imports Qt.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from voxtral_desktop.core.audio import SAMPLE_RATE
from voxtral_desktop.core.capture import BLOCK_MS, BlockCallback, CaptureError, CaptureSource, ErrorCallback
from voxtral_desktop.core.errors import SpeechError
from voxtral_desktop.core.source_watch import SourceWatch, routed_through_server

log = logging.getLogger(__name__)

NO_MICROPHONE = (
    "No microphone found. Connect one (or start the sound server, e.g. PulseAudio or PipeWire), "
    "then choose it in Settings."
)


@dataclass(frozen=True)
class InputDevice:
    """One input device as PortAudio lists it."""

    index: int
    name: str
    max_input_channels: int
    default_samplerate: float
    is_default: bool = False


# PortAudio is process-global: (re)initialising it while a stream is open would pull the stream away.
_PA_LOCK = threading.RLock()
_open_streams = 0


def import_sounddevice() -> ModuleType:
    """The sounddevice module, imported on first use; CaptureError with install advice when PortAudio is missing.

    Tests replace this function to run the code below against a fake sounddevice.
    """
    try:
        import sounddevice
    except OSError as e:  # the Python package is there but libportaudio is not
        raise CaptureError(
            f"The PortAudio library is missing, so no microphone can be used ({e}). "
            "Install it (Debian/Ubuntu: apt-get install libportaudio2) and restart."
        ) from e
    return sounddevice


def _reinitialize(sd: ModuleType) -> None:
    """PortAudio lists devices once, at initialisation: a sound server started later stays invisible."""
    log.info("re-initialising PortAudio to look for new input devices")
    sd._terminate()
    sd._initialize()


def _query_inputs(sd: ModuleType) -> list[InputDevice]:
    default_in = -1
    try:
        default_in = int(sd.default.device[0])
    except (TypeError, ValueError, IndexError):
        pass
    if default_in < 0:
        try:
            default_in = int(sd.query_devices(kind="input")["index"])
        except sd.PortAudioError:  # no default input
            default_in = -1
    out = []
    for d in sd.query_devices():
        if int(d["max_input_channels"]) > 0:
            out.append(
                InputDevice(
                    index=int(d["index"]),
                    name=str(d["name"]),
                    max_input_channels=int(d["max_input_channels"]),
                    default_samplerate=float(d["default_samplerate"]),
                    is_default=int(d["index"]) == default_in,
                )
            )
    return out


def list_input_devices(*, refresh: bool = False) -> list[InputDevice]:
    """Input devices, the system default marked. Raises CaptureError only when PortAudio itself is missing.

    When none are found (or ``refresh``), PortAudio is re-initialised once and asked again, unless a stream
    is open: sounddevice may have been imported before the sound server started.
    """
    sd = import_sounddevice()
    with _PA_LOCK:
        devices: list[InputDevice] = []
        failure: Exception | None = None  # sounddevice.PortAudioError
        if not refresh:
            try:
                devices = _query_inputs(sd)
            except sd.PortAudioError as e:
                failure = e
        if (refresh or failure is not None or not devices) and _open_streams == 0:
            try:
                _reinitialize(sd)
                devices, failure = _query_inputs(sd), None
            except sd.PortAudioError as e:
                failure = e
        if failure is not None and not devices:
            log.warning("listing input devices failed: %s", failure)
        return devices


def _pick(devices: list[InputDevice], wanted: str | None) -> InputDevice:
    if not devices:
        raise CaptureError(NO_MICROPHONE)
    if not wanted:
        return next((d for d in devices if d.is_default), devices[0])
    exact = [d for d in devices if d.name == wanted]
    if exact:
        return exact[0]
    partial = [d for d in devices if wanted.lower() in d.name.lower()]
    if partial:
        return partial[0]
    names = ", ".join(repr(d.name) for d in devices)
    raise CaptureError(
        f"The microphone '{wanted}' is not connected. Plug it in, or choose another in Settings "
        f"(available: {names})."
    )


def _rate_for(sd: ModuleType, device: InputDevice) -> int:
    """16 kHz when the device takes it (the rate the model and the speech detector want: no resampling,
    less CPU and delay in hands-free), else its own default rate (the caller resamples)."""
    try:
        sd.check_input_settings(device=device.index, samplerate=SAMPLE_RATE, channels=1, dtype="float32")
    except (sd.PortAudioError, ValueError):
        return round(device.default_samplerate)
    return SAMPLE_RATE


class SoundDeviceCapture(CaptureSource):
    """A PortAudio input stream at 16 kHz when the device takes it, else at its own default rate; mono."""

    def __init__(self, device: str | None = None, *, block_ms: int = BLOCK_MS) -> None:
        self.requested = device or None
        self.block_ms = block_ms
        self._device: InputDevice | None = None
        self._rate = 0
        self._stream: Any = None
        self._watch: SourceWatch | None = None
        self._stopping = threading.Event()

    def probe(self) -> None:
        device = _pick(list_input_devices(), self.requested)
        sd = import_sounddevice()
        with _PA_LOCK:
            self._rate = _rate_for(sd, device)
        self._device = device

    def _resolved(self) -> InputDevice:
        if self._device is None:
            self.probe()
        assert self._device is not None
        return self._device

    @property
    def sample_rate(self) -> int:
        self._resolved()
        return self._rate

    @property
    def device_name(self) -> str:
        if self._device is not None:
            return self._device.name
        return self.requested or "system default microphone"

    def start(self, on_block: BlockCallback, on_error: ErrorCallback | None = None) -> None:
        global _open_streams
        if self._stream is not None:
            raise CaptureError("the microphone is already recording")
        sd = import_sounddevice()
        device = self._resolved()
        rate = self._rate
        self._stopping.clear()

        def callback(indata: np.ndarray, frames: int, when: Any, status: Any) -> None:
            if status:
                log.debug("input status: %s", status)
            block = indata[:, 0].copy() if indata.shape[1] == 1 else indata.mean(axis=1, dtype=np.float32)
            try:
                on_block(block)
            except Exception:  # raising here would kill PortAudio's thread and silently end the recording
                log.exception("audio block handler failed")

        def finished() -> None:
            if not self._stopping.is_set() and on_error is not None:
                on_error(
                    CaptureError(f"The microphone '{device.name}' stopped sending audio (disconnected?).")
                )

        with _PA_LOCK:
            last: Exception | None = None
            # Mono first: most devices (and every ALSA plug/pulse device) downmix for us; raw hw devices
            # may insist on their own channel count, which is downmixed in the callback instead.
            for channels in dict.fromkeys((1, min(2, device.max_input_channels), device.max_input_channels)):
                try:
                    stream = sd.InputStream(
                        samplerate=rate,
                        blocksize=max(1, rate * self.block_ms // 1000),
                        device=device.index,
                        channels=channels,
                        dtype="float32",
                        callback=callback,
                        finished_callback=finished,
                    )
                    stream.start()
                except (sd.PortAudioError, ValueError) as e:  # ValueError: settings the device refuses
                    last = e
                    continue
                self._stream = stream
                _open_streams += 1
                log.info("recording from %r at %d Hz, %d channel(s)", device.name, rate, channels)
                if on_error is not None and routed_through_server(device.name):
                    self._watch = SourceWatch.start(lambda source: self._unplugged(source, on_error))
                return
        raise CaptureError(f"Could not open the microphone '{device.name}': {last}") from last

    def _unplugged(self, source: str, on_error: ErrorCallback) -> None:
        # The sound server has already moved the stream to another source: what comes now is not the user.
        if not self._stopping.is_set():
            on_error(
                CaptureError(
                    f"The microphone was disconnected (sound server source '{source}'), so the recording "
                    "was stopped. Plug it back in or choose another microphone in Settings, then talk again."
                )
            )

    def stop(self) -> None:
        global _open_streams
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.stop()
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._stopping.set()
        sd = import_sounddevice()
        with _PA_LOCK:
            try:
                stream.stop()
                stream.close()
            except sd.PortAudioError as e:  # a device that vanished may fail to close; gone either way
                log.warning("closing the input stream failed: %s", e)
            finally:
                _open_streams -= 1


def open_stream_count() -> int:
    """How many streams (input or output) are open now (PortAudio is not re-initialised while any is)."""
    return _open_streams


# --- output (spoken replies) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputDevice:
    """One output device as PortAudio lists it."""

    index: int
    name: str
    default_samplerate: float
    is_default: bool = False


def _sounddevice_for_output() -> ModuleType:
    try:
        return import_sounddevice()
    except CaptureError as e:
        raise SpeechError(
            "The PortAudio library is missing, so replies cannot be spoken. "
            "Install it (Debian/Ubuntu: apt-get install libportaudio2) and restart."
        ) from e


def _query_outputs(sd: ModuleType) -> list[OutputDevice]:
    try:
        default_out = int(sd.default.device[1])
    except (TypeError, ValueError, IndexError):
        default_out = -1
    return [
        OutputDevice(int(d["index"]), str(d["name"]), float(d["default_samplerate"]), int(d["index"]) == default_out)
        for d in sd.query_devices()
        if int(d["max_output_channels"]) > 0
    ]


def list_output_devices(*, refresh: bool = False) -> list[OutputDevice]:
    """Output devices, the default marked; ``refresh`` re-initialises PortAudio unless a stream is open."""
    sd = _sounddevice_for_output()
    with _PA_LOCK:
        try:
            if refresh and _open_streams == 0:
                _reinitialize(sd)
            return _query_outputs(sd)
        except sd.PortAudioError as e:
            log.warning("listing output devices failed: %s", e)
            return []


def _pick_output(sd: ModuleType, wanted: str) -> int | None:
    if not wanted:
        return None  # PortAudio's default output
    devices = _query_outputs(sd)
    for match in (lambda n: n == wanted, lambda n: wanted.lower() in n.lower()):
        found = [d.index for d in devices if match(d.name)]
        if found:
            return found[0]
    names = ", ".join(d.name for d in devices) or "none"
    raise SpeechError(f"The sound output '{wanted}' was not found (outputs: {names}). Choose one in Settings.")


def open_output_stream(
    device: str, samplerate: int, callback: Any, *, latency: float, block_s: float
) -> tuple[Any, int]:
    """A started mono float32 output stream on ``device`` ("" = default) and its rate: ``samplerate`` when
    the device takes it, else the device's own (the caller resamples). Close it with close_output_stream."""
    global _open_streams
    sd = _sounddevice_for_output()
    with _PA_LOCK:
        index = _pick_output(sd, device)
        rate = samplerate
        try:
            sd.check_output_settings(device=index, samplerate=rate, channels=1, dtype="float32")
        except (sd.PortAudioError, ValueError):
            rate = int(sd.query_devices(index, "output")["default_samplerate"])
        try:
            stream = sd.OutputStream(
                samplerate=rate,
                device=index,
                channels=1,
                dtype="float32",
                latency=latency,
                blocksize=max(1, int(rate * block_s)),
                callback=callback,
            )
            stream.start()
        except (sd.PortAudioError, ValueError) as e:
            raise SpeechError(
                f"Could not open the sound output '{device or 'system default'}': {e}. "
                "Check the speakers, or choose another output in Settings."
            ) from e
        _open_streams += 1
        log.info("speaking to %r at %d Hz, %.0f ms latency", device or "default", rate, stream.latency * 1000)
        return stream, rate


def close_output_stream(stream: Any) -> None:
    global _open_streams
    sd = _sounddevice_for_output()
    with _PA_LOCK:
        try:
            stream.abort()
            stream.close()
        except sd.PortAudioError as e:
            log.warning("closing the output stream failed: %s", e)
        finally:
            _open_streams -= 1
