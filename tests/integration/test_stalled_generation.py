"""A generation step that never returns, on the real transformers path: the reply times out, nothing hangs."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time

import pytest

from voxtral_desktop import VoxtralModel, load_config
from voxtral_desktop.core import chunks as C
from voxtral_desktop.testing.speech import UTTERANCES

pytestmark = pytest.mark.integration

A = UTTERANCES[0]
TIMEOUT_MS = 3000  # long enough for a real step on a loaded 2-core machine, short enough to wait for
HANG_GUARD_S = 30.0  # only turns a hang into a failure; the real waits are a few seconds


@pytest.fixture
def model(tiny_model_dir, utterance_audio):
    cfg = load_config(
        overrides={
            "model": {"id": str(tiny_model_dir)},
            "streaming": {"temperature": 0.0, "timeout_ms": TIMEOUT_MS, "flush_interval_ms": 200},
        }
    )
    m = VoxtralModel(cfg)
    m.initialize()
    # One warm reply first: the very first step pays for lazy initialisation and could pass for a stall.
    m.config.streaming.timeout_ms = 120_000
    asyncio.run(_drain(m, utterance_audio[A.key]))
    m.config.streaming.timeout_ms = TIMEOUT_MS
    yield m
    m.close()


async def _drain(model: VoxtralModel, audio) -> None:
    async for _ in model.process_realtime_chunk_streaming(audio, "warm-up"):
        pass


@contextlib.contextmanager
def stalled_forward(model: VoxtralModel, at_step: int):
    """The network's forward pass blocks at call ``at_step`` until released, as a hung kernel would."""
    net = model.backend.model
    real = net.forward
    calls = 0
    entered = threading.Event()
    release = threading.Event()
    stalled_at: list[float] = []

    @functools.wraps(real)  # generate() checks its kwargs against forward's signature
    def forward(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == at_step:
            stalled_at.append(time.monotonic())
            entered.set()
            release.wait()
        return real(*args, **kwargs)

    net.forward = forward
    try:
        yield entered, release, stalled_at
    finally:
        release.set()
        del net.forward


def generation_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "voxtral-generate"]


async def timed_reply(model: VoxtralModel, audio) -> list[tuple[float, dict]]:
    out: list[tuple[float, dict]] = []
    async for chunk in model.process_realtime_chunk_streaming(audio, "stall"):
        out.append((time.monotonic(), chunk))
    return out


def text_of(chunks: list[dict]) -> str:
    return " ".join(c["text"] for c in chunks if c["success"] and c["text"])


async def test_a_stalled_step_times_out_on_time_and_the_model_recovers(model, utterance_audio):
    audio = utterance_audio[A.key]
    with stalled_forward(model, at_step=10) as (entered, release, stalled_at):
        started = time.monotonic()
        got = await asyncio.wait_for(timed_reply(model, audio), HANG_GUARD_S)
        ended = time.monotonic()
        chunks = [c for _, c in got]
        assert entered.is_set()
        # The words generated before the stall were shown; then the timeout chunk, and nothing after it.
        final_at, final = got[-1]
        assert final["success"] is False and final["text"] == C.TIMEOUT_TEXT
        assert "streaming.timeout_ms" in final["error"]
        assert A.reply.startswith(text_of(chunks)) and text_of(chunks)
        assert [c["chunk_index"] for c in chunks] == list(range(len(chunks)))
        # On time: not before the timeout after the stall began, and not long after it.
        waited = final_at - stalled_at[0]
        assert TIMEOUT_MS / 1000 - 0.3 <= waited <= TIMEOUT_MS / 1000 + 5.0, waited
        # The stream ended (the turn lock is free) although the stuck step still has not returned.
        assert ended - started < HANG_GUARD_S
        assert len(generation_threads()) == 1

        # Still stuck: the next reply says so clearly instead of waiting forever or running a second copy.
        busy = [c for _, c in await asyncio.wait_for(timed_reply(model, audio), HANG_GUARD_S)]
        assert len(busy) == 1 and busy[0]["text"] == C.BUSY_TEXT and busy[0]["is_final"]
        assert "still busy" in busy[0]["error"]
        assert len(generation_threads()) == 1

        # Typed turns share the model and the same rule.
        typed = [c async for c in model.process_text_streaming("hello", "stall-typed")]
        assert typed[-1]["text"] == C.BUSY_TEXT

        release.set()
        # Once the step returns, the abandoned thread sees the stop request and ends.
        for _ in range(200):
            if not generation_threads():
                break
            await asyncio.sleep(0.05)
        assert generation_threads() == []

    model.config.streaming.timeout_ms = 120_000  # the recovery is the point here, not the clock
    again = [c for _, c in await asyncio.wait_for(timed_reply(model, audio), HANG_GUARD_S)]
    assert again[-1]["success"] and text_of(again) == A.reply


async def test_a_step_stalled_before_the_first_word_times_out_too(model, utterance_audio):
    audio = utterance_audio[A.key]
    with stalled_forward(model, at_step=1) as (entered, release, _):
        got = await asyncio.wait_for(timed_reply(model, audio), HANG_GUARD_S)
        assert [c["text"] for _, c in got] == [C.TIMEOUT_TEXT]
        release.set()
    model.config.streaming.timeout_ms = 120_000  # the recovery is the point here, not the clock
    again = [c for _, c in await asyncio.wait_for(timed_reply(model, audio), HANG_GUARD_S)]
    assert text_of(again) == A.reply


async def test_cancel_during_a_stalled_step_ends_the_reply_without_waiting_for_it(model, utterance_audio):
    audio = utterance_audio[A.key]
    model.config.streaming.timeout_ms = 600_000  # only the cancel can end this reply
    with stalled_forward(model, at_step=4) as (entered, release, _):

        async def cancel_when_stuck() -> None:
            while not entered.is_set():
                await asyncio.sleep(0.02)
            model.cancel()

        canceller = asyncio.ensure_future(cancel_when_stuck())
        got = await asyncio.wait_for(timed_reply(model, audio), HANG_GUARD_S)
        await canceller
        assert C.is_cancelled(got[-1][1])
        release.set()
