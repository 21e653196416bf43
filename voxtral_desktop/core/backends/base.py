"""The one small interface every back-end implements, and the request it receives."""

from __future__ import annotations

import abc
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Mode = Literal["conversation", "transcribe"]
MODES: tuple[str, ...] = ("conversation", "transcribe")


class ModelLoadError(RuntimeError):
    """The model could not be loaded; the message says what to do about it."""


class GenerationError(RuntimeError):
    """Generation failed inside the back-end; the message says what happened."""


@dataclass(frozen=True)
class Turn:
    """An earlier exchange sent back as context: the user's audio (or typed text) and the reply."""

    user_audio: np.ndarray | None = None
    user_text: str = ""
    assistant_text: str = ""


@dataclass(frozen=True)
class GenerationRequest:
    """Everything one reply needs; built fresh per reply so settings changes apply at once."""

    audio: np.ndarray | None  # mono float32 at 16 kHz, already checked; None for a typed turn
    mode: Mode
    max_new_tokens: int
    temperature: float  # 0 means greedy
    top_p: float
    instruction: str = ""  # conversation mode: text sent beside the audio
    language: str | None = None  # transcribe mode: None lets the model detect it
    history: tuple[Turn, ...] = field(default_factory=tuple)
    text: str = ""  # a typed turn's text (conversation mode), sent in place of audio

    @property
    def user_text(self) -> str:
        """What goes beside (or instead of) the audio in the user's message."""
        return "\n\n".join(t for t in (self.instruction, self.text) if t)


# Reports loading progress: a phase ("downloading", "loading") and a fraction in [0, 1] or None.
ProgressCallback = Callable[[str, "float | None"], None]


class Backend(abc.ABC):
    """Loads once, then streams text pieces for one request at a time."""

    @property
    @abc.abstractmethod
    def is_loaded(self) -> bool: ...

    @abc.abstractmethod
    def load(self, progress: ProgressCallback | None = None) -> None:
        """Blocking; call it off the event loop. Raises ModelLoadError with advice on failure."""

    @abc.abstractmethod
    def stream(self, request: GenerationRequest, stop: threading.Event) -> AsyncIterator[str]:
        """Yield text pieces as they are produced; stop promptly once ``stop`` is set or the iterator closes.

        Raises GenerationError on failure. Pieces may split words anywhere; empty pieces are allowed.
        """

    def close(self) -> None:
        """Release the model and whatever else the back-end holds."""
