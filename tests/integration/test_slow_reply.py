"""A slow CPU is not a stall: a reply whose encoder and prefill each take longer than the stall timeout still
comes, and meanwhile the model says what it is doing ("listening to your 2 s question... 3 s", "thinking...").

Before: the timeout counted from the last text, so a full Voxtral on a CPU without native bf16 ended every
reply with "The model took too long to answer." while its audio encoder was still reading the question.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from voxtral_desktop import VoxtralModel, load_config
from voxtral_desktop.core import chunks as C
from voxtral_desktop.core.audio import duration_s
from voxtral_desktop.core.timings import Stage
from voxtral_desktop.testing.slow_layers import slow_layers
from voxtral_desktop.testing.speech import UTTERANCES

pytestmark = pytest.mark.integration

A = UTTERANCES[0]
TIMEOUT_MS = 1500
LAYER_S = 0.9  # the tiny model has 2 encoder and 2 text layers: each stage takes ~1.8 s, past the timeout
HANG_GUARD_S = 120.0


@pytest.fixture
def model(tiny_model_dir, utterance_audio):
    cfg = load_config(
        overrides={"model": {"id": str(tiny_model_dir)}, "streaming": {"temperature": 0.0, "timeout_ms": TIMEOUT_MS}}
    )
    m = VoxtralModel(cfg)
    m.initialize()
    yield m
    m.close()


async def reply_watched(model: VoxtralModel, stream: AsyncIterator[dict]) -> tuple[list[dict], list[str]]:
    """The reply's chunks, and each different thing model.progress() said while it ran (polled as a UI would)."""
    said: list[str] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            now = model.progress()
            if now is not None and (not said or what(said[-1]) != what(str(now))):
                said.append(str(now))
            await asyncio.sleep(0.05)

    watcher = asyncio.ensure_future(watch())
    try:
        got = [c async for c in stream]
    finally:
        done.set()
        await watcher
    return got, said


def what(progress: str) -> str:
    """ "listening to your 2 s question... 3 s" -> "listening to your 2 s question" """
    return progress.split("...")[0]


def text_of(chunks: list[dict]) -> str:
    return " ".join(c["text"] for c in chunks if c["success"] and c["text"])


async def test_a_slow_encoder_and_prefill_longer_than_the_timeout_still_answer(model, utterance_audio):
    audio = utterance_audio[A.key]
    net = model.backend.model
    with slow_layers(net, LAYER_S, "audio"), slow_layers(net, LAYER_S, "text", only_first_forward=True):
        stream = model.process_realtime_chunk_streaming(audio, "slow")
        got, said = await asyncio.wait_for(reply_watched(model, stream), HANG_GUARD_S)
    timings = model.last_timings
    assert timings is not None
    # Each stage alone outlasted the stall timeout: this reply would have timed out before.
    encoding = timings.ms(Stage.AUDIO_ENCODED) - timings.ms(Stage.NORMALISED)
    prefill = timings.ms(Stage.FIRST_TOKEN) - timings.ms(Stage.AUDIO_ENCODED)
    assert encoding > TIMEOUT_MS and prefill > TIMEOUT_MS, timings
    assert got[-1]["success"] and got[-1]["is_final"], got[-1]
    assert text_of(got) == A.reply
    # What the user saw meanwhile: listening to the question (its length), then thinking, in that order.
    seconds = round(duration_s(audio))
    assert [what(s) for s in said] == [f"listening to your {seconds} s question", "thinking"], said
    assert model.progress() is None  # nothing runs now


async def test_a_typed_turn_only_thinks(model):
    net = model.backend.model
    with slow_layers(net, LAYER_S, "text", only_first_forward=True):
        stream = model.process_text_streaming("What is the weather like?", "typed")
        got, said = await asyncio.wait_for(reply_watched(model, stream), HANG_GUARD_S)
    assert got[-1]["success"], got[-1]
    assert [what(s) for s in said] == ["thinking"], said


async def test_no_progress_at_all_still_times_out(model, utterance_audio):
    # One layer that outlasts the timeout is what a stall looks like: no finished layer, no text.
    audio = utterance_audio[A.key]
    with slow_layers(model.backend.model, TIMEOUT_MS / 1000 + 2.0, "audio"):
        got = [c async for c in model.process_realtime_chunk_streaming(audio, "stalled")]
    assert [c["text"] for c in got] == [C.TIMEOUT_TEXT]
    assert "streaming.timeout_ms" in got[-1]["error"]
    assert model.wait_idle(HANG_GUARD_S)  # the stopped generation leaves at the end of that layer
