"""LlamaCppBackend: Voxtral as GGUF in llama.cpp's own server, in a child process, streamed over loopback HTTP."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import shutil
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from pathlib import Path
from typing import Any

from voxtral_desktop.core.backends import llamacpp_model, memory
from voxtral_desktop.core.backends.base import (
    Backend,
    GenerationError,
    GenerationRequest,
    LoadPhase,
    Mode,
    ModelLoadError,
    ProgressCallback,
)
from voxtral_desktop.core.backends.llamacpp_process import EngineProcess, EngineSpec, describe_exit
from voxtral_desktop.core.backends.openai_wire import FAILED_FINISH_REASONS, build_messages, delta_text
from voxtral_desktop.core.config import Config
from voxtral_desktop.core.errors import EngineCrashed, EngineUnavailable, RemoteStatusError, StreamBroken
from voxtral_desktop.core.timings import Stage

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'voxtral-desktop[llamacpp]'  (or: pip install xllamacpp)"
LOAD_TIMEOUT_S = 600.0
HEARTBEAT_S = 1.0  # how often a reply's silent stretches (the audio encoder) look at the engine's CPU time  # a 3 GB model from a slow disk; the window shows the wait meanwhile
# llama.cpp has no Voxtral transcription prompt (its /v1/audio/transcriptions asks "Transcribe audio to
# text" in English): transcribe mode asks for it in a chat turn instead (docs/llamacpp.md).
TRANSCRIBE_INSTRUCTION = "Transcribe this audio word for word{language}. Reply with the transcript only."


def engine_installed(config: Config) -> str | None:
    """Which engine would run: "llama-server <path>", "xllamacpp", or None when neither is here."""
    server = config.llamacpp.server.strip()
    if server:
        found = shutil.which(server) or (server if Path(server).is_file() else None)
        return f"llama-server {found}" if found else None
    return "xllamacpp" if importlib.util.find_spec("xllamacpp") is not None else None


class LlamaCppBackend(Backend):
    """Starts the engine at load, restarts it after a crash, and streams each reply from its chat endpoint.

    ``reason`` is why this engine was chosen (backend: auto says so in the window).
    """

    def __init__(
        self,
        config: Config,
        *,
        reason: str = "",
        available_memory: Callable[[], int | None] = memory.available_bytes,
    ) -> None:
        self.config = config
        self.reason = reason
        self.available_memory = available_memory
        self.pair: llamacpp_model.GgufPair | None = None
        self.engine: EngineProcess | None = None
        self.last_timings: dict[str, Any] | None = None  # the engine's own figures for the last reply
        self._restart_lock = threading.Lock()

    # -- loading ---------------------------------------------------------------------------------------

    @property
    def is_loaded(self) -> bool:
        return self.engine is not None

    @property
    def device(self) -> str | None:
        return "cpu" if self.engine is not None else None

    @property
    def engine_name(self) -> str:
        return "llama.cpp"

    @property
    def load_notice(self) -> str:
        if self.pair is None:
            return ""
        cfg = self.config.llamacpp
        threads = f"{cfg.threads} threads" if cfg.threads else "its own thread count"
        why = f" Chosen because {self.reason}." if self.reason else ""
        return f"Running on llama.cpp ({self.pair.model.name}, {threads}).{why}"

    @property
    def context_tokens(self) -> int:
        return self.config.llamacpp.context

    async def check_connection(self) -> tuple[bool, str]:
        return True, "llama.cpp runs on this computer (its own process): there is no server to connect to"

    def load(self, progress: ProgressCallback | None = None) -> None:
        report = progress or (lambda phase, fraction: None)
        cfg = self.config.llamacpp
        which = engine_installed(self.config)
        if which is None:
            if cfg.server.strip():
                raise EngineUnavailable(
                    f"llamacpp.server is {cfg.server!r} but no such program is found; install llama.cpp's "
                    f"llama-server there, or empty the setting to use the embedded engine ({INSTALL_HINT})"
                )
            raise EngineUnavailable(
                f"the llama.cpp engine is not installed. Install it with `{INSTALL_HINT}`, or set "
                f"llamacpp.server to a llama-server binary, or choose another engine in Settings > Engine"
            )
        pair = llamacpp_model.resolve(
            self.config.model.id,
            repo=cfg.repo,
            quantization=cfg.quantization,
            mmproj_quantization=cfg.mmproj_quantization,
            progress=lambda fraction: report(LoadPhase.DOWNLOADING, fraction),
        )
        llamacpp_model.check_fits(pair, cfg.context, self.available_memory())
        report(LoadPhase.LOADING, None)
        self.pair = pair
        self._start_engine(lambda _elapsed: report(LoadPhase.LOADING, None))
        log.info("llama.cpp (%s) ready: %s + %s", which, pair.model, pair.mmproj.name)
        report(LoadPhase.READY, 1.0)

    def _start_engine(self, waiting: Callable[[float], None] | None = None) -> EngineProcess:
        assert self.pair is not None
        cfg = self.config.llamacpp
        spec = EngineSpec(self.pair.model, self.pair.mmproj, cfg.context, cfg.threads, cfg.server.strip())
        engine = EngineProcess(spec)
        engine.start(LOAD_TIMEOUT_S, waiting)
        self.engine = engine
        return engine

    def _running_engine(self) -> EngineProcess:
        """The engine, started again first when it died since the last reply (blocking: call off the loop)."""
        with self._restart_lock:
            engine = self.engine
            if engine is None:
                raise GenerationError("the llama.cpp engine is not loaded: call load() first")
            if not engine.alive():
                log.warning("the llama.cpp engine %s; starting it again", describe_exit(engine.exit_code))
                try:
                    engine = self._start_engine()
                except ModelLoadError as e:  # the reply fails with it; the next one tries again
                    raise GenerationError(f"the llama.cpp engine could not be started again: {e}") from e
            return engine

    def close(self) -> None:
        engine, self.engine = self.engine, None
        if engine is not None:
            engine.stop()

    # -- streaming -------------------------------------------------------------------------------------

    async def stream(self, request: GenerationRequest, stop: threading.Event) -> AsyncIterator[str]:
        engine = await asyncio.to_thread(self._running_engine)
        pieces = self._converse(engine, request, stop)
        try:
            async for piece in pieces:
                yield piece
        finally:
            await pieces.aclose()  # closes the HTTP response now: the engine stops computing the reply

    def request_body(self, request: GenerationRequest) -> dict[str, Any]:
        """The chat request the engine gets (audio as input_audio parts, earlier turns as they were)."""
        if request.mode == Mode.TRANSCRIBE:
            language = f" in the language tagged {request.language!r}" if request.language else ""
            request = GenerationRequest(
                audio=request.audio,
                mode=Mode.CONVERSATION,
                max_new_tokens=request.max_new_tokens,
                temperature=0.0,
                top_p=1.0,
                instruction=TRANSCRIBE_INSTRUCTION.format(language=language),
            )
        return {
            "messages": build_messages(request, "input_audio"),
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stream": True,
            "cache_prompt": True,  # earlier turns (their audio too) come from the engine's cache
            "return_progress": True,  # prompt_progress events while the audio and the prompt are read
        }

    async def _converse(
        self, engine: EngineProcess, request: GenerationRequest, stop: threading.Event
    ) -> AsyncGenerator[str, None]:
        from openai import AsyncOpenAI

        from voxtral_desktop.core.backends.remote_errors import known_failures

        timings = request.timings
        body = self.request_body(request)
        client = AsyncOpenAI(base_url=f"{engine.url}/v1", api_key="none", max_retries=0, timeout=None)
        received: list[str] = []
        stream: Any = None
        heartbeat = asyncio.ensure_future(_heartbeat(engine, timings)) if timings is not None else None
        try:
            if timings is not None:
                timings.mark(Stage.PROMPT_BUILT)
            try:
                stream = await client.chat.completions.create(
                    model="voxtral", **{k: v for k, v in body.items() if k in _SDK_KEYS}, extra_body=_extra(body)
                )
                finished = False
                async for event in stream:
                    if stop.is_set():
                        return
                    extra = event.model_extra or {}
                    if timings is not None and (progress := extra.get("prompt_progress")):
                        timings.touch()  # a long prefill is progress, not a stall
                        if progress.get("processed") == progress.get("total") and request.audio is not None:
                            # llama.cpp reports the audio and the rest of the prompt as one read.
                            timings.mark(Stage.AUDIO_ENCODED)
                    if "timings" in extra:
                        self.last_timings = dict(extra["timings"])
                    for choice in event.choices or ():
                        text = delta_text(getattr(choice.delta, "content", None))
                        if text:
                            if timings is not None:
                                timings.mark(Stage.FIRST_TOKEN)
                            received.append(text)
                            yield text
                            if stop.is_set():
                                return
                        if choice.finish_reason in FAILED_FINISH_REASONS:
                            raise StreamBroken(_words(received), f"the engine gave up ({choice.finish_reason})")
                        if choice.finish_reason:
                            finished = True
            except known_failures() as e:  # transport and HTTP errors; a bug raises as it is
                raise await self._failure(engine, e, received) from None
            if not finished and not stop.is_set():
                raise await self._failure(engine, None, received)
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
            if stream is not None:
                await _quietly(stream.close())
            await _quietly(client.close())

    async def _failure(self, engine: EngineProcess, e: BaseException | None, received: list[str]) -> GenerationError:
        """A crashed engine is said as such (the next reply restarts it); otherwise what the server said."""
        for _ in range(20):  # the connection drops a moment before the process is reaped
            if not engine.alive():
                break
            await asyncio.sleep(0.05)
        if not engine.alive():
            return EngineCrashed(describe_exit(engine.exit_code), engine.last_error())
        import openai

        if isinstance(e, openai.APIStatusError):
            return RemoteStatusError(f"the llama.cpp engine refused the request ({e.status_code}): {e.message}", e.status_code)
        reason = f"{type(e).__name__}: {e}" if e is not None else "the stream ended without finishing the reply"
        return StreamBroken(_words(received), f"the llama.cpp engine's stream broke ({reason})")


_SDK_KEYS = ("messages", "max_tokens", "temperature", "top_p", "stream")


def _extra(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in _SDK_KEYS}


async def _heartbeat(engine: EngineProcess, timings: Any) -> None:
    """While the engine computes (its CPU time grows), the reply is slow, not stalled: llama.cpp sends nothing
    while it encodes the audio, which on a CPU can outlast streaming.timeout_ms."""
    used = engine.cpu_seconds()
    while True:
        await asyncio.sleep(HEARTBEAT_S)
        now = engine.cpu_seconds()
        if (now is None and engine.alive()) or (now is not None and used is not None and now > used):
            timings.touch()
        used = now


def _words(pieces: list[str]) -> int:
    return len("".join(pieces).split())


async def _quietly(closing: Any) -> None:
    try:
        await closing
    except Exception as e:  # noqa: BLE001 - closing a dead connection may fail; it is closed either way
        log.debug("closing the engine's stream: %s: %s", type(e).__name__, e)
