"""A loopback test server for Mistral's speech API (POST /v1/audio/speech): the documented JSON answer and the
SSE stream of ``speech.audio.delta`` / ``speech.audio.done`` events (float32 PCM, 24 kHz), scripted pauses
and errors; it records each request and whether the client hung up before the audio was all sent."""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

import numpy as np

from voxtral_desktop.testing.openai_server import Recorded, _QuietServer

RATE = 24_000


def tone(seconds: float, hz: float = 440.0, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@dataclass
class SpeechScript:
    """How the next speech requests are answered."""

    audio: np.ndarray | None = None  # what is "spoken" (default: 0.6 s of a 440 Hz tone)
    deltas: int = 4  # the audio is cut into this many speech.audio.delta events
    status: int = 200
    error_message: str = "Internal server error"
    # Before sending delta ``hold_before`` (0-based), wait until ``release`` is set (or the client leaves).
    hold_before: int | None = None
    hold_s: float = 10.0  # the longest a hold lasts


class SpeechServer:
    """Use as a context manager; ``base_url`` is what `speech.server_url` takes."""

    def __init__(self, require_key: str | None = None) -> None:
        self.require_key = require_key
        self.script = SpeechScript()
        self.requests: list[Recorded] = []
        self.release = threading.Event()  # lets a held stream go on
        self.first_sent = threading.Event()  # a delta went out (set when the first is flushed)
        self.first_sent_at = 0.0  # time.monotonic() when the last request's first delta was flushed
        self._lock = threading.Lock()
        self._httpd: _QuietServer | None = None

    def __enter__(self) -> SpeechServer:
        handler = type("_BoundSpeechHandler", (_Handler,), {"owner": self})
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="speech-test-server", daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def speech_requests(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == "/v1/audio/speech"]


class _Handler(BaseHTTPRequestHandler):
    owner: SpeechServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        rec = Recorded("POST", self.path.split("?", 1)[0], {k.lower(): v for k, v in self.headers.items()})
        with self.owner._lock:
            self.owner.requests.append(rec)
        length = int(self.headers.get("Content-Length") or 0)
        rec.body = json.loads(self.rfile.read(length) or b"null")
        script = self.owner.script
        try:
            wanted = self.owner.require_key
            if wanted is not None and rec.headers.get("authorization") != f"Bearer {wanted}":
                self._json(401, {"message": "Unauthorized", "type": "invalid_request_error"})
            elif rec.path != "/v1/audio/speech":
                self._json(404, {"message": "Not Found"})
            elif script.status != 200:
                self._json(script.status, {"object": "error", "message": script.error_message, "type": "api_error"})
            else:
                self._speech(rec, script)
            if not rec.disconnected.is_set():
                rec.finished.set()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            rec.mark_disconnected()
            self.close_connection = True

    def _speech(self, rec: Recorded, script: SpeechScript) -> None:
        audio = script.audio if script.audio is not None else tone(0.6)
        raw = audio.astype("<f4").tobytes()
        if not rec.body.get("stream"):
            self._json(200, {"audio_data": base64.b64encode(raw).decode()})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        # Cut at byte offsets that are not sample boundaries: a client must join the pieces itself.
        bounds = np.linspace(0, len(raw), script.deltas + 1).astype(int)
        bounds[1:-1] += 1
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            if script.hold_before == i and not self._hold(script.hold_s):
                rec.mark_disconnected()
                self.close_connection = True
                return
            data = {"type": "speech.audio.delta", "audio_data": base64.b64encode(raw[a:b]).decode()}
            self._event("speech.audio.delta", data)
            rec.events_sent += 1
            if i == 0:
                self.owner.first_sent_at = time.monotonic()
                self.owner.first_sent.set()
        usage = {"prompt_tokens": 5, "completion_tokens": 40, "total_tokens": 45}
        self._event("speech.audio.done", {"type": "speech.audio.done", "usage": usage})
        self._chunk(b"")

    def _hold(self, seconds: float) -> bool:
        """Wait for ``release``, watching the socket: False as soon as the client closes the connection."""
        import select
        import socket

        deadline = time.monotonic() + seconds
        while not self.owner.release.is_set() and time.monotonic() < deadline:
            readable, _, _ = select.select([self.connection], [], [], 0.02)
            if readable:
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return False
                except OSError:
                    return False
        return True

    def _event(self, name: str, data: dict[str, Any]) -> None:
        self._chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
