"""SDK and HTTP failures, translated at the remote back-end's boundary into the typed errors of core/errors.py.

Each becomes a sentence the user can act on: what failed, and which setting (or key) to check. Only the
failures named by `known_failures()` cross this boundary as sentences (httpx's `map_exceptions` idea): any
other exception is a bug, and raises as it is, so it is never read as "the stream broke".
"""

from __future__ import annotations

import email.utils
import errno
import functools
import importlib
import json
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from voxtral_desktop.core.backends.remote_server import Server
from voxtral_desktop.core.config import RemoteConfig
from voxtral_desktop.core.errors import (
    GenerationError,
    RemoteConnectionError,
    RemoteStatusError,
    RemoteTimeout,
    StreamBroken,
)

KEY_HELP = (
    "set VOXTRAL_API_KEY (or MISTRAL_API_KEY / OPENAI_API_KEY) in the environment, "
    "or store the key in the OS keyring from Settings"
)
MAX_DETAIL_CHARS = 300

Scrub = Callable[[str], str]


@functools.cache
def known_failures() -> tuple[type[BaseException], ...]:
    """What a request to a server can fail with: the SDK's errors, its HTTP transport's (httpx before openai
    3.6x, httpx2 after), a malformed event. For `except known_failures() as e:`."""
    import openai

    kinds: list[type[BaseException]] = [openai.OpenAIError, json.JSONDecodeError]
    for transport in ("httpx", "httpx2"):
        try:
            kinds.append(importlib.import_module(transport).HTTPError)
        except ImportError:
            continue
    return tuple(kinds)


def _unchanged(text: str) -> str:
    return text


def translate(
    e: BaseException,
    remote: RemoteConfig | Server,
    *,
    stage: str = "connect",
    words: int = 0,
    scrub: Scrub = _unchanged,
) -> GenerationError:
    """The typed error for an SDK or transport failure; ``stage`` is "connect" (no reply yet) or "stream".

    ``scrub`` removes secrets (the API key a server may echo) from every text taken from the failure.
    Raises TypeError for anything `known_failures()` does not name: that is a bug, not a failure to explain.
    """
    import openai

    if not isinstance(e, known_failures()):
        raise TypeError(f"not a remote failure: {type(e).__name__}") from e

    url = remote.base_url
    timeout = f"{remote.timeout_s:g} s"
    streaming = stage == "stream"

    if isinstance(e, json.JSONDecodeError):
        return GenerationError(
            scrub(f"malformed event from the server after {words} words: not JSON ({e.msg}): {clip(e.doc, 80)!r}")
        )
    if isinstance(e, openai.APITimeoutError):
        if streaming:
            return StreamBroken(words, f"no data from the server for {timeout} (remote.timeout_s)")
        return RemoteTimeout(f"request timed out after {timeout}: {url} did not answer (remote.timeout_s)")
    if isinstance(e, openai.APIConnectionError):
        reason = scrub(transport_reason(e))
        if streaming:
            return StreamBroken(words, reason)
        if reason == "connection refused":
            return RemoteConnectionError(f"cannot connect to {url} (connection refused): is the server running?")
        if reason == "host not found":
            return RemoteConnectionError(f"cannot connect to {url} (host not found): check remote.base_url")
        return RemoteConnectionError(f"cannot connect to {url} ({reason})")
    if isinstance(e, openai.APIStatusError):
        status = int(e.status_code)
        return RemoteStatusError(scrub(describe_status(e, remote)), status)
    if isinstance(e, openai.APIError):
        # An error event inside an otherwise healthy stream.
        reported = f"the server reported an error: {scrub(error_detail(e.body) or e.message)}"
        return StreamBroken(words, reported) if streaming else GenerationError(reported)
    if isinstance(e, openai.OpenAIError):
        return StreamBroken(words, scrub(str(e))) if streaming else GenerationError(scrub(str(e)))
    # The transport's own errors, where the SDK let one through.
    if streaming:
        return StreamBroken(words, scrub(f"{type(e).__name__}: {e}"))
    return GenerationError(scrub(f"request to {url} failed: {type(e).__name__}: {e}"))


def describe_status(e: Any, remote: RemoteConfig | Server) -> str:
    """What an HTTP error status from the server means for the user, and what to change."""
    status = int(e.status_code)
    setting = getattr(remote, "model_setting", "remote.model")
    detail = error_detail(e.body)
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
            return f"unknown model '{remote.model}' (404){suffix}. Check {setting}"
        # No JSON error body: this is not an OpenAI-style API at that path.
        path = e.response.request.url.path if getattr(e, "response", None) is not None else "?"
        return f"{remote.base_url} has no {path} (404): check remote.base_url (it usually ends in /v1){suffix}"
    if status == 429:
        wait = retry_after(e.response.headers) if getattr(e, "response", None) is not None else None
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


def error_detail(body: object) -> str:
    """The message from an OpenAI-style error body ({"message": ...}), FastAPI's {"detail": ...} or raw text."""
    if isinstance(body, dict):
        for key in ("message", "detail", "error", "msg"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return clip(" ".join(value.split()))
            if isinstance(value, (dict, list)) and value:
                return clip(json.dumps(value))
        return clip(json.dumps(body)) if body else ""
    if isinstance(body, str):
        return clip(" ".join(body.split()))
    return ""


def retry_after(headers: Any) -> str | None:
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
        return clip(value, 60)
    seconds = max(0.0, when.timestamp() - time.time())
    return f"{seconds:.0f} s"


def _causes(e: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = e
    while current is not None and current not in seen and len(seen) < 12:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def transport_reason(e: BaseException) -> str:
    """What went wrong on the wire, from the chain of exceptions under the SDK's APIConnectionError."""
    chain = _causes(e)
    for c in chain:
        if isinstance(c, ConnectionRefusedError) or (isinstance(c, OSError) and c.errno == errno.ECONNREFUSED):
            return "connection refused"
        if isinstance(c, socket.gaierror):
            return "host not found"
        if isinstance(c, ssl.SSLError):
            return f"TLS error: {c.reason or c}"
        if isinstance(c, ConnectionResetError):
            return "the server reset the connection"
    # Below the SDK, the transport package differs between openai releases (httpx, httpx2) and asyncio folds
    # failed connect attempts into one OSError without an errno: class names and texts are what stays put.
    # This is the only place that reads them; everything above it sees the typed errors.
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
    return clip(detail, 120)


def check_base_url(base_url: str) -> None:
    """Raise GenerationError unless ``base_url`` is an http(s) URL with a host."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise GenerationError(
            f"remote.base_url must be an http:// or https:// URL such as http://127.0.0.1:8000/v1, got {base_url!r}"
        )


def clip(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
