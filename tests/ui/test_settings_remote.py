"""Settings' Server page with Mistral's API: only the key is asked for, Test connection lists the account's audio
models (and says when the chosen one cannot hear), the key goes to the keyring; the audio form found is shown."""

from __future__ import annotations

import pytest
from ui_helpers import scripted_model

from voxtral_desktop.core import secrets
from voxtral_desktop.core.backends.audio_forms import FormMemory
from voxtral_desktop.core.config import load_config
from voxtral_desktop.testing.openai_server import OpenAICompatibleServer

pytestmark = pytest.mark.usefixtures("clean_keys")

SECRET = "sk-mistral-typed-in-Settings"
CAPS = {
    "voxtral-small-latest": {"completion_chat": True, "audio": True},
    "voxtral-mini-latest": {"audio_transcription": True},
    "mistral-large-latest": {"completion_chat": True},
}
SERVER_ONLY = ("remote.base_url", "remote.model", "remote.audio_format")


def open_server_page(app):
    dialog = app.window.open_settings()
    dialog.show_page(dialog.page_of("backend"))
    return dialog


def test_mistral_api_asks_only_for_the_key_tests_it_and_keeps_it_in_the_keyring(qtbot, make_app, clean_keys):
    app = make_app(scripted_model(), model_factory=lambda cfg: scripted_model())
    with OpenAICompatibleServer(models=tuple(CAPS), require_key=SECRET, capabilities=CAPS) as mistral:
        url = mistral.url + "/v1"
        app.vms.config.remote.mistral_base_url = url  # Mistral's API, played by the test server
        dialog = open_server_page(app)
        combo = dialog.inputs["backend"]
        # Voxtral on this computer (auto, the default): no server field at all.
        assert not any(dialog.inputs[name].isVisibleTo(dialog) for name in (*SERVER_ONLY, "remote.api_key"))
        combo.setCurrentIndex(combo.findData("openai"))
        assert all(dialog.inputs[name].isVisibleTo(dialog) for name in (*SERVER_ONLY, "remote.api_key"))
        combo.setCurrentIndex(combo.findData("mistral"))
        assert not any(dialog.inputs[name].isVisibleTo(dialog) for name in SERVER_ONLY)
        key = dialog.inputs["remote.api_key"]
        assert key.isVisibleTo(dialog) and dialog.test_button.isVisibleTo(dialog)
        assert key.placeholderText() == "none stored"

        key.setText(SECRET)  # typed, not saved yet: the test uses it as it stands
        task = dialog.test_connection()
        qtbot.waitUntil(task.done, timeout=15000)
        result = dialog.connection_result.text()
        assert result.startswith("✓"), result
        assert "2 audio model(s): voxtral-small-latest, voxtral-mini-latest" in result
        assert mistral.last("/v1/models").headers["authorization"] == f"Bearer {SECRET}"
        assert clean_keys.store == {}  # testing stores nothing

        dialog.save()
    assert app.vms.config.backend == "mistral"
    assert clean_keys.store == {(secrets.KEYRING_SERVICE, url): SECRET}
    assert load_config().backend == "mistral"
    assert SECRET not in app.vms.settings.settings_file().read_text()
    again = open_server_page(app)
    assert (
        again.inputs["remote.api_key"].placeholderText() == "a key is set (from keyring); type to replace it"
    )
    assert again.inputs["remote.api_key"].text() == ""  # never read back
    again.reject()


def test_test_connection_says_plainly_when_the_chosen_model_cannot_take_audio(qtbot, make_app, monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", SECRET)
    app = make_app(scripted_model())
    with OpenAICompatibleServer(models=tuple(CAPS), require_key=SECRET, capabilities=CAPS) as mistral:
        app.vms.config.remote.mistral_base_url = mistral.url + "/v1"
        app.vms.config.remote.mistral_model = "mistral-large-latest"
        dialog = open_server_page(app)
        combo = dialog.inputs["backend"]
        combo.setCurrentIndex(combo.findData("mistral"))
        assert (
            dialog.inputs["remote.api_key"]
            .placeholderText()
            .startswith("a key is set (from MISTRAL_API_KEY)")
        )
        task = dialog.test_connection()
        qtbot.waitUntil(task.done, timeout=15000)
    result = dialog.connection_result.text()
    assert result.startswith("✗") and "the model 'mistral-large-latest' cannot take audio" in result
    dialog.reject()


def test_the_audio_form_found_for_a_server_is_shown_by_the_format_field(qtbot, make_app):
    app = make_app(scripted_model())
    app.vms.config.backend = "openai"
    app.vms.config.remote.base_url = "http://127.0.0.1:8000/v1"
    FormMemory().remember("http://127.0.0.1:8000/v1", "audio_url", "input_audio")
    dialog = open_server_page(app)
    note = dialog.audio_form_note
    assert note.isVisibleTo(dialog)
    assert note.text().startswith("This server took input_audio after refusing audio_url (found 20")
    dialog.inputs["remote.base_url"].setText("http://127.0.0.1:8001/v1")
    dialog.inputs["remote.base_url"].editingFinished.emit()
    assert not note.isVisibleTo(dialog)  # nothing found for that one
    dialog.reject()
