"""VoxtralModel's streaming contract around a scripted back-end: chunk dicts, errors, cancel, ordering."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from voxtral_desktop import VoxtralModel, load_config
from voxtral_desktop.core import chunks as C
from voxtral_desktop.core.model import GenerationRequest, Mode, Turn
from voxtral_desktop.testing.fakes import ScriptedBackend

REPLY = "The weather is sunny today, with a light breeze from the west."


def speech(seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)


def streamer_pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [p for w in words[:-1] for p in ("", w + " ")] + [words[-1]]


def make_model(pieces: list[str] | None = None, **backend_kw) -> tuple[VoxtralModel, ScriptedBackend]:
    cfg = load_config(overrides={"streaming": {"temperature": 0.0}})
    backend = ScriptedBackend(pieces=streamer_pieces(REPLY) if pieces is None else pieces, **backend_kw)
    model = VoxtralModel(cfg, backend=backend)
    model.initialize()
    return model, backend


async def collect(model: VoxtralModel, audio=None, mode: str = "conversation", **kw) -> list[dict]:
    audio = speech() if audio is None else audio
    return [c async for c in model.process_realtime_chunk_streaming(audio, "t1", mode=mode, **kw)]


def check_contract(chunks: list[dict]) -> None:
    assert [c["chunk_index"] for c in chunks] == list(range(len(chunks)))
    assert [c["is_final"] for c in chunks] == [False] * (len(chunks) - 1) + [True]
    times = [c["processing_time_ms"] for c in chunks]
    assert times == sorted(times) and all(t >= 0 for t in times)
    for c in chunks:
        keys = {"success", "text", "is_final", "chunk_index", "processing_time_ms"}
        assert set(c) == keys | ({"error"} if not c["success"] else set())


async def test_reply_streams_in_natural_chunks_that_rejoin_to_the_text():
    model, _ = make_model()
    chunks = await collect(model)
    check_contract(chunks)
    assert all(c["success"] for c in chunks)
    assert " ".join(c["text"] for c in chunks if c["text"]) == REPLY
    assert all(3 <= len(c["text"].split()) <= 5 for c in chunks[:-1])


async def test_not_initialized_raises_runtime_error():
    model = VoxtralModel(load_config(), backend=ScriptedBackend(pieces=["hi"]))
    with pytest.raises(RuntimeError, match="initialize"):
        await collect(model)


@pytest.mark.parametrize(
    "audio, text",
    [
        (None, C.BAD_AUDIO_TEXT),
        ("audio.wav", C.BAD_AUDIO_TEXT),
        ([0.0, 0.1], C.BAD_AUDIO_TEXT),
        (np.zeros(0, np.float32), C.BAD_AUDIO_TEXT),
        (np.zeros(1, np.float32), C.BAD_AUDIO_TEXT),
        (np.full(16000, np.nan, np.float32), C.BAD_AUDIO_TEXT),
        (np.zeros((2, 2, 16000), np.float32), C.BAD_AUDIO_TEXT),
        (np.zeros(16000, np.int64), C.BAD_AUDIO_TEXT),
        (np.zeros(16000, np.float32), C.NO_SPEECH_TEXT),
    ],
)
async def test_bad_audio_gives_one_error_chunk_and_no_model_call(audio, text):
    model, backend = make_model()
    chunks = [c async for c in model.process_realtime_chunk_streaming(audio, "bad")]
    assert len(chunks) == 1
    check_contract(chunks)
    assert chunks[0]["success"] is False and chunks[0]["text"] == text and chunks[0]["error"]
    assert backend.requests == []
    # The next request still works.
    assert " ".join(c["text"] for c in await collect(model)).strip() == REPLY


async def test_too_long_audio_is_an_error_chunk():
    model, backend = make_model()
    model.config.audio.max_recording_s = 2
    chunks = await collect(model, speech(3.0))
    assert chunks[0]["text"] == C.TOO_LONG_TEXT and "max_recording_s" in chunks[0]["error"]
    assert backend.requests == []


async def test_unknown_mode_is_an_error_chunk():
    model, backend = make_model()
    chunks = await collect(model, mode="translate")
    assert len(chunks) == 1 and not chunks[0]["success"] and "translate" in chunks[0]["error"]
    assert backend.requests == []


async def test_generation_failure_gives_the_seed_fallback_chunk_after_the_words_shown(caplog):
    model, _ = make_model(fail_after=12)
    chunks = await collect(model)
    check_contract(chunks)
    assert chunks[-1]["text"] == "Sorry, I didn't understand that."
    assert "CUDA out of memory" in chunks[-1]["error"]
    assert [c["text"] for c in chunks[:-1]] == ["The weather is sunny today,", "with"]
    assert "generation failed" in caplog.text


async def test_transcribe_mode_is_always_greedy_and_sends_the_language():
    model, backend = make_model()
    model.config.streaming.temperature = 0.9
    model.config.transcription.language = "fr"
    await collect(model, mode="transcribe")
    request = backend.requests[-1]
    assert request.mode == "transcribe" and request.temperature == 0.0 and request.language == "fr"


async def test_settings_changes_apply_to_the_next_reply():
    model, backend = make_model()
    model.config.streaming.max_new_tokens = 7
    model.config.streaming.chunk_size_words = 2
    chunks = await collect(model)
    assert backend.requests[-1].max_new_tokens == 7
    assert all(len(c["text"].split()) <= 3 for c in chunks)


async def test_resampled_input_reaches_the_backend_at_16k():
    model, backend = make_model()
    t = np.arange(44100) / 44100
    await collect(model, (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), sample_rate=44100)
    assert abs(backend.requests[-1].audio.shape[0] - 16000) <= 1


async def test_slow_model_still_shows_words_after_the_flush_interval():
    model, _ = make_model(pieces=["Well ", "I ", "think "] + ["so."], delay_s=0.0)
    model.backend.delay_s = 0.0
    model.config.streaming.flush_interval_ms = 50
    backend = model.backend

    last_piece_at: list[float] = []

    async def slow_stream(request, stop):
        for piece, wait in [("Well ", 0), ("I ", 0), ("think ", 0), ("so.", 1.0)]:
            await asyncio.sleep(wait)
            if piece == "so.":
                last_piece_at.append(time.perf_counter())
            yield piece

    backend.stream = slow_stream  # type: ignore[method-assign]
    seen: list[tuple[str, float]] = []
    async for c in model.process_realtime_chunk_streaming(speech(), "slow"):
        seen.append((c["text"], time.perf_counter()))
    # The first words came out on the flush interval, before the model produced its next piece.
    assert seen[0][0] == "Well I think" and seen[0][1] < last_piece_at[0]
    assert seen[-1][0] == "so."


async def test_no_text_for_timeout_ms_is_an_error_chunk():
    model, backend = make_model()
    model.config.streaming.timeout_ms = 100

    async def stuck(request, stop):
        yield "Hello "
        await asyncio.sleep(5)
        yield "never"

    backend.stream = stuck  # type: ignore[method-assign]
    started = time.perf_counter()
    chunks = await collect(model)
    assert time.perf_counter() - started < 4.0  # before the stuck stream's 5 s sleep would have ended
    assert chunks[-1]["text"] == C.TIMEOUT_TEXT and "timeout_ms" in chunks[-1]["error"]
    check_contract(chunks)


async def test_cancel_stops_the_reply_with_a_cancelled_final_chunk():
    model, backend = make_model(delay_s=0.02)
    chunks = []
    async for c in model.process_realtime_chunk_streaming(speech(), "c"):
        chunks.append(c)
        if c["chunk_index"] == 0:
            model.cancel()
    check_contract(chunks)
    assert C.is_cancelled(chunks[-1])
    assert backend.active == 0
    assert (await collect(model))[-1]["success"]


async def test_closing_the_stream_early_closes_the_backend_stream():
    model, backend = make_model(delay_s=0.01)
    agen = model.process_realtime_chunk_streaming(speech(), "early")
    first = await agen.__anext__()
    assert first["chunk_index"] == 0
    await agen.aclose()
    assert backend.active == 0 and backend.closed_streams == 1


async def test_concurrent_requests_wait_their_turn_in_order():
    model, backend = make_model(delay_s=0.005)
    order: list[str] = []

    async def one(name: str) -> None:
        async for c in model.process_realtime_chunk_streaming(speech(), name):
            order.append(name)

    await asyncio.gather(one("a"), one("b"), one("c"))
    assert backend.max_active == 1
    assert order == sorted(order)  # a's chunks, then b's, then c's


async def test_whole_reply_in_one_call():
    model, _ = make_model()
    result = await model.process_realtime_chunk(speech(), "whole")
    assert result["success"] and result["is_final"] and result["text"] == REPLY
    bad = await model.process_realtime_chunk(np.zeros(16000, np.float32), "silent")
    assert bad["success"] is False and bad["text"] == C.NO_SPEECH_TEXT and "error" in bad


def test_build_request_is_the_request_a_reply_would_send_with_todays_settings():
    model, _ = make_model()
    model.config.streaming.max_new_tokens = 9
    model.config.conversation.instruction = "Answer in French."
    request = model.build_request(speech(), history=(Turn(user_text="hi", assistant_text="salut"),))
    assert isinstance(request, GenerationRequest)
    assert request.mode is Mode.CONVERSATION and request.max_new_tokens == 9
    assert request.user_text == "Answer in French." and request.history[0].assistant_text == "salut"
    assert request.audio is not None and request.audio.shape == (16000,)


@pytest.mark.parametrize(
    ("audio", "mode", "text"),
    [
        (np.zeros(16000, np.float32), "conversation", C.NO_SPEECH_TEXT),
        (np.zeros(5, np.float32), "conversation", C.BAD_AUDIO_TEXT),
        (speech(), "sing", C.BAD_MODE_TEXT),
    ],
    ids=["silence", "too-short", "bad-mode"],
)
def test_build_request_explains_unusable_input_with_the_final_error_chunk(audio, mode, text):
    model, backend = make_model()
    chunk = model.build_request(audio, mode)
    assert isinstance(chunk, dict) and chunk["text"] == text and chunk["is_final"] and not chunk["success"]
    assert backend.requests == []


def test_the_model_speaks_for_its_back_end():
    model, backend = make_model()
    backend.device, backend.context_tokens = "cpu", 4096
    assert (model.device, model.context_tokens) == ("cpu", 4096)
    assert VoxtralModel.from_config(load_config(overrides={"backend": "local"})).backend.__class__.__name__ == (
        "LocalBackend"
    )
    remote = VoxtralModel.from_config(load_config(overrides={"backend": "openai"}))
    assert remote.backend.__class__.__name__ == "RemoteBackend" and remote.device is None


async def test_aclose_stops_the_reply_and_releases_the_back_end():
    model, backend = make_model(delay_s=0.02)
    chunks = []
    async for chunk in model.process_realtime_chunk_streaming(speech(), "t"):
        chunks.append(chunk)
        if len(chunks) == 1:
            await model.aclose()
    assert C.is_cancelled(chunks[-1])


def test_quiet_speech_the_level_check_refuses_is_still_answered_but_a_quiet_hum_is_not():
    """Push-to-talk's "no speech" check: speech 30 dB under the level threshold is heard (Silero's second
    opinion), while a hum just as quiet still gets the no-speech answer."""
    from voxtral_desktop.testing.speech import synthesize

    model, _ = make_model()
    quiet = synthesize("What is the weather like today?") * np.float32(0.01)  # peak ~ -40 dBFS
    assert float(np.sqrt(np.mean(quiet**2))) < model.config.audio.speech_threshold
    assert isinstance(model.build_request(quiet, "conversation"), GenerationRequest)
    hum = (0.005 * np.sin(2 * np.pi * 120 * np.arange(32000) / 16000)).astype(np.float32)
    refused = model.build_request(hum, "conversation")
    assert isinstance(refused, dict) and refused["text"] == C.NO_SPEECH_TEXT
