"""Test sources that stand in for a microphone: a WAV file or array played in real time (with fault
injection), and a machine with no microphone at all."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from voxtral_desktop.core.capture import BLOCK_MS, BlockCallback, CaptureError, CaptureSource, ErrorCallback
from voxtral_desktop.core.portaudio import NO_MICROPHONE

__all__ = ["NoMicrophone", "WavFileCapture"]



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

    @property
    def is_running(self) -> bool:
        """True from start() until stop() has returned (its thread is gone then)."""
        return self._thread is not None


class NoMicrophone(CaptureSource):
    """What SoundDeviceCapture does on a machine without an input device: every use raises CaptureError."""

    message = NO_MICROPHONE

    def __init__(self, device: str | None = None) -> None:
        self.requested = device

    @property
    def sample_rate(self) -> int:
        raise CaptureError(self.message)

    @property
    def device_name(self) -> str:
        return "none"

    def probe(self) -> None:
        raise CaptureError(self.message)

    def start(self, on_block: BlockCallback, on_error: ErrorCallback | None = None) -> None:
        raise CaptureError(self.message)

    def stop(self) -> None:
        pass
