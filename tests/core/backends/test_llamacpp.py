"""The llama.cpp back-end on the real engine (a child process) with a small random-weight GGUF pair.

Random weights say random words: these tests check what a user relies on (chunk dicts, stopping, a crash
survived, no engine left behind, the prompt cache) and never the words themselves.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request

import psutil
import pytest

from voxtral_desktop.core.backends import Turn
from voxtral_desktop.core.backends.base import GenerationRequest, Mode
from voxtral_desktop.core.backends.llamacpp import LlamaCppBackend
from voxtral_desktop.core.config import Config
from voxtral_desktop.core.errors import EngineCrashed, EngineUnavailable, GenerationError
from voxtral_desktop.core.model import VoxtralModel
from voxtral_desktop.core.timings import Stage

AUDIO_WINDOW_TOKENS = 187  # what llama.cpp makes of one 30 s audio window (../shared/notes/llama-cpp.md)
HANG_S = 20.0  # a bound that only catches a hang


def make_config(folder, **streaming) -> Config:
    cfg = Config()
    cfg.backend = "llamacpp"
    cfg.model.id = str(folder)
    cfg.llamacpp.threads = 2
    cfg.llamacpp.context = 4096
    cfg.streaming.max_new_tokens = streaming.get("max_new_tokens", 24)
    cfg.streaming.temperature = 0.7
    return cfg


@pytest.fixture(scope="module")
def model(tiny_gguf_dir):
    """One engine for the module's tests (loading it again per test would cost a second each)."""
    voxtral = VoxtralModel(make_config(tiny_gguf_dir))
    voxtral.initialize()
    yield voxtral
    voxtral.close()


def check_contract(chunks: list[dict]) -> None:
    assert [c["chunk_index"] for c in chunks] == list(range(len(chunks)))
    assert [c["is_final"] for c in chunks] == [False] * (len(chunks) - 1) + [True]
    times = [c["processing_time_ms"] for c in chunks]
    assert times == sorted(times) and all(t >= 0 for t in times)
    for c in chunks:
        assert set(c) == {"success", "text", "is_final", "chunk_index", "processing_time_ms"} | (
            set() if c["success"] else {"error"}
        )


def slots(backend: LlamaCppBackend) -> list[dict]:
    assert backend.engine is not None and backend.engine.url
    with urllib.request.urlopen(f"{backend.engine.url}/slots", timeout=5) as response:
        return json.loads(response.read())


def busy(backend: LlamaCppBackend) -> bool:
    return any(slot.get("is_processing") for slot in slots(backend))


def decoded_while_busy(backend: LlamaCppBackend) -> int | None:
    """Tokens generated so far by the reply the engine is computing; None when it computes nothing."""
    working = [slot for slot in slots(backend) if slot.get("is_processing")]
    return max(slot["next_token"][0]["n_decoded"] for slot in working) if working else None


async def test_a_spoken_question_streams_chunk_dicts_and_the_next_turn_reuses_its_audio(model, utterance_audio):
    audio = next(iter(utterance_audio.values()))
    chunks = [c async for c in model.process_realtime_chunk_streaming(audio, "q1", conversation_id="c")]
    check_contract(chunks)
    assert all(c["success"] for c in chunks)
    reply = " ".join(c["text"] for c in chunks if c["text"])
    assert reply.split(), "the engine said nothing"
    assert all(3 <= len(c["text"].split()) <= 5 for c in chunks[:-1])
    stages = model.last_timings.stages()
    assert (Stage.PROMPT_BUILT, Stage.AUDIO_ENCODED, Stage.FIRST_TOKEN) == tuple(
        s for s in stages if s in (Stage.PROMPT_BUILT, Stage.AUDIO_ENCODED, Stage.FIRST_TOKEN)
    )
    first = model.backend.last_timings
    assert first["prompt_n"] >= AUDIO_WINDOW_TOKENS  # the audio was read this time

    # Turn 2 sends turn 1 (its audio and the reply) back as memory: the engine takes them from its cache.
    history = (Turn(user_audio=audio, assistant_text=reply),)
    second = [c async for c in model.process_text_streaming("and then?", "q2", history=history, conversation_id="c")]
    assert second[-1]["success"]
    timings = model.backend.last_timings
    assert timings["cache_n"] >= AUDIO_WINDOW_TOKENS, timings
    assert timings["prompt_n"] < AUDIO_WINDOW_TOKENS, "the earlier audio was encoded again"


async def test_cancel_mid_reply_stops_the_engine_computing(model):
    backend = model.backend
    model.config.streaming.max_new_tokens = 4000  # far longer than the test waits
    try:
        chunks: list[dict] = []
        async for chunk in model.process_text_streaming("tell me everything", "long"):
            chunks.append(chunk)
            if len(chunks) == 1:
                assert await asyncio.to_thread(busy, backend)  # it is generating the rest right now
                model.cancel()
    finally:
        model.config.streaming.max_new_tokens = 24
    assert chunks[-1]["is_final"] and chunks[-1]["error"] == "cancelled"
    deadline = time.monotonic() + HANG_S
    most = 0  # tokens the engine had generated, at the latest look while it was still busy
    while (decoded := await asyncio.to_thread(decoded_while_busy, backend)) is not None:
        most = max(most, decoded)
        assert time.monotonic() < deadline, "the engine kept generating after the reply was cancelled"
        await asyncio.sleep(0.05)
    assert most < 1000, f"the engine went on to {most} tokens after the reply was cancelled"


async def test_an_engine_killed_mid_reply_is_a_typed_error_and_the_next_reply_restarts_it(model):
    backend = model.backend
    old_pid = backend.engine.pid
    request = GenerationRequest(
        audio=None, mode=Mode.CONVERSATION, max_new_tokens=4000, temperature=0.7, top_p=0.9, text="go on"
    )
    pieces = []
    with pytest.raises(EngineCrashed) as crashed:
        async for piece in backend.stream(request, asyncio.Event()):  # type: ignore[arg-type]
            pieces.append(piece)
            if len(pieces) == 1:
                os.kill(old_pid, signal.SIGKILL)
    assert "SIGKILL" in crashed.value.how
    assert "starts again" in str(crashed.value)

    chunks = [c async for c in model.process_text_streaming("hello again", "after")]
    check_contract(chunks)
    assert all(c["success"] for c in chunks) and " ".join(c["text"] for c in chunks).split()
    assert backend.engine.pid != old_pid and backend.engine.alive()


_PARENT = textwrap.dedent(
    """
    import sys, time
    from voxtral_desktop.core.config import Config
    from voxtral_desktop.core.backends.llamacpp import LlamaCppBackend
    cfg = Config()
    cfg.backend = "llamacpp"
    cfg.model.id = sys.argv[1]
    cfg.llamacpp.threads = 1
    cfg.llamacpp.context = 2048
    backend = LlamaCppBackend(cfg)
    backend.load()
    print(backend.engine.pid, flush=True)
    time.sleep(600)
    """
)


def test_an_app_killed_with_sigkill_leaves_no_engine_behind(tiny_gguf_dir):
    app = subprocess.Popen([sys.executable, "-c", _PARENT, str(tiny_gguf_dir)], stdout=subprocess.PIPE, text=True)
    try:
        line = app.stdout.readline()
        assert line.strip().isdigit(), f"the app did not start its engine: {line!r}"
        engine = psutil.Process(int(line))
        assert engine.is_running()
        app.kill()  # SIGKILL: no atexit, no close(), nothing of the app runs again
        app.wait()
        deadline = time.monotonic() + HANG_S
        while _alive(engine):
            assert time.monotonic() < deadline, "the engine outlived the app"
            time.sleep(0.05)
    finally:
        app.kill()
        app.wait()


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_missing_engine_names_the_install_command(tiny_gguf_dir, tmp_path):
    cfg = make_config(tiny_gguf_dir)
    cfg.llamacpp.server = str(tmp_path / "no-llama-server")
    with pytest.raises(EngineUnavailable, match="llama-server"):
        LlamaCppBackend(cfg).load()


async def test_a_long_silent_audio_encoding_is_progress_not_a_timeout(model, utterance_audio):
    """llama.cpp sends nothing while it encodes audio; on a CPU that can outlast streaming.timeout_ms."""
    clips = list(utterance_audio.values())
    questions = [clips[-1][::-1].copy(), clips[-1], clips[0][::-1].copy()]  # none of them in the engine's cache
    history = tuple(Turn(user_audio=q, assistant_text="ok") for q in questions[:-1])
    model.config.streaming.timeout_ms = 2000
    try:
        chunks = [c async for c in model.process_realtime_chunk_streaming(questions[-1], "slow", history=history)]
    finally:
        model.config.streaming.timeout_ms = 60000
    assert chunks[-1]["success"], chunks[-1]
    assert model.backend.last_timings["prompt_n"] >= 3 * AUDIO_WINDOW_TOKENS  # three windows read, in one go


async def test_an_engine_that_cannot_start_again_fails_the_reply_and_says_so(tiny_gguf_dir, tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    for path in tiny_gguf_dir.glob("*.gguf"):
        (folder / path.name).symlink_to(path)
    backend = LlamaCppBackend(make_config(folder))
    backend.load()
    try:
        os.kill(backend.engine.pid, signal.SIGKILL)
        deadline = time.monotonic() + HANG_S
        while backend.engine.alive():  # gone between two replies
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        for path in folder.glob("tiny-*.gguf"):
            path.unlink()  # the model went away (an unplugged disk) while the app ran
        request = GenerationRequest(
            audio=None, mode=Mode.CONVERSATION, max_new_tokens=4, temperature=0.0, top_p=1.0, text="hi"
        )
        with pytest.raises(GenerationError, match="could not be started again"):
            async for _ in backend.stream(request, asyncio.Event()):  # type: ignore[arg-type]
                pass
    finally:
        backend.close()


def test_cli_respond_streams_chunk_dicts_from_the_engine(tiny_gguf_dir, utterance_audio, tmp_path):
    import soundfile as sf

    wav = tmp_path / "question.wav"
    sf.write(wav, next(iter(utterance_audio.values())), 16000, subtype="PCM_16")
    env = {**os.environ, "VOXTRAL_DESKTOP_HOME": str(tmp_path / "home")}
    command = [
        sys.executable, "-m", "voxtral_desktop", "respond", str(wav), "--backend", "llamacpp",
        "--model", str(tiny_gguf_dir),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    chunks = [json.loads(line) for line in done.stdout.splitlines()]
    check_contract(chunks)
    assert all(c["success"] for c in chunks) and " ".join(c["text"] for c in chunks).split()
    assert "Running on llama.cpp" in done.stderr  # the CLI says which engine answers


async def test_a_stored_conversation_on_the_engine_saves_each_turn_and_reuses_the_earlier_audio(
    model, utterance_audio, tmp_path
):
    """Through ConversationSession, as the window runs it: both exchanges saved whole, and the second one's
    memory (the first question's audio and its stored reply) comes from the engine's prompt cache."""
    from voxtral_desktop.core.chunks import ReplyStatus
    from voxtral_desktop.core.conversation import ConversationSession
    from voxtral_desktop.core.history import HistoryStore
    from voxtral_desktop.core.reply import Words

    first_audio, second_audio = list(utterance_audio.values())[:2]
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        session = ConversationSession(model, store)
        replies = []
        for audio in (first_audio, second_audio):
            reply = session.reply(audio)
            words = [e.text async for e in reply.events() if isinstance(e, Words) and e.text]
            assert reply.status == ReplyStatus.COMPLETE and words == reply.chunks
            replies.append(reply)
        timings = model.backend.last_timings
        assert timings["cache_n"] >= AUDIO_WINDOW_TOKENS, timings  # the first question was not encoded again
        turns = store.turns(session.conversation_id)
        assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
        assert [t.text for t in turns if t.role == "assistant"] == [r.text for r in replies]
        assert all(t.status == ReplyStatus.COMPLETE for t in turns if t.role == "assistant")
