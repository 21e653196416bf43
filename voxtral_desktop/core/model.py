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
from voxtral_desktop.core.audio import AudioError, AudioTooLong, detect_speech, duration_s, normalize_audio
from voxtral_desktop.core.backends import Backend, GenerationRequest, Turn, create_backend
from voxtral_desktop.core.backends.base import MODES, LoadPhase, Mode, ProgressCallback
from voxtral_desktop.core.errors import ModelBusy
from voxtral_desktop.core.chunker import WordChunker
from voxtral_desktop.core.config import Config, load_config
from voxtral_desktop.core.timings import Progress, ReplyTimings, Stage
from voxtral_desktop.core.errors import VoxtralError

__all__ = ["NOT_INITIALIZED", "GenerationRequest", "LoadPhase", "Mode", "ProgressCallback", "Turn", "VoxtralModel"]

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
        self._running: tuple[ReplyTimings, float | None] | None = None  # the reply in flight: timings, audio s

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
        return None if running is None else running[0].progress(running[1])

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
        ``last_timings`` once the reply starts.
        """
        started = time.perf_counter()
        if not self.is_initialized:
            raise RuntimeError(NOT_INITIALIZED)
        clock = _Clock(started)
        timings = timings if timings is not None else ReplyTimings(started)
        self.last_timings = timings

        request = self.build_request(audio_data, mode, sample_rate=sample_rate, history=history, chunk_id=chunk_id)
        if isinstance(request, dict):
            timings.mark(Stage.LAST_CHUNK)
            yield {**request, "processing_time_ms": clock.ms()}
            return
        timings.mark(Stage.NORMALISED)
        request = dataclasses.replace(request, conversation_id=conversation_id, timings=timings)

        # aclosing: when our caller stops early, generation must stop now, not when the GC finalises _run.
        async with contextlib.aclosing(self._run(request, chunk_id, clock)) as chunks:
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
        clock = _Clock(started)
        if not self.is_initialized:
            raise RuntimeError(NOT_INITIALIZED)
        timings = timings if timings is not None else ReplyTimings(started)
        self.last_timings = timings
        if not isinstance(text, str) or not text.strip():
            timings.mark(Stage.LAST_CHUNK)
            yield C.error_chunk(C.EMPTY_TEXT, f"a typed turn needs some text, got {text!r}", 0, clock.ms())
            return
        request = self._request(None, Mode.CONVERSATION, history, text=text.strip())
        request = dataclasses.replace(request, conversation_id=conversation_id, timings=timings)
        timings.mark(Stage.NORMALISED)
        # aclosing: when our caller stops early, generation must stop now, not when the GC finalises _run.
        async with contextlib.aclosing(self._run(request, chunk_id, clock)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def _run(self, request: GenerationRequest, chunk_id: str, clock: _Clock) -> AsyncGenerator[C.Chunk, None]:
        """One generation at a time: wait for the turn lock, then stream, stopping cleanly however it ends."""
        async with self._turn_lock():
            stop = _Stop()
            self._current_stop = stop
            inner = self._stream(request, chunk_id, stop, clock)
            timings = request.timings
            if timings is not None:
                self._running = (timings, duration_s(request.audio) if request.audio is not None else None)
            try:
                async for chunk in inner:
                    if timings is not None:
                        if chunk["success"] and chunk["text"]:
                            timings.mark(Stage.FIRST_CHUNK)
                        if chunk["is_final"]:
                            timings.mark(Stage.LAST_CHUNK)
                            log.info("[%s] %s", chunk_id, timings.summary())
                    yield chunk
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

    def build_request(
        self,
        audio_data: Any,
        mode: str = Mode.CONVERSATION,
        *,
        sample_rate: int = 16000,
        history: Sequence[Turn] = (),
        chunk_id: str = "",
    ) -> GenerationRequest | C.Chunk:
        """Check the input and build the request the back-end would get, from the settings as they are now.

        Returns the GenerationRequest, or, when the input cannot be used (bad audio, too long, no speech,
        unknown mode), the final error chunk that explains why, with ``processing_time_ms`` 0. The streaming
        calls use it first; tests and benchmarks use it to drive a back-end directly with a real request.
        ``chunk_id`` only labels the log line of a rejected input.
        """
        cfg = self.config
        if mode not in MODES:
            return C.error_chunk(C.BAD_MODE_TEXT, f"unknown mode {mode!r}; use one of {', '.join(MODES)}", 0, 0.0)
        try:
            audio = normalize_audio(audio_data, sample_rate, max_seconds=cfg.audio.max_recording_s)
        except AudioTooLong as e:
            return C.error_chunk(C.TOO_LONG_TEXT, str(e), 0, 0.0)
        except AudioError as e:
            log.info("[%s] rejected audio: %s", chunk_id, e)
            return C.error_chunk(C.BAD_AUDIO_TEXT, str(e), 0, 0.0)
        seconds = duration_s(audio)
        if seconds * 1000.0 < cfg.audio.min_speech_ms:
            return C.error_chunk(
                C.TOO_SHORT_TEXT,
                f"audio is {seconds * 1000.0:.0f} ms long; speech needs at least {cfg.audio.min_speech_ms} ms "
                f"(audio.min_speech_ms)",
                0,
                0.0,
            )
        speech = detect_speech(audio, cfg.audio.speech_threshold, cfg.audio.min_speech_ms)
        if not speech.is_speech and _quiet_speech(audio, cfg.audio.min_speech_ms):
            speech = dataclasses.replace(speech, is_speech=True)
        if not speech.is_speech:
            return C.error_chunk(
                C.NO_SPEECH_TEXT,
                f"no speech detected: {speech.speech_ms:.0f} ms above the threshold "
                f"{cfg.audio.speech_threshold:g} (loudest 20 ms frame RMS {speech.peak_rms:.4f}); "
                f"need {cfg.audio.min_speech_ms} ms",
                0,
                0.0,
            )
        return self._request(audio, Mode(mode), history)

    def _request(
        self, audio: np.ndarray | None, mode: Mode, history: Sequence[Turn], text: str = ""
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
        )

    async def _stream(
        self, request: GenerationRequest, chunk_id: str, stop: _Stop, clock: _Clock
    ) -> AsyncGenerator[C.Chunk, None]:
        s = self.config.streaming
        chunker = WordChunker(s.chunk_size_words)
        flush_s = s.flush_interval_ms / 1000.0
        timeout_s = s.timeout_ms / 1000.0
        index = 0
        pieces = self.backend.stream(request, stop.event)
        pending: asyncio.Future[str] | None = None
        last_piece = time.perf_counter()
        timings = request.timings
        try:
            while not stop.event.is_set():
                if pending is None:
                    pending = asyncio.ensure_future(pieces.__anext__())
                now = time.perf_counter()
                # A stall is no progress at all: a slow CPU still encoding or prefilling (each finished layer
                # touches the timings) keeps the reply alive; the timeout counts from its latest sign of work.
                worked = max(last_piece, timings.last_worked) if timings is not None else last_piece
                deadline = worked + timeout_s
                wait = deadline - now
                if chunker.pending_words:
                    wait = min(wait, last_piece + flush_s - now)
                done, _ = await asyncio.wait(
                    {pending, stop.woken}, timeout=max(wait, 0.0), return_when=asyncio.FIRST_COMPLETED
                )
                if pending not in done:
                    if stop.event.is_set():
                        break
                    if time.perf_counter() >= deadline and (timings is None or timings.last_worked <= worked):
                        yield C.error_chunk(
                            C.TIMEOUT_TEXT,
                            f"no progress from the model (no text, no finished layer) for {s.timeout_ms} ms "
                            f"(streaming.timeout_ms)",
                            index,
                            clock.ms(),
                        )
                        return
                    if (text := chunker.flush()) is not None:
                        yield C.text_chunk(text, index, clock.ms(), final=False)
                        index += 1
                    continue
                task, pending = pending, None
                try:
                    piece = task.result()
                except StopAsyncIteration:
                    break
                last_piece = time.perf_counter()
                if request.timings is not None:
                    request.timings.mark(Stage.FIRST_TOKEN)  # back-ends that cannot see tokens: first text
                for text in chunker.push(piece):
                    yield C.text_chunk(text, index, clock.ms(), final=False)
                    index += 1
        except ModelBusy as e:
            log.warning("[%s] not started: %s", chunk_id, e)
            yield C.error_chunk(C.BUSY_TEXT, str(e), index, clock.ms())
            return
        except Exception as e:
            # The words already shown stay; the final chunk says what went wrong.
            log.exception("[%s] generation failed", chunk_id)
            if (text := chunker.flush()) is not None:
                yield C.text_chunk(text, index, clock.ms(), final=False)
                index += 1
            yield C.error_chunk(C.FALLBACK_TEXT, f"{type(e).__name__}: {e}", index, clock.ms())
            return
        finally:
            cancelled = stop.requested
            stop.event.set()
            if pending is not None:
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)
            await pieces.aclose()  # type: ignore[attr-defined]
        rest = chunker.finish()
        if cancelled:
            # Words already generated were the user's to see; show them, then say the reply was stopped.
            for text in rest:
                yield C.text_chunk(text, index, clock.ms(), final=False)
                index += 1
            yield C.error_chunk(C.CANCELLED_TEXT, C.CANCELLED_ERROR, index, clock.ms())
            return
        last = rest.pop() if rest else ""
        for text in rest:
            yield C.text_chunk(text, index, clock.ms(), final=False)
            index += 1
        yield C.text_chunk(last, index, clock.ms(), final=True)


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


class _Clock:
    """Milliseconds since the call began, never decreasing (the contract's processing_time_ms)."""

    def __init__(self, started: float) -> None:
        self._started = started
        self._last = 0.0

    def ms(self) -> float:
        self._last = max(self._last, (time.perf_counter() - self._started) * 1000.0)
        return round(self._last, 3)
