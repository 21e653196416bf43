"""What Settings asks of a remote server without a running model: a connection test, where its key comes from,
storing a key, and the audio form found to work with it."""

from __future__ import annotations

from voxtral_desktop.core import secrets
from voxtral_desktop.core.backends.audio_forms import FormMemory
from voxtral_desktop.core.backends.remote import RemoteBackend
from voxtral_desktop.core.backends.remote_server import lookup_key, server_for
from voxtral_desktop.core.config import Config


async def test_connection(config: Config, api_key: str = "") -> tuple[bool, str]:
    """List the server's models with ``config`` (and ``api_key`` when given, else the stored key): (True, what
    was found) or (False, why not, including a chosen model that cannot take audio)."""
    backend = RemoteBackend(config, api_key=api_key or None)
    try:
        return await backend.check_connection()
    finally:
        await backend.aclose()


def server_url(config: Config) -> str:
    """The address requests go to: remote.base_url, or Mistral's API for backend "mistral"."""
    return server_for(config).base_url


def key_source(config: Config) -> str:
    """Where the key for that server comes from now ("keyring", "MISTRAL_API_KEY", ...), or "none"."""
    return lookup_key(server_for(config)).source


def store_key(config: Config, key: str) -> None:
    """Keep ``key`` in the OS keyring for the server ``config`` names; raises KeyringUnavailable."""
    secrets.set_api_key(server_url(config), key)


def audio_form_found(config: Config) -> str:
    """What was found about the audio form that server takes, as a sentence, or ""."""
    found = FormMemory().entry(server_url(config))
    return found.describe() if found is not None else ""
