"""The chunk dicts a reply streams as (the chunk-dict contract), how a reply ended, and the user-facing texts.

The contract (the project's seed design, binding on ``VoxtralModel.process_realtime_chunk_streaming``):
a reply is an async stream of plain dicts, each holding

- ``success`` (bool): False only on the last chunk of a reply that failed or was stopped;
- ``text`` (str): 3-5 words of the reply (the last chunk may hold fewer, even none); on failure, a sentence
  for the user such as "Sorry, I didn't understand that.";
- ``is_final`` (bool): True on exactly one chunk, the last;
- ``chunk_index`` (int): 0, 1, 2 ... in the order the chunks are yielded;
- ``processing_time_ms`` (float): milliseconds since the call began, never decreasing;
- ``error`` (str): only on a failed chunk; what went wrong, for logs and the details line.

Bad input (no speech, bad audio, unknown mode) is one final error chunk and no model call; a failure during
generation keeps the chunks already yielded and ends with an error chunk; a reply the user stopped ends with
an error chunk whose ``error`` is ``CANCELLED_ERROR``. Dicts rather than classes, so they go straight to
JSON (the CLI prints one per line) and into the history database. ``status_of`` reads a reply's fate from
its last chunk; history, the conversation and the chat view all speak ``ReplyStatus``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NotRequired, TypedDict

# The contract's fallback text when generation itself fails.
FALLBACK_TEXT = "Sorry, I didn't understand that."
NO_SPEECH_TEXT = "I didn't hear any speech. Hold the button and speak."
BAD_AUDIO_TEXT = "I couldn't use that recording."
TOO_LONG_TEXT = "That recording is too long."
TOO_SHORT_TEXT = "That recording is too short to hold speech."
BAD_MODE_TEXT = "That mode isn't supported."
EMPTY_TEXT = "There was nothing to send."
TIMEOUT_TEXT = "The model took too long to answer."
BUSY_TEXT = "The model is still busy with the last reply. Try again in a moment."
CANCELLED_TEXT = "Stopped."
# The ``error`` of a reply the user stopped: the UI marks it interrupted rather than failed.
CANCELLED_ERROR = "cancelled"


class ReplyStatus(StrEnum):
    """What happened to a reply, as the user saw it (the strings are what the history database stores)."""

    STREAMING = "streaming"  # still arriving (or the app died before it ended)
    COMPLETE = "complete"
    ERROR = "error"
    INTERRUPTED = "interrupted"  # the user stopped it, or it was abandoned before its final chunk


class Chunk(TypedDict):
    """One piece of a reply; see the module docstring for what each key means."""

    success: bool
    text: str
    is_final: bool
    chunk_index: int
    processing_time_ms: float
    error: NotRequired[str]


def text_chunk(text: str, index: int, elapsed_ms: float, *, final: bool) -> Chunk:
    """A successful piece of the reply."""
    return {
        "success": True,
        "text": text,
        "is_final": final,
        "chunk_index": index,
        "processing_time_ms": elapsed_ms,
    }


def error_chunk(text: str, error: str, index: int, elapsed_ms: float) -> Chunk:
    """Always final: an error ends the reply."""
    return {
        "success": False,
        "text": text,
        "is_final": True,
        "chunk_index": index,
        "processing_time_ms": elapsed_ms,
        "error": error,
    }


def is_cancelled(chunk: dict[str, Any]) -> bool:
    """The chunk is the end of a reply the user stopped."""
    return not chunk.get("success", True) and chunk.get("error") == CANCELLED_ERROR


def status_of(last_chunk: dict[str, Any] | None) -> ReplyStatus:
    """How a reply ended, judged by the last chunk seen: STREAMING while that chunk is not final (or none came)."""
    if last_chunk is None or not last_chunk.get("is_final", False):
        return ReplyStatus.STREAMING
    if last_chunk.get("success", False):
        return ReplyStatus.COMPLETE
    return ReplyStatus.INTERRUPTED if is_cancelled(last_chunk) else ReplyStatus.ERROR
