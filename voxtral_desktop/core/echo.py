"""Acoustic echo cancellation in process: WebRTC AEC3 (pywebrtc-audio) on the microphone stream against
the audio the app itself plays (the speech player's reference signal), aligned by play time.

The reference arrives from the player's audio thread in bursts, at the voice's rate, stamped with the
monotonic time its first sample reaches the speaker. It is resampled to the microphone stream's rate and
written into a timeline indexed by time, so bursts, gaps and early deliveries all land where they belong;
each 10 ms microphone frame is then paired with what was played at the same moment (AEC3 estimates the
acoustic delay itself, up to a few hundred ms). Never imports Qt or sounddevice.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from voxtral_desktop.core.errors import EchoCancellerUnavailable

log = logging.getLogger(__name__)

FRAME_MS = 10  # AEC3 works on 10 ms frames
HISTORY_S = 8.0  # reference kept this long: covers the acoustic delay, scheduling jitter and read-ahead
# A burst stamped within this of where the previous one ended continues it (no resampler restart).
CONTIGUOUS_S = 0.004
AUDIBLE = 1e-4  # reference peak (full scale 1.0) below which nothing is considered playing (-80 dBFS)


def _new_aec(sample_rate: int, stream_delay_ms: int):  # -> pywebrtc_audio.EchoCanceller
    try:
        from pywebrtc_audio import EchoCanceller as WebRtcAec
    except ImportError as e:
        raise EchoCancellerUnavailable(
            f"Echo cancellation needs the 'pywebrtc-audio' package ({e}): pip install pywebrtc-audio"
        ) from e
    return WebRtcAec(sample_rate=sample_rate, num_channels=1, stream_delay_ms=stream_delay_ms)


class ReferenceTimeline:
    """What the app played, at ``sample_rate``, indexed by monotonic time; written and read from any thread."""

    def __init__(self, sample_rate: int, history_s: float = HISTORY_S) -> None:
        self.sample_rate = sample_rate
        self._size = int(history_s * sample_rate)
        self._ring = np.zeros(self._size, dtype=np.float32)
        self._owner = np.full(self._size, -1, dtype=np.int64)  # absolute index each slot holds
        self._epoch: float | None = None
        self._lock = threading.Lock()
        self._resampler = None  # soxr.ResampleStream of the burst run in progress
        self._run_rate = 0
        self._run_next_t = 0.0  # where the current run's next burst should start
        self._run_write = 0  # absolute index its next resampled sample goes to
        self._last_audible = -1  # absolute index just past the last audible reference sample

    def index(self, t: float) -> int:
        """Absolute sample index of monotonic time ``t`` (the first call fixes the origin)."""
        with self._lock:
            if self._epoch is None:
                self._epoch = t
            return round((t - self._epoch) * self.sample_rate)

    def add(self, samples: np.ndarray, sample_rate: int, t_play: float) -> None:
        """The player's reference callback: ``samples`` (mono float32) start reaching the speaker at ``t_play``."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not len(samples):
            return
        start_index = self.index(t_play)
        with self._lock:
            continuing = (
                self._resampler is not None
                and sample_rate == self._run_rate
                and abs(t_play - self._run_next_t) <= CONTIGUOUS_S
            )
            if not continuing:
                self._flush_run()
                self._start_run(sample_rate, start_index)
            self._run_next_t = t_play + len(samples) / sample_rate
            self._write(self._resampler.resample_chunk(samples))

    def _start_run(self, sample_rate: int, start_index: int) -> None:
        self._run_rate, self._run_write = sample_rate, start_index
        if sample_rate == self.sample_rate:
            self._resampler = _Identity()
        else:
            import soxr

            # soxr's stream output is delay-compensated: output sample k belongs to input time k / rate.
            self._resampler = soxr.ResampleStream(sample_rate, self.sample_rate, 1, dtype="float32")

    def _flush_run(self) -> None:
        if self._resampler is not None:
            self._write(self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
            self._resampler = None

    def _write(self, out: np.ndarray) -> None:
        if not len(out):
            return
        idx = np.arange(self._run_write, self._run_write + len(out), dtype=np.int64)
        slots = idx % self._size
        self._ring[slots] = out
        self._owner[slots] = idx
        self._run_write += len(out)
        loud = np.flatnonzero(np.abs(out) >= AUDIBLE)
        if len(loud):
            self._last_audible = max(self._last_audible, int(idx[loud[-1]]) + 1)

    def read(self, start: int, count: int) -> np.ndarray:
        """``count`` reference samples from absolute index ``start``; silence where nothing was played."""
        idx = np.arange(start, start + count, dtype=np.int64)
        slots = idx % self._size
        with self._lock:
            out = self._ring[slots].copy()
            out[self._owner[slots] != idx] = 0.0
        return out

    def audible_since(self, index: int) -> bool:
        """Was anything audible played at or after absolute ``index``?"""
        with self._lock:
            return self._last_audible > index


class _Identity:
    """Stands in for a resampler when the voice already plays at the microphone stream's rate."""

    @staticmethod
    def resample_chunk(x: np.ndarray, last: bool = False) -> np.ndarray:
        return x


class EchoCanceller:
    """Removes the app's own playback from microphone audio at ``sample_rate``; a pass-through when disabled.

    ``add_reference`` is the player's reference listener (any thread). ``process(near, t_start)`` takes
    microphone samples whose first one was captured at monotonic ``t_start`` and returns cleaned samples,
    whole 10 ms frames only (the rest waits for the next call), so output lags input by under 10 ms.
    """

    def __init__(self, sample_rate: int = 16000, *, enabled: bool = True, stream_delay_ms: int = 0) -> None:
        if sample_rate % 100:
            raise ValueError(f"echo cancellation needs a rate with whole 10 ms frames, got {sample_rate}")
        self.sample_rate = sample_rate
        self.frame = sample_rate * FRAME_MS // 1000
        self.enabled = enabled
        self.reference = ReferenceTimeline(sample_rate)
        self._aec = _new_aec(sample_rate, stream_delay_ms) if enabled else None
        self._pending = np.zeros(0, dtype=np.float32)

    def add_reference(self, samples: np.ndarray, sample_rate: int, t_play: float) -> None:
        self.reference.add(samples, sample_rate, t_play)

    def process(self, near: np.ndarray, t_start: float) -> np.ndarray:
        near = np.asarray(near, dtype=np.float32).reshape(-1)
        start = self.reference.index(t_start) - len(self._pending)
        buf = np.concatenate([self._pending, near])
        n = len(buf) // self.frame * self.frame
        self._pending = buf[n:]
        if not n:
            return np.zeros(0, dtype=np.float32)
        if self._aec is None:
            return buf[:n]
        far = self.reference.read(start, n)
        # One call over several frames: the extension splits them into 10 ms frames without the GIL.
        return np.asarray(self._aec.process(buf[:n], far), dtype=np.float32)

    def playing_near(self, t: float, tail_s: float) -> bool:
        """Was the app playing anything audible between ``t - tail_s`` and now (echo may still ring)?"""
        return self.reference.audible_since(self.reference.index(t - tail_s))

    def reset(self) -> None:
        if self._aec is not None:
            self._aec.reset()
        self._pending = np.zeros(0, dtype=np.float32)
