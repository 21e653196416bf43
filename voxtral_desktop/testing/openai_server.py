"""A small, honest OpenAI-compatible HTTP server for tests: real SSE on the wire, scripted replies and failures."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import json
import logging
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import soundfile as sf

from voxtral_desktop.testing.sse_shapes import Dialect

log = logging.getLogger(__name__)

DEFAULT_MODEL = "mistralai/Voxtral-Mini-3B-2507"


@dataclass
class Script:
    """How the server answers; set ``server.script`` before a request.

    Status errors apply to every endpoint; the stream settings to chat completions.
    """

    pieces: tuple[str, ...] = ("Hello ", "there! ", "How ", "can ", "I ", "help ", "you ", "today?")
    delay_s: float = 0.0  # before each content event
    headers_delay_s: float = 0.0  # before the status line: a slow or stuck server
    status: int = 200
    error_message: str = "something went wrong"
    error_type: str = "server_error"
    error_code: str | int | None = None
    raw_error_body: str | None = None  # sent as text/html instead of the JSON error body
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers (Retry-After, ...)
    break_after: int | None = None  # close the socket after this many content events
    malformed_after: int | None = None  # send ``data: {not json`` after this many content events
    error_event_after: int | None = None  # send an OpenAI-style ``{"error": ...}`` event after this many
    end_early_after: int | None = None  # end the body cleanly, without finish_reason or [DONE]
    stall_after: int | None = None  # go quiet for ``stall_s`` after this many content events
    stall_s: float = 0.0
    transcript: str = "What is the weather like today?"
    # The SSE dialect of a real server (sse_shapes.SHAPES); finish_reason is what the last event carries.
    shape: str = "openai"
    finish_reason: str = "stop"
    # Audio forms ("audio_url", "input_audio", "mistral") chat refuses, and how a refusal reads:
    # "openai" (400, ``param`` locates the part), "vllm" (400, ``param`` null, the part's type in ``message``),
    # "mistral" (422, a validation ``detail`` with ``loc`` inside ``message``).
    refuse_forms: tuple[str, ...] = ()
    refusal: str = "openai"




@dataclass
class DecodedAudio:
    """Audio the server found in a request, decoded from its WAV bytes."""

    form: str  # "audio_url", "input_audio", "mistral" or "file"
    samples: np.ndarray
    sample_rate: int
    wav_format: str  # soundfile's container name, e.g. "WAV"
    subtype: str  # e.g. "PCM_16"

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])


@dataclass
class Recorded:
    """One request as the server received it, and what became of its reply."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any = None  # decoded JSON, or the multipart form's text fields
    audio: list[DecodedAudio] = field(default_factory=list)
    events_sent: int = 0
    finished: threading.Event = field(default_factory=threading.Event)  # the whole reply went out
    disconnected: threading.Event = field(default_factory=threading.Event)  # the client left mid-reply
    disconnected_at: float | None = None  # time.monotonic()

    def mark_disconnected(self) -> None:
        if not self.disconnected.is_set():
            self.disconnected_at = time.monotonic()
            self.disconnected.set()


class _Disconnected(Exception):
    pass


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up mid-request (cancel tests do it on purpose) are logged, not printed as tracebacks."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        log.debug("request from %s ended with an error", client_address, exc_info=True)


class OpenAICompatibleServer:
    """Serves /v1/chat/completions (SSE when stream=true), /v1/models and /v1/audio/transcriptions on 127.0.0.1.

    Use as a context manager; ``url`` is the origin (append "/v1" for the SDK's base URL).
    """

    def __init__(
        self,
        models: tuple[str, ...] = (DEFAULT_MODEL,),
        require_key: str | None = None,
        capabilities: dict[str, dict[str, bool]] | None = None,
    ) -> None:
        self.models = models
        self.require_key = require_key
        self.capabilities = capabilities or {}  # model id -> Mistral-style model card capabilities
        self.script = Script()
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> OpenAICompatibleServer:
        handler = type("_BoundHandler", (_Handler,), {"owner": self})
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="openai-test-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> OpenAICompatibleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- what was received ----------------------------------------------------------------------------

    def record(self, rec: Recorded) -> None:
        with self._lock:
            self.requests.append(rec)

    def last(self, path: str | None = None) -> Recorded:
        with self._lock:
            matching = [r for r in self.requests if path is None or r.path == path]
        assert matching, f"no request to {path or 'any path'} was received"
        return matching[-1]


def server_pieces(text: str) -> tuple[str, ...]:
    """``text`` split the way servers stream it: sub-word tokens, spaces leading or trailing."""
    out: list[str] = []
    for i, word in enumerate(text.split(" ")):
        lead = "" if i == 0 else " "
        out += [lead + word[:3], word[3:]] if len(word) > 3 else [lead + word]
    return tuple(out)


def free_port() -> int:
    """A port nothing listens on (just released), for connection-refused tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the handler ----------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    owner: OpenAICompatibleServer
    protocol_version = "HTTP/1.1"  # keep-alive and chunked bodies, like uvicorn
    server_version = "openai-test-server/1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # Entry points ------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        rec = Recorded(method, path, {k.lower(): v for k, v in self.headers.items()})
        self.owner.record(rec)
        script = self.owner.script
        try:
            raw = self._read_body()
            rec.body, rec.audio = self._decode(path, raw)
            if script.headers_delay_s and not self._wait(script.headers_delay_s):
                raise _Disconnected
            wanted = self.owner.require_key
            if wanted is not None and rec.headers.get("authorization") != f"Bearer {wanted}":
                self._send_error_json(
                    401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
                )
                rec.finished.set()
                return
            if script.status != 200:
                self._send_scripted_error(script)
            elif method == "GET" and path == "/v1/models":
                cards = [_model(m, self.owner.capabilities.get(m)) for m in self.owner.models]
                self._send_json(200, {"object": "list", "data": cards})
            elif method == "POST" and path == "/v1/chat/completions":
                self._chat(rec, script)
            elif method == "POST" and path == "/v1/audio/transcriptions":
                self._transcription(rec, script)
            else:
                self._send_raw(404, b"<html><body>Not Found</body></html>", "text/html")
            rec.finished.set()
        except _Disconnected:
            rec.mark_disconnected()
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            rec.mark_disconnected()
            self.close_connection = True
        except ValueError as e:
            self._send_error_json(400, f"bad request: {e}", "BadRequestError", 400)

    # Endpoints -----------------------------------------------------------------------------------------

    def _chat(self, rec: Recorded, script: Script) -> None:
        body = rec.body if isinstance(rec.body, dict) else {}
        model = body.get("model")
        if model not in self.owner.models:
            self._send_error_json(404, f"The model `{model}` does not exist.", "NotFoundError", 404)
            return
        refused = next((a for a in rec.audio if a.form in script.refuse_forms), None)
        if refused is not None:
            self._refuse_audio(body, refused.form, script.refusal)
            return
        if not body.get("stream"):
            text = "".join(script.pieces)
            self._send_json(200, _completion(model, text))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in script.headers.items():
            self.send_header(name, value)
        self.end_headers()
        dialect = Dialect(script.shape, model, len(script.pieces))
        self._event(dialect.first())
        for i, piece in enumerate(script.pieces):
            if i == script.break_after:
                self._break()
                return
            if i == script.malformed_after:
                self._write_chunk(b"data: {not json\n\n")
            if i == script.error_event_after:
                self._event({"error": {"message": "the worker crashed", "type": "server_error", "code": 500}})
            if i == script.end_early_after:
                self._write_chunk(b"")
                return
            if i == script.stall_after and not self._wait(script.stall_s):
                raise _Disconnected
            if script.delay_s and not self._wait(script.delay_s):
                raise _Disconnected
            self._event(dialect.content(piece))
            rec.events_sent += 1
        if script.break_after is not None and script.break_after >= len(script.pieces):
            self._break()
            return
        for event in dialect.last(script.finish_reason):
            self._event(event)
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _refuse_audio(self, body: dict[str, Any], form: str, refusal: str) -> None:
        """Refuse the first audio part, in the words and structure of the server family ``refusal`` names."""
        key = "audio_url" if form == "audio_url" else "input_audio"
        i, j = next(
            (i, j)
            for i, m in enumerate(body.get("messages", []))
            for j, p in enumerate(m.get("content") if isinstance(m.get("content"), list) else [])
            if isinstance(p, dict) and p.get("type") == key
        )
        if refusal == "vllm":
            self._send_error_json(400, f"Unknown part type: {key}", "BadRequestError", 400)
        elif refusal == "mistral":
            loc = ["body", "messages", i, "content", j, key]
            detail = [{"type": "model_attributes_type", "loc": loc, "msg": "Input should be a valid dictionary"}]
            error = {"object": "error", "message": {"detail": detail}, "type": "invalid_request_message_error"}
            self._send_json(422, error | {"param": None, "code": None})
        else:
            param = f"messages.[{i}].content.[{j}].{key}"
            self._send_error_json(400, "Invalid content part.", "invalid_request_error", "invalid_value", param=param)

    def _transcription(self, rec: Recorded, script: Script) -> None:
        form = rec.body if isinstance(rec.body, dict) else {}
        if form.get("model") not in self.owner.models:
            self._send_error_json(
                404, f"The model `{form.get('model')}` does not exist.", "NotFoundError", 404
            )
            return
        if not rec.audio:
            self._send_error_json(400, "no audio file in the request", "BadRequestError", 400)
            return
        self._send_json(200, {"text": script.transcript})

    # Request bodies --------------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _decode(self, path: str, raw: bytes) -> tuple[Any, list[DecodedAudio]]:
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            return _parse_multipart(ctype, raw)
        if not raw:
            return None, []
        body = json.loads(raw)
        return body, _audio_in_messages(body.get("messages", []) if isinstance(body, dict) else [])

    # Responses ---------------------------------------------------------------------------------------

    def _send_raw(self, status: int, data: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_json(self, status: int, obj: Any, extra: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(obj).encode(), "application/json", extra)

    def _send_error_json(
        self,
        status: int,
        message: str,
        type_: str,
        code: str | int | None,
        extra: dict[str, str] | None = None,
        param: str | None = None,
    ) -> None:
        self._send_json(
            status, {"error": {"message": message, "type": type_, "param": param, "code": code}}, extra
        )

    def _send_scripted_error(self, script: Script) -> None:
        if script.raw_error_body is not None:
            self._send_raw(script.status, script.raw_error_body.encode(), "text/html", script.headers)
        else:
            self._send_error_json(
                script.status, script.error_message, script.error_type, script.error_code, script.headers
            )

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, obj: Any) -> None:
        self._write_chunk(b"data: " + json.dumps(obj).encode() + b"\n\n")

    def _break(self) -> None:
        """Drop the connection mid-body, as a crashed worker or a cut network would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _wait(self, seconds: float) -> bool:
        """Sleep, watching the socket: False as soon as the client closes the connection."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable:
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return False
                except OSError:
                    return False
                # Bytes from a client mid-reply would be a pipelined request; none of ours do that.
                time.sleep(min(left, 0.05))
        return True


# -- wire formats ----------------------------------------------------------------------------------------


def _model(model_id: str, capabilities: dict[str, bool] | None = None) -> dict[str, Any]:
    card: dict[str, Any] = {"id": model_id, "object": "model", "created": 1700000000, "owned_by": "test"}
    if capabilities is not None:  # Mistral's BaseModelCard (its OpenAPI spec): capabilities, aliases, ...
        card.update(capabilities=capabilities, aliases=[], type="base")
    return card


def _completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    }


def _decode_wav(form: str, data: bytes) -> DecodedAudio:
    try:
        info = sf.info(io.BytesIO(data))
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    except Exception as e:  # any decoding failure is the client's bad audio
        raise ValueError(f"audio in {form} form is not a readable sound file: {e}") from e
    return DecodedAudio(form, samples, int(rate), info.format, info.subtype)


def _audio_in_messages(messages: list[Any]) -> list[DecodedAudio]:
    found: list[DecodedAudio] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "audio_url":
                url = part["audio_url"]["url"]
                prefix, _, b64 = url.partition(",")
                if not prefix.startswith("data:audio/") or not prefix.endswith(";base64"):
                    raise ValueError(f"audio_url must be a base64 data: URL, got {prefix!r}")
                found.append(_decode_wav("audio_url", base64.b64decode(b64, validate=True)))
            elif kind == "input_audio":
                value = part["input_audio"]
                if isinstance(value, dict):
                    found.append(_decode_wav("input_audio", base64.b64decode(value["data"], validate=True)))
                else:
                    found.append(_decode_wav("mistral", base64.b64decode(value, validate=True)))
    return found


def _parse_multipart(ctype: str, raw: bytes) -> tuple[dict[str, str], list[DecodedAudio]]:
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    message = parser.parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw)
    if not message.is_multipart():
        raise ValueError("multipart body could not be parsed")
    fields: dict[str, str] = {}
    audio: list[DecodedAudio] = []
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        payload = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename:
            audio.append(_decode_wav("file", payload))
            fields[f"{name}.filename"] = filename
            fields[f"{name}.content_type"] = part.get_content_type()
        elif name:
            fields[str(name)] = payload.decode("utf-8")
    return fields, audio
