"""The chunk dicts the streaming API yields (the seed's contract), and the user-facing error texts."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

# The seed's fallback when generation itself fails.
FALLBACK_TEXT = "Sorry, I didn't understand that."
NO_SPEECH_TEXT = "I didn't hear any speech. Hold the button and speak."
BAD_AUDIO_TEXT = "I couldn't use that recording."
TOO_LONG_TEXT = "That recording is too long."
BAD_MODE_TEXT = "That mode isn't supported."
EMPTY_TEXT = "There was nothing to send."
TIMEOUT_TEXT = "The model took too long to answer."
CANCELLED_TEXT = "Stopped."
# The ``error`` of a reply the user stopped: the UI marks it interrupted rather than failed.
CANCELLED_ERROR = "cancelled"


class Chunk(TypedDict):
    success: bool
    text: str
    is_final: bool
    chunk_index: int
    processing_time_ms: float
    error: NotRequired[str]


def text_chunk(text: str, index: int, elapsed_ms: float, *, final: bool) -> Chunk:
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
    return not chunk.get("success", True) and chunk.get("error") == CANCELLED_ERROR
