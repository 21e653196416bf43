"""The OpenAI chat wire format: a GenerationRequest as the messages list (audio in the server's form); deltas read."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from voxtral_desktop.core.audio import wav_bytes
from voxtral_desktop.core.backends.base import GenerationRequest

# The forms remote.audio_format names; each server family takes one.
AUDIO_FORMATS: tuple[str, ...] = ("audio_url", "input_audio", "mistral")


def audio_part(audio16k: np.ndarray, audio_format: str) -> dict[str, Any]:
    """The chat content part carrying the audio, in the form the server expects."""
    b64 = base64.b64encode(wav_bytes(audio16k)).decode("ascii")
    if audio_format == "audio_url":
        # vLLM and mistral.rs: an audio_url holding a data: URL.
        return {"type": "audio_url", "audio_url": {"url": f"data:audio/wav;base64,{b64}"}}
    if audio_format == "input_audio":
        # OpenAI's chat format.
        return {"type": "input_audio", "input_audio": {"data": b64, "format": "wav"}}
    if audio_format == "mistral":
        # Mistral's API takes the base64 string itself as input_audio, per "Chat with Audio" in
        # https://docs.mistral.ai/capabilities/audio_transcription:
        # {"type": "input_audio", "input_audio": audio_base64}
        return {"type": "input_audio", "input_audio": b64}
    raise ValueError(f"unknown remote.audio_format {audio_format!r}; use one of {', '.join(AUDIO_FORMATS)}")


def user_message(audio16k: np.ndarray | None, text: str, audio_format: str) -> dict[str, Any] | None:
    """One user turn: its audio part and/or its text part; None when it has neither."""
    content: list[dict[str, Any]] = []
    if audio16k is not None:
        content.append(audio_part(audio16k, audio_format))
    if text:
        content.append({"type": "text", "text": text})
    return {"role": "user", "content": content} if content else None


def build_messages(request: GenerationRequest, audio_format: str) -> list[dict[str, Any]]:
    """Earlier turns (as the local back-end sends them), then the user's audio and the instruction, if any."""
    messages: list[dict[str, Any]] = []
    for turn in request.history:
        user = user_message(turn.user_audio, turn.user_text, audio_format)
        if user is None:
            continue  # an empty user turn is rejected by Mistral's chat template
        messages.append(user)
        if turn.assistant_text:
            messages.append({"role": "assistant", "content": turn.assistant_text})
    current = user_message(request.audio, request.user_text, audio_format)
    assert current is not None  # VoxtralModel never sends a turn without audio or text
    messages.append(current)
    return messages


# finish_reason values that mean the server gave up on the reply rather than finished it: Mistral's API
# sends "error", vLLM "abort" (a request it dropped) and "error" (an engine failure).
FAILED_FINISH_REASONS = frozenset({"error", "abort"})


def delta_text(content: object) -> str:
    """A streamed delta's text: a string (OpenAI, vLLM, llama-server; null in a role-only delta) or, from
    Mistral's API, a list of content chunks of which the text ones count."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text") or "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""
