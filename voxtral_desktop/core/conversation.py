"""One exchange of a stored conversation: save the user's turn, stream the reply with memory, save each chunk."""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import math
import sqlite3
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from voxtral_desktop.core import chunks as C
from voxtral_desktop.core.audio import AudioError, duration_s
from voxtral_desktop.core.backends.base import TYPED_MODE, GenerationRequest, Mode, Turn
from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.errors import EmptyTurn, HistoryError, HistoryWriteError, InputRejected, ReplyClosed
from voxtral_desktop.core.history import HistoryStore, new_conversation_id
from voxtral_desktop.core.history import thread as history_thread
from voxtral_desktop.core.history.transactions import write_error
from voxtral_desktop.core.model import VoxtralModel
from voxtral_desktop.core.reply import Ended, Reply, ReplyEvent, Words, chunk_of
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
    """How the last exchange went: the stored turns and the reply itself (its status, text and timings)."""

    user_turn_id: int | None  # None: the user's turn could not be saved
    reply_turn_id: int | None
    reply: Reply
    save_error: HistoryWriteError | None = None  # what kept (part of) this exchange out of the history

    @property
    def saved(self) -> bool:
        return self.save_error is None

    @property
    def status(self) -> ReplyStatus:
        return self.reply.status

    @property
    def text(self) -> str:
        """What the history keeps of the reply (what the user heard of an interrupted spoken one)."""
        return self.reply.kept_text

    @property
    def timings(self) -> ReplyTimings:
        return self.reply.timings


class ConversationSession:
    """Runs exchanges in one stored conversation; the reply is saved chunk by chunk as it streams.

    Every history call runs on the store's own thread (core/history/thread.py), so a busy or locked
    database delays the history, never the caller's event loop.
    """

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

    def _save(self, write: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """One history write (run on the store's thread); the reply streams on whatever happens to it.

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

    # --- one exchange ----------------------------------------------------------------------------------

    def reply(
        self,
        audio: Any,
        *,
        sample_rate: int = 16000,
        mode: str = Mode.CONVERSATION,
        chunk_id: str = "",
        recording_ended: float | None = None,
    ) -> Reply:
        """The reply to a recording, stored as it streams (the user's turn first, then each chunk).

        ``recording_ended`` (a ``time.perf_counter()`` value) starts the reply's stage clock at the moment
        the user stopped speaking; by default it starts now. Nothing runs until its events are read.
        """
        timings = ReplyTimings(recording_ended)
        reply = Reply(timings)
        reply.feed(self._recorded(reply, audio, sample_rate, mode, chunk_id, started=time.perf_counter()))
        return reply

    def reply_text(self, text: str, *, chunk_id: str = "") -> Reply:
        """The reply to a typed turn: stored as text, answered with the same memory (always TYPED_MODE)."""
        reply = Reply(ReplyTimings())
        reply.feed(self._typed(reply, text, chunk_id, started=time.perf_counter()))
        return reply

    async def respond(
        self,
        audio: Any,
        *,
        sample_rate: int = 16000,
        mode: str = Mode.CONVERSATION,
        chunk_id: str = "",
        recording_ended: float | None = None,
    ) -> AsyncIterator[C.Chunk]:
        """``reply()`` as the seed's chunk dicts (the CLI's and the benchmarks' face of an exchange)."""
        reply = self.reply(
            audio, sample_rate=sample_rate, mode=mode, chunk_id=chunk_id, recording_ended=recording_ended
        )
        # aclosing: a caller that stops reading early gets the reply saved (as interrupted) at once, not
        # whenever the garbage collector finalises the inner generator.
        async with contextlib.aclosing(reply.chunks_out()) as chunks:
            async for chunk in chunks:
                yield chunk

    async def respond_text(self, text: str, *, chunk_id: str = "") -> AsyncIterator[C.Chunk]:
        """``reply_text()`` as the seed's chunk dicts."""
        async with contextlib.aclosing(self.reply_text(text, chunk_id=chunk_id).chunks_out()) as chunks:
            async for chunk in chunks:
                yield chunk

    async def _recorded(
        self, reply: Reply, audio: Any, sample_rate: int, mode: str, chunk_id: str, started: float
    ) -> AsyncGenerator[ReplyEvent, None]:
        model = self.model
        request: GenerationRequest | BaseException
        try:
            audio16k: np.ndarray | None = model.check_audio(audio, sample_rate)
        except AudioError as e:  # nothing to store; the reply says what is wrong with the recording
            audio16k, request = None, e
        if audio16k is not None:
            reply.audio_s = duration_s(audio16k)
        self.save_error = None
        await history_thread.run(self.store, self._save, self._begin)
        history = await history_thread.run(self.store, self.history) if mode == Mode.CONVERSATION else ()
        user_id = await history_thread.run(
            self.store,
            self._save,
            self.store.add_user_turn,
            self.conversation_id,
            duration_s=reply.audio_s,
            mode=str(mode),
            audio16k=audio16k if model.config.conversation.keep_audio else None,
        )
        if audio16k is not None:
            if user_id is not None:
                self._audio[user_id] = audio16k
            conversation = self.conversation_id if mode == Mode.CONVERSATION else None
            try:
                request = model.request_for(audio16k, mode, history=history, conversation_id=conversation)
            except InputRejected as e:
                request = e
        async with contextlib.aclosing(self._exchange(reply, user_id, str(mode), chunk_id, request, started)) as ev:
            async for event in ev:
                yield event

    async def _typed(self, reply: Reply, text: str, chunk_id: str, started: float) -> AsyncGenerator[ReplyEvent, None]:
        model = self.model
        if not text.strip():  # the model explains; an empty turn is not worth a place in the history
            refusal = EmptyTurn(f"a typed turn needs some text, got {text!r}")
            async with contextlib.aclosing(model.stream(refusal, reply, chunk_id or "empty", started=started)) as ev:
                async for event in ev:
                    yield event
            return
        self.save_error = None
        await history_thread.run(self.store, self._save, self._begin)
        history = await history_thread.run(self.store, self.history)
        user_id = await history_thread.run(
            self.store, self._save, self.store.add_user_turn, self.conversation_id, text=text.strip(), mode=TYPED_MODE.value
        )
        history_thread.submit(self.store, self._save, self.store.title_from, self.conversation_id, text)
        request = model.prepare_text(text, history=history, conversation_id=self.conversation_id)
        async with contextlib.aclosing(
            self._exchange(reply, user_id, TYPED_MODE.value, chunk_id, request, started)
        ) as ev:
            async for event in ev:
                yield event

    async def _exchange(
        self,
        reply: Reply,
        user_id: int | None,
        mode: str,
        chunk_id: str,
        request: GenerationRequest | BaseException,
        started: float,
    ) -> AsyncGenerator[ReplyEvent, None]:
        """Stream the model's events for the stored user turn, saving each chunk, then how the reply ended.

        The reply streams whatever happens to the history; a failed save is kept in ``save_error``.
        """
        reply_id = await history_thread.run(self.store, self._save, self.store.start_reply, self.conversation_id, mode)
        events = self.model.stream(request, reply, chunk_id or f"{self.conversation_id}-{user_id}", started=started)
        try:
            async for event in events:
                if isinstance(event, Words) and reply_id is not None:
                    # queued, not awaited: the chunk is shown at once, saved in order
                    history_thread.submit(self.store, self._save, self.store.append_chunk, reply_id, chunk_of(event))
                yield event
        finally:
            await events.aclose()
            # After the queued chunks, on the same thread; runs even if this await is cancelled.
            await history_thread.run(self.store, self._finish, user_id, reply_id, reply)

    def _finish(self, user_id: int | None, reply_id: int | None, reply: Reply) -> None:
        if not reply.ended:
            reply.record(Ended(ReplyStatus.INTERRUPTED, len(reply.chunks), reply.elapsed_ms, ReplyClosed()))
        if reply_id is not None:
            # Tried even after a chunk failed to save: if the trouble has passed, the whole text lands now.
            # A spoken reply cut short keeps only what the user heard.
            rewrite = self.save_error is not None or reply.kept_chunks < len(reply.chunks)
            try:
                self.store.finish_reply(
                    reply_id,
                    reply.status,
                    error=reply.describe()[1] if reply.status is ReplyStatus.ERROR else None,
                    total_ms=reply.elapsed_ms,
                    text=reply.kept_text if rewrite else None,
                    timings=reply.timings.to_dict(),
                    kept_chunks=reply.kept_chunks if reply.kept_chunks < len(reply.chunks) else None,
                )
                self.save_error = None
            except HistoryWriteError as e:
                log.warning("conversation %s: %s", self.conversation_id, e)
                self.save_error = self.save_error or e
        self.last = ExchangeResult(user_id, reply_id, reply, self.save_error)

    # --- after the reply's text ended: its voice ----------------------------------------------------

    def keep_heard(self, exchange: ExchangeResult) -> concurrent.futures.Future[None] | None:
        """The voice was cut short after the reply was written: keep only what was heard, marked interrupted
        (queued on the store's thread; the window answers the voice at once). None if it was not saved."""
        if exchange.reply_turn_id is None or not exchange.saved:
            return None
        reply = exchange.reply
        return history_thread.submit(
            self.store,
            self.store.finish_reply,
            exchange.reply_turn_id,
            reply.status,
            total_ms=reply.elapsed_ms,
            text=reply.kept_text,
            timings=reply.timings.to_dict(),
            kept_chunks=reply.kept_chunks,
        )

    async def keep_transcript(self, exchange: ExchangeResult, transcript: str) -> None:
        """Write what the user said into their stored turn; a conversation still untitled is named after it.
        On the store's thread, after the turn's own saves. Raises HistoryError when it cannot be written."""
        user_id = exchange.user_turn_id
        if user_id is None:
            return

        def write() -> None:
            self.store.set_turn_text(user_id, transcript)
            self.store.title_from(self.conversation_id, transcript)

        await history_thread.run(self.store, write)

    async def save_timings(self, exchange: ExchangeResult) -> None:
        """The voice's first sound came after the reply was saved: store the reply's timings again.
        Raises HistoryError when it cannot be written."""
        if exchange.reply_turn_id is None or not exchange.saved:
            return
        await history_thread.run(
            self.store, self.store.set_timings, exchange.reply_turn_id, exchange.reply.timings.to_dict()
        )
