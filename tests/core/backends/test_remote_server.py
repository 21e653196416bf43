"""The Mistral API preset and keys never in clear, against real HTTP servers on 127.0.0.1 that record what they get.

Addresses in TEST-NET-1 (192.0.2.0/24, RFC 5737) stand for other machines: the `network` fixture sees every TCP
connect this process attempts, refuses those to TEST-NET-1, and routes the ones a test names to its loopback server.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from typing import Any

import pytest

from voxtral_desktop import VoxtralModel, load_config
from voxtral_desktop.cli import build_parser, flag_overrides
from voxtral_desktop.core import chunks as C
from voxtral_desktop.core import secrets
from voxtral_desktop.core.backends import ModelLoadError
from voxtral_desktop.core.backends.remote import RemoteBackend
from voxtral_desktop.core.backends.remote_server import MISTRAL_BASE_URL, is_this_machine, server_for
from voxtral_desktop.core.config import ConfigError
from voxtral_desktop.core.errors import KeyInClearRefused
from voxtral_desktop.testing.fakes import tone
from voxtral_desktop.testing.openai_server import OpenAICompatibleServer, Script, server_pieces

pytestmark = pytest.mark.usefixtures("clean_keys")  # no key from the developer's environment or keyring

SECRET = "sk-mistral-T3stK3y9"
REPLY = "It is sunny in Paris today."
TEST_NET = ipaddress.ip_network("192.0.2.0/24")
OTHER_MACHINE = "192.0.2.1"
# Mistral's model cards (BaseModelCard.capabilities in its OpenAPI spec, checked 2026-12-05).
CAPS = {
    "voxtral-small-latest": {"completion_chat": True, "function_calling": True, "audio": True},
    "voxtral-mini-latest": {"audio_transcription": True},
    "mistral-large-latest": {"completion_chat": True, "function_calling": True, "vision": True},
}


class Network:
    """Every TCP connect attempted, in order; TEST-NET-1 refused unless routed to a local port."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, int]] = []
        self.routes: dict[str, int] = {}


@pytest.fixture
def network(monkeypatch) -> Network:
    net = Network()
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> None:
        host, port = address[0], address[1]
        net.attempts.append((host, port))
        if host in net.routes:
            return real_connect(sock, ("127.0.0.1", net.routes[host]))
        if ipaddress.ip_address(host) in TEST_NET:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "test network: no route to another machine")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return net


@pytest.fixture
def mistral():
    """A stand-in for Mistral's API on 127.0.0.1: its SSE shape, its model cards, a key required."""
    with OpenAICompatibleServer(models=tuple(CAPS), require_key=SECRET, capabilities=CAPS) as s:
        s.script = Script(pieces=server_pieces(REPLY), shape="mistral", transcript="Quel temps fait-il ?")
        yield s


@pytest.fixture
async def make_model():
    made: list[VoxtralModel] = []

    def make(overrides: dict[str, Any]) -> VoxtralModel:
        model = VoxtralModel(load_config(overrides=overrides))
        model.initialize()
        made.append(model)
        return model

    yield make
    for model in made:
        await model.aclose()


async def collect(model: VoxtralModel, **kw: Any) -> list[dict]:
    return [c async for c in model.process_realtime_chunk_streaming(tone(1.0, 220.0), "r1", **kw)]


def mistral_at(server: OpenAICompatibleServer, **remote: Any) -> dict[str, Any]:
    return {"backend": "mistral", "remote": {"mistral_base_url": server.url + "/v1", **remote}}


# -- the Mistral preset ----------------------------------------------------------------------------------


def test_backend_mistral_is_mistral_s_api_with_today_s_models():
    server = server_for(load_config(overrides={"backend": "mistral"}))
    assert server.base_url == MISTRAL_BASE_URL == "https://api.mistral.ai/v1"
    assert (server.model, server.transcribe_model) == ("voxtral-small-latest", "voxtral-mini-latest")
    assert server.audio_format == "mistral"
    assert "OPENAI_API_KEY" not in server.key_env_vars


def test_the_command_line_takes_backend_mistral():
    args = build_parser().parse_args(["--backend", "mistral"])
    assert flag_overrides(args) == {"backend": "mistral"}
    assert load_config(overrides=flag_overrides(args)).backend == "mistral"


async def test_a_reply_on_mistral_uses_voxtral_small_and_the_mistral_key(mistral, make_model, monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", SECRET)
    # The user's own server settings stay as they were, unused while the preset is chosen.
    model = make_model(
        mistral_at(mistral)
        | {
            "remote": {
                "mistral_base_url": mistral.url + "/v1",
                "base_url": "http://127.0.0.1:9/v1",
                "model": "my-voxtral",
            }
        }
    )
    chunks = await collect(model)
    assert chunks[-1]["success"], chunks[-1]
    assert " ".join(c["text"] for c in chunks if c["text"]).split() == REPLY.split()
    rec = mistral.last("/v1/chat/completions")
    assert rec.body["model"] == "voxtral-small-latest"
    assert rec.headers["authorization"] == f"Bearer {SECRET}"
    [audio] = rec.audio
    assert audio.form == "mistral" and rec.body["messages"][-1]["content"][0]["type"] == "input_audio"
    assert model.config.remote.base_url == "http://127.0.0.1:9/v1"


async def test_transcribe_on_mistral_posts_the_audio_to_its_transcription_endpoint(
    mistral, make_model, monkeypatch
):
    monkeypatch.setenv("MISTRAL_API_KEY", SECRET)
    model = make_model(mistral_at(mistral) | {"transcription": {"language": "fr"}})
    chunks = await collect(model, mode="transcribe")
    assert " ".join(c["text"] for c in chunks if c["text"]) == "Quel temps fait-il ?"
    assert [r.path for r in mistral.requests] == ["/v1/audio/transcriptions"]  # no chat prompt
    rec = mistral.last()
    assert rec.body["model"] == "voxtral-mini-latest" and rec.body["language"] == "fr"
    [audio] = rec.audio
    assert (audio.form, audio.sample_rate, audio.frames) == ("file", 16000, 16000)


async def test_an_openai_key_is_never_sent_to_mistral(mistral, make_model, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-not-for-mistral")
    model = make_model(mistral_at(mistral))
    chunks = await collect(model)
    assert "401" in chunks[-1]["error"]
    assert "sk-openai" not in mistral.last().headers["authorization"]


async def test_the_mistral_key_can_come_from_the_keyring(mistral, make_model):
    secrets.set_api_key(mistral.url + "/v1", SECRET)
    model = make_model(mistral_at(mistral))
    assert (await collect(model))[-1]["success"]
    assert mistral.last().headers["authorization"] == f"Bearer {SECRET}"


async def test_test_connection_lists_the_audio_models_and_says_when_the_chosen_one_cannot_hear(
    mistral, monkeypatch
):
    monkeypatch.setenv("MISTRAL_API_KEY", SECRET)
    config = load_config(overrides=mistral_at(mistral))
    backend = RemoteBackend(config)
    try:
        ok, summary = await backend.check_connection()
        assert ok, summary
        assert "2 audio model(s): voxtral-small-latest, voxtral-mini-latest" in summary
        assert "mistral-large-latest" not in summary
        assert mistral.last().method == "GET" and mistral.last().path == "/v1/models"

        config.remote.mistral_model = "mistral-large-latest"
        ok, problem = await backend.check_connection()
        assert not ok
        assert "the model 'mistral-large-latest' cannot take audio" in problem
        assert "set remote.mistral_model to a model that can, such as voxtral-small-latest" in problem

        config.remote.mistral_model = "voxtral-small-latest"
        config.remote.mistral_transcribe_model = "voxtral-small-latest"
        ok, problem = await backend.check_connection()
        assert not ok and "'voxtral-small-latest' cannot transcribe audio" in problem
    finally:
        await backend.aclose()


# -- keys never in clear -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("voxtral.localhost", True),
        ("127.0.0.1", True),
        ("127.4.5.6", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost.example.com", False),
        ("192.168.1.20", False),
        ("10.0.0.1", False),
        ("gpu-box", False),
        ("::2", False),
    ],
)
def test_this_machine_is_the_loopback_names_and_addresses(host, local):
    assert is_this_machine(host) is local


def test_a_key_for_plain_http_to_another_machine_is_refused_at_load(network, monkeypatch):
    monkeypatch.setenv("VOXTRAL_API_KEY", SECRET)
    url = f"http://{OTHER_MACHINE}:8000/v1"
    backend = RemoteBackend(load_config(overrides={"backend": "openai", "remote": {"base_url": url}}))
    with pytest.raises(ModelLoadError) as caught:
        backend.load()
    refused = caught.value.__cause__
    assert isinstance(refused, KeyInClearRefused) and (refused.base_url, refused.host) == (url, OTHER_MACHINE)
    message = str(caught.value)
    assert url in message and "https://" in message and "remote.allow_http_hosts" in message
    assert SECRET not in message
    assert network.attempts == []


async def test_a_key_is_refused_before_any_connection_on_every_request(network, make_model, monkeypatch):
    monkeypatch.setenv("VOXTRAL_API_KEY", SECRET)
    with OpenAICompatibleServer() as local:
        model = make_model({"backend": "openai", "remote": {"base_url": local.url + "/v1"}})
        assert (await collect(model))[-1]["success"]  # this machine: allowed, key and all
        assert local.last().headers["authorization"] == f"Bearer {SECRET}"
        before = list(network.attempts)

        model.config.remote.base_url = f"http://{OTHER_MACHINE}:{local.port}/v1"  # changed while running
        network.routes[OTHER_MACHINE] = local.port  # were anything to connect, it would reach the server
        chunks = await collect(model)
        last = chunks[-1]
        assert not last["success"] and last["text"] == C.FALLBACK_TEXT
        assert last["error"].startswith("KeyInClearRefused: not sending the API key (from VOXTRAL_API_KEY)")
        assert network.attempts == before and len(local.requests) == 1  # nothing connected, nothing sent

        ok, problem = await model.check_connection()
        assert not ok and "remote.allow_http_hosts" in problem
        assert network.attempts == before and len(local.requests) == 1


async def test_a_host_in_allow_http_hosts_gets_the_key_over_plain_http(network, make_model, monkeypatch):
    monkeypatch.setenv("VOXTRAL_API_KEY", SECRET)
    with OpenAICompatibleServer() as lan:
        network.routes[OTHER_MACHINE] = lan.port
        model = make_model(
            {
                "backend": "openai",
                "remote": {
                    "base_url": f"http://{OTHER_MACHINE}:{lan.port}/v1",
                    "allow_http_hosts": [OTHER_MACHINE],
                },
            }
        )
        assert (await collect(model))[-1]["success"]
        assert (OTHER_MACHINE, lan.port) in network.attempts
        assert lan.last().headers["authorization"] == f"Bearer {SECRET}"


async def test_without_a_key_plain_http_to_another_machine_is_not_refused(network, make_model):
    with OpenAICompatibleServer() as lan:
        network.routes[OTHER_MACHINE] = lan.port
        model = make_model(
            {"backend": "openai", "remote": {"base_url": f"http://{OTHER_MACHINE}:{lan.port}/v1"}}
        )
        assert (await collect(model))[-1]["success"]  # vLLM without --api-key on the LAN, as before
        assert lan.last().headers["authorization"] == "Bearer EMPTY"


@pytest.mark.parametrize("hosts", ["gpu-box", ["http://gpu-box"], ["gpu-box:8000"], [""], [3]])
def test_allow_http_hosts_takes_only_bare_host_names(hosts):
    with pytest.raises(ConfigError, match="remote.allow_http_hosts"):
        load_config(overrides={"remote": {"allow_http_hosts": hosts}})
    assert load_config(overrides={"remote": {"allow_http_hosts": ["gpu-box", "192.168.1.20", "fd00::5"]}})
