"""RemoteBackend: stream replies from an OpenAI-compatible server (vLLM, Mistral's API) with the openai SDK."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import errno
import json
import logging
import socket
import ssl
import threading
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from voxtral_desktop.core import secrets
from voxtral_desktop.core.audio import wav_bytes
from voxtral_desktop.core.backends.base import (
    Backend,
    GenerationError,
    GenerationRequest,
    ModelLoadError,
    ProgressCallback,
)
from voxtral_desktop.core.config import Config

if TYPE_CHECKING:
    import numpy as np
    from openai import AsyncOpenAI, AsyncStream
    from openai.types.chat import ChatCompletionChunk

log = logging.getLogger(__name__)

# vLLM needs no key but the SDK insists on one; servers that do check keys reject this with a 401.
NO_KEY_PLACEHOLDER = "EMPTY"
KEY_HELP = (
    "set VOXTRAL_API_KEY (or MISTRAL_API_KEY / OPENAI_API_KEY) in the environment, "
    "or store the key in the OS keyring from Settings"
)
_MAX_DETAIL_CHARS = 300


class RemoteBackend(Backend):
    """Sends the audio to ``cfg.remote.base_url`` and yields the reply's text as the server streams it.

    Settings are read per request, so a changed URL, model, timeout or audio format applies to the next reply.
    """

    def __init__(self, config: Config) -> None:
        self._config = config
        self._client: AsyncOpenAI | None = None
        self._client_key: tuple[str, float] | None = None  # (base_url, timeout_s) the client was built for
        self._client_loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._api_key: str | None = None  # kept only to scrub it from error text
        self._closing: set[asyncio.Task[None]] = set()  # the loop holds tasks weakly; keep them to the end

    @property
    def is_loaded(self) -> bool:
        return self._client is not None

    def load(self, progress: ProgressCallback | None = None) -> None:
        """Check the settings and build the client; no network traffic (the app calls this at start-up)."""
        if progress is not None:
            progress("loading", None)
        try:
            import openai  # noqa: F401 - fail here, with advice, rather than on the first reply
        except ImportError as e:
            raise ModelLoadError(
                f"the remote back-end needs the 'openai' package ({e}); install it with `pip install openai`"
            ) from e
        _check_base_url(self._config.remote.base_url)
        self._client = self._new_client()
        if progress is not None:
            progress("loading", 1.0)

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

    # -- the client -----------------------------------------------------------------------------------

    def _new_client(self) -> AsyncOpenAI:
        from openai import AsyncOpenAI

        remote = self._config.remote
        key = secrets.lookup_api_key(remote.base_url)
        log.info("remote back-end: %s, model %s, %s", remote.base_url, remote.model, key)
        self._api_key = key.value
        self._client_key = (remote.base_url, remote.timeout_s)
        self._client_loop = None
        # max_retries=0: a retry would silently double the wait; the user sees the error and decides.
        return AsyncOpenAI(
            base_url=remote.base_url,
            api_key=key.value or NO_KEY_PLACEHOLDER,
            timeout=remote.timeout_s,
            max_retries=0,
        )

    def _client_for_this_loop(self) -> AsyncOpenAI:
        """The client, rebuilt when the settings changed or when driven from another event loop.

        An async HTTP client's pooled connections belong to the loop that opened them.
        """
        if self._client is None:
            raise GenerationError("the remote back-end is not loaded: call load() first")
        remote = self._config.remote
        loop = asyncio.get_running_loop()
        used_before = self._client_loop is not None
        owner = self._client_loop() if self._client_loop is not None else None
        if self._client_key != (remote.base_url, remote.timeout_s) or (used_before and owner is not loop):
            _check_base_url_for_request(remote.base_url)
            old, self._client = self._client, self._new_client()
            if owner is loop:
                self._close_later(loop, old)
        self._client_loop = weakref.ref(loop)
        return self._client

    async def check_connection(self) -> str:
        """List the server's models (Settings' "Test connection"); raises GenerationError saying what is wrong."""
        if self._client is None:
            try:
                self.load()
            except ModelLoadError as e:
                raise GenerationError(str(e)) from None
        else:
            # The user may have just stored a key: look it up again.
            self._client_key = None
        client = self._client_for_this_loop()
        remote = self._config.remote
        started = time.perf_counter()
        try:
            page = await client.models.list()
        except Exception as e:  # noqa: BLE001 - whatever failed, the user gets a sentence, not a traceback
            raise GenerationError(self._describe(e, stage="connect")) from None
        ms = (time.perf_counter() - started) * 1000.0
        ids = [str(getattr(m, "id", "?")) for m in (getattr(page, "data", None) or [])]
        shown = ", ".join(ids[:8]) + (f" and {len(ids) - 8} more" if len(ids) > 8 else "")
        summary = f"connected to {remote.base_url} in {ms:.0f} ms; {len(ids)} model(s)"
        summary += f": {shown}" if ids else ""
        if ids and remote.model not in ids:
            summary += f". Note: the configured model '{remote.model}' is not among them"
        return summary

    # -- streaming --------------------------------------------------------------------------------------

    async def stream(self, request: GenerationRequest, stop: threading.Event) -> AsyncIterator[str]:
        client = self._client_for_this_loop()
        if request.mode == "transcribe":
            text = await self._transcribe(client, request)
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

    async def _transcribe(self, client: AsyncOpenAI, request: GenerationRequest) -> str:
        # Not streamed: streaming transcription is not broadly supported (vLLM, Mistral's API and OpenAI
        # differ); VoxtralModel chunks the text, and cancel still closes the request.
        kwargs: dict[str, Any] = {
            "model": self._config.remote.model,
            "file": ("audio.wav", wav_bytes(request.audio), "audio/wav"),
            "temperature": 0.0,
        }
        if request.language:
            kwargs["language"] = request.language
        try:
            result = await client.audio.transcriptions.create(**kwargs)
        except Exception as e:  # noqa: BLE001 - whatever failed, the user gets a sentence, not a traceback
            raise GenerationError(self._describe(e, stage="connect")) from None
        text = result if isinstance(result, str) else getattr(result, "text", None)
        if not isinstance(text, str):
            raise GenerationError(
                f"malformed transcription from the server: no 'text' in {_clip(repr(result))}"
            )
        return text.strip()

    async def _converse(
        self, client: AsyncOpenAI, request: GenerationRequest, stop: threading.Event
    ) -> AsyncGenerator[str, None]:
        remote = self._config.remote
        messages = build_messages(request, remote.audio_format)
        try:
            created = await client.chat.completions.create(
                model=remote.model,
                messages=messages,  # type: ignore[arg-type]
                stream=True,
                max_tokens=request.max_new_tokens,
                temperature=request.temperature,
                top_p=request.top_p,
            )
        except Exception as e:  # noqa: BLE001 - whatever failed, the user gets a sentence, not a traceback
            raise GenerationError(self._describe(e, stage="connect")) from None
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
                        detail = _error_detail(getattr(event, "model_extra", None) or {}) or "unknown error"
                        raise GenerationError(
                            self._scrub(
                                f"the stream broke after {_words(received)} words: "
                                f"the server reported an error: {detail}"
                            )
                        )
                    for choice in getattr(event, "choices", None) or ():
                        if getattr(choice, "index", 0) not in (0, None):
                            continue  # n=1 is asked for; ignore any others a server sends anyway
                        if getattr(choice, "finish_reason", None):
                            finished = True
                        delta = getattr(choice, "delta", None)
                        content = getattr(delta, "content", None)
                        if content:
                            received.append(content)
                            yield content
                            if stop.is_set():
                                return
            except GenerationError:
                raise
            except Exception as e:  # noqa: BLE001 - transport, JSON and SDK errors alike
                raise GenerationError(self._describe(e, stage="stream", words=_words(received))) from None
            if not finished and not stop.is_set():
                # Every OpenAI-compatible server ends a reply with a finish_reason; a body that just stops
                # was cut short (a proxy, a crashed worker), and the user should know the reply is partial.
                raise GenerationError(
                    self._scrub(
                        f"the stream broke after {_words(received)} words: the server ended the stream "
                        "without finishing the reply"
                    )
                )
        finally:
            # Cancel, aclose or an error: close the HTTP response now so the server stops generating.
            await _close_stream(stream)

    # -- errors --------------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        key = self._api_key
        if key and len(key) >= 4:
            text = text.replace(key, "***")
        return text

    def _describe(self, e: BaseException, *, stage: str, words: int = 0) -> str:
        """A clear, user-facing sentence for ``e``; ``stage`` is "connect" (no reply yet) or "stream"."""
        # The SDK's own text can quote the server, which may echo the key: scrub before logging too.
        log.debug("remote request failed (%s): %s: %s", stage, type(e).__name__, self._scrub(str(e)))
        return self._scrub(describe_error(e, self._config, stage=stage, words=words))


# -- messages -----------------------------------------------------------------------------------------


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
    raise ValueError(f"unknown remote.audio_format {audio_format!r}")


def _user_message(audio16k: np.ndarray | None, text: str, audio_format: str) -> dict[str, Any] | None:
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
        user = _user_message(turn.user_audio, turn.user_text, audio_format)
        if user is None:
            continue  # an empty user turn is rejected by Mistral's chat template
        messages.append(user)
        if turn.assistant_text:
            messages.append({"role": "assistant", "content": turn.assistant_text})
    current = _user_message(request.audio, request.user_text, audio_format)
    assert current is not None  # VoxtralModel never sends a turn without audio or text
    messages.append(current)
    return messages


# -- errors --------------------------------------------------------------------------------------------


def describe_error(e: BaseException, config: Config, *, stage: str = "connect", words: int = 0) -> str:
    """Turn an SDK or transport error into a sentence a user can act on."""
    import openai

    remote = config.remote
    url = remote.base_url
    timeout = f"{remote.timeout_s:g} s"

    def broke(reason: str) -> str:
        return f"the stream broke after {words} words: {reason}"

    if isinstance(e, json.JSONDecodeError):
        return (
            f"malformed event from the server after {words} words: not JSON ({e.msg}): {_clip(e.doc, 80)!r}"
        )
    if isinstance(e, openai.APITimeoutError):
        if stage == "stream":
            return broke(f"no data from the server for {timeout} (remote.timeout_s)")
        return f"request timed out after {timeout}: {url} did not answer (remote.timeout_s)"
    if isinstance(e, openai.APIConnectionError):
        reason = _transport_reason(e)
        if stage == "stream":
            return broke(reason)
        if reason == "connection refused":
            return f"cannot connect to {url} (connection refused): is the server running?"
        if reason == "host not found":
            return f"cannot connect to {url} (host not found): check remote.base_url"
        return f"cannot connect to {url} ({reason})"
    if isinstance(e, openai.APIStatusError):
        return _describe_status(e, config)
    if isinstance(e, openai.APIError):
        # An error event inside an otherwise healthy stream.
        detail = _error_detail(e.body) or e.message
        if stage == "stream":
            return broke(f"the server reported an error: {detail}")
        return f"the server reported an error: {detail}"
    if isinstance(e, openai.OpenAIError):
        return f"{e}" if stage == "connect" else broke(str(e))
    if stage == "stream":
        return broke(f"{type(e).__name__}: {e}")
    return f"request to {url} failed: {type(e).__name__}: {e}"


def _describe_status(e: Any, config: Config) -> str:
    remote = config.remote
    status = int(e.status_code)
    detail = _error_detail(e.body)
    suffix = f": {detail}" if detail else ""
    if status == 401:
        return f"the server rejected the API key (401){suffix}. To fix it, {KEY_HELP}"
    if status == 403:
        return (
            f"the API key is not allowed to use model '{remote.model}' here (403){suffix}. "
            f"Check the key's permissions, or {KEY_HELP}"
        )
    if status == 404:
        if isinstance(e.body, dict):
            return f"unknown model '{remote.model}' (404){suffix}. Check remote.model"
        # No JSON error body: this is not an OpenAI-style API at that path.
        path = e.response.request.url.path if getattr(e, "response", None) is not None else "?"
        return (
            f"{remote.base_url} has no {path} (404): check remote.base_url (it usually ends in /v1){suffix}"
        )
    if status == 429:
        wait = _retry_after(e.response.headers) if getattr(e, "response", None) is not None else None
        when = f"; retry after {wait}" if wait else "; try again later"
        return f"rate limited (429){when}{suffix}"
    if status in (400, 422):
        return (
            f"the server refused the request ({status}){suffix}. If it mentions the audio, try another "
            f"remote.audio_format (now '{remote.audio_format}': audio_url for vLLM, mistral for Mistral's API)"
        )
    if status >= 500:
        return f"server error {status}{suffix}"
    return f"the server answered HTTP {status}{suffix}"


def _error_detail(body: object) -> str:
    """The message from an OpenAI-style error body ({"message": ...}), FastAPI's {"detail": ...} or raw text."""
    if isinstance(body, dict):
        for key in ("message", "detail", "error", "msg"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return _clip(" ".join(value.split()))
            if isinstance(value, (dict, list)) and value:
                return _clip(json.dumps(value))
        return _clip(json.dumps(body)) if body else ""
    if isinstance(body, str):
        return _clip(" ".join(body.split()))
    return ""


def _retry_after(headers: Any) -> str | None:
    """The wait a 429 asks for, from retry-after-ms or retry-after (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return f"{float(ms) / 1000.0:g} s"
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return f"{float(value):g} s"
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return _clip(value, 60)
    seconds = max(0.0, when.timestamp() - time.time())
    return f"{seconds:.0f} s"


def _causes(e: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = e
    while current is not None and current not in seen and len(seen) < 12:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _transport_reason(e: BaseException) -> str:
    """What went wrong on the wire, from the chain of exceptions under the SDK's APIConnectionError."""
    chain = _causes(e)
    for c in chain:
        if isinstance(c, ConnectionRefusedError) or (
            isinstance(c, OSError) and c.errno == errno.ECONNREFUSED
        ):
            return "connection refused"
        if isinstance(c, socket.gaierror):
            return "host not found"
        if isinstance(c, ssl.SSLError):
            return f"TLS error: {c.reason or c}"
        if isinstance(c, ConnectionResetError):
            return "the server reset the connection"
    names = {type(c).__name__ for c in chain}
    texts = " ".join(str(c) for c in chain).lower()
    if "connection refused" in texts or "connect call failed" in texts:
        return "connection refused"
    if "name or service not known" in texts or "nodename nor servname" in texts or "getaddrinfo" in texts:
        return "host not found"
    if "RemoteProtocolError" in names or "EndOfStream" in names or "incomplete" in texts:
        return "the server closed the connection before the reply ended"
    if "ReadError" in names or "connection reset" in texts:
        return "the connection was lost"
    if "UnsupportedProtocol" in names:
        return "the URL must start with http:// or https://"
    detail = next((str(c) for c in chain[1:] if str(c)), "") or str(e)
    return _clip(detail, 120)


def _words(pieces: list[str]) -> int:
    return len("".join(pieces).split())


def _clip(text: str, limit: int = _MAX_DETAIL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_base_url(base_url: str) -> None:
    try:
        _check_base_url_for_request(base_url)
    except GenerationError as e:
        raise ModelLoadError(str(e)) from None


def _check_base_url_for_request(base_url: str) -> None:
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise GenerationError(
            f"remote.base_url must be an http:// or https:// URL such as http://127.0.0.1:8000/v1, got {base_url!r}"
        )


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
