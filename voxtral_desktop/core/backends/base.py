"""The one small interface every back-end implements, the request it receives, and its modes and load phases."""

from __future__ import annotations

import abc
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

# Re-exported: these were defined here before core/errors.py held the whole tree.
from voxtral_desktop.core.errors import GenerationError, ModelLoadError

if TYPE_CHECKING:
    from voxtral_desktop.core.timings import ReplyTimings

__all__ = [
    "DEFAULT_CONTEXT_TOKENS",
    "MODES",
    "TYPED_MODE",
    "Backend",
    "GenerationError",
    "GenerationRequest",
    "LoadPhase",
    "Mode",
    "ModelLoadError",
    "ProgressCallback",
    "Turn",
]

# Voxtral Mini's text context; a back-end that cannot tell its own model's length is assumed to have this.
DEFAULT_CONTEXT_TOKENS = 32768


class Mode(StrEnum):
    """What a reply is for: an answer to the user, or a transcript of what they said."""

    CONVERSATION = "conversation"
    TRANSCRIBE = "transcribe"


MODES: tuple[str, ...] = tuple(Mode)
# A typed turn is always answered as a conversation: there is no speech to transcribe. Decided here only.
TYPED_MODE = Mode.CONVERSATION


class LoadPhase(StrEnum):
    """Where loading a model stands, in the order a load walks through the phases (FAILED ends it early)."""

    IDLE = "idle"
    DOWNLOADING = "downloading"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


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
    # Which conversation this turn continues: a back-end may keep work from its last exchange (prefix
    # reuse). None (one-off requests) shares nothing between requests.
    conversation_id: str | None = None
    # Stage marks the back-end fills in (prompt built, audio encoded, first token); not part of equality.
    timings: ReplyTimings | None = field(default=None, compare=False, repr=False)

    @property
    def user_text(self) -> str:
        """What goes beside (or instead of) the audio in the user's message."""
        return "\n\n".join(t for t in (self.instruction, self.text) if t)


# Reports loading progress: a phase (DOWNLOADING, LOADING, READY) and a fraction in [0, 1] or None.
# Called from the loading thread.
ProgressCallback = Callable[[LoadPhase, "float | None"], None]


class Backend(abc.ABC):
    """Loads once, then streams text pieces for one request at a time.

    Besides the abstract methods, a back-end may override ``device``, ``context_tokens``, ``load_notice``,
    ``check_connection()``, ``close()``, ``wait_idle()`` and ``aclose()``; the defaults suit a back-end with
    nothing to say.
    """

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

    @property
    def device(self) -> str | None:
        """Where the model runs once loaded ("cpu", "cuda", "mps"), or None when unknown or remote."""
        return None

    @property
    def context_tokens(self) -> int:
        """The model's context length in tokens: earlier turns sent as memory must fit in it."""
        return DEFAULT_CONTEXT_TOKENS

    @property
    def load_notice(self) -> str:
        """What the user should know once the model is loaded (what a reply will cost on a CPU), or ""."""
        return ""

    @property
    def first_words_s(self) -> float | None:
        """Once loaded: the estimated seconds from a 30 s question to its first words, where measured."""
        return None

    @property
    def engine_name(self) -> str:
        """What computes the replies, in the user's words ("transformers", "llama.cpp"); "" for a server."""
        return ""

    async def check_connection(self) -> tuple[bool, str]:
        """Whether the back-end can reach its model now, and a sentence for the user saying so."""
        return True, "this back-end runs in this process: there is no server to connect to"

    def close(self) -> None:
        """Release the model and whatever else the back-end holds."""

    def wait_idle(self, timeout_s: float) -> bool:
        """Block up to ``timeout_s`` until no work of this back-end still runs in a thread; True when none does."""
        return True

    async def aclose(self) -> None:
        """Like close(), awaited on the event loop that used the back-end (network clients close there)."""
        self.close()
