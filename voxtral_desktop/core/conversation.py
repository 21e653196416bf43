"""One exchange of a stored conversation: save the user's turn, stream the reply with memory, save each chunk."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from voxtral_desktop.core import chunks as C
from voxtral_desktop.core.audio import AudioError, duration_s, normalize_audio
from voxtral_desktop.core.backends.base import Turn
from voxtral_desktop.core.history import COMPLETE, ERROR, INTERRUPTED, HistoryStore
from voxtral_desktop.core.model import VoxtralModel

log = logging.getLogger(__name__)

AUDIO_TOKENS_PER_WINDOW = 375  # Voxtral pads audio to 30 s windows of 375 [AUDIO] tokens each
WINDOW_S = 30.0
TOKENS_PER_WORD = 1.6  # a generous average for tekken on English; only used to stay inside the context


def estimated_tokens(turn: Turn) -> int:
    audio = 0
    if turn.user_audio is not None:
        audio = math.ceil(duration_s(turn.user_audio) / WINDOW_S) * AUDIO_TOKENS_PER_WINDOW
    words = len(turn.user_text.split()) + len(turn.assistant_text.split())
    return audio + int(words * TOKENS_PER_WORD) + 8  # + the [INST] markers around each turn


def fit_history(history: Sequence[Turn], max_turns: int, budget_tokens: int) -> tuple[Turn, ...]:
    """The most recent turns that fit both the turn limit and the token budget, oldest first."""
    kept: list[Turn] = []
    used = 0
    for turn in reversed(history[-max_turns:] if max_turns > 0 else []):
        cost = estimated_tokens(turn)
        if used + cost > budget_tokens:
            break
        kept.append(turn)
        used += cost
    return tuple(reversed(kept))


@dataclass
class ExchangeResult:
    user_turn_id: int
    reply_turn_id: int
    status: str
    text: str


class ConversationSession:
    """Runs exchanges in one stored conversation; the reply is saved chunk by chunk as it streams."""

    def __init__(self, model: VoxtralModel, store: HistoryStore, conversation_id: str | None = None) -> None:
        self.model = model
        self.store = store
        if conversation_id is None:
            conversation_id = store.create_conversation()
        elif not store.exists(conversation_id):
            store.create_conversation(conversation_id=conversation_id)
        self.conversation_id = conversation_id
        self.last: ExchangeResult | None = None
        # This session's recordings stay in memory for the prompt even when they are not kept on disk.
        self._audio: dict[int, np.ndarray] = {}

    def context_budget(self) -> int:
        """Tokens left for earlier turns: the model's context less this turn's audio and the reply."""
        context = getattr(self.model.backend, "context_tokens", None) or 32768
        reserve = self.model.config.streaming.max_new_tokens + 2 * AUDIO_TOKENS_PER_WINDOW
        return max(context - reserve, 0)

    def history(self) -> tuple[Turn, ...]:
        cfg = self.model.config.conversation
        stored = self.store.prompt_history(self.conversation_id, cfg.max_turns, self._audio)
        return fit_history(stored, cfg.max_turns, self.context_budget())

    async def respond(
        self, audio: Any, *, sample_rate: int = 16000, mode: str = "conversation", chunk_id: str = ""
    ) -> AsyncIterator[C.Chunk]:
        """Stream the reply's chunk dicts (the model's contract) while saving the turn and every chunk."""
        cfg = self.model.config.conversation
        try:
            audio16k: np.ndarray | None = normalize_audio(audio, sample_rate)
        except AudioError:
            audio16k = None  # the model will explain the problem in its error chunk; nothing to store
        history = self.history() if mode == "conversation" else ()
        user_id = self.store.add_user_turn(
            self.conversation_id,
            duration_s=duration_s(audio16k) if audio16k is not None else None,
            mode=mode,
            audio16k=audio16k if cfg.keep_audio else None,
        )
        if audio16k is not None:
            self._audio[user_id] = audio16k
        reply_id = self.store.start_reply(self.conversation_id, mode)
        stream = self.model.process_realtime_chunk_streaming(
            audio16k if audio16k is not None else audio,
            chunk_id or f"{self.conversation_id}-{user_id}",
            mode,
            history=history,
        )
        async for chunk in self._saving(stream, user_id, reply_id):
            yield chunk

    async def respond_text(self, text: str, *, chunk_id: str = "") -> AsyncIterator[C.Chunk]:
        """A typed turn: stored as text, answered with the same memory and the same chunk dicts."""
        if not text.strip():  # the model explains; an empty turn is not worth a place in the history
            async for chunk in self.model.process_text_streaming(text, chunk_id or "empty"):
                yield chunk
            return
        history = self.history()
        user_id = self.store.add_user_turn(self.conversation_id, text=text.strip(), mode="conversation")
        self.store.title_from(self.conversation_id, text)
        reply_id = self.store.start_reply(self.conversation_id, "conversation")
        async for chunk in self._saving(
            self.model.process_text_streaming(text, chunk_id or f"{self.conversation_id}-{user_id}", history=history),
            user_id,
            reply_id,
        ):
            yield chunk

    async def _saving(self, chunks: AsyncIterator[C.Chunk], user_id: int, reply_id: int) -> AsyncIterator[C.Chunk]:
        texts: list[str] = []
        final: C.Chunk | None = None
        try:
            async for chunk in chunks:
                if chunk["success"]:
                    self.store.append_chunk(reply_id, chunk)
                    texts.append(chunk["text"])
                final = chunk
                yield chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]
            self._finish(user_id, reply_id, final, " ".join(t for t in texts if t))

    def _finish(self, user_id: int, reply_id: int, final: C.Chunk | None, text: str) -> None:
        if final is None or not final["is_final"]:
            status, error = INTERRUPTED, "closed before the reply ended"
        elif final["success"]:
            status, error = COMPLETE, None
        elif C.is_cancelled(final):
            status, error = INTERRUPTED, None
        else:
            status, error = ERROR, final.get("error")
        total = final["processing_time_ms"] if final else None
        self.store.finish_reply(reply_id, status, error=error, total_ms=total)
        self.last = ExchangeResult(user_id, reply_id, status, text)

