"""Synthetic speech for tests: espeak-ng utterances as mono float32 16 kHz arrays."""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000  # Hz; what Voxtral's feature extractor and the prompt builders expect
ESPEAK_APT_PACKAGE = "espeak-ng"


@dataclass(frozen=True)
class Utterance:
    """A fixed spoken prompt, what it says (its transcript) and the reply the tiny model is taught."""

    key: str
    spoken: str  # text given to espeak-ng; also the exact expected transcript
    reply: str  # the conversation-mode answer: >= 10 words with punctuation, so it chunks into 3-5 words


# Both tiny-model training and the tests that check it use these; changing them changes the cache key.
UTTERANCES: tuple[Utterance, ...] = (
    Utterance(
        "a",
        "What is the weather like today?",
        "The weather is sunny today, with a light breeze from the west.",
    ),
    Utterance(
        "b",
        "Please tell me a short joke.",
        "Here is one: the chicken crossed the road to get home.",
    ),
)


def espeak_binary() -> str:
    """Return the path of espeak-ng, or raise a RuntimeError saying how to install it."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise RuntimeError(
            f"espeak-ng was not found on PATH; install it (e.g. `apt-get install {ESPEAK_APT_PACKAGE}`) "
            "to synthesise test speech"
        )
    return path


def espeak_version() -> str:
    """Return espeak-ng's version line (in the tiny-model cache key: other versions speak differently)."""
    result = subprocess.run([espeak_binary(), "--version"], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def synthesize(text: str, voice: str = "en", speed: int | None = None) -> np.ndarray:
    """Speak `text` with espeak-ng and return mono float32 samples at 16 kHz."""
    cmd = [espeak_binary(), "-v", voice]
    if speed is not None:
        cmd += ["-s", str(int(speed))]  # words per minute
    # "--" so text starting with "-" is not taken for an option.
    cmd += ["--stdout", "--", text]
    try:
        result = subprocess.run(cmd, capture_output=True, check=True)
    except subprocess.CalledProcessError as e:
        stderr = e.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"espeak-ng failed for voice {voice!r}: {stderr}") from e
    audio, rate = sf.read(io.BytesIO(result.stdout), dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    if rate != SAMPLE_RATE:
        import soxr  # only needed here; espeak-ng speaks at 22.05 kHz

        mono = soxr.resample(mono, rate, SAMPLE_RATE)
    out: np.ndarray = np.clip(mono, -1.0, 1.0).astype(np.float32)
    logger.debug("synthesised %.2f s of speech for %r", len(out) / SAMPLE_RATE, text)
    return out


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono float audio as a 16-bit PCM WAV file and return its path."""
    path = Path(path)
    sf.write(str(path), np.asarray(audio, dtype=np.float32), sample_rate, format="WAV", subtype="PCM_16")
    return path


def room_echo(far: np.ndarray, rate: int = SAMPLE_RATE, *, delay_ms: float = 40, gain_db: float = -6,
              floor_dbfs: float = -70, seed: int = 0) -> np.ndarray:
    """What a microphone hears of ``far`` through a room: delayed, -6 dB, two weaker reflections, a noise floor."""
    out = np.zeros(len(far), dtype=np.float32)
    for extra_ms, rel_db in ((0, 0), (50, -10), (150, -20)):
        d = int((delay_ms + extra_ms) * rate / 1000)
        if d < len(far):
            out[d:] += far[: len(far) - d] * np.float32(10 ** ((gain_db + rel_db) / 20))
    rng = np.random.default_rng(seed)
    out += (rng.standard_normal(len(far)) * 10 ** (floor_dbfs / 20)).astype(np.float32)
    return out
