"""Audio in any accepted form -> mono float32 at 16 kHz; loudness (RMS, waveform), speech detection, WAV encoding."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from voxtral_desktop.core.errors import AudioError, AudioTooLong  # re-exported: their home before errors.py

SAMPLE_RATE = 16000  # Hz; Voxtral's Whisper-style encoder expects this rate
MIN_SAMPLES = SAMPLE_RATE // 100  # 160 samples = 10 ms; anything shorter cannot hold a sound
FRAME_SAMPLES = SAMPLE_RATE // 50  # 320 samples = 20 ms, the unit speech detection counts in
MAX_CHANNELS = 8  # a 2-D array with a side this short is read as channels
# Floats a little over full scale come from resampling overshoot and are clipped; far over it means
# integer samples were passed as floats, which no clipping can rescue.
FLOAT_OVERSHOOT_LIMIT = 2.0
# Rates sound devices and files really use; anything outside is a unit mix-up (kHz, samples) or garbage.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 384000


def _to_numpy(audio: Any) -> np.ndarray:
    """Accept numpy arrays and torch tensors without importing torch (it is heavy and lazy here)."""
    if isinstance(audio, np.ndarray):
        return audio
    if type(audio).__module__.split(".")[0] == "torch" and hasattr(audio, "detach"):
        tensor = audio.detach().cpu()
        if tensor.is_floating_point() and str(tensor.dtype) not in ("torch.float32", "torch.float64"):
            tensor = tensor.float()  # bfloat16 and float16 have no exact numpy twin everywhere
        return tensor.numpy()
    raise AudioError(f"audio must be a numpy array or torch tensor, got {type(audio).__name__}")


def _to_mono_float32(arr: np.ndarray) -> np.ndarray:
    """Downmix to one float32 channel; summing channel slices beats a strided mean several times over."""
    if arr.ndim == 1:
        return arr.astype(np.float32, copy=False)
    if arr.ndim != 2:
        raise AudioError(f"audio must be 1-D (mono) or 2-D (channels), got {arr.ndim}-D shape {arr.shape}")
    rows, cols = arr.shape
    if cols <= MAX_CHANNELS and rows > cols:
        channels = [arr[:, i] for i in range(cols)]
    elif rows <= MAX_CHANNELS and cols > rows:
        channels = [arr[i] for i in range(rows)]
    else:
        raise AudioError(f"cannot tell samples from channels in audio of shape {arr.shape}")
    mono = channels[0].astype(np.float32)  # a fresh array: safe to add into
    for channel in channels[1:]:
        mono += channel
    if len(channels) > 1:
        mono *= np.float32(1.0 / len(channels))
    return mono


def _check_sample_rate(sample_rate: Any) -> None:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise AudioError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(
            f"sample_rate must be between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} Hz, got {int(sample_rate)}"
        )


def _frames_of(audio: Any) -> int | None:
    """Samples per channel read from the shape alone (no data touched), or None if the shape is unusable."""
    shape = getattr(audio, "shape", None)
    if shape is None or len(shape) not in (1, 2):
        return None
    return int(shape[0]) if len(shape) == 1 else int(max(shape))


def normalize_audio(audio: Any, sample_rate: int = SAMPLE_RATE, *, max_seconds: float | None = None) -> np.ndarray:
    """Return mono float32 samples in [-1, 1] at 16 kHz, or raise AudioError saying what is wrong.

    The caller's array is never modified. With ``max_seconds``, longer audio raises AudioTooLong before
    anything is converted or copied, so an accidental hours-long array costs nothing.
    """
    if audio is None:
        raise AudioError("no audio was given")
    _check_sample_rate(sample_rate)
    frames = _frames_of(audio)
    if max_seconds is not None and frames is not None and frames / sample_rate > max_seconds:
        raise AudioTooLong(frames / sample_rate, max_seconds)
    arr = _to_numpy(audio)
    is_int16 = arr.dtype == np.int16
    if not (is_int16 or np.issubdtype(arr.dtype, np.floating)):
        raise AudioError(f"audio must be float in [-1, 1] or int16, got dtype {arr.dtype}")
    if arr.size == 0:
        raise AudioError("audio is empty")
    mono = _to_mono_float32(arr)
    if is_int16:
        mono *= np.float32(1.0 / 32768.0)  # int16 -> float32 always made a fresh array
        peak = 1.0
    else:
        # max/min propagate NaN and reach inf, so one finite check on the peak covers every sample.
        peak = float(max(mono.max(), -mono.min()))
        if not np.isfinite(peak):
            raise AudioError("audio holds NaN or infinite samples")
        if peak > FLOAT_OVERSHOOT_LIMIT:
            raise AudioError(f"float audio must lie in [-1, 1], got a peak of {peak:.3g}")
    if sample_rate != SAMPLE_RATE:
        import soxr  # only needed for devices that do not record at 16 kHz

        mono = soxr.resample(mono, int(sample_rate), SAMPLE_RATE)
    if mono.shape[0] < MIN_SAMPLES:
        raise AudioError(f"audio is too short ({mono.shape[0]} samples at 16 kHz; need at least 10 ms)")
    if peak > 1.0:
        mono = np.clip(mono, -1.0, 1.0)
    return np.ascontiguousarray(mono, dtype=np.float32)


@dataclass(frozen=True)
class SpeechReport:
    """What speech detection saw: how loud the loudest 20 ms frame was and how much speech there is."""

    is_speech: bool
    peak_rms: float
    speech_ms: float


def frame_rms(audio: np.ndarray, frame_samples: int, *, centred: bool = False) -> np.ndarray:
    """RMS of each run of ``frame_samples`` samples (the last run zero-padded), full scale 1.0.

    The one place loudness is computed: speech detection, the level meter and the waveform all use it.
    ``centred`` takes each run's mean (a DC offset, which is no sound) out first.
    """
    audio = np.asarray(audio, dtype=np.float32)
    n_frames = max(1, -(-audio.shape[0] // frame_samples))
    if audio.shape[0] == n_frames * frame_samples:
        frames = audio.reshape(n_frames, frame_samples)
    else:
        padded = np.zeros(n_frames * frame_samples, dtype=np.float32)
        padded[: audio.shape[0]] = audio
        frames = padded.reshape(n_frames, frame_samples)
    if centred:
        frames = frames - frames.mean(axis=1, keepdims=True)
    # einsum sums the squares without the temporary array np.square would allocate.
    result: np.ndarray = np.sqrt(np.einsum("ij,ij->i", frames, frames) / frame_samples)
    return result


def rms(audio: np.ndarray) -> float:
    """RMS level of the whole signal, full scale 1.0; 0 for no samples."""
    if audio.size == 0:
        return 0.0
    return float(frame_rms(audio, audio.shape[0])[0])


def waveform(audio: np.ndarray, bars: int) -> list[float]:
    """Loudness of ``bars`` equal slices, scaled so the loudest is 1.0: the little picture of a recording."""
    if audio.size == 0:
        return [0.0] * bars
    levels = np.array([rms(s) for s in np.array_split(audio, bars)])
    peak = float(levels.max())
    return [float(v) for v in (levels / peak if peak > 0 else levels)]


def detect_speech(audio16k: np.ndarray, threshold: float, min_speech_ms: float) -> SpeechReport:
    """Count 20 ms frames whose RMS reaches ``threshold``; speech needs ``min_speech_ms`` of them.

    Each frame's mean is taken out before its energy is measured: a microphone with a DC offset would
    otherwise turn silence into "speech" (a constant has RMS but no sound).
    """
    n = audio16k.shape[0]
    size = FRAME_SAMPLES if n >= FRAME_SAMPLES else max(n, 1)  # shorter than one frame: it is its own frame
    # A last partial frame (< 20 ms) cannot change the verdict and is left out (zero padding would fake a step).
    levels = frame_rms(audio16k[: n - n % size], size, centred=True)
    loud = int(np.count_nonzero(levels >= threshold))
    speech_ms = loud * 1000.0 * size / SAMPLE_RATE
    return SpeechReport(
        is_speech=loud > 0 and speech_ms >= min_speech_ms, peak_rms=float(levels.max()), speech_ms=speech_ms
    )


def duration_s(audio16k: np.ndarray) -> float:
    return audio16k.shape[0] / SAMPLE_RATE


def wav_bytes(audio16k: np.ndarray) -> bytes:
    """16-bit PCM WAV in memory: the form Voxtral's chat template and OpenAI-style servers take."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, audio16k, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()
