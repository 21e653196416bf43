"""The remote back-end against a real OpenAI-compatible HTTP server on 127.0.0.1: stream, errors, cancel, keys."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any

import numpy as np
import pytest

from voxtral_desktop import VoxtralModel, load_config
from voxtral_desktop.core import chunks as C
from voxtral_desktop.core import secrets
from voxtral_desktop.core.backends import ModelLoadError, Turn
from voxtral_desktop.core.backends.remote import RemoteBackend
from voxtral_desktop.testing.fakes import tone
from voxtral_desktop.testing.openai_server import (
    DEFAULT_MODEL,
    OpenAICompatibleServer,
    Script,
    free_port,
    server_pieces,
)

pytestmark = pytest.mark.usefixtures("clean_keys")  # no key from the developer's environment or keyring

REPLY = "The weather is sunny today, with a light breeze from the west. Anything else?"
SECRET = "sk-test-Zq8pL2vX9mN4"


def speech(seconds: float = 1.5, freq: float = 220.0) -> np.ndarray:
    return tone(seconds, freq)


@pytest.fixture
def server():
    with OpenAICompatibleServer() as s:
        s.script = Script(pieces=server_pieces(REPLY))
        yield s


@pytest.fixture
async def make_model():
    """Build VoxtralModels on the remote back-end; their HTTP clients are closed on this test's loop."""
    made: list[VoxtralModel] = []

    def make(base_url: str, *, remote: dict[str, Any] | None = None, **sections: Any) -> VoxtralModel:
        overrides: dict[str, Any] = {"backend": "openai", "remote": {"base_url": base_url, **(remote or {})}}
        overrides.update(sections)
        model = VoxtralModel(load_config(overrides=overrides))
        model.initialize()
        made.append(model)
        return model

    yield make
    for model in made:
        await model.aclose()


async def collect(model: VoxtralModel, audio: np.ndarray | None = None, **kw: Any) -> list[dict]:
    audio = speech() if audio is None else audio
    return [c async for c in model.process_realtime_chunk_streaming(audio, "r1", **kw)]


def check_contract(chunks: list[dict]) -> None:
    assert [c["chunk_index"] for c in chunks] == list(range(len(chunks)))
    assert [c["is_final"] for c in chunks] == [False] * (len(chunks) - 1) + [True]


def shown_text(chunks: list[dict]) -> str:
    return " ".join(c["text"] for c in chunks if c["success"] and c["text"])


def final_error(chunks: list[dict]) -> str:
    check_contract(chunks)
    last = chunks[-1]
    assert not last["success"], last
    assert last["text"] == C.FALLBACK_TEXT
    return last["error"]


# -- the happy path ----------------------------------------------------------------------------------------


async def test_chunks_rejoin_to_the_streamed_text_and_follow_the_contract(server, make_model):
    model = make_model(server.url + "/v1")
    chunks = await collect(model)
    check_contract(chunks)
    assert all(c["success"] for c in chunks)
    assert shown_text(chunks).split() == REPLY.split()
    assert all(1 <= len(c["text"].split()) <= 5 for c in chunks)
    assert server.last().finished.is_set() and not server.last().disconnected.is_set()


@pytest.mark.parametrize("audio_format", ["audio_url", "input_audio", "mistral"])
async def test_audio_arrives_as_a_decodable_wav_of_the_right_length(server, make_model, audio_format):
    model = make_model(server.url + "/v1", remote={"audio_format": audio_format})
    audio = speech(1.5)
    chunks = await collect(model, audio)
    assert chunks[-1]["success"]
    rec = server.last("/v1/chat/completions")
    [decoded] = rec.audio
    assert decoded.form == audio_format
    assert (decoded.wav_format, decoded.subtype, decoded.sample_rate, decoded.frames) == (
        "WAV",
        "PCM_16",
        16000,
        24000,
    )
    assert np.max(np.abs(decoded.samples - audio)) < 2 / 32768  # 16-bit rounding only
    [part] = rec.body["messages"][-1]["content"]
    if audio_format == "audio_url":
        assert part["type"] == "audio_url" and part["audio_url"]["url"].startswith("data:audio/wav;base64,")
    elif audio_format == "input_audio":
        assert part["type"] == "input_audio" and part["input_audio"]["format"] == "wav"
    else:
        assert part["type"] == "input_audio" and isinstance(part["input_audio"], str)


async def test_request_carries_the_model_sampling_settings_and_instruction(server, make_model):
    model = make_model(
        server.url + "/v1",
        streaming={"max_new_tokens": 77, "temperature": 0.25, "top_p": 0.5},
        conversation={"instruction": "Answer in French."},
    )
    await collect(model)
    body = server.last("/v1/chat/completions").body
    assert body["model"] == DEFAULT_MODEL and body["stream"] is True
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (77, 0.25, 0.5)
    content = body["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["audio_url", "text"]
    assert content[1]["text"] == "Answer in French."


async def test_history_turns_come_before_the_new_audio(server, make_model):
    model = make_model(server.url + "/v1")
    history = (
        Turn(user_audio=speech(0.5, 300.0), assistant_text="It is sunny."),
        Turn(user_text="And tomorrow?", assistant_text="Rain."),
        Turn(),  # an empty turn is skipped, as the local back-end does
    )
    chunks = await collect(model, history=history)
    assert chunks[-1]["success"]
    rec = server.last("/v1/chat/completions")
    messages = rec.body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "user"]
    assert messages[1]["content"] == "It is sunny." and messages[3]["content"] == "Rain."
    assert messages[2]["content"] == [{"type": "text", "text": "And tomorrow?"}]
    assert [a.frames for a in rec.audio] == [8000, 24000]


async def test_transcribe_mode_posts_the_wav_to_the_transcriptions_endpoint(server, make_model):
    server.script = Script(transcript="  What is the weather like today, and should I take an umbrella?  ")
    model = make_model(server.url + "/v1", transcription={"language": "fr"})
    chunks = await collect(model, mode="transcribe")
    check_contract(chunks)
    assert shown_text(chunks) == "What is the weather like today, and should I take an umbrella?"
    rec = server.last()
    assert rec.path == "/v1/audio/transcriptions"
    assert rec.body["model"] == DEFAULT_MODEL and rec.body["language"] == "fr"
    assert float(rec.body["temperature"]) == 0.0
    assert rec.body["file.content_type"] == "audio/wav"
    [decoded] = rec.audio
    assert (decoded.sample_rate, decoded.frames) == (16000, 24000)


async def test_transcribe_mode_without_a_language_lets_the_server_detect_it(server, make_model):
    model = make_model(server.url + "/v1", transcription={"language": ""})
    chunks = await collect(model, mode="transcribe")
    assert chunks[-1]["success"]
    assert "language" not in server.last().body


async def test_settings_changed_between_replies_apply_to_the_next_one(make_model):
    with OpenAICompatibleServer(models=("a", "b")) as one, OpenAICompatibleServer(models=("a", "b")) as two:
        model = make_model(one.url + "/v1", remote={"model": "a"})
        assert (await collect(model))[-1]["success"]
        model.config.remote.model = "b"
        model.config.remote.base_url = two.url + "/v1"
        assert (await collect(model))[-1]["success"]
        assert one.last().body["model"] == "a"
        assert two.last().body["model"] == "b"


# -- errors ----------------------------------------------------------------------------------------------


async def test_connection_refused_says_so(make_model):
    url = f"http://127.0.0.1:{free_port()}/v1"
    model = make_model(url)  # loading does not touch the network
    error = final_error(await collect(model))
    assert f"cannot connect to {url} (connection refused): is the server running?" in error
    assert error.startswith("RemoteConnectionError: ")


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            Script(status=401, error_message="Incorrect API key provided.", error_code="invalid_api_key"),
            "the server rejected the API key (401): Incorrect API key provided.",
        ),
        (
            Script(status=403, error_message="Your plan does not include this model."),
            f"the API key is not allowed to use model '{DEFAULT_MODEL}' here (403): Your plan",
        ),
        (
            Script(status=429, error_message="Requests rate limit exceeded", headers={"Retry-After": "20"}),
            "rate limited (429); retry after 20 s: Requests rate limit exceeded",
        ),
        (Script(status=429, error_message="slow down"), "rate limited (429); try again later: slow down"),
        (
            Script(status=500, error_message="Internal server error"),
            "server error 500: Internal server error",
        ),
        (
            Script(status=503, error_message="The engine is overloaded", error_type="ServiceUnavailable"),
            "server error 503: The engine is overloaded",
        ),
        (
            Script(status=400, error_message="Unknown part type: audio_url"),
            (
                # Each form is tried once before giving up (test_remote_audio_forms.py).
                "the server refused the audio in every form (audio_url, input_audio, mistral) (400): "
                "Unknown part type: audio_url"
            ),
        ),
    ],
    ids=["401", "403", "429-retry-after", "429", "500", "503", "400-audio-format"],
)
async def test_http_errors_become_error_chunks_with_clear_text(server, make_model, script, expected):
    server.script = script
    model = make_model(server.url + "/v1")
    error = final_error(await collect(model))
    assert expected in error and error.startswith("RemoteStatusError: ")


async def test_unknown_model_is_a_404_naming_it(server, make_model):
    model = make_model(server.url + "/v1", remote={"model": "voxtral-huge"})
    error = final_error(await collect(model))
    assert "unknown model 'voxtral-huge' (404): The model `voxtral-huge` does not exist." in error


async def test_a_base_url_without_the_api_path_is_a_404_that_says_so(server, make_model):
    model = make_model(server.url)  # forgot the /v1
    error = final_error(await collect(model))
    assert (
        f"{server.url} has no /chat/completions (404): check remote.base_url (it usually ends in /v1)"
        in error
    )


async def test_a_server_that_never_answers_times_out(server, make_model):
    # A 1 s timeout against a server that waits 30 s: a loaded machine cannot make the server answer in time,
    # and the bound below only tells "gave up after the timeout" from "waited for the server".
    server.script = Script(headers_delay_s=30.0)
    model = make_model(server.url + "/v1", remote={"timeout_s": 1.0})
    started = time.monotonic()
    error = final_error(await collect(model))
    assert "request timed out after 1 s" in error and "remote.timeout_s" in error
    assert error.startswith("RemoteTimeout: ")
    assert time.monotonic() - started < 20.0
    assert server.last().disconnected.wait(1.0)  # the client hung up; the server is not left waiting


async def test_a_stream_that_stalls_mid_reply_times_out_and_keeps_the_words(server, make_model):
    server.script = Script(
        pieces=("one ", "two ", "three ", "four ", "five ", "six"), stall_after=3, stall_s=2.0
    )
    model = make_model(server.url + "/v1", remote={"timeout_s": 0.3})
    chunks = await collect(model)
    error = final_error(chunks)
    assert error == "StreamBroken: the stream broke after 3 words: no data from the server for 0.3 s (remote.timeout_s)"
    assert shown_text(chunks[:-1]) == "one two three"
    assert server.last().disconnected.wait(1.0)


async def test_a_broken_stream_keeps_the_chunks_shown_and_says_what_happened(server, make_model):
    words = REPLY.split()
    server.script = Script(pieces=tuple(w + " " for w in words), break_after=6)
    model = make_model(server.url + "/v1", streaming={"chunk_size_words": 4})
    chunks = await collect(model)
    error = final_error(chunks)
    assert "the stream broke after 6 words: the server closed the connection before the reply ended" in error
    assert error.startswith("StreamBroken: ")
    assert shown_text(chunks[:-1]).split() == words[:6]


async def test_a_bug_while_reading_the_stream_is_a_bug_not_a_broken_stream(server, make_model, monkeypatch, caplog):
    """The error boundary maps the failures it knows; a programming error raises as itself, with its traceback
    in the log, instead of reading as 'the stream broke' (what a catch-all translation made of it)."""
    from voxtral_desktop.core.backends import remote

    def buggy_delta_text(content):
        raise KeyError("choices")  # e.g. an SDK change this code misreads

    monkeypatch.setattr(remote, "delta_text", buggy_delta_text)
    model = make_model(server.url + "/v1")
    with caplog.at_level(logging.ERROR):
        chunks = await collect(model)
    error = final_error(chunks)
    assert error.startswith("KeyError: "), error
    assert "StreamBroken" not in error and "stream broke" not in error
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)


async def test_a_bug_before_the_request_is_not_a_connection_failure(server, make_model, monkeypatch):
    import openai.resources.chat.completions as completions

    async def buggy_create(self, **kwargs):
        raise AttributeError("'NoneType' object has no attribute 'model'")

    monkeypatch.setattr(completions.AsyncCompletions, "create", buggy_create)
    model = make_model(server.url + "/v1")
    error = final_error(await collect(model))
    assert error.startswith("AttributeError: "), error
    assert "request to" not in error and "failed:" not in error


def test_the_boundary_refuses_to_explain_what_it_does_not_know():
    from voxtral_desktop.core.backends.remote_errors import known_failures, translate

    config = load_config(overrides={"backend": "openai"})
    with pytest.raises(TypeError, match="not a remote failure: ZeroDivisionError"):
        translate(ZeroDivisionError("bug"), config.remote)
    import openai

    assert issubclass(openai.APIConnectionError, known_failures())


async def test_a_malformed_event_is_reported(server, make_model):
    server.script = Script(pieces=("one ", "two ", "three ", "four"), malformed_after=3)
    model = make_model(server.url + "/v1")
    chunks = await collect(model)
    error = final_error(chunks)
    assert "malformed event from the server after 3 words: not JSON" in error and "{not json" in error
    assert shown_text(chunks[:-1]) == "one two three"


async def test_an_error_event_mid_stream_is_reported(server, make_model):
    server.script = Script(pieces=("one ", "two ", "three"), error_event_after=2)
    model = make_model(server.url + "/v1")
    error = final_error(await collect(model))
    assert "the stream broke after 2 words: the server reported an error: the worker crashed" in error


async def test_a_body_that_ends_without_finishing_the_reply_is_reported(server, make_model):
    server.script = Script(pieces=("one ", "two ", "three ", "four ", "five"), end_early_after=4)
    model = make_model(server.url + "/v1")
    chunks = await collect(model)
    assert "the stream broke after 4 words: the server ended the stream without finishing" in final_error(
        chunks
    )
    assert shown_text(chunks[:-1]) == "one two three four"


async def test_transcription_errors_are_reported_too(server, make_model):
    server.script = Script(status=503, error_message="no transcription worker")
    model = make_model(server.url + "/v1")
    error = final_error(await collect(model, mode="transcribe"))
    assert "server error 503: no transcription worker" in error


def test_a_base_url_that_is_not_http_fails_at_load_with_advice():
    cfg = load_config(overrides={"backend": "openai", "remote": {"base_url": "localhost:8000/v1"}})
    with pytest.raises(ModelLoadError, match="must be an http:// or https:// URL"):
        RemoteBackend(cfg).load()


# -- timing and cancel -----------------------------------------------------------------------------------


async def test_a_slow_server_still_yields_chunks_on_the_flush_interval(server, make_model):
    words = ("Slowly", "but", "surely", "the", "words", "arrive.")
    server.script = Script(pieces=tuple(w + " " for w in words), delay_s=0.3)
    model = make_model(server.url + "/v1", streaming={"flush_interval_ms": 100, "chunk_size_words": 4})
    started = time.monotonic()
    arrivals: list[tuple[float, dict]] = []
    async for chunk in model.process_realtime_chunk_streaming(speech(), "slow"):
        arrivals.append((time.monotonic() - started, chunk))
    chunks = [c for _, c in arrivals]
    check_contract(chunks)
    assert shown_text(chunks).split() == list(words)
    # The flush interval released text before 4 words (chunk_size_words) had come; a first chunk of 4 would
    # mean it waited for them. How soon it comes is a benchmark figure, not a test bound.
    assert len(chunks[0]["text"].split()) < 4
    assert len(chunks) >= 4


async def test_cancel_closes_the_connection_and_the_server_sees_it(server, make_model):
    server.script = Script(pieces=tuple(f"w{i} " for i in range(60)), delay_s=0.05)
    model = make_model(server.url + "/v1")
    chunks: list[dict] = []
    cancelled_at = 0.0
    async for chunk in model.process_realtime_chunk_streaming(speech(), "c"):
        chunks.append(chunk)
        if len(chunks) == 1:
            cancelled_at = time.monotonic()
            model.cancel()
    rec = server.last("/v1/chat/completions")
    assert C.is_cancelled(chunks[-1])
    check_contract(chunks)
    assert rec.disconnected.wait(1.0), "the server never saw the client hang up"
    assert rec.disconnected_at is not None and rec.disconnected_at - cancelled_at < 1.0
    assert not rec.finished.is_set() and rec.events_sent < 60


@pytest.mark.parametrize("how", ["break", "aclose"])
async def test_leaving_the_stream_early_closes_the_connection(server, make_model, how):
    server.script = Script(pieces=tuple(f"w{i} " for i in range(60)), delay_s=0.05)
    model = make_model(server.url + "/v1")
    stream = model.process_realtime_chunk_streaming(speech(), "b")
    first = await stream.__anext__()
    left_at = time.monotonic()
    if how == "break":
        async for _ in stream:
            break
    await stream.aclose()
    assert first["success"]
    rec = server.last("/v1/chat/completions")
    assert rec.disconnected.wait(1.0), "the server never saw the client hang up"
    assert rec.disconnected_at is not None and rec.disconnected_at - left_at < 1.0
    assert not rec.finished.is_set()


async def test_cancel_while_waiting_for_the_first_byte_closes_the_connection(server, make_model):
    server.script = Script(headers_delay_s=5.0)
    model = make_model(server.url + "/v1")

    async def cancel_soon() -> None:
        await asyncio.sleep(0.2)
        model.cancel()

    canceller = asyncio.create_task(cancel_soon())
    chunks = await collect(model)
    await canceller
    assert C.is_cancelled(chunks[-1])
    assert server.last().disconnected.wait(1.0)


# -- API keys --------------------------------------------------------------------------------------------


async def test_the_api_key_from_the_environment_goes_in_the_authorization_header(
    make_model, monkeypatch, caplog
):
    monkeypatch.setenv("VOXTRAL_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-other-should-lose")
    caplog.set_level(logging.DEBUG)
    with OpenAICompatibleServer(require_key=SECRET) as s:
        s.script = Script(pieces=server_pieces(REPLY))
        model = make_model(s.url + "/v1")
        chunks = await collect(model)
        assert chunks[-1]["success"], chunks[-1]
        assert s.last().headers["authorization"] == f"Bearer {SECRET}"
    assert "VOXTRAL_API_KEY" in caplog.text  # where the key came from is logged...
    assert SECRET not in caplog.text  # ...the key itself never is


async def test_a_rejected_key_never_appears_in_logs_or_errors(make_model, monkeypatch, caplog):
    monkeypatch.setenv("MISTRAL_API_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    with OpenAICompatibleServer() as s:
        # A careless server that echoes the key back in its error message.
        s.script = Script(status=401, error_message=f"Incorrect API key provided: {SECRET}")
        model = make_model(s.url + "/v1")
        chunks = await collect(model)
        assert s.last().headers["authorization"] == f"Bearer {SECRET}"
    error = final_error(chunks)
    assert "the server rejected the API key (401)" in error and "***" in error
    assert SECRET not in error and SECRET not in json.dumps(chunks)
    assert SECRET not in caplog.text


async def test_without_a_key_a_placeholder_is_sent(server, make_model):
    model = make_model(server.url + "/v1")
    assert (await collect(model))[-1]["success"]
    assert server.last().headers["authorization"] == "Bearer EMPTY"


async def test_the_key_can_come_from_the_os_keyring(server, make_model, clean_keys):
    secrets.set_api_key(server.url + "/v1/", SECRET)  # a trailing slash names the same server
    model = make_model(server.url + "/v1")
    assert (await collect(model))[-1]["success"]
    assert server.last().headers["authorization"] == f"Bearer {SECRET}"
    assert clean_keys.store == {(secrets.KEYRING_SERVICE, server.url + "/v1"): SECRET}








# -- Test connection -------------------------------------------------------------------------------------


async def test_check_connection_lists_the_models(server):
    cfg = load_config(overrides={"backend": "openai", "remote": {"base_url": server.url + "/v1"}})
    model = VoxtralModel.from_config(cfg)  # not initialized: the test loads what it needs
    try:
        ok, summary = await model.check_connection()
        assert ok and f"connected to {server.url}/v1" in summary and DEFAULT_MODEL in summary
        cfg.remote.model = "voxtral-small-latest"
        ok, summary = await model.check_connection()
        assert ok and "'voxtral-small-latest' is not among them" in summary
        server.script = Script(status=401, error_message="Unauthorized")
        ok, problem = await model.check_connection()
        assert not ok and re.search(r"rejected the API key \(401\)", problem)
    finally:
        await model.aclose()


async def test_check_connection_reports_a_server_that_is_down():
    url = f"http://127.0.0.1:{free_port()}/v1"
    model = VoxtralModel.from_config(load_config(overrides={"backend": "openai", "remote": {"base_url": url}}))
    ok, problem = await model.check_connection()
    assert not ok and re.search(r"connection refused\): is the server running\?", problem)
    await model.aclose()


async def test_the_local_back_end_has_no_server_to_test():
    ok, message = await VoxtralModel.from_config(load_config()).check_connection()
    assert ok and "no server" in message


