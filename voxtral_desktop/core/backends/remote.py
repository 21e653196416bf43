"""RemoteBackend: stream replies from an OpenAI-compatible server (vLLM, Mistral's API) with the openai SDK."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any, cast

from voxtral_desktop.core import secrets
from voxtral_desktop.core.audio import wav_bytes
from voxtral_desktop.core.backends import audio_forms
from voxtral_desktop.core.backends.base import (
    Backend,
    GenerationError,
    GenerationRequest,
    LoadPhase,
    Mode,
    ModelLoadError,
    ProgressCallback,
)
from voxtral_desktop.core.backends.openai_wire import FAILED_FINISH_REASONS, build_messages, delta_text
from voxtral_desktop.core.backends.remote_errors import (
    check_base_url,
    clip,
    error_detail,
    known_failures,
    translate,
)
from voxtral_desktop.core.backends.remote_server import (
    Server,
    audio_models,
    audio_problem,
    check_key_transport,
    listed,
    lookup_key,
    server_for,
)
from voxtral_desktop.core.config import Config
from voxtral_desktop.core.errors import RemoteStatusError, StreamBroken

if TYPE_CHECKING:
    from openai import AsyncOpenAI, AsyncStream
    from openai.types.chat import ChatCompletionChunk

log = logging.getLogger(__name__)

# vLLM needs no key but the SDK insists on one; servers that do check keys reject this with a 401.
NO_KEY_PLACEHOLDER = "EMPTY"


class RemoteBackend(Backend):
    """Sends the audio to ``cfg.remote.base_url`` and yields the reply's text as the server streams it.

    Settings are read per request, so a changed URL, model, timeout or audio format applies to the next reply.
    ``config.backend`` "mistral" is Mistral's API with its own models (remote_server.server_for). ``api_key``
    is used instead of looking the key up (Settings tests a key typed but not yet saved).
    """

    def __init__(
        self, config: Config, *, api_key: str | None = None, memory: audio_forms.FormMemory | None = None
    ) -> None:
        self._config = config
        self._client: AsyncOpenAI | None = None
        self._client_key: tuple[str, float] | None = None  # (base_url, timeout_s) the client was built for
        self._client_loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._given_key = api_key.strip() if api_key and api_key.strip() else None
        self._key = secrets.ApiKey(None, "none")  # the key the client sends, and where it came from
        self._api_key: str | None = None  # kept only to scrub it from error text
        self._memory = memory if memory is not None else audio_forms.FormMemory()
        self._closing: set[asyncio.Task[None]] = set()  # the loop holds tasks weakly; keep them to the end

    @property
    def is_loaded(self) -> bool:
        return self._client is not None

    def load(self, progress: ProgressCallback | None = None) -> None:
        """Check the settings and build the client; no network traffic (the app calls this at start-up)."""
        if progress is not None:
            progress(LoadPhase.LOADING, None)
        try:
            import openai  # noqa: F401 - fail here, with advice, rather than on the first reply
        except ImportError as e:
            raise ModelLoadError(
                f"the remote back-end needs the 'openai' package ({e}); install it with `pip install openai`"
            ) from e
        server = self.server
        try:
            check_base_url(server.base_url)
            check_key_transport(server, self._find_key(server))
        except GenerationError as e:
            raise ModelLoadError(str(e)) from e
        self._client = self._new_client()
        if progress is not None:
            progress(LoadPhase.LOADING, 1.0)

    def close(self) -> None:
        client, self._client = self._client, None
        self._client_key = None
        self._client_loop = None
        if client is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            # No loop here: its connections belong to a loop that is gone; dropping them is all that is left.
            return
        self._close_later(loop, client)

    def _close_later(self, loop: asyncio.AbstractEventLoop, client: AsyncOpenAI) -> None:
        task = loop.create_task(_close_quietly(client))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """Like close(), but waits until the connections are closed; call it on the loop that used them."""
        client, self._client = self._client, None
        self._client_key = None
        self._client_loop = None
        if client is not None:
            await _close_quietly(client)

    @property
    def server(self) -> Server:
        """The server and models the next request goes to, from the settings as they are now."""
        return server_for(self._config)

    # -- the client -----------------------------------------------------------------------------------

    def _find_key(self, server: Server) -> secrets.ApiKey:
        return secrets.ApiKey(self._given_key, "Settings") if self._given_key else lookup_key(server)

    def _new_client(self) -> AsyncOpenAI:
        from openai import AsyncOpenAI

        server = self.server
        key = self._find_key(server)
        log.info("remote back-end: %s, model %s, %s", server.base_url, server.model, key)
        self._key = key
        self._api_key = key.value
        self._client_key = (server.base_url, server.timeout_s)
        self._client_loop = None
        # max_retries=0: a retry would silently double the wait; the user sees the error and decides.
        return AsyncOpenAI(
            base_url=server.base_url,
            api_key=key.value or NO_KEY_PLACEHOLDER,
            timeout=server.timeout_s,
            max_retries=0,
        )

    def _client_for_this_loop(self) -> AsyncOpenAI:
        """The client, rebuilt when the settings changed or when driven from another event loop.

        An async HTTP client's pooled connections belong to the loop that opened them.
        """
        if self._client is None:
            raise GenerationError("the remote back-end is not loaded: call load() first")
        server = self.server
        loop = asyncio.get_running_loop()
        used_before = self._client_loop is not None
        owner = self._client_loop() if self._client_loop is not None else None
        if self._client_key != (server.base_url, server.timeout_s) or (used_before and owner is not loop):
            check_base_url(server.base_url)
            old, self._client = self._client, self._new_client()
            if owner is loop:
                self._close_later(loop, old)
        # Before every request, with the key this client sends and the hosts allowed now: nothing has connected.
        check_key_transport(server, self._key)
        self._client_loop = weakref.ref(loop)
        return self._client

    async def check_connection(self) -> tuple[bool, str]:
        """List the server's models (Settings' "Test connection"): (True, what was found) or (False, why not)."""
        try:
            return True, await self._list_models()
        except GenerationError as e:
            return False, str(e)

    async def _list_models(self) -> str:
        if self._client is None:
            try:
                self.load()
            except ModelLoadError as e:
                # The typed refusal (a key in clear) stays itself; anything else reads as a failed request.
                cause = e.__cause__
                raise (cause if isinstance(cause, GenerationError) else GenerationError(str(e))) from None
        else:
            # The user may have just stored a key: look it up again.
            self._client_key = None
        client = self._client_for_this_loop()
        server = self.server
        started = time.perf_counter()
        try:
            page = await client.models.list()
        except known_failures() as e:  # a bug raises as it is
            raise self._translate(e, stage="connect") from None
        ms = (time.perf_counter() - started) * 1000.0
        cards = list(getattr(page, "data", None) or [])
        ids = [str(getattr(m, "id", "?")) for m in cards]
        # Mistral's API lists dozens of models; those that take audio are the ones that matter here.
        heard = audio_models(cards)
        names, what = (heard, "audio model(s)") if heard else (ids, "model(s)")
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        summary = f"connected to {server.base_url} in {ms:.0f} ms; {len(names)} {what}"
        summary += f": {shown}" if names else ""
        problem = audio_problem(cards, server)
        if problem:
            raise GenerationError(f"{summary}. But {problem}")
        if ids and not listed(cards, server.model):
            summary += f". Note: the configured model '{server.model}' is not among them"
        return summary

    # -- streaming --------------------------------------------------------------------------------------

    async def stream(self, request: GenerationRequest, stop: threading.Event) -> AsyncIterator[str]:
        client = self._client_for_this_loop()
        if request.mode == Mode.TRANSCRIBE:
            text = await self._transcribe(client, request, self.server.for_transcription())
            if text and not stop.is_set():
                yield text
            return
        pieces = self._converse(client, request, stop)
        try:
            async for piece in pieces:
                yield piece
        finally:
            # Leaving a loop does not close the generator it iterates: close it, and with it the HTTP
            # response, now rather than whenever the garbage collector gets to it.
            await pieces.aclose()

    async def _transcribe(self, client: AsyncOpenAI, request: GenerationRequest, server: Server) -> str:
        # Not streamed: streaming transcription is not broadly supported (vLLM, Mistral's API and OpenAI
        # differ); VoxtralModel chunks the text, and cancel still closes the request. On Mistral's API this is
        # the transcription model: its chat model (Voxtral Small) does not serve /audio/transcriptions.
        kwargs: dict[str, Any] = {
            "model": server.model,
            "file": ("audio.wav", wav_bytes(request.audio), "audio/wav"),
            "temperature": 0.0,
        }
        if request.language:
            kwargs["language"] = request.language
        try:
            result = await client.audio.transcriptions.create(**kwargs)
        except known_failures() as e:  # a bug raises as it is
            raise self._translate(e, stage="connect", server=server) from None
        text = result if isinstance(result, str) else getattr(result, "text", None)
        if not isinstance(text, str):
            raise GenerationError(
                f"malformed transcription from the server: no 'text' in {clip(repr(result))}"
            )
        return text.strip()

    async def _converse(
        self, client: AsyncOpenAI, request: GenerationRequest, stop: threading.Event
    ) -> AsyncGenerator[str, None]:
        created = await self._create_chat(client, request, self.server)
        stream = cast("AsyncStream[ChatCompletionChunk]", created)  # stream=True picks this overload
        received: list[str] = []
        finished = False
        try:
            try:
                async for event in stream:
                    if stop.is_set():
                        return
                    if getattr(event, "object", None) == "error":
                        # vLLM's older form of a mid-stream error: {"object": "error", "message": ...}.
                        detail = error_detail(getattr(event, "model_extra", None) or {}) or "unknown error"
                        raise StreamBroken(_words(received), self._scrub(f"the server reported an error: {detail}"))
                    for choice in getattr(event, "choices", None) or ():
                        if getattr(choice, "index", 0) not in (0, None):
                            continue  # n=1 is asked for; ignore any others a server sends anyway
                        content = delta_text(getattr(getattr(choice, "delta", None), "content", None))
                        reason = getattr(choice, "finish_reason", None)
                        if reason in FAILED_FINISH_REASONS:
                            # The last words may ride on this event; they were generated, so show them.
                            if content:
                                received.append(content)
                                yield content
                            raise StreamBroken(
                                _words(received), f"the server stopped the reply (finish_reason {reason!r})"
                            )
                        if reason:
                            finished = True
                        if content:
                            received.append(content)
                            yield content
                            if stop.is_set():
                                return
            except GenerationError:
                raise
            except known_failures() as e:  # transport, JSON and SDK errors alike; a bug raises as it is
                raise self._translate(e, stage="stream", words=_words(received)) from None
            if not finished and not stop.is_set():
                # Every OpenAI-compatible server ends a reply with a finish_reason; a body that just stops
                # was cut short (a proxy, a crashed worker), and the user should know the reply is partial.
                raise StreamBroken(_words(received), "the server ended the stream without finishing the reply")
        finally:
            # Cancel, aclose or an error: close the HTTP response now so the server stops generating.
            await _close_stream(stream)

    async def _create_chat(self, client: AsyncOpenAI, request: GenerationRequest, server: Server) -> Any:
        """Start the chat stream, finding the audio form the server takes: a form refused with a 400 about the
        audio part is followed by the others, once each, and the one that works is remembered for the server."""
        configured = server.audio_format
        remembered = await asyncio.to_thread(self._memory.remembered, server.base_url, configured)
        refused: list[tuple[str, BaseException]] = []
        for form in audio_forms.forms_to_try(configured, remembered):
            messages = build_messages(request, form)
            try:
                created = await client.chat.completions.create(
                    model=server.model,
                    messages=messages,  # type: ignore[arg-type]
                    stream=True,
                    max_tokens=request.max_new_tokens,
                    temperature=request.temperature,
                    top_p=request.top_p,
                )
            except known_failures() as e:  # a bug raises as it is
                if not audio_forms.refuses_audio(e, messages):
                    raise self._translate(e, stage="connect", server=server) from None
                status = getattr(e, "status_code", "?")
                log.info("%s refused the audio as %s (%s); trying another form", server.base_url, form, status)
                refused.append((form, e))
                continue
            if form != (remembered or configured):
                await self._remember(server, configured, form)
            return created
        status = int(getattr(refused[0][1], "status_code", 400))
        detail = self._scrub(error_detail(getattr(refused[0][1], "body", None)))
        tried = ", ".join(form for form, _ in refused)
        raise RemoteStatusError(
            f"the server refused the audio in every form ({tried}) ({status}): {detail}. Check that "
            f"{server.model_setting} names a model that takes audio",
            status,
        )

    async def _remember(self, server: Server, configured: str, form: str) -> None:
        try:
            await asyncio.to_thread(self._memory.remember, server.base_url, configured, form)
        except OSError as e:  # the reply goes on; the form will be found again next time
            log.warning("could not note the audio form for %s: %s", server.base_url, e.strerror or e)

    # -- errors --------------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        key = self._api_key
        if key and len(key) >= 4:
            text = text.replace(key, "***")
        return text

    def _translate(
        self, e: BaseException, *, stage: str, words: int = 0, server: Server | None = None
    ) -> GenerationError:
        """The typed, user-facing error for ``e``; ``stage`` is "connect" (no reply yet) or "stream"."""
        # The SDK's own text can quote the server, which may echo the key: scrub before logging too.
        log.debug("remote request failed (%s): %s: %s", stage, type(e).__name__, self._scrub(str(e)))
        server = server if server is not None else self.server
        return translate(e, server, stage=stage, words=words, scrub=self._scrub)


def _words(pieces: list[str]) -> int:
    return len("".join(pieces).split())


async def _close_stream(stream: Any) -> None:
    try:
        await stream.close()
    except Exception as e:  # noqa: BLE001 - closing a broken connection may fail; it is closed either way
        log.debug("closing the reply stream: %s: %s", type(e).__name__, e)


async def _close_quietly(client: AsyncOpenAI) -> None:
    try:
        await client.close()
    except Exception as e:  # noqa: BLE001 - best effort at shutdown
        log.debug("closing the HTTP client: %s: %s", type(e).__name__, e)
