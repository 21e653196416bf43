"""One exchange of a stored conversation: save the user's turn, stream the reply with memory, save each chunk."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from voxtral_desktop.core import chunks as C
from voxtral_desktop.core.audio import SAMPLE_RATE, AudioError, duration_s, normalize_audio
from voxtral_desktop.core.backends.base import Mode, Turn
from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.history import HistoryStore
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
    """How the last exchange went: the stored turns, how the reply ended, and its text."""

    user_turn_id: int
    reply_turn_id: int
    status: ReplyStatus
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
        reserve = self.model.config.streaming.max_new_tokens + 2 * AUDIO_TOKENS_PER_WINDOW
        return max(self.model.context_tokens - reserve, 0)

    def history(self) -> tuple[Turn, ...]:
        cfg = self.model.config.conversation
        stored = self.store.prompt_history(self.conversation_id, cfg.max_turns, self._audio)
        return fit_history(stored, cfg.max_turns, self.context_budget())

    async def respond(
        self, audio: Any, *, sample_rate: int = 16000, mode: str = Mode.CONVERSATION, chunk_id: str = ""
    ) -> AsyncIterator[C.Chunk]:
        """Stream the reply's chunk dicts (the model's contract) while saving the turn and every chunk."""
        cfg = self.model.config.conversation
        try:
            audio16k: np.ndarray | None = normalize_audio(
                audio, sample_rate, max_seconds=self.model.config.audio.max_recording_s
            )
        except AudioError:
            audio16k = None  # the model will explain the problem in its error chunk; nothing to store
        history = self.history() if mode == Mode.CONVERSATION else ()
        user_id = self.store.add_user_turn(
            self.conversation_id,
            duration_s=duration_s(audio16k) if audio16k is not None else None,
            mode=str(mode),
            audio16k=audio16k if cfg.keep_audio else None,
        )
        if audio16k is not None:
            self._audio[user_id] = audio16k
        sent = audio16k if audio16k is not None else audio
        # Rejected audio goes to the model as it came, with its own rate, so the model names the problem.
        rate = SAMPLE_RATE if audio16k is not None else sample_rate
        async for chunk in self._exchange(
            user_id,
            str(mode),
            chunk_id,
            lambda cid: self.model.process_realtime_chunk_streaming(
                sent, cid, mode, sample_rate=rate, history=history
            ),
        ):
            yield chunk

    async def respond_text(self, text: str, *, chunk_id: str = "") -> AsyncIterator[C.Chunk]:
        """A typed turn: stored as text, answered with the same memory and the same chunk dicts."""
        if not text.strip():  # the model explains; an empty turn is not worth a place in the history
            async for chunk in self.model.process_text_streaming(text, chunk_id or "empty"):
                yield chunk
            return
        history = self.history()
        user_id = self.store.add_user_turn(self.conversation_id, text=text.strip(), mode=Mode.CONVERSATION.value)
        self.store.title_from(self.conversation_id, text)
        async for chunk in self._exchange(
            user_id,
            Mode.CONVERSATION.value,
            chunk_id,
            lambda cid: self.model.process_text_streaming(text, cid, history=history),
        ):
            yield chunk

    async def _exchange(
        self, user_id: int, mode: str, chunk_id: str, reply: Callable[[str], AsyncIterator[C.Chunk]]
    ) -> AsyncIterator[C.Chunk]:
        """Stream ``reply`` to the stored user turn, saving each chunk, then how the reply ended."""
        reply_id = self.store.start_reply(self.conversation_id, mode)
        chunks = reply(chunk_id or f"{self.conversation_id}-{user_id}")
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
        status = C.status_of(final)
        error = final.get("error") if final is not None and status is ReplyStatus.ERROR else None
        if status is ReplyStatus.STREAMING:
            status, error = ReplyStatus.INTERRUPTED, "closed before the reply ended"
        total = final["processing_time_ms"] if final else None
        self.store.finish_reply(reply_id, status, error=error, total_ms=total)
        self.last = ExchangeResult(user_id, reply_id, status, text)
