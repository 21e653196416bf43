"""API keys: the environment first, then the OS keyring; never in the config file, never shown."""

from __future__ import annotations

import keyring
import pytest

from voxtral_desktop import load_config
from voxtral_desktop.core import secrets
from voxtral_desktop.core.backends.remote import RemoteBackend
from voxtral_desktop.testing.keyrings import BrokenKeyring

pytestmark = pytest.mark.usefixtures("clean_keys")

SECRET = "sk-test-Zq8pL2vX9mN4"


def test_key_lookup_order_environment_then_keyring(monkeypatch):
    url = "http://gpu-box:8000/v1"
    assert secrets.lookup_api_key(url).source == "none" and secrets.get_api_key(url) is None
    secrets.set_api_key(url, "from-keyring")
    assert secrets.lookup_api_key(url).source == "keyring"
    monkeypatch.setenv("OPENAI_API_KEY", "from-openai")
    assert secrets.get_api_key(url) == "from-openai"
    monkeypatch.setenv("MISTRAL_API_KEY", "from-mistral")
    assert secrets.get_api_key(url) == "from-mistral"
    monkeypatch.setenv("VOXTRAL_API_KEY", "  ")  # blank counts as unset
    assert secrets.get_api_key(url) == "from-mistral"
    monkeypatch.setenv("VOXTRAL_API_KEY", "from-voxtral")
    key = secrets.lookup_api_key(url)
    assert (key.value, key.source) == ("from-voxtral", "VOXTRAL_API_KEY")
    assert "from-voxtral" not in repr(key) and "from-voxtral" not in str(key)
    secrets.set_api_key(url, "")  # deleting
    monkeypatch.delenv("VOXTRAL_API_KEY")
    monkeypatch.delenv("MISTRAL_API_KEY")
    monkeypatch.delenv("OPENAI_API_KEY")
    assert secrets.get_api_key(url) is None


def test_a_broken_keyring_means_no_key_and_a_clear_error_on_save():
    keyring.set_keyring(BrokenKeyring())
    assert secrets.get_api_key("http://x/v1") is None
    with pytest.raises(secrets.KeyringUnavailable, match="set VOXTRAL_API_KEY") as info:
        secrets.set_api_key("http://x/v1", SECRET)
    assert SECRET not in str(info.value)


def test_the_key_is_never_written_to_the_config_file(tmp_path, monkeypatch):
    monkeypatch.setenv("VOXTRAL_API_KEY", SECRET)
    cfg = load_config(overrides={"backend": "openai"})
    RemoteBackend(cfg).load()
    saved = cfg.save(tmp_path / "config.yaml")
    assert SECRET not in saved.read_text()
