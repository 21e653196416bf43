"""The audio form found, not guessed: a server that refuses one form with a 400 about the audio part gets the others
once each, and the one it takes is remembered per server; real HTTP servers on 127.0.0.1 record what they get."""

from __future__ import annotations

import json
import threading
from typing import Any

import openai
import pytest

from voxtral_desktop import VoxtralModel, load_config
from voxtral_desktop.core import paths
from voxtral_desktop.core.backends.audio_forms import MEMORY_FILE, FormMemory, forms_to_try, refuses_audio
from voxtral_desktop.core.backends.base import GenerationRequest, Mode
from voxtral_desktop.core.backends.remote import RemoteBackend
from voxtral_desktop.core.errors import RemoteStatusError
from voxtral_desktop.testing.fakes import tone
from voxtral_desktop.testing.openai_server import OpenAICompatibleServer, Script, server_pieces

pytestmark = pytest.mark.usefixtures("clean_keys")

REPLY = "Yes, I can hear you clearly."


@pytest.fixture
async def make_model():
    made: list[VoxtralModel] = []

    def make(base_url: str, **remote: Any) -> VoxtralModel:
        model = VoxtralModel(
            load_config(overrides={"backend": "openai", "remote": {"base_url": base_url, **remote}})
        )
        model.initialize()
        made.append(model)
        return model

    yield make
    for model in made:
        await model.aclose()


async def reply(model: VoxtralModel) -> list[dict]:
    return [c async for c in model.process_realtime_chunk_streaming(tone(1.0, 220.0), "r1")]


def forms_sent(server: OpenAICompatibleServer) -> list[str]:
    return [r.audio[0].form for r in server.requests if r.path == "/v1/chat/completions"]


@pytest.mark.parametrize("refusal", ["openai", "vllm", "mistral"])
async def test_a_refused_form_is_followed_by_one_the_server_takes_and_the_next_reply_goes_straight_to_it(
    make_model, refusal
):
    with OpenAICompatibleServer() as server:
        server.script = Script(pieces=server_pieces(REPLY), refuse_forms=("audio_url",), refusal=refusal)
        url = server.url + "/v1"
        model = make_model(url, audio_format="audio_url")

        first = await reply(model)
        assert first[-1]["success"], first[-1]
        assert " ".join(c["text"] for c in first if c["text"]).split() == REPLY.split()
        assert forms_sent(server) == ["audio_url", "input_audio"]

        second = await reply(model)
        assert second[-1]["success"]
        assert forms_sent(server) == [
            "audio_url",
            "input_audio",
            "input_audio",
        ]  # straight to the working form

        # Remembered on disk, for this server, and found again by the next run of the app.
        stored = json.loads((paths.user_data_dir() / MEMORY_FILE).read_text())
        assert stored["servers"][url]["audio_format"] == "input_audio"
        assert stored["servers"][url]["instead_of"] == "audio_url"
        later = make_model(url, audio_format="audio_url")
        assert (await reply(later))[-1]["success"]
        assert forms_sent(server)[-1] == "input_audio" and len(forms_sent(server)) == 4


async def test_what_one_server_takes_is_not_used_for_another(make_model):
    with OpenAICompatibleServer() as picky, OpenAICompatibleServer() as other:
        picky.script = Script(refuse_forms=("audio_url", "input_audio"))
        assert (await reply(make_model(picky.url + "/v1")))[-1]["success"]
        assert forms_sent(picky) == ["audio_url", "input_audio", "mistral"]
        assert (await reply(make_model(other.url + "/v1")))[-1]["success"]
        assert forms_sent(other) == ["audio_url"]


async def test_a_400_about_something_else_is_not_retried(make_model):
    with OpenAICompatibleServer() as server:
        server.script = Script(status=400, error_message="max_tokens must be at most 4096")
        chunks = await reply(make_model(server.url + "/v1"))
        assert "max_tokens must be at most 4096" in chunks[-1]["error"]
        assert len(server.requests) == 1


async def test_a_typed_turn_without_audio_is_never_retried():
    with OpenAICompatibleServer() as server:
        server.script = Script(status=400, error_message="Unknown part type: input_audio")
        backend = RemoteBackend(
            load_config(overrides={"backend": "openai", "remote": {"base_url": server.url + "/v1"}})
        )
        backend.load()
        request = GenerationRequest(None, Mode.CONVERSATION, 20, 0.0, 1.0, text="hello")
        try:
            with pytest.raises(RemoteStatusError, match=r"refused the request \(400\)"):
                async for _ in backend.stream(request, threading.Event()):
                    pass
        finally:
            await backend.aclose()
        assert len(server.requests) == 1


# -- recognising the refusal, by structure ---------------------------------------------------------------


def status_error(status: int, body: Any) -> openai.APIStatusError:
    import httpx2 as httpx  # the SDK's transport (openai >= 3.6x)

    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(status, request=request, json=body)
    return openai.APIStatusError("refused", response=response, body=body)


MESSAGES = [
    {"role": "user", "content": [{"type": "audio_url", "audio_url": {"url": "data:audio/wav;base64,AAAA"}}]},
    {"role": "assistant", "content": "Hello."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Answer briefly."},
            {"type": "input_audio", "input_audio": "AAAA"},
        ],
    },
]


@pytest.mark.parametrize(
    ("status", "body", "about_audio"),
    [
        # OpenAI: ``param`` locates the part, by key or by position.
        (400, {"message": "bad", "param": "messages.[2].content.[1].input_audio"}, True),
        (400, {"message": "Invalid value", "param": "messages.[0].content.[0].type"}, True),
        (400, {"message": "too long", "param": "messages.[2].content.[0].text"}, False),
        (400, {"message": "bad value", "param": "max_tokens"}, False),
        # FastAPI / Mistral: a validation ``detail`` with ``loc``, bare or inside ``message``.
        (422, {"detail": [{"loc": ["body", "messages", 2, "content", 1], "msg": "bad"}]}, True),
        (
            422,
            {
                "object": "error",
                "message": {
                    "detail": [{"loc": ["body", "messages", 0, "content", 0, "audio_url", "url"], "msg": "x"}]
                },
            },
            True,
        ),
        (422, {"detail": [{"loc": ["body", "temperature"], "msg": "too high"}]}, False),
        # No locator (vLLM): the wire's own key names in the message, never prose.
        (400, {"message": "Unknown part type: input_audio", "param": None}, True),
        (400, {"message": "The audio could not be decoded", "param": None}, False),
        (400, {"message": "input_audio_tokens exceeded", "param": None}, False),
        # Not a refusal of the request's content.
        (401, {"message": "bad key: input_audio", "param": None}, False),
        (500, {"message": "input_audio crashed the worker"}, False),
    ],
)
def test_a_refusal_concerns_the_audio_by_its_locator(status, body, about_audio):
    assert refuses_audio(status_error(status, body), MESSAGES) is about_audio


def test_without_audio_in_the_request_no_refusal_concerns_it():
    text_only = [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert not refuses_audio(
        status_error(400, {"message": "x", "param": "messages.[0].content.[0]"}), text_only
    )


def test_each_form_is_tried_once_the_remembered_one_first():
    assert forms_to_try("audio_url") == ["audio_url", "input_audio", "mistral"]
    assert forms_to_try("mistral", "input_audio") == ["input_audio", "mistral", "audio_url"]
    assert forms_to_try("input_audio", "input_audio") == ["input_audio", "audio_url", "mistral"]


def test_the_memory_survives_a_damaged_file_and_forgets_when_the_setting_works_again(tmp_path):
    memory = FormMemory(tmp_path / MEMORY_FILE)
    (tmp_path / MEMORY_FILE).write_text("{not json")
    assert memory.remembered("http://h/v1", "audio_url") is None
    memory.remember("http://h/v1/", "audio_url", "input_audio")
    assert memory.remembered("http://h/v1", "audio_url") == "input_audio"
    assert memory.remembered("http://h/v1", "mistral") is None  # another setting: tried as set
    assert "took input_audio after refusing audio_url" in memory.entry("http://h/v1").describe()
    memory.remember("http://h/v1", "audio_url", "audio_url")
    assert memory.entry("http://h/v1") is None
