"""Voxtral prompt builders shared by inference and by the tiny test model's training."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from voxtral_desktop.core.audio import SAMPLE_RATE, wav_bytes

if TYPE_CHECKING:
    from transformers import BatchFeature

def _as_mono_float32(audio16k: Any) -> np.ndarray:
    array = np.asarray(audio16k, dtype=np.float32)
    if array.ndim == 2:
        # Accept (samples, channels) like soundfile returns; Voxtral wants mono.
        array = array.mean(axis=1)
    if array.ndim != 1:
        raise ValueError(f"expected mono audio of shape (samples,), got shape {array.shape}")
    if array.size == 0:
        raise ValueError("audio is empty")
    return array


def wav_base64(audio16k: Any) -> str:
    """Encode 16 kHz audio as base64 of a 16-bit PCM WAV (the form Voxtral's chat template accepts)."""
    return base64.b64encode(wav_bytes(_as_mono_float32(audio16k))).decode("ascii")


class HistoryTurn(Protocol):
    """An earlier exchange (voxtral_desktop.core.backends.base.Turn satisfies it)."""

    @property
    def user_audio(self) -> Any: ...  # mono float 16 kHz array, or None for a typed turn

    @property
    def user_text(self) -> str: ...

    @property
    def assistant_text(self) -> str: ...


def _user_content(audio16k: Any, text: str) -> list[dict[str, str]]:
    content: list[dict[str, str]] = []
    if audio16k is not None:
        content.append({"type": "audio", "base64": wav_base64(audio16k)})
    if text:
        content.append({"type": "text", "text": text})
    return content


def conversation_messages(
    audio16k: Any, instruction: str = "", history: Sequence[HistoryTurn] = ()
) -> list[dict[str, Any]]:
    """The chat messages for one audio turn: earlier turns first, then the audio (and instruction, if any)."""
    messages: list[dict[str, Any]] = []
    for turn in history:
        content = _user_content(turn.user_audio, turn.user_text)
        if not content:
            continue  # Mistral's template rejects an empty user turn
        messages.append({"role": "user", "content": content})
        if turn.assistant_text:
            messages.append({"role": "assistant", "content": turn.assistant_text})
    messages.append({"role": "user", "content": _user_content(audio16k, instruction)})
    return messages


def conversation_inputs(
    processor: Any, audio16k: Any, instruction: str = "", history: Sequence[HistoryTurn] = ()
) -> BatchFeature:
    """Build chat inputs (input_ids, attention_mask, input_features; pt tensors) for an audio turn.

    With no instruction and no history this is exactly one user turn holding only the audio, the prompt
    the tiny test model is trained on. The template already ends with [/INST], so no generation prompt
    is added.
    """
    return processor.apply_chat_template(conversation_messages(audio16k, instruction, history))


def transcription_inputs(
    processor: Any, audio16k: Any, language: str | None = "en", model_id: str | None = None
) -> BatchFeature:
    """Build transcription-request inputs for 16 kHz audio; language None lets the model detect it."""
    # The model id only names the request; it does not change the tokens.
    name = model_id or getattr(processor, "name_or_path", None) or "voxtral"
    return processor.apply_transcription_request(
        audio=_as_mono_float32(audio16k),
        model_id=str(name),
        language=language,
        sampling_rate=SAMPLE_RATE,
        format=["WAV"],  # a list: transformers 5.0-5.5 read a bare "WAV" as three formats
    )
