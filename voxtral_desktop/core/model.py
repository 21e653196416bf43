"""VoxtralModel: audio in, a reply streamed out as chunk dicts of a few words each (contract: core/chunks.py)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import numpy as np

from voxtral_desktop.core import chunks as C
from voxtral_desktop.core.audio import AudioError, detect_speech, duration_s, normalize_audio
from voxtral_desktop.core.backends import Backend, GenerationRequest, Turn, create_backend
from voxtral_desktop.core.backends.base import MODES, TYPED_MODE, LoadPhase, Mode, ProgressCallback
from voxtral_desktop.core.chunker import WordChunker
from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.config import Config, load_config
from voxtral_desktop.core.errors import (
    EmptyTurn,
    InputRejected,
    ModelBusy,
    NoSpeech,
    ReplyCancelled,
    ReplyTimedOut,
    TooShort,
    UnknownMode,
    VoxtralError,
)
from voxtral_desktop.core.reply import Clock, Ended, Marked, Reply, ReplyEvent, Words, chunk_of, status_for
from voxtral_desktop.core.timings import Progress, ReplyTimings, Stage

__all__ = [
    "NOT_INITIALIZED",
    "TYPED_MODE",
    "GenerationRequest",
    "LoadPhase",
    "Mode",
    "ProgressCallback",
    "Reply",
    "Turn",
    "VoxtralModel",
]

log = logging.getLogger(__name__)


def _quiet_speech(audio16k: np.ndarray, min_speech_ms: float) -> bool:
    """Second opinion on audio the energy check refused: Silero hears speech too quiet for a level threshold.

    Only ever turns a refusal into an acceptance (a tone or a fan the energy check lets through is the
    model's to answer, as before); without the speech detector installed the refusal stands.
    """
    from voxtral_desktop.core import vad  # onnxruntime only when a recording was refused

    try:
        return vad.detect_speech(audio16k, min_speech_ms).is_speech
    except VoxtralError as e:
        log.info("no second opinion on the refused audio: %s", e)
        return False

NOT_INITIALIZED = "VoxtralModel is not initialized: call initialize() (it loads the model) before asking for replies"


class VoxtralModel:
    """One model, one reply at a time; concurrent requests wait their turn in order.

    Settings are read from ``config`` at the start of every reply, so changes apply to the next one.
    """

    def __init__(self, config: Config | None = None, backend: Backend | None = None) -> None:
        """``backend`` defaults to the one ``config.backend`` names (see from_config)."""
        self.config = config if config is not None else load_config()
        self.backend = backend if backend is not None else create_backend(self.config)
        self._load_lock = threading.Lock()
        # asyncio locks belong to one loop; a model may be driven from several (tests, CLI, app).
        self._turn_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._current_stop: _Stop | None = None
        self.last_timings: ReplyTimings | None = None  # the latest reply's stage times (see core/timings.py)
        self._running: Reply | None = None  # the reply in flight

    @classmethod
    def from_config(cls, config: Config) -> VoxtralModel:
        """A model on the back-end ``config.backend`` names (local or openai); nothing is loaded yet."""
        return cls(config)

    @property
    def is_initialized(self) -> bool:
        return self.backend.is_loaded

    @property
    def device(self) -> str | None:
        """Where the model runs once loaded ("cpu", "cuda", "mps"); None before that, or for a server."""
        return self.backend.device

    @property
    def load_notice(self) -> str:
        """Once loaded on a CPU: what a reply will cost here, and whether bfloat16 is emulated ("" otherwise)."""
        return self.backend.load_notice

    @property
    def first_words_s(self) -> float | None:
        """Once loaded on a CPU: the estimated seconds from a 30 s question to its first words (None: unknown)."""
        return self.backend.first_words_s

    @property
    def engine_name(self) -> str:
        """What computes the replies ("transformers", "llama.cpp"); "" for a server."""
        return self.backend.engine_name

    @property
    def context_tokens(self) -> int:
        """The model's context length in tokens (memory of earlier turns must fit in it)."""
        return self.backend.context_tokens

    async def check_connection(self) -> tuple[bool, str]:
        """Whether the back-end can reach its model (a remote server answers), and a sentence saying so."""
        return await self.backend.check_connection()

    def initialize(self, progress: ProgressCallback | None = None) -> None:
        """Load the model (blocking, idempotent). Raises ModelLoadError saying what to do on failure."""
        with self._load_lock:
            if not self.backend.is_loaded:
                self.backend.load(progress)

    def progress(self) -> Progress | None:
        """What the reply in flight is doing before its first words ("listening to your 2 s question... 14 s",
        "thinking..."); None when no reply runs or its words have started. Safe to poll from the loop."""
        running = self._running
        return None if running is None else running.progress()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait (blocking) up to ``timeout_s`` for the back-end's work to end; True when nothing still runs.

        After cancel() or a timeout a generation step may still be inside torch; exiting then aborts the
        process ("terminate called without an active exception"), so callers wait for this before exiting.
        """
        return self.backend.wait_idle(timeout_s)

    def cancel(self) -> None:
        """Stop the reply in flight, if any; it ends with a final ``cancelled`` chunk."""
        stop = self._current_stop
        if stop is not None:
            stop.set()

    def close(self) -> None:
        """Stop any reply and release the back-end (blocking; fine off the event loop)."""
        self.cancel()
        self.backend.close()

    async def aclose(self) -> None:
        """Like close(), awaited on the event loop the model was used on, so network clients close cleanly."""
        self.cancel()
        await self.backend.aclose()

    def _turn_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._turn_locks.get(loop)
        if lock is None:
            lock = self._turn_locks[loop] = asyncio.Lock()
        return lock

    async def process_realtime_chunk_streaming(
        self,
        audio_data: Any,
        chunk_id: str,
        mode: str = Mode.CONVERSATION,
        *,
        sample_rate: int = 16000,
        history: Sequence[Turn] = (),
        conversation_id: str | None = None,
        timings: ReplyTimings | None = None,
    ) -> AsyncGenerator[C.Chunk, None]:
        """Yield chunk dicts of 3-5 words as the reply is generated; exactly one, the last, is final.

        Bad audio, silence or an unknown mode give one final error chunk and no model call; a failure
        inside generation keeps the chunks already yielded and ends with the fallback chunk (FALLBACK_TEXT);
        core/chunks.py spells out the contract. Raises RuntimeError if not initialized.
        ``conversation_id`` lets the back-end reuse the conversation's last exchange; ``timings`` (made
        when the recording ended) receives the stage marks, else a new one is made; either way it is
        ``last_timings`` once the reply starts. The dicts are the events of ``reply()`` (core/reply.py).
        """
        started = time.perf_counter()
        if not self.is_initialized:
            raise RuntimeError(NOT_INITIALIZED)
        try:
            request: GenerationRequest | BaseException = self.prepare(
                audio_data, mode, sample_rate=sample_rate, history=history, conversation_id=conversation_id
            )
        except (InputRejected, AudioError) as e:
            log.info("[%s] rejected input: %s", chunk_id, e)
            request = e
        reply = self.reply(request, chunk_id, timings=timings, started=started)
        async with contextlib.aclosing(reply.chunks_out()) as chunks:
            async for chunk in chunks:
                yield chunk

    async def process_text_streaming(
        self,
        text: str,
        chunk_id: str,
        *,
        history: Sequence[Turn] = (),
        conversation_id: str | None = None,
        timings: ReplyTimings | None = None,
    ) -> AsyncGenerator[C.Chunk, None]:
        """A typed turn instead of speech: the same chunk dicts, the same rules (conversation mode)."""
        started = time.perf_counter()
        if not self.is_initialized:
            raise RuntimeError(NOT_INITIALIZED)
        try:
            request: GenerationRequest | BaseException = self.prepare_text(
                text, history=history, conversation_id=conversation_id
            )
        except EmptyTurn as e:
            request = e
        reply = self.reply(request, chunk_id, timings=timings, started=started)
        async with contextlib.aclosing(reply.chunks_out()) as chunks:
            async for chunk in chunks:
                yield chunk

    def reply(
        self,
        request: GenerationRequest | BaseException,
        chunk_id: str,
        *,
        timings: ReplyTimings | None = None,
        started: float | None = None,
    ) -> Reply:
        """A reply to a prepared request (or one that ends at once on the error that refused its input).

        Nothing runs until its ``events()`` are read; one reply generates at a time, in order.
        ``started`` (perf_counter) is when the call began: processing_time_ms counts from there.
        """
        timings = timings if timings is not None else ReplyTimings(started)
        audio = request.audio if isinstance(request, GenerationRequest) else None
        reply = Reply(timings, audio_s=duration_s(audio) if audio is not None else None)
        reply.feed(self.stream(request, reply, chunk_id, started=started))
        return reply

    async def stream(
        self,
        request: GenerationRequest | BaseException,
        reply: Reply,
        chunk_id: str,
        *,
        started: float | None = None,
    ) -> AsyncGenerator[ReplyEvent, None]:
        """Generate ``request`` into ``reply``: each event is recorded in it, then yielded.

        A refused input (an exception in place of the request) is one Ended event and no model call.
        """
        if not self.is_initialized:
            raise RuntimeError(NOT_INITIALIZED)
        clock = Clock(started)
        self.last_timings = reply.timings
        if isinstance(request, BaseException):
            yield reply.record(Ended(status_for(request), 0, clock.ms(), request))
            return
        reply.timings.mark(Stage.NORMALISED)
        request = dataclasses.replace(request, timings=reply.timings)
        async with self._turn_lock():
            stop = _Stop()
            self._current_stop = stop
            self._running = reply
            inner = self._generate(request, reply, chunk_id, stop, clock)
            try:
                async for event in inner:
                    if isinstance(event, Ended):
                        log.info("[%s] %s", chunk_id, reply.timings.summary())
                    yield event
            finally:
                # Closed early (break, aclose): stop generation now rather than when the GC gets to it.
                stop.event.set()
                await inner.aclose()
                stop.discard()
                if self._current_stop is stop:
                    self._current_stop = None
                    self._running = None

    async def process_realtime_chunk(
        self,
        audio_data: Any,
        chunk_id: str,
        mode: str = Mode.CONVERSATION,
        *,
        sample_rate: int = 16000,
        history: Sequence[Turn] = (),
    ) -> C.Chunk:
        """The whole reply as one final chunk dict (same error rules as the streaming call)."""
        texts: list[str] = []
        final: C.Chunk | None = None
        async for chunk in self.process_realtime_chunk_streaming(
            audio_data, chunk_id, mode, sample_rate=sample_rate, history=history
        ):
            if chunk["success"] and chunk["text"]:
                texts.append(chunk["text"])
            final = chunk
        assert final is not None and final["is_final"]
        if not final["success"]:
            return C.error_chunk(final["text"], final.get("error", ""), 0, final["processing_time_ms"])
        return C.text_chunk(" ".join(texts), 0, final["processing_time_ms"], final=True)

    # --- checking the input (once per reply) ----------------------------------------------------------

    def check_audio(self, audio_data: Any, sample_rate: int = 16000) -> np.ndarray:
        """The recording as mono float32 at 16 kHz; raises AudioError (AudioTooLong past audio.max_recording_s).

        The one place a reply's audio is normalised: the conversation stores what this returns and
        passes it on to ``request_for``.
        """
        return normalize_audio(audio_data, sample_rate, max_seconds=self.config.audio.max_recording_s)

    def request_for(
        self,
        audio16k: np.ndarray,
        mode: str = Mode.CONVERSATION,
        *,
        history: Sequence[Turn] = (),
        conversation_id: str | None = None,
    ) -> GenerationRequest:
        """The request for checked audio (``check_audio``), with the settings as they are now.

        Raises UnknownMode, TooShort or NoSpeech (InputRejected) when it cannot be answered.
        """
        if mode not in MODES:
            raise UnknownMode(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        cfg = self.config.audio
        seconds = duration_s(audio16k)
        if seconds * 1000.0 < cfg.min_speech_ms:
            raise TooShort(
                f"audio is {seconds * 1000.0:.0f} ms long; speech needs at least {cfg.min_speech_ms} ms "
                f"(audio.min_speech_ms)"
            )
        speech = detect_speech(audio16k, cfg.speech_threshold, cfg.min_speech_ms)
        if not speech.is_speech and not _quiet_speech(audio16k, cfg.min_speech_ms):
            raise NoSpeech(
                f"no speech detected: {speech.speech_ms:.0f} ms above the threshold "
                f"{cfg.speech_threshold:g} (loudest 20 ms frame RMS {speech.peak_rms:.4f}); "
                f"need {cfg.min_speech_ms} ms"
            )
        return self._request(audio16k, Mode(mode), history, conversation_id=conversation_id)

    def prepare(
        self,
        audio_data: Any,
        mode: str = Mode.CONVERSATION,
        *,
        sample_rate: int = 16000,
        history: Sequence[Turn] = (),
        conversation_id: str | None = None,
    ) -> GenerationRequest:
        """``check_audio`` then ``request_for``: raises UnknownMode (checked first), AudioError or InputRejected."""
        if mode not in MODES:
            raise UnknownMode(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        audio = self.check_audio(audio_data, sample_rate)
        return self.request_for(audio, mode, history=history, conversation_id=conversation_id)

    def prepare_text(
        self, text: str, *, history: Sequence[Turn] = (), conversation_id: str | None = None
    ) -> GenerationRequest:
        """The request for a typed turn (always TYPED_MODE); raises EmptyTurn when there is no text."""
        if not isinstance(text, str) or not text.strip():
            raise EmptyTurn(f"a typed turn needs some text, got {text!r}")
        return self._request(None, TYPED_MODE, history, text=text.strip(), conversation_id=conversation_id)

    def build_request(
        self,
        audio_data: Any,
        mode: str = Mode.CONVERSATION,
        *,
        sample_rate: int = 16000,
        history: Sequence[Turn] = (),
        chunk_id: str = "",
    ) -> GenerationRequest | C.Chunk:
        """The request a reply would send for this input, from the settings as they are now, or the final
        error chunk that explains why the input cannot be used (``processing_time_ms`` 0).

        For tests and benchmarks that drive a back-end directly with a real request. ``chunk_id`` only
        labels the log line of a rejected input.
        """
        try:
            return self.prepare(audio_data, mode, sample_rate=sample_rate, history=history)
        except (InputRejected, AudioError) as e:
            log.info("[%s] rejected input: %s", chunk_id, e)
            chunk = chunk_of(Ended(status_for(e), 0, 0.0, e))
            assert chunk is not None
            return chunk

    def _request(
        self,
        audio: np.ndarray | None,
        mode: Mode,
        history: Sequence[Turn],
        text: str = "",
        conversation_id: str | None = None,
    ) -> GenerationRequest:
        """The request for checked input, with the settings as they are now."""
        cfg = self.config
        s = cfg.streaming
        transcribing = mode == Mode.TRANSCRIBE
        return GenerationRequest(
            audio=audio,
            mode=mode,
            max_new_tokens=s.max_new_tokens,
            # A transcript is not a place for creativity: always greedy, as Voxtral's model card advises.
            temperature=0.0 if transcribing else s.temperature,
            top_p=s.top_p,
            instruction=cfg.conversation.instruction,
            language=cfg.transcription.language or None,
            history=tuple(history),
            text=text,
            conversation_id=conversation_id,
        )

    # --- generating ------------------------------------------------------------------------------------

    async def _generate(
        self, request: GenerationRequest, reply: Reply, chunk_id: str, stop: _Stop, clock: Clock
    ) -> AsyncGenerator[ReplyEvent, None]:
        """The back-end's text pieces as events: Words of 3-5 words, Marked stages, and one Ended."""
        s = self.config.streaming
        chunker = WordChunker(s.chunk_size_words)
        flush_s = s.flush_interval_ms / 1000.0
        timeout_s = s.timeout_ms / 1000.0
        timings = reply.timings
        index = 0
        pieces = self.backend.stream(request, stop.event)
        pending: asyncio.Future[str] | None = None
        last_piece = time.perf_counter()
        marks = _Marks(timings)
        try:
            while not stop.event.is_set():
                for event in marks.new():
                    yield reply.record(event)
                if pending is None:
                    pending = asyncio.ensure_future(pieces.__anext__())
                now = time.perf_counter()
                # A stall is no progress at all: a slow CPU still encoding or prefilling (each finished layer
                # touches the timings) keeps the reply alive; the timeout counts from its latest sign of work.
                worked = max(last_piece, timings.last_worked)
                deadline = worked + timeout_s
                wait = deadline - now
                if chunker.pending_words:
                    wait = min(wait, last_piece + flush_s - now)
                done, _ = await asyncio.wait(
                    {pending, stop.woken, marks.woken}, timeout=max(wait, 0.0), return_when=asyncio.FIRST_COMPLETED
                )
                if pending not in done:
                    if stop.event.is_set():
                        break
                    if marks.woken in done:
                        continue
                    if time.perf_counter() >= deadline and timings.last_worked <= worked:
                        timeout = ReplyTimedOut(
                            f"no progress from the model (no text, no finished layer) for {s.timeout_ms} ms "
                            f"(streaming.timeout_ms)"
                        )
                        yield reply.record(Ended(ReplyStatus.ERROR, index, clock.ms(), timeout))
                        return
                    if (text := chunker.flush()) is not None:
                        yield reply.record(Words(text, index, clock.ms()))
                        index += 1
                    continue
                task, pending = pending, None
                try:
                    piece = task.result()
                except StopAsyncIteration:
                    break
                last_piece = time.perf_counter()
                timings.mark(Stage.FIRST_TOKEN)  # back-ends that cannot see tokens: first text
                for text in chunker.push(piece):
                    yield reply.record(Words(text, index, clock.ms()))
                    index += 1
        except ModelBusy as e:
            log.warning("[%s] not started: %s", chunk_id, e)
            yield reply.record(Ended(ReplyStatus.ERROR, index, clock.ms(), e))
            return
        except Exception as e:
            # The words already shown stay; the final event says what went wrong.
            log.exception("[%s] generation failed", chunk_id)
            if (text := chunker.flush()) is not None:
                yield reply.record(Words(text, index, clock.ms()))
                index += 1
            yield reply.record(Ended(ReplyStatus.ERROR, index, clock.ms(), e))
            return
        finally:
            cancelled = stop.requested
            stop.event.set()
            marks.close()
            if pending is not None:
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
            await pieces.aclose()  # type: ignore[attr-defined]
        for event in marks.new():
            yield reply.record(event)
        rest = chunker.finish()
        if cancelled:
            # Words already generated were the user's to see; show them, then say the reply was stopped.
            for text in rest:
                yield reply.record(Words(text, index, clock.ms()))
                index += 1
            yield reply.record(Ended(ReplyStatus.INTERRUPTED, index, clock.ms(), ReplyCancelled()))
            return
        last = rest.pop() if rest else ""
        for text in rest:
            yield reply.record(Words(text, index, clock.ms()))
            index += 1
        yield reply.record(Words(last, index, clock.ms(), last=True))
        yield reply.record(Ended(ReplyStatus.COMPLETE, index, clock.ms()))


class _Marks:
    """The stage marks the back-end makes from its thread, as Marked events on the loop, as they happen."""

    # Marked by the reply itself (from its Words and Ended), or the origin: never announced again.
    _OWN = frozenset({Stage.RECORDING_ENDED, Stage.FIRST_CHUNK, Stage.LAST_CHUNK, Stage.FIRST_SOUND})

    def __init__(self, timings: ReplyTimings) -> None:
        self._timings = timings
        self._said: set[Stage] = set(self._OWN)
        self._loop = asyncio.get_running_loop()
        self.woken: asyncio.Future[None] = self._loop.create_future()
        timings.on_mark = self._on_mark

    def _on_mark(self) -> None:  # any thread
        self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if not self.woken.done():
            self.woken.set_result(None)

    def new(self) -> list[Marked]:
        """The stages marked since the last call, as events; re-arms the wake-up."""
        if self.woken.done():
            self.woken = self._loop.create_future()
        fresh = [stage for stage in self._timings.stages() if stage not in self._said]
        self._said.update(fresh)
        return [Marked(stage, self._timings.ms(stage)) for stage in fresh]

    def close(self) -> None:
        self._timings.on_mark = None
        if not self.woken.done():
            self.woken.cancel()


class _Stop:
    """A stop signal both a worker thread (polls ``event``) and the event loop (awaits ``woken``) see."""

    def __init__(self) -> None:
        self.event = threading.Event()
        # Set only by a user's cancel(): a back-end also sets ``event`` when it ends, and that is no cancel.
        self.requested = False
        self._loop = asyncio.get_running_loop()
        self.woken: asyncio.Future[None] = self._loop.create_future()

    def set(self) -> None:
        """The user asked to stop; safe from any thread."""
        self.requested = True
        self.event.set()
        self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        if not self.woken.done():
            self.woken.set_result(None)

    def discard(self) -> None:
        if not self.woken.done():
            self.woken.cancel()
