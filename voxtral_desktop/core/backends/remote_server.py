"""Which server the remote back-end talks to (any OpenAI-compatible one, or the Mistral API preset), what its
model list says about audio, and the rule that keeps an API key off plain http:// to other machines."""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from voxtral_desktop.core import secrets
from voxtral_desktop.core.config import Config
from voxtral_desktop.core.errors import KeyInClearRefused

MISTRAL_BASE_URL = "https://api.mistral.ai/v1"
# Mistral's API gets a Mistral key, never one meant for OpenAI (that would hand it to another company).
MISTRAL_KEY_ENV_VARS: tuple[str, ...] = ("MISTRAL_API_KEY", "VOXTRAL_API_KEY")


@dataclass(frozen=True)
class Server:
    """The settings one request is made with, whichever back-end value chose them."""

    preset: str  # "openai" (the remote section as written) or "mistral" (Mistral's API)
    base_url: str
    model: str  # the chat-with-audio model
    transcribe_model: str
    audio_format: str  # the form tried first (see audio_forms.py)
    timeout_s: float
    allow_http_hosts: tuple[str, ...]
    model_setting: str = "remote.model"  # where the user changes ``model``, for error messages
    transcribe_setting: str = "remote.model"
    key_env_vars: tuple[str, ...] = secrets.ENV_VARS

    def for_transcription(self) -> Server:
        """The same server with the transcription model in ``model`` (errors then name the right setting)."""
        return dataclasses.replace(self, model=self.transcribe_model, model_setting=self.transcribe_setting)


def server_for(config: Config) -> Server:
    """The server ``config`` names: the remote section for backend "openai", Mistral's API for "mistral"."""
    remote = config.remote
    hosts = tuple(h.strip().strip("[]").lower() for h in remote.allow_http_hosts)
    if config.backend == "mistral":
        return Server(
            preset="mistral",
            base_url=remote.mistral_base_url,
            model=remote.mistral_model,
            transcribe_model=remote.mistral_transcribe_model,
            audio_format="mistral",  # the form Mistral's chat API documents
            timeout_s=remote.timeout_s,
            allow_http_hosts=hosts,
            model_setting="remote.mistral_model",
            transcribe_setting="remote.mistral_transcribe_model",
            key_env_vars=MISTRAL_KEY_ENV_VARS,
        )
    return Server(
        preset="openai",
        base_url=remote.base_url,
        model=remote.model,
        transcribe_model=remote.model,
        audio_format=remote.audio_format,
        timeout_s=remote.timeout_s,
        allow_http_hosts=hosts,
    )


def lookup_key(server: Server) -> secrets.ApiKey:
    return secrets.lookup_api_key(server.base_url, server.key_env_vars)


# -- keys never in clear ------------------------------------------------------------------------------------


def is_this_machine(host: str) -> bool:
    """True for loopback names and addresses: localhost (and *.localhost, RFC 6761), 127.0.0.0/8, ::1.

    By the name as written, never by resolving it: a DNS answer could send "loopback" elsewhere.
    """
    host = host.strip().strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is loopback too
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def check_key_transport(server: Server, key: secrets.ApiKey) -> None:
    """Raise KeyInClearRefused when ``key`` would go over plain http:// to a host that is not this machine and
    is not in remote.allow_http_hosts; called before every request, so nothing has connected yet."""
    if not key.value:
        return  # no secret to protect: the placeholder vLLM takes without --api-key may go anywhere
    parts = urlsplit(server.base_url.strip())
    if parts.scheme.lower() != "http":
        return
    host = (parts.hostname or "").lower()
    if not host or is_this_machine(host) or host in server.allow_http_hosts:
        return
    raise KeyInClearRefused(server.base_url.strip(), host, key.source)


# -- what the model list says -------------------------------------------------------------------------------


def _card(cards: list[Any], model: str) -> Any:
    for card in cards:
        if model in {str(_get(card, "id"))} | {str(a) for a in (_get(card, "aliases") or ())}:
            return card
    return None


def listed(cards: list[Any], model: str) -> bool:
    """Whether the model list names ``model``, by id or alias (Mistral's cards list aliases such as *-latest)."""
    return _card(cards, model) is not None


def capabilities_of(cards: list[Any], model: str) -> dict[str, Any] | None:
    """The ``capabilities`` of ``model`` (by id or alias) in a model list, as Mistral's API gives them; None when
    the server does not say (vLLM and OpenAI list no capabilities)."""
    card = _card(cards, model)
    caps = _get(card, "capabilities") if card is not None else None
    return caps if isinstance(caps, dict) else None


def audio_problem(cards: list[Any], server: Server) -> str:
    """A plain sentence when the model list shows a chosen model cannot take audio, else "".

    Mistral's model cards carry ``capabilities``: ``audio`` (audio in chat) and ``audio_transcription``.
    """
    problems = []
    chat = capabilities_of(cards, server.model)
    if chat is not None and not chat.get("audio"):
        problems.append(
            f"the model '{server.model}' cannot take audio (its capabilities on this server have no 'audio'): "
            f"set {server.model_setting} to a model that can, such as "
            + ", ".join(_with(cards, "audio")[:3] or ["voxtral-small-latest"])
        )
    if server.preset == "mistral":
        transcriber = capabilities_of(cards, server.transcribe_model)
        if transcriber is not None and not transcriber.get("audio_transcription"):
            problems.append(
                f"the transcription model '{server.transcribe_model}' cannot transcribe audio: set "
                f"{server.transcribe_setting} to one of "
                + ", ".join(_with(cards, "audio_transcription")[:3] or ["voxtral-mini-latest"])
            )
    return "; ".join(problems)


def audio_models(cards: list[Any]) -> list[str]:
    """The ids the list marks as taking audio (chat or transcription), in its order; [] when it does not say."""
    return [str(_get(c, "id")) for c in cards if _caps(c).get("audio") or _caps(c).get("audio_transcription")]


def _with(cards: list[Any], capability: str) -> list[str]:
    return [str(_get(c, "id")) for c in cards if _caps(c).get(capability)]


def _caps(card: Any) -> dict[str, Any]:
    caps = _get(card, "capabilities")
    return caps if isinstance(caps, dict) else {}


def _get(card: Any, name: str) -> Any:
    """A field of a model card: a dict, or the SDK's Model object (unknown fields sit in model_extra)."""
    if isinstance(card, dict):
        return card.get(name)
    value = getattr(card, name, None)
    if value is None:
        value = (getattr(card, "model_extra", None) or {}).get(name)
    return value
