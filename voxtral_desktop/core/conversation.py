"""One exchange of a stored conversation: save the user's turn, stream the reply with memory, save each chunk."""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from voxtral_desktop.core import chunks as C
from voxtral_desktop.core.audio import SAMPLE_RATE, AudioError, duration_s, normalize_audio
from voxtral_desktop.core.backends.base import Mode, Turn
from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.errors import HistoryError, HistoryWriteError
from voxtral_desktop.core.history import thread as history_thread
from voxtral_desktop.core.history import HistoryStore, new_conversation_id
from voxtral_desktop.core.history.transactions import write_error
from voxtral_desktop.core.model import VoxtralModel
from voxtral_desktop.core.timings import ReplyTimings
from voxtral_desktop.core.turn_window import reuse_block, window_start

log = logging.getLogger(__name__)
T = TypeVar("T")

AUDIO_TOKENS_PER_WINDOW = 375  # Voxtral pads audio to 30 s windows of 375 [AUDIO] tokens each
WINDOW_S = 30.0
TOKENS_PER_WORD = 1.6  # a generous average for tekken on English; only used to stay inside the context


def estimated_tokens(turn: Turn) -> int:
    audio = 0
    if turn.user_audio is not None:
        audio = math.ceil(duration_s(turn.user_audio) / WINDOW_S) * AUDIO_TOKENS_PER_WINDOW
    words = len(turn.user_text.split()) + len(turn.assistant_text.split())
    return audio + int(words * TOKENS_PER_WORD) + 8  # + the [INST] markers around each turn


def fit_history(history: Sequence[Turn], max_turns: int, budget_tokens: int, block: int = 1) -> tuple[Turn, ...]:
    """The most recent turns that fit both the turn limit and the token budget, oldest first.

    Old turns go ``block`` at a time (see turn_window.window_start), so that the prompt's beginning, and
    the computation the model keeps for it, survives most turns.
    """
    start = window_start(len(history), max_turns, block)
    costs = [estimated_tokens(turn) for turn in history]
    while start < len(history) and sum(costs[start:]) > budget_tokens:
        start = min(start + max(block, 1), len(history))
    return tuple(history[start:])


@dataclass
class ExchangeResult:
    """How the last exchange went: the stored turns, how the reply ended, and its text."""

    user_turn_id: int | None  # None: the user's turn could not be saved
    reply_turn_id: int | None
    status: ReplyStatus
    text: str
    save_error: HistoryWriteError | None = None  # what kept (part of) this exchange out of the history
    timings: ReplyTimings | None = None  # where the reply's time went (saved with the reply too)

    @property
    def saved(self) -> bool:
        return self.save_error is None


class ConversationSession:
    """Runs exchanges in one stored conversation; the reply is saved chunk by chunk as it streams."""

    def __init__(self, model: VoxtralModel, store: HistoryStore, conversation_id: str | None = None) -> None:
        self.model = model
        self.store = store
        # None or '' (the window's "no conversation yet"): a new one, with a real id. Nothing is read or
        # written here (the caller may be an event loop): the first exchange stores it, on the store's thread.
        self.conversation_id = conversation_id or new_conversation_id()
        self._stored = False
        self.last: ExchangeResult | None = None
        # The exchange in flight could not (all) be saved: the UI can say so while the reply streams on.
        self.save_error: HistoryWriteError | None = None
        # This session's recordings stay in memory for the prompt even when they are not kept on disk.
        self._audio: dict[int, np.ndarray] = {}

    def context_budget(self) -> int:
        """Tokens left for earlier turns: the model's context less this turn's audio and the reply."""
        reserve = self.model.config.streaming.max_new_tokens + 2 * AUDIO_TOKENS_PER_WINDOW
        return max(self.model.context_tokens - reserve, 0)

    def history(self) -> tuple[Turn, ...]:
        cfg = self.model.config.conversation
        block = reuse_block(cfg.max_turns)
        try:
            stored = self.store.prompt_history(self.conversation_id, cfg.max_turns, self._audio, block=block)
        except (HistoryError, sqlite3.Error) as e:  # an unreadable history costs the memory, not the reply
            log.warning("conversation %s: earlier turns unavailable: %s", self.conversation_id, e)
            stored = ()
        return fit_history(stored, cfg.max_turns, self.context_budget(), block)

    def _begin(self) -> None:
        """Create the conversation unless it is stored already (on the store's thread, before a turn)."""
        if self._stored:
            return
        try:
            known = self.store.exists(self.conversation_id)
        except sqlite3.Error as e:  # unreadable now (locked, damaged): this exchange cannot be saved either
            raise write_error(self.store.path, e) from e
        if not known:
            self.store.create_conversation(conversation_id=self.conversation_id)
        self._stored = True

    async def _in_store(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``call`` on the store's own thread (in order with the writes queued before it): a busy or locked
        database delays the history, never the caller's event loop."""
        return await history_thread.run(self.store, call, *args, **kwargs)

    def _save(self, write: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """One history write, on the store's thread; the reply streams on whatever happens to it.

        After the first failure of an exchange the rest are skipped: each would wait for the same lock or
        fail on the same full disk, and the reply must not stall behind them.
        """
        if self.save_error is not None:
            return None
        try:
            return write(*args, **kwargs)
        except HistoryWriteError as e:
            log.warning("conversation %s: %s", self.conversation_id, e)
            self.save_error = e
            return None

    async def respond(
        self,
        audio: Any,
        *,
        sample_rate: int = 16000,
        mode: str = Mode.CONVERSATION,
        chunk_id: str = "",
        recording_ended: float | None = None,
    ) -> AsyncIterator[C.Chunk]:
        """Stream the reply's chunk dicts (the model's contract) while saving the turn and every chunk.

        ``recording_ended`` (a ``time.perf_counter()`` value) starts the reply's stage clock at the moment
        the user stopped speaking; by default it starts now.
        """
        timings = ReplyTimings(recording_ended)
        cfg = self.model.config.conversation
        try:
            audio16k: np.ndarray | None = normalize_audio(
                audio, sample_rate, max_seconds=self.model.config.audio.max_recording_s
            )
        except AudioError:
            audio16k = None  # the model will explain the problem in its error chunk; nothing to store
        self.save_error = None
        await self._in_store(self._save, self._begin)
        history = await self._in_store(self.history) if mode == Mode.CONVERSATION else ()
        user_id = await self._in_store(
            self._save,
            self.store.add_user_turn,
            self.conversation_id,
            duration_s=duration_s(audio16k) if audio16k is not None else None,
            mode=str(mode),
            audio16k=audio16k if cfg.keep_audio else None,
        )
        if audio16k is not None and user_id is not None:
            self._audio[user_id] = audio16k
        sent = audio16k if audio16k is not None else audio
        # Rejected audio goes to the model as it came, with its own rate, so the model names the problem.
        rate = SAMPLE_RATE if audio16k is not None else sample_rate
        conversation = self.conversation_id if mode == Mode.CONVERSATION else None
        exchange = self._exchange(
            user_id,
            str(mode),
            chunk_id,
            lambda cid: self.model.process_realtime_chunk_streaming(
                sent, cid, mode, sample_rate=rate, history=history, conversation_id=conversation, timings=timings
            ),
            timings,
        )
        # aclosing: a caller that stops reading early gets the reply saved (as interrupted) at once, not
        # whenever the garbage collector finalises the inner generator.
        async with contextlib.aclosing(exchange) as chunks:
            async for chunk in chunks:
                yield chunk

    async def respond_text(self, text: str, *, chunk_id: str = "") -> AsyncIterator[C.Chunk]:
        """A typed turn: stored as text, answered with the same memory and the same chunk dicts."""
        if not text.strip():  # the model explains; an empty turn is not worth a place in the history
            async for chunk in self.model.process_text_streaming(text, chunk_id or "empty"):
                yield chunk
            return
        self.save_error = None
        await self._in_store(self._save, self._begin)
        history = await self._in_store(self.history)
        user_id = await self._in_store(
            self._save, self.store.add_user_turn, self.conversation_id, text=text.strip(), mode=Mode.CONVERSATION.value
        )
        history_thread.submit(self.store, self._save, self.store.title_from, self.conversation_id, text)
        timings = ReplyTimings()
        exchange = self._exchange(
            user_id,
            Mode.CONVERSATION.value,
            chunk_id,
            lambda cid: self.model.process_text_streaming(
                text, cid, history=history, conversation_id=self.conversation_id, timings=timings
            ),
            timings,
        )
        async with contextlib.aclosing(exchange) as chunks:  # saved at once when closed early (see respond)
            async for chunk in chunks:
                yield chunk

    async def _exchange(
        self,
        user_id: int | None,
        mode: str,
        chunk_id: str,
        reply: Callable[[str], AsyncIterator[C.Chunk]],
        timings: ReplyTimings,
    ) -> AsyncIterator[C.Chunk]:
        """Stream ``reply`` to the stored user turn, saving each chunk, then how the reply ended.

        The reply streams whatever happens to the history; a failed save is kept in ``save_error``.
        """
        reply_id = await self._in_store(self._save, self.store.start_reply, self.conversation_id, mode)
        chunks = reply(chunk_id or f"{self.conversation_id}-{user_id}")
        texts: list[str] = []
        final: C.Chunk | None = None
        try:
            async for chunk in chunks:
                if chunk["success"]:
                    if reply_id is not None:  # queued, not awaited: the chunk is shown at once, saved in order
                        history_thread.submit(self.store, self._save, self.store.append_chunk, reply_id, chunk)
                    texts.append(chunk["text"])
                final = chunk
                yield chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]
            # After the queued chunks, on the same thread; runs even if this await is cancelled.
            await self._in_store(self._finish, user_id, reply_id, final, " ".join(t for t in texts if t), timings)

    def _finish(
        self, user_id: int | None, reply_id: int | None, final: C.Chunk | None, text: str, timings: ReplyTimings
    ) -> None:
        status = C.status_of(final)
        error = final.get("error") if final is not None and status is ReplyStatus.ERROR else None
        if status is ReplyStatus.STREAMING:
            status, error = ReplyStatus.INTERRUPTED, "closed before the reply ended"
        total = final["processing_time_ms"] if final else None
        if reply_id is not None:
            # Tried even after a chunk failed to save: if the trouble has passed, the whole text lands now.
            missed_chunks = self.save_error is not None
            try:
                self.store.finish_reply(
                    reply_id,
                    status,
                    error=error,
                    total_ms=total,
                    text=text if missed_chunks else None,
                    timings=timings.to_dict(),
                )
                self.save_error = None
            except HistoryWriteError as e:
                log.warning("conversation %s: %s", self.conversation_id, e)
                self.save_error = self.save_error or e
        self.last = ExchangeResult(user_id, reply_id, status, text, self.save_error, timings)
