"""Recorded human speech for tests: read English sentences (LibriVox, 16 kHz) from Debian's pocketsphinx-testdata."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

DEBIAN_PACKAGE = "pocketsphinx-testdata"  # BSD-2-Clause (CMU); the LibriVox recordings are public domain
DIR_ENV = "VOXTRAL_HUMAN_SPEECH_DIR"  # a copy of the package's librivox/ folder, on a machine without it
DEFAULT_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
SAMPLE_RATE = 16000  # Hz; what the recordings are and what the app's audio path works in
TELEPHONE_RATE = 8000  # Hz; a narrowband (telephone, Bluetooth hands-free) microphone: nothing above 4 kHz
_CLIP = "sense_and_sensibility_01_austen_64kb-{}.wav"


class HumanSpeechUnavailable(RuntimeError):
    """The recordings are not on this machine; the message says how to get them."""


@dataclass(frozen=True)
class Sentence:
    """One spoken sentence: the package's clips of it, in order, and what is said (its transcription file)."""

    key: str
    clips: tuple[str, ...]
    text: str

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(data_dir() / clip for clip in self.clips)


# One reader, chapter 1 of Sense and Sensibility. The corpus cut two of these sentences at the reader's comma /
# semicolon pause; joined again, each holds that pause as recorded (~0.45 s of room tone, not digital zeros):
# a pause a 300 ms end-of-turn would split and the default 700 ms must not.
SENTENCES: tuple[Sentence, ...] = (
    Sentence(
        "ill_disposed",
        (_CLIP.format("0880"), _CLIP.format("0890")),
        "he was not an ill disposed young man unless to be rather cold hearted and rather selfish is to be ill "
        "disposed",
    ),
    Sentence(
        "amiable",
        (_CLIP.format("0920"), _CLIP.format("0930")),
        "had he married a more a amiable woman he might have been made still more respectable than he was he "
        "might even have been made amiable himself",
    ),
    Sentence(
        "dashwood",
        (_CLIP.format("0870"),),
        "and mister john dashwood had then leisure to consider how much there might be prudently in his power "
        "to do for them",
    ),
)
BY_KEY = {s.key: s for s in SENTENCES}


def data_dir() -> Path:
    """The folder holding the clips: ``$VOXTRAL_HUMAN_SPEECH_DIR`` or where the Debian package puts them."""
    configured = os.environ.get(DIR_ENV, "")
    return Path(configured) if configured else DEFAULT_DIR


def check_installed() -> None:
    """Raise HumanSpeechUnavailable, saying how to install them, unless every clip is there."""
    absent = [p for s in SENTENCES for p in s.paths if not p.is_file()]
    if absent:
        raise HumanSpeechUnavailable(
            f"recorded human speech not found ({absent[0]}{' and others' if len(absent) > 1 else ''}): "
            f"apt-get install {DEBIAN_PACKAGE}, or set {DIR_ENV} to a copy of its librivox folder"
        )


def load(key: str, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Sentence ``key`` as mono float32 at ``rate`` Hz (resampled with soxr: 8000 gives the telephone band)."""
    if key not in BY_KEY:
        raise KeyError(f"no recorded sentence {key!r}; there are {', '.join(BY_KEY)}")
    return _load(key, int(rate), data_dir()).copy()  # callers may change their copy; the cache keeps its own


@lru_cache(maxsize=16)
def _load(key: str, rate: int, folder: Path) -> np.ndarray:
    import soundfile as sf
    import soxr

    check_installed()
    parts = []
    for path in (folder / clip for clip in BY_KEY[key].clips):
        audio, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
        mono = audio.mean(axis=1, dtype=np.float32)
        parts.append(soxr.resample(mono, file_rate, SAMPLE_RATE) if file_rate != SAMPLE_RATE else mono)
    joined = np.concatenate(parts)
    out = soxr.resample(joined, SAMPLE_RATE, rate) if rate != SAMPLE_RATE else joined
    return np.clip(out, -1.0, 1.0).astype(np.float32)
