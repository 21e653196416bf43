"""VoxtralModel on the trained tiny Voxtral, through the real transformers path: audio in, chunked reply out."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf
import torch

from voxtral_desktop import ModelLoadError, VoxtralModel, load_config
from voxtral_desktop.core import chunks as C
from voxtral_desktop.core.model import GenerationRequest
from voxtral_desktop.testing.speech import UTTERANCES

pytestmark = pytest.mark.integration

A, B = UTTERANCES[0], UTTERANCES[1]


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    cfg = load_config(overrides={"model": {"id": str(tiny_model_dir)}, "streaming": {"temperature": 0.0}})
    m = VoxtralModel(cfg)
    m.initialize()
    yield m
    m.close()


@pytest.fixture(autouse=True)
def greedy_defaults(model):
    """Each test starts from the same settings, whatever an earlier one changed."""
    saved = model.config.copy()
    yield
    model.config.update(saved.to_dict())


async def stream(model, audio, mode="conversation", **kw) -> list[dict]:
    return [c async for c in model.process_realtime_chunk_streaming(audio, "it", mode=mode, **kw)]


def joined(chunks: list[dict]) -> str:
    return " ".join(c["text"] for c in chunks if c["text"])


def check_contract(chunks: list[dict]) -> None:
    assert [c["chunk_index"] for c in chunks] == list(range(len(chunks)))
    assert [c["is_final"] for c in chunks].count(True) == 1 and chunks[-1]["is_final"]
    times = [c["processing_time_ms"] for c in chunks]
    assert times == sorted(times)


def generation_threads() -> int:
    return sum(t.name == "voxtral-generate" for t in threading.enumerate())


@pytest.mark.parametrize("utt", [A, B], ids=["a", "b"])
async def test_each_utterance_streams_its_own_reply_in_chunks(model, utterance_audio, utt):
    chunks = await stream(model, utterance_audio[utt.key])
    check_contract(chunks)
    assert all(c["success"] for c in chunks)
    assert joined(chunks) == utt.reply
    assert len(chunks) >= 3
    assert all(3 <= len(c["text"].split()) <= 5 for c in chunks[:-1])


@pytest.mark.parametrize("utt", [A, B], ids=["a", "b"])
async def test_transcribe_mode_gives_the_transcript(model, utterance_audio, utt):
    chunks = await stream(model, utterance_audio[utt.key], mode="transcribe")
    check_contract(chunks)
    assert joined(chunks) == utt.spoken


async def test_transcribe_without_a_language_hint(model, utterance_audio):
    model.config.transcription.language = ""
    assert joined(await stream(model, utterance_audio["a"], mode="transcribe")) == A.spoken


async def test_streamed_text_equals_plain_generate(model, utterance_audio):
    """The transformers streamer test idea: streaming must not change the text."""
    backend = model.backend
    request = model.build_request(utterance_audio["b"])
    assert isinstance(request, GenerationRequest)
    inputs = backend.build_inputs(request)
    with torch.inference_mode():
        out = backend.model.generate(**inputs, **backend.generate_kwargs(request))
    plain = backend.processor.tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert joined(await stream(model, utterance_audio["b"])) == plain.strip()


def _input_forms(audio: np.ndarray) -> dict[str, tuple[object, int]]:
    import soxr

    stereo = np.stack([audio, audio], axis=1)
    return {
        "numpy float32": (audio, 16000),
        "numpy float64": (audio.astype(np.float64), 16000),
        "numpy float16": (audio.astype(np.float16), 16000),
        "numpy int16": ((audio * 32767).astype(np.int16), 16000),
        "numpy stereo (n, 2)": (stereo, 16000),
        "numpy stereo (2, n)": (stereo.T.copy(), 16000),
        "torch float32": (torch.from_numpy(audio), 16000),
        "torch bfloat16": (torch.from_numpy(audio).to(torch.bfloat16), 16000),
        "torch int16 stereo": (torch.from_numpy((stereo * 32767).astype(np.int16)), 16000),
        "numpy 44.1 kHz": (soxr.resample(audio, 16000, 44100).astype(np.float32), 44100),
        "numpy 48 kHz": (soxr.resample(audio, 16000, 48000).astype(np.float32), 48000),
    }


async def test_every_input_form_gives_the_same_reply(model, utterance_audio):
    replies = {
        name: joined(await stream(model, audio, sample_rate=rate))
        for name, (audio, rate) in _input_forms(utterance_audio["a"]).items()
    }
    assert replies == {name: A.reply for name in replies}


BAD_INPUTS = {
    "None": None,
    "str": "a.wav",
    "list": [0.1] * 16000,
    "empty": np.zeros(0, np.float32),
    "one sample": np.zeros(1, np.float32),
    "NaN": np.full(16000, np.nan, np.float32),
    "Inf": np.full(16000, np.inf, np.float32),
    "3-D": np.zeros((1, 2, 16000), np.float32),
    "int64": np.zeros(16000, np.int64),
    "silence": np.zeros(32000, np.float32),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
async def test_bad_input_gives_an_error_chunk_and_the_next_request_works(model, utterance_audio, name):
    chunks = await stream(model, BAD_INPUTS[name])
    assert len(chunks) == 1
    assert chunks[0]["success"] is False and chunks[0]["is_final"] and chunks[0]["text"] and chunks[0]["error"]
    assert joined(await stream(model, utterance_audio["b"])) == B.reply


async def test_over_long_audio_is_an_error_chunk(model, utterance_audio):
    model.config.audio.max_recording_s = 1.0
    chunks = await stream(model, utterance_audio["a"])
    assert chunks == [chunks[0]] and chunks[0]["text"] == C.TOO_LONG_TEXT


async def test_abandoning_a_stream_stops_its_thread(model, utterance_audio):
    baseline = generation_threads()
    model.backend.generate_kwargs = _endless(model.backend.generate_kwargs)
    try:
        async for chunk in model.process_realtime_chunk_streaming(utterance_audio["a"], "abandon"):
            assert generation_threads() == baseline + 1
            break  # abandoned without aclose: the async generator is finalised by the loop
        deadline = time.perf_counter() + 1.0
        while generation_threads() > baseline and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        assert generation_threads() == baseline
    finally:
        del model.backend.generate_kwargs
    assert joined(await stream(model, utterance_audio["a"])) == A.reply


async def test_cancel_stops_generation_promptly_and_the_next_reply_works(model, utterance_audio):
    model.backend.generate_kwargs = _endless(model.backend.generate_kwargs)
    try:
        chunks = []
        async for chunk in model.process_realtime_chunk_streaming(utterance_audio["a"], "cancel"):
            chunks.append(chunk)
            if chunk["chunk_index"] == 0:
                t0 = time.perf_counter()
                model.cancel()
        assert time.perf_counter() - t0 < 10  # the endless reply ended: a bound that only catches a hang
        assert C.is_cancelled(chunks[-1])
        assert generation_threads() == 0
    finally:
        del model.backend.generate_kwargs
    assert joined(await stream(model, utterance_audio["b"])) == B.reply


async def test_an_exception_inside_generate_gives_an_error_chunk_at_once(model, utterance_audio):
    from transformers import LogitsProcessor

    class Boom(LogitsProcessor):
        """Fails on the fourth generated token, as a real OOM or a bad kernel would, mid-reply."""

        def __init__(self) -> None:
            self.calls = 0

        def __call__(self, input_ids, scores):
            self.calls += 1
            if self.calls == 4:
                raise RuntimeError("injected failure in generate")
            return scores

    original = model.backend.generate_kwargs
    model.backend.generate_kwargs = lambda request: {**original(request), "logits_processor": [Boom()]}
    model.config.streaming.timeout_ms = 30_000
    try:
        started = time.perf_counter()
        chunks = await stream(model, utterance_audio["a"])
        elapsed = time.perf_counter() - started
    finally:
        del model.backend.generate_kwargs
    # Far sooner than the 30 s timeout: the failure was forwarded, not waited out.
    assert elapsed < 10, f"the failure took {elapsed:.2f} s to surface"
    assert chunks[-1]["text"] == "Sorry, I didn't understand that."
    assert "injected failure" in chunks[-1]["error"]
    assert generation_threads() == 0
    assert joined(await stream(model, utterance_audio["a"])) == A.reply


async def test_concurrent_requests_are_answered_in_turn(model, utterance_audio):
    results = await asyncio.gather(
        stream(model, utterance_audio["a"]), stream(model, utterance_audio["b"]), stream(model, utterance_audio["a"])
    )
    assert [joined(r) for r in results] == [A.reply, B.reply, A.reply]


async def test_whole_reply_call(model, utterance_audio):
    result = await model.process_realtime_chunk(utterance_audio["b"], "whole")
    assert result["success"] and result["text"] == B.reply


def test_missing_model_folder_says_what_to_do(tmp_path):
    cfg = load_config(overrides={"model": {"id": str(tmp_path / "no-such-model")}})
    with pytest.raises(ModelLoadError, match="does not exist.*model.id"):
        VoxtralModel(cfg).initialize()


def test_uncached_hub_id_offline_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    cfg = load_config(overrides={"model": {"id": "mistralai/Voxtral-Mini-3B-2507"}})
    with pytest.raises(ModelLoadError, match="download.*model.id"):
        VoxtralModel(cfg).initialize()


def test_initialize_is_idempotent(model):
    loaded = model.backend.model
    model.initialize()
    assert model.backend.model is loaded and model.is_initialized


# --- the CLI, as a user runs it ---------------------------------------------------------------------


def run_cli(*args: str, env_home) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "VOXTRAL_DESKTOP_HOME": str(env_home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "voxtral_desktop", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize("fmt", ["WAV", "FLAC", "OGG"])
def test_cli_respond_prints_chunk_lines(tiny_model_dir, utterance_audio, tmp_path, fmt):
    audio_file = tmp_path / f"a.{fmt.lower()}"
    sf.write(audio_file, utterance_audio["a"], 16000, format=fmt)
    config = tmp_path / "greedy.yaml"
    config.write_text("streaming:\n  temperature: 0\n")
    out = run_cli("respond", str(audio_file), "--model", str(tiny_model_dir), "--config", str(config), env_home=tmp_path)
    assert out.returncode == 0, out.stderr
    chunks = [json.loads(line) for line in out.stdout.splitlines()]
    check_contract(chunks)
    assert joined(chunks) == A.reply


def test_cli_transcribe_mode(tiny_model_dir, utterance_audio, tmp_path):
    audio_file = tmp_path / "b.wav"
    sf.write(audio_file, utterance_audio["b"], 16000)
    out = run_cli("respond", str(audio_file), "--mode", "transcribe", "--model", str(tiny_model_dir), env_home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert joined([json.loads(line) for line in out.stdout.splitlines()]) == B.spoken


def test_cli_error_chunk_exits_1(tiny_model_dir, tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    out = run_cli("respond", str(silent), "--model", str(tiny_model_dir), env_home=tmp_path)
    assert out.returncode == 1
    (chunk,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert chunk["success"] is False and chunk["text"] == C.NO_SPEECH_TEXT


@pytest.mark.parametrize("problem", ["missing", "unreadable"])
def test_cli_usage_errors_exit_2(tmp_path, problem):
    path = tmp_path / "x.wav"
    if problem == "unreadable":
        path.write_bytes(b"this is not audio")
    out = run_cli("respond", str(path), env_home=tmp_path)
    assert out.returncode == 2
    assert str(path) in out.stderr and out.stdout == ""


def test_cli_bad_mode_is_a_usage_error(tmp_path):
    out = run_cli("respond", "x.wav", "--mode", "sing", env_home=tmp_path)
    assert out.returncode == 2 and "invalid choice" in out.stderr


def _endless(original):
    """The trained model stops after its sentence; force a long reply so there is something to stop."""
    return lambda request: {**original(request), "min_new_tokens": 300, "max_new_tokens": 300}

