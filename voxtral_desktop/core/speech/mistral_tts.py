"""Mistral's Voxtral TTS as a Voice: each chunk's audio streamed (SSE, raw float32 PCM) and yielded as it arrives,
the request closed at once by cancel(); its preset voices and price as Mistral's docs give them."""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from voxtral_desktop.core import secrets
from voxtral_desktop.core.backends.remote_server import MISTRAL_KEY_ENV_VARS, Server, check_key_transport
from voxtral_desktop.core.config import Config
from voxtral_desktop.core.errors import KeyInClearRefused, RemoteVoiceFailed, SpeechError

log = logging.getLogger(__name__)

PREFIX = "mistral:"  # `speech.voice` = "mistral:<voice_id>"
# "pcm" is "raw float32 LE samples, recommended for streaming (lowest latency)"; the rate is not stated beside
# it, but the docs' own WAV answer's header reads 24000 Hz mono, and the model card says 24 kHz.
RESPONSE_FORMAT = "pcm"
SAMPLE_RATE = 24_000
# Checked 2026-12-05 in mistralai/platform-docs-public (src/schema/models/models/voxtral-tts-26-03.ts):
# output $16 per million characters, input free.
PRICE = "$16 per million characters"
FACTS_CHECKED = "2026-12-05"
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 20.0  # no audio for this long: the server is stuck, the local voice says the chunk


@dataclass(frozen=True)
class PresetVoice:
    voice_id: str
    name: str
    language: str  # as Settings shows it


# From docs.mistral.ai > Text to speech > Voices (the voice library; checked 2026-12-05). The account's own
# (cloned) voices work too: `mistral:<their id>`.
PRESET_VOICES: tuple[PresetVoice, ...] = (
    PresetVoice("voice_478", "Sarah", "English"),
    PresetVoice("voice_447", "Yael", "English"),
    PresetVoice("voice_485", "Eric", "English (US)"),
    PresetVoice("voice_484", "Jesse", "English (US)"),
    PresetVoice("en_paul_neutral", "Paul", "English (US)"),
    PresetVoice("gb_jane_neutral", "Jane", "English (UK)"),
    PresetVoice("gb_oliver_neutral", "Oliver", "English (UK)"),
    PresetVoice("voice_483", "Esmeralda", "Spanish"),
    PresetVoice("voice_482", "Andrea", "Italian"),
    PresetVoice("voice_481", "Fiona", "German"),
    PresetVoice("voice_480", "Marina", "Portuguese"),
    PresetVoice("voice_479", "Linda", "Arabic"),
)


def is_mistral_voice(setting: str) -> bool:
    return setting.strip().lower().startswith(PREFIX)


def voice_id_of(setting: str) -> str:
    voice_id = setting.strip()[len(PREFIX) :].strip()
    if not voice_id:
        raise SpeechError(f"speech.voice '{setting}' names no Mistral voice: write mistral:<voice_id>, e.g. "
                          f"mistral:{PRESET_VOICES[0].voice_id}")
    return voice_id


def speech_server(config: Config) -> Server:
    """The server a mistral: voice is asked of, in the form the keys-never-in-clear check takes."""
    model = config.speech.mistral_model
    return Server(
        preset="mistral",
        base_url=config.speech.server_url.strip(),
        model=model,
        transcribe_model=model,
        audio_format="mistral",
        timeout_s=READ_TIMEOUT_S,
        allow_http_hosts=tuple(h.strip().strip("[]").lower() for h in config.remote.allow_http_hosts),
        model_setting="speech.mistral_model",
        key_env_vars=MISTRAL_KEY_ENV_VARS,
    )


def mistral_voice(setting: str, config: Config) -> MistralVoice:
    """The voice `speech.voice` = "mistral:<voice_id>" names; the key is looked up at each chunk, as for chat."""
    return MistralVoice(voice_id_of(setting), speech_server(config))


class MistralVoice:
    """POST {server}/audio/speech with stream=true; each ``speech.audio.delta`` is yielded as it arrives.

    The standard library's http.client, not an SDK: cancel() must close the socket under a read that is
    blocked waiting for audio (shutdown() wakes it and the server sees the connection go), and only a
    client that hands out its socket lets another thread do that.
    """

    def __init__(self, voice_id: str, server: Server) -> None:
        self.voice_id = voice_id
        self.server = server
        preset = next((p for p in PRESET_VOICES if p.voice_id == voice_id), None)
        self.name = f"Mistral {preset.name} ({preset.language})" if preset else f"Mistral {voice_id}"
        self.sample_rate = SAMPLE_RATE
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None
        self._cancelled = False

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        """Yield float32 audio blocks as the server streams them; RemoteVoiceFailed when it cannot speak."""
        key = self._key()
        conn = self._connect()
        with self._lock:
            self._conn, self._cancelled = conn, False
        try:
            yield from self._speak(conn, key, text)
        except (OSError, http.client.HTTPException) as e:
            if not self._cancelled:
                raise RemoteVoiceFailed(f"Mistral's voice could not be reached at {self.server.base_url} "
                                        f"({type(e).__name__}: {e})") from e
        finally:
            with self._lock:
                self._conn = None
            conn.close()

    def cancel(self) -> None:
        """Close the request in flight now (any thread): the server sees the connection closed."""
        with self._lock:
            conn, self._cancelled = self._conn, True
        sock = getattr(conn, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the server or the reader

    def _key(self) -> str:
        key = secrets.lookup_api_key(self.server.base_url, self.server.key_env_vars)
        if not key.value:
            raise RemoteVoiceFailed(
                f"no Mistral API key for {self.server.base_url}: set MISTRAL_API_KEY, or store the key in "
                "Settings > Engine with the Mistral API chosen"
            )
        try:
            check_key_transport(self.server, key)
        except KeyInClearRefused as e:
            raise RemoteVoiceFailed(str(e)) from e
        return key.value

    def _connect(self) -> http.client.HTTPConnection:
        parts = urlsplit(self.server.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteVoiceFailed(f"speech.server_url '{self.server.base_url}' is not an http(s):// address")
        if parts.scheme == "https":
            return http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=CONNECT_TIMEOUT_S, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=CONNECT_TIMEOUT_S)

    def _speak(self, conn: http.client.HTTPConnection, key: str, text: str) -> Iterator[np.ndarray]:
        path = urlsplit(self.server.base_url).path.rstrip("/") + "/audio/speech"
        body = {
            "model": self.server.model,
            "input": text,
            "voice_id": self.voice_id,
            "response_format": RESPONSE_FORMAT,
            "stream": True,
        }
        headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
        }
        conn.request("POST", path, json.dumps(body).encode(), headers)
        if self._cancelled:  # stopped while connecting: the finally closes it
            return
        if conn.sock is not None:
            conn.sock.settimeout(READ_TIMEOUT_S)
        response = conn.getresponse()
        if response.status != 200:
            raise RemoteVoiceFailed(self._status_message(response))
        pcm = _Pcm()
        if "json" in (response.getheader("Content-Type") or ""):  # a server that does not stream
            data = _json(response.read(), "the speech answer")
            yield from pcm.feed(_audio_data(data))
            return
        for event, data in _sse(response):
            kind = data.get("type") or event
            if kind == "speech.audio.delta":
                audio = pcm.feed(_audio_data(data))
                if audio:
                    yield audio[0]
            elif kind == "speech.audio.done":
                return
            elif "error" in data or kind == "error":
                raise RemoteVoiceFailed(f"Mistral's voice failed mid-sentence: {_error_text(data)}")
        if not self._cancelled:
            raise RemoteVoiceFailed(f"Mistral's voice stream from {self.server.base_url} ended early")

    def _status_message(self, response: http.client.HTTPResponse) -> str:
        try:
            detail = _error_text(json.loads(response.read(20_000) or b"{}"))
        except (ValueError, OSError):
            detail = ""
        status = response.status
        hint = {
            401: "check the Mistral API key (Settings > Engine)",
            403: "the text was refused (Mistral moderates speech), or the key may not use text-to-speech",
            404: f"check speech.server_url and the voice id '{self.voice_id}'",
            422: f"check the voice id '{self.voice_id}' and speech.mistral_model '{self.server.model}'",
            429: "too many requests or no credit left on the account",
        }.get(status, "the server had trouble; it is tried again in a minute")
        said = f": {detail}" if detail else ""
        return f"Mistral's voice at {self.server.base_url} answered HTTP {status}{said} ({hint})"


class _Pcm:
    """float32 LE bytes arriving in pieces that need not end on a sample."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[np.ndarray]:
        data = self._rest + data
        whole = len(data) - len(data) % 4
        self._rest = data[whole:]
        if not whole:
            return []
        audio = np.frombuffer(data[:whole], dtype="<f4").astype(np.float32)
        return [np.clip(np.nan_to_num(audio), -1.0, 1.0)]


def _sse(response: http.client.HTTPResponse) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event name, data) per Server-Sent Event, as the lines come in."""
    event, data_lines = "", []
    while True:
        line = response.readline()
        if not line:
            return
        line = line.rstrip(b"\r\n")
        if not line:
            if data_lines:
                payload = b"\n".join(data_lines)
                if payload.strip() != b"[DONE]":
                    yield event, _json(payload, "a speech event")
            event, data_lines = "", []
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode("utf-8", "replace")
        elif line.startswith(b"data:"):
            data_lines.append(line[5:].strip())


def _json(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise RemoteVoiceFailed(f"Mistral's voice sent {what} that is not JSON ({e})") from e
    if not isinstance(data, dict):
        raise RemoteVoiceFailed(f"Mistral's voice sent {what} that is not a JSON object")
    return data


def _audio_data(data: dict[str, Any]) -> bytes:
    try:
        return base64.b64decode(data["audio_data"], validate=False)
    except (KeyError, TypeError, binascii.Error) as e:
        raise RemoteVoiceFailed(f"Mistral's voice sent audio it could not decode ({type(e).__name__})") from e


def _error_text(data: dict[str, Any]) -> str:
    error = data.get("error", data)
    if isinstance(error, dict):
        message = error.get("message") or error.get("detail")
        return str(message) if message else ""
    return str(error)


def open_voice(
    setting: str, config: Config, *, on_trouble: Any = None, local: Any = None
) -> Any:
    """A mistral:<voice_id> voice that falls back to an installed local voice (``local()``, default: the one
    `speech.voice: ""` would pick, never a download mid-reply); ``on_trouble`` hears each chunk it did not say."""
    from voxtral_desktop.core.speech.catalogue import resolve_voice
    from voxtral_desktop.core.speech.fallback import FallbackVoice

    remote = mistral_voice(setting, config)
    return FallbackVoice(remote, local or (lambda: resolve_voice("", download=False)), on_trouble)
