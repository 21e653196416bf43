"""Microphone capture: the source interface every microphone implements, and the Recorder that bounds one take.

Sources deliver mono float32 blocks at their native rate from their own thread; the core resamples to
16 kHz later. The real source is core/portaudio.py's SoundDeviceCapture; test sources live in
voxtral_desktop/testing/wav_capture.py. Never imports Qt or sounddevice.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from voxtral_desktop.core.audio import SAMPLE_RATE, rms
from voxtral_desktop.core.errors import CaptureError  # re-exported: its home before core/errors.py

log = logging.getLogger(__name__)

BlockCallback = Callable[[np.ndarray], None]
ErrorCallback = Callable[["CaptureError"], None]

BLOCK_MS = 20  # ms per delivered block: short enough for a lively level meter, long enough to be cheap
# No block for this long while recording means the device died quietly (unplugged USB mics often do).
STALL_S = 2.0


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
                self._level = rms(block)
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

