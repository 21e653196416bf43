"""The frozen snapshots the view-models publish (model, microphone, a finished reply), with the core's enums.

No Qt here: the talk rules and the tests read these without a window. A view-model replaces its snapshot
whole and emits it; nobody mirrors a view-model's private fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.model import LoadPhase, Mode
from voxtral_desktop.core.reply import Reply, describe
from voxtral_desktop.core.timings import Stage

__all__ = ["LoadPhase", "MicStatus", "Mode", "ModelStatus", "ReplyResult", "ReplyStatus", "VoiceStatus", "model_label", "reply_result"]


@dataclass(frozen=True)
class ModelStatus:
    """Where loading the model stands, and what to tell the user about it."""

    phase: LoadPhase = LoadPhase.IDLE
    message: str = ""  # for users: progress, where it runs, or what went wrong and what to do
    fraction: float | None = None  # download progress in [0, 1], when known
    device: str | None = None  # where the loaded model runs ("cpu", "cuda", ...), when the back-end says
    detail: str = ""  # a failure's technical words (the library's error), shown behind "Details"
    first_words_s: float | None = None  # loaded on a CPU: the measured estimate for a 30 s question
    engine: str = ""  # loaded: what computes the replies ("transformers", "llama.cpp"); "" for a server

    @property
    def ready(self) -> bool:
        return self.phase == LoadPhase.READY


@dataclass(frozen=True)
class MicStatus:
    """What the last look for the configured microphone found."""

    checked: bool = False  # False until the first look has finished
    available: bool = False
    message: str = "Checking for a microphone…"  # why not, when it is not available


@dataclass(frozen=True)
class VoiceStatus:
    """Where getting the reply voice stands: loading or downloading it (first use), ready, or FAILED (the
    system voice speaks instead; ``message`` says why)."""

    phase: LoadPhase = LoadPhase.IDLE
    message: str = ""
    fraction: float | None = None  # download progress in [0, 1], when known
    neural: bool = False  # a neural (Piper) voice speaks; False: the system voice, or none yet
    name: str = ""  # the voice's name
    detail: str = ""  # a failure's technical words (the library's error), shown behind "Details"


@dataclass(frozen=True)
class ReplyResult:
    """How a reply ended, for the chat view's footer under the assistant bubble."""

    turn_no: int
    status: ReplyStatus  # COMPLETE, ERROR or INTERRUPTED
    first_chunk_ms: float | None  # time to the first words, None when no words came
    total_ms: float
    text: str = ""  # for errors: the user-facing fallback text
    detail: str = ""  # for errors: what went wrong
    # From the reply's start (the button's release) to its first audible sample; None when nothing was
    # heard by the time the reply ended (RepliesViewModel.firstSound carries a later one).
    first_sound_ms: float | None = None
    # Where the reply's time went: stage -> ms since the recording ended (core/timings.py); None for a reply
    # that failed before the model started it.
    timings: Mapping[str, float | None] | None = None
    # A spoken reply the user interrupted: how many of its chunks the voice had begun (what the user heard,
    # and all that is kept); the rest was written but never said. None: the whole text counts (voice off,
    # or nothing cut it short).
    heard_chunks: int | None = None

    @classmethod
    def failed(cls, turn_no: int, first_chunk_ms: float | None, error: BaseException) -> ReplyResult:
        """A reply that broke outside the model's own error handling (shown where it happened)."""
        text, detail = describe(error)
        return cls(turn_no, ReplyStatus.ERROR, first_chunk_ms, 0.0, text, detail)


def reply_result(turn_no: int, reply: Reply) -> ReplyResult:
    """What the chat view shows of a reply that ended (the one place a Reply becomes a ReplyResult)."""
    text, detail = reply.describe() if reply.status == ReplyStatus.ERROR else ("", "")
    kept = reply.kept_chunks
    return ReplyResult(
        turn_no,
        reply.status,
        reply.first_words_ms,
        reply.total_ms,
        text,
        detail,
        first_sound_ms=reply.timings.ms(Stage.FIRST_SOUND),
        timings=reply.timings.to_dict(),
        heard_chunks=kept if kept < len(reply.chunks) else None,
    )


def model_label(model_id: str) -> str:
    """ "mistralai/Voxtral-Mini-3B-2507" -> "Voxtral-Mini-3B-2507"; ".../models--org--Name/snapshots/<hash>"
    -> "Name"; ".../tiny-voxtral/<hash>" -> "tiny-voxtral"."""
    parts = [p for p in model_id.replace("\\", "/").split("/") if p]
    while len(parts) > 1 and (parts[-1] == "snapshots" or re.fullmatch(r"[0-9a-f]{16,}", parts[-1])):
        parts.pop()
    name = parts[-1] if parts else model_id
    if name.startswith("models--"):
        name = name.split("--")[-1]
    return name
