"""API keys for remote servers: from the environment or the OS keyring, never from config files or logs."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from voxtral_desktop.core.errors import KeyringUnavailable  # re-exported: its home before core/errors.py

log = logging.getLogger(__name__)

# Checked in this order; the first non-empty one wins.
ENV_VARS: tuple[str, ...] = ("VOXTRAL_API_KEY", "MISTRAL_API_KEY", "OPENAI_API_KEY")
KEYRING_SERVICE = "voxtral-desktop"


@dataclass(frozen=True)
class ApiKey:
    """A key and where it came from; its repr never shows the key itself."""

    value: str | None = field(repr=False)
    source: str  # "VOXTRAL_API_KEY", "keyring", ... or "none"

    def __str__(self) -> str:
        return f"API key from {self.source}" if self.value else "no API key"


def _keyring_name(base_url: str) -> str:
    # One key per server; "http://h/v1" and "http://h/v1/" are the same server.
    return base_url.strip().rstrip("/")


def lookup_api_key(base_url: str, env_vars: tuple[str, ...] = ENV_VARS) -> ApiKey:
    """The key for ``base_url``: the environment first (``env_vars``, in order), then the OS keyring; ``value`` is
    None when neither has one."""
    for name in env_vars:
        value = os.environ.get(name, "").strip()
        if value:
            return ApiKey(value, name)
    stored = _keyring_get(_keyring_name(base_url))
    if stored:
        return ApiKey(stored, "keyring")
    return ApiKey(None, "none")


def get_api_key(base_url: str) -> str | None:
    """The key for ``base_url`` (see lookup_api_key), or None."""
    return lookup_api_key(base_url).value


def _keyring_get(name: str) -> str | None:
    try:
        import keyring
    except ImportError:
        return None
    try:
        value = keyring.get_password(KEYRING_SERVICE, name)
    except Exception as e:  # noqa: BLE001 - any backend failure (no D-Bus, locked, no backend) means "no key"
        log.debug("no API key from the OS keyring: %s", type(e).__name__)
        return None
    return value.strip() if isinstance(value, str) and value.strip() else None


def set_api_key(base_url: str, key: str) -> None:
    """Store ``key`` for ``base_url`` in the OS keyring (an empty key deletes it).

    Raises KeyringUnavailable when there is no usable keyring.
    """
    try:
        import keyring
        import keyring.errors
    except ImportError:
        raise KeyringUnavailable(
            "the 'keyring' package is not installed; set VOXTRAL_API_KEY in the environment instead"
        ) from None
    name = _keyring_name(base_url)
    try:
        if key.strip():
            keyring.set_password(KEYRING_SERVICE, name, key.strip())
        else:
            try:
                keyring.delete_password(KEYRING_SERVICE, name)
            except keyring.errors.PasswordDeleteError:
                pass  # nothing stored: already what was asked for
    except Exception as e:  # noqa: BLE001 - report every backend failure the same way, without the key
        raise KeyringUnavailable(
            f"cannot store the API key in the OS keyring ({type(e).__name__}); "
            "set VOXTRAL_API_KEY in the environment instead"
        ) from None
    log.info("stored the API key for %s in the OS keyring", name)
