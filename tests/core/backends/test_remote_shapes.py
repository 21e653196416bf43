"""Servers as they really stream: vLLM, Mistral's API and llama.cpp's llama-server, through the remote back-end."""

from __future__ import annotations

import numpy as np
import pytest

from voxtral_desktop import VoxtralModel, load_config
from voxtral_desktop.core import chunks as C
from voxtral_desktop.core import secrets
from voxtral_desktop.testing.openai_server import OpenAICompatibleServer, Script
from voxtral_desktop.testing.sse_shapes import SHAPES

REPLY = "The weather is sunny today, with a light breeze from the west. Anything else?"


def pieces_of(text: str) -> tuple[str, ...]:
    """Sub-word pieces with leading spaces, as tokenizers stream them."""
    out: list[str] = []
    for i, word in enumerate(text.split(" ")):
        lead = "" if i == 0 else " "
        out += [lead + word[:3], word[3:]] if len(word) > 3 else [lead + word]
    return tuple(p for p in out if p)


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    for name in secrets.ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server():
    with OpenAICompatibleServer() as s:
        yield s


@pytest.fixture
async def model(server):
    m = VoxtralModel(load_config(overrides={"backend": "openai", "remote": {"base_url": server.url + "/v1"}}))
    m.initialize()
    yield m
    await m.backend.aclose()  # type: ignore[attr-defined]


def speech() -> np.ndarray:
    t = np.arange(24000) / 16000
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


async def reply(model: VoxtralModel) -> list[dict]:
    chunks = [c async for c in model.process_realtime_chunk_streaming(speech(), "shape")]
    assert [c["chunk_index"] for c in chunks] == list(range(len(chunks)))
    assert [c["is_final"] for c in chunks] == [False] * (len(chunks) - 1) + [True]
    return chunks


def shown(chunks: list[dict]) -> str:
    return " ".join(c["text"] for c in chunks if c["success"] and c["text"])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("finish_reason", ["stop", "length"])
async def test_each_server_shape_streams_the_right_words(server, model, shape, finish_reason):
    server.script = Script(pieces=pieces_of(REPLY), shape=shape, finish_reason=finish_reason)
    chunks = await reply(model)
    assert chunks[-1]["success"], chunks[-1]
    assert shown(chunks) == REPLY
    assert server.last("/v1/chat/completions").finished.is_set()


async def test_mistral_model_length_is_a_finished_reply(server, model):
    server.script = Script(pieces=pieces_of(REPLY), shape="mistral", finish_reason="model_length")
    chunks = await reply(model)
    assert chunks[-1]["success"] and shown(chunks) == REPLY


@pytest.mark.parametrize(
    "shape, finish_reason",
    [("mistral", "error"), ("vllm", "abort"), ("vllm", "error"), ("llama-server", "error")],
)
async def test_a_reply_the_server_gave_up_on_is_not_shown_as_complete(server, model, shape, finish_reason):
    server.script = Script(pieces=pieces_of(REPLY), shape=shape, finish_reason=finish_reason)
    chunks = await reply(model)
    final = chunks[-1]
    assert final["success"] is False and final["text"] == C.FALLBACK_TEXT
    assert f"finish_reason '{finish_reason}'" in final["error"]
    assert f"after {len(REPLY.split())} words" in final["error"]
    # The words the server did send stay on screen (all but the last, which may have been cut mid-word).
    assert REPLY.startswith(shown(chunks)) and len(shown(chunks).split()) == len(REPLY.split()) - 1


def test_an_unknown_shape_is_refused_by_the_test_server():
    from voxtral_desktop.testing.sse_shapes import Dialect

    with pytest.raises(ValueError, match="unknown stream shape"):
        Dialect("ollama-ish", "m", 3)
