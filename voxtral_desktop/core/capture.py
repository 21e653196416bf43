"""Microphone capture: a small source interface, sounddevice and WAV-file sources, and a bounded Recorder.

Sources deliver mono float32 blocks at their native rate from their own thread; the core resamples to
16 kHz later. This is the only module that imports sounddevice, and it does so lazily. Never imports Qt.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from voxtral_desktop.core.audio import SAMPLE_RATE

log = logging.getLogger(__name__)

BlockCallback = Callable[[np.ndarray], None]
ErrorCallback = Callable[["CaptureError"], None]

BLOCK_MS = 20  # ms per delivered block: short enough for a lively level meter, long enough to be cheap
# No block for this long while recording means the device died quietly (unplugged USB mics often do).
STALL_S = 2.0
NO_MICROPHONE = (
    "No microphone found. Connect one (or start the sound server, e.g. PulseAudio or PipeWire), "
    "then choose it in Settings."
)


class CaptureError(RuntimeError):
    """The microphone cannot be used: none present, it vanished, or PortAudio refused it. Message is for users."""


@dataclass(frozen=True)
class InputDevice:
    """One input device as PortAudio lists it."""

    index: int
    name: str
    max_input_channels: int
    default_samplerate: float
    is_default: bool = False


class CaptureSource(abc.ABC):
    """Delivers mono float32 blocks at ``sample_rate`` to a callback, from a thread of its own."""

    @property
    @abc.abstractmethod
    def sample_rate(self) -> int:
        """Native rate of the delivered blocks, Hz."""

    @property
    @abc.abstractmethod
    def device_name(self) -> str: ...

    def probe(self) -> None:
        """Raise CaptureError when the source cannot be started; cheap, opens no stream."""

    @abc.abstractmethod
    def start(self, on_block: BlockCallback, on_error: ErrorCallback | None = None) -> None:
        """Begin delivering blocks. Raises CaptureError; later failures go to ``on_error`` (any thread)."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop delivering and release the device; idempotent. No callback runs after it returns."""


# --- sounddevice -----------------------------------------------------------------------------------

# PortAudio is process-global: (re)initialising it while a stream is open would pull the stream away.
_PA_LOCK = threading.RLock()
_open_streams = 0


def _import_sounddevice() -> ModuleType:
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
    sd = _import_sounddevice()
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


class SoundDeviceCapture(CaptureSource):
    """A PortAudio input stream at the device's own default rate, downmixed to mono when needed."""

    def __init__(self, device: str | None = None, *, block_ms: int = BLOCK_MS) -> None:
        self.requested = device or None
        self.block_ms = block_ms
        self._device: InputDevice | None = None
        self._stream: Any = None
        self._stopping = threading.Event()

    def probe(self) -> None:
        self._device = _pick(list_input_devices(), self.requested)

    def _resolved(self) -> InputDevice:
        if self._device is None:
            self.probe()
        assert self._device is not None
        return self._device

    @property
    def sample_rate(self) -> int:
        return round(self._resolved().default_samplerate)

    @property
    def device_name(self) -> str:
        if self._device is not None:
            return self._device.name
        return self.requested or "system default microphone"

    def start(self, on_block: BlockCallback, on_error: ErrorCallback | None = None) -> None:
        global _open_streams
        if self._stream is not None:
            raise CaptureError("the microphone is already recording")
        sd = _import_sounddevice()
        device = self._resolved()
        rate = round(device.default_samplerate)
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
                return
        raise CaptureError(f"Could not open the microphone '{device.name}': {last}") from last

    def stop(self) -> None:
        global _open_streams
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._stopping.set()
        sd = _import_sounddevice()
        with _PA_LOCK:
            try:
                stream.stop()
                stream.close()
            except sd.PortAudioError as e:  # a device that vanished may fail to close; gone either way
                log.warning("closing the input stream failed: %s", e)
            finally:
                _open_streams -= 1


# --- WAV file / array --------------------------------------------------------------------------------


class WavFileCapture(CaptureSource):
    """Plays a WAV file or an array as if it were a microphone: one block every ``block_ms`` from a thread.

    After the audio runs out it keeps sending silence (as a real microphone would) unless
    ``pad_with_silence`` is False. ``finished`` is set once all of the audio has been delivered.
    ``fail_after_s`` simulates a device that dies mid-recording.
    """

    def __init__(
        self,
        source: str | Path | np.ndarray,
        rate: int | None = None,
        *,
        block_ms: int = BLOCK_MS,
        speed: float = 1.0,
        pad_with_silence: bool = True,
        fail_after_s: float | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(source, np.ndarray):
            if rate is None:
                raise ValueError("rate is needed when the source is an array")
            audio = source
            self._name = name or "test audio"
        else:
            import soundfile as sf

            audio, file_rate = sf.read(str(source), dtype="float32", always_2d=False)
            rate = int(file_rate)
            self._name = name or Path(source).name
        audio = np.asarray(audio, dtype=np.float32)
        self.audio = audio.mean(axis=1, dtype=np.float32) if audio.ndim == 2 else audio
        self._rate = int(rate)
        self.block = max(1, self._rate * block_ms // 1000)
        self.speed = speed
        self.pad_with_silence = pad_with_silence
        self.fail_after_s = fail_after_s
        self.finished = threading.Event()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def sample_rate(self) -> int:
        return self._rate

    @property
    def device_name(self) -> str:
        return self._name

    def start(self, on_block: BlockCallback, on_error: ErrorCallback | None = None) -> None:
        if self._thread is not None:
            raise CaptureError("the source is already running")
        self._halt.clear()
        self.finished.clear()
        self._thread = threading.Thread(
            target=self._feed, args=(on_block, on_error), name="voxtral-wav-capture", daemon=True
        )
        self._thread.start()

    def _feed(self, on_block: BlockCallback, on_error: ErrorCallback | None) -> None:
        period = self.block / self._rate / self.speed
        started = time.perf_counter()
        i = 0
        silence = np.zeros(self.block, dtype=np.float32)
        while True:
            # Deliver each block when it would have finished arriving, on an absolute schedule so drift
            # does not accumulate.
            if self._halt.wait(max(0.0, started + (i + 1) * period - time.perf_counter())):
                return
            offset = i * self.block
            if self.fail_after_s is not None and offset >= self.fail_after_s * self._rate:
                if on_error is not None:
                    on_error(
                        CaptureError(f"The microphone '{self._name}' stopped sending audio (simulated).")
                    )
                return
            if offset < len(self.audio):
                on_block(self.audio[offset : offset + self.block].copy())
                if offset + self.block >= len(self.audio):
                    self.finished.set()
            elif self.pad_with_silence:
                self.finished.set()
                on_block(silence.copy())
            else:
                self.finished.set()
                return
            i += 1

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._halt.set()
        thread.join()


# --- Recorder ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recording:
    """What one press of the talk button captured."""

    audio: np.ndarray  # mono float32 at sample_rate
    sample_rate: int
    limit_reached: bool

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


@dataclass(frozen=True)
class RecorderStatus:
    """A snapshot for the UI, which polls it: level, time, and whether something ended the recording."""

    level_rms: float  # RMS of the latest block, full scale 1.0
    elapsed_s: float  # wall time since start()
    recorded_s: float  # audio received so far
    limit_reached: bool
    error: CaptureError | None


class Recorder:
    """Collects one recording from a source, at most ``max_recording_s`` long; thread-safe.

    Blocks arrive on the source's thread; the UI polls ``status()``. When the limit is reached further
    audio is dropped and ``on_limit`` (if given) runs once, on the source's thread.
    """

    def __init__(
        self,
        source: CaptureSource,
        max_recording_s: float,
        *,
        on_limit: Callable[[], None] | None = None,
        stall_s: float = STALL_S,
    ) -> None:
        if max_recording_s <= 0:
            raise ValueError(f"max_recording_s must be > 0, got {max_recording_s}")
        self.source = source
        self.max_recording_s = max_recording_s
        self.on_limit = on_limit
        self.stall_s = stall_s
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._blocks: list[np.ndarray] = []
        self._samples = 0
        self._level = 0.0
        self._limit = False
        self._error: CaptureError | None = None
        self._started = 0.0
        self._last_block = 0.0
        self._running = False
        self._rate = 0

    @property
    def is_recording(self) -> bool:
        return self._running

    def start(self) -> None:
        """Raises CaptureError when the source cannot start; the recorder is then left idle."""
        with self._lock:
            self._reset()
            self._rate = self.source.sample_rate
            self._max_samples = round(self.max_recording_s * self._rate)
            self._started = self._last_block = time.monotonic()
            self._running = True
        try:
            self.source.start(self._on_block, self._on_error)
        except BaseException:
            self._running = False
            raise

    def _on_block(self, block: np.ndarray) -> None:
        fire = False
        with self._lock:
            if not self._running or self._limit:
                return
            self._last_block = time.monotonic()
            room = self._max_samples - self._samples
            if len(block) >= room:
                block = block[:room]
                self._limit = fire = True
            if len(block):
                self._blocks.append(block)
                self._samples += len(block)
                self._level = float(np.sqrt(np.mean(np.square(block, dtype=np.float64))))
        if fire and self.on_limit is not None:
            self.on_limit()

    def _on_error(self, error: CaptureError) -> None:
        with self._lock:
            if self._running and self._error is None:
                self._error = error

    def status(self) -> RecorderStatus:
        now = time.monotonic()
        with self._lock:
            error = self._error
            if error is None and self._running and not self._limit and now - self._last_block > self.stall_s:
                error = self._error = CaptureError(
                    f"The microphone '{self.source.device_name}' sent no audio for {self.stall_s:g} s "
                    "(disconnected or in use by another program?)."
                )
            return RecorderStatus(
                level_rms=self._level,
                elapsed_s=(now - self._started) if self._running else 0.0,
                recorded_s=self._samples / self._rate if self._rate else 0.0,
                limit_reached=self._limit,
                error=error,
            )

    def stop(self) -> Recording:
        """Stop the source and return what was recorded (possibly nothing)."""
        self.source.stop()
        with self._lock:
            self._running = False
            audio = np.concatenate(self._blocks) if self._blocks else np.zeros(0, dtype=np.float32)
            rate = self._rate or SAMPLE_RATE  # never started: an empty recording at the core's rate
            rec = Recording(
                audio=audio.astype(np.float32, copy=False), sample_rate=rate, limit_reached=self._limit
            )
            self._blocks = []
        return rec
