"""Settings dialog round trip: edit, inline validation with the config's messages, save, reload from disk; the
conversation and speech settings; the Server page."""

from __future__ import annotations

import yaml
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from ui_helpers import hold, scripted_model, wait_reply_done

from voxtral_desktop.core import paths
from voxtral_desktop.core.config import load_config
from voxtral_desktop.core.portaudio import InputDevice
from voxtral_desktop.testing.openai_server import OpenAICompatibleServer
from voxtral_desktop.ui.settings_dialog import SettingsDialog


def _devices(refresh: bool = False) -> list[InputDevice]:
    return [
        InputDevice(0, "USB Studio Mic", 1, 48000.0),
        InputDevice(1, "default", 2, 44100.0, is_default=True),
    ]


def _open_with_ctrl_comma(qtbot, window) -> SettingsDialog:
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    qtbot.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(
        lambda: window.settings_dialog is not None and window.settings_dialog.isVisible(), timeout=3000
    )
    return window.settings_dialog


def test_edit_validate_save_and_reload(qtbot, make_app):
    model = scripted_model(["Fine."])
    app = make_app(model, device_lister=_devices)
    dialog = _open_with_ctrl_comma(qtbot, app.window)

    temperature = dialog.inputs["streaming.temperature"]
    temperature.setText("warm")
    error = dialog.errors["streaming.temperature"]
    assert error.isVisible()
    assert error.text() == "streaming.temperature must be a number, got 'warm'"
    assert not dialog.save_button.isEnabled()
    temperature.setText("-1")
    assert error.text() == "streaming.temperature must be >= 0.0, got -1.0"
    temperature.setText("0.3")
    assert not error.isVisible() and dialog.save_button.isEnabled()

    dialog.inputs["streaming.top_p"].setText("1.5")
    assert "streaming.top_p must be in (0, 1]" in dialog.errors["streaming.top_p"].text()
    dialog.inputs["streaming.top_p"].setText("0.8")
    dialog.inputs["streaming.max_new_tokens"].setText("80")
    dialog.inputs["streaming.chunk_size_words"].setText("3")
    dialog.inputs["audio.speech_threshold"].setText("0.02")
    mic = dialog.inputs["audio.input_device"]
    assert [mic.itemText(i) for i in range(mic.count())] == ["System default", "default", "USB Studio Mic"]
    mic.setCurrentIndex(mic.findData("USB Studio Mic"))

    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: app.window.settings_dialog is None, timeout=3000)

    on_disk = yaml.safe_load(paths.user_config_file().read_text())
    assert on_disk == {
        "audio": {"speech_threshold": 0.02, "input_device": "USB Studio Mic"},
        "streaming": {"max_new_tokens": 80, "temperature": 0.3, "top_p": 0.8, "chunk_size_words": 3},
    }
    reloaded = load_config()
    assert (reloaded.streaming.temperature, reloaded.streaming.max_new_tokens) == (0.3, 80)
    assert reloaded.audio.input_device == "USB Studio Mic"

    # Applied to the next reply without a restart, with the chosen microphone.
    hold(qtbot, app)
    wait_reply_done(qtbot, app, 1)
    request = model.backend.requests[-1]
    assert (request.temperature, request.top_p, request.max_new_tokens) == (0.3, 0.8, 80)
    assert app.captures.devices[-1] == "USB Studio Mic"

    # Reopened, the dialog shows what was saved.
    again = app.window.open_settings()
    assert again.inputs["streaming.max_new_tokens"].text() == "80"
    assert again.inputs["audio.input_device"].currentData() == "USB Studio Mic"
    again.reject()


def test_cancel_changes_nothing(qtbot, make_app):
    app = make_app(scripted_model())
    dialog = app.window.open_settings()
    dialog.inputs["streaming.max_new_tokens"].setText("7")
    dialog.reject()
    assert app.vms.config.streaming.max_new_tokens == 50
    assert not paths.user_config_file().exists()


def test_command_line_overrides_are_not_saved_behind_the_users_back(qtbot, make_app, tmp_path):
    cfg = load_config(overrides={"model": {"id": str(tmp_path)}})  # as `--model DIR` does
    model = scripted_model()
    model.config = cfg
    app = make_app(model)
    dialog = app.window.open_settings()
    assert dialog.inputs["model.id"].text() == str(tmp_path)
    dialog.inputs["streaming.temperature"].setText("0.2")
    dialog.save()
    assert yaml.safe_load(paths.user_config_file().read_text()) == {"streaming": {"temperature": 0.2}}
    assert app.vms.config.model.id == str(tmp_path)


def test_blank_model_id_is_refused_inline(qtbot, make_app):
    app = make_app(scripted_model())
    dialog = app.window.open_settings()
    dialog.inputs["model.id"].setText("   ")
    assert dialog.errors["model.id"].text() == "model.id must not be empty, got ''"
    assert not dialog.save_button.isEnabled()
    dialog.reject()


def test_new_settings_round_trip(qtbot, make_app):
    app = make_app(scripted_model())
    dialog = app.window.open_settings()
    turns = dialog.inputs["conversation.max_turns"]
    assert turns.text() == "6"
    assert dialog.pages.currentIndex() == 0 and dialog.page_of("conversation.max_turns") == 1
    turns.setText("-2")
    assert dialog.errors["conversation.max_turns"].text() == "conversation.max_turns must be >= 0, got -2"
    assert not dialog.save_button.isEnabled()
    assert dialog.page_buttons[1].property("invalid") and not dialog.page_buttons[0].property("invalid")
    qtbot.mouseClick(dialog.page_buttons[1], Qt.MouseButton.LeftButton)
    assert dialog.pages.currentIndex() == 1 and dialog.errors["conversation.max_turns"].isVisible()
    turns.setText("many")
    assert "must be an integer" in dialog.errors["conversation.max_turns"].text()
    turns.setText("3")
    assert dialog.save_button.isEnabled() and not dialog.page_buttons[1].property("invalid")

    voice = dialog.inputs["speech.voice"]
    assert voice.itemText(0) == "Default (natural voice)" and voice.currentData() == "system"  # the tests' voice
    assert dialog.inputs["speech.enabled"].isChecked()
    dialog.inputs["speech.enabled"].setChecked(False)
    dialog.inputs["speech.rate"].setValue(5)
    dialog.inputs["conversation.keep_audio"].setChecked(True)
    dialog.inputs["conversation.show_transcript"].setChecked(True)
    assert dialog.changes() == {
        "conversation": {"max_turns": 3, "keep_audio": True, "show_transcript": True},
        "speech": {"enabled": False, "rate": 0.5},
    }
    dialog.save()
    qtbot.waitUntil(lambda: app.window.settings_dialog is None, timeout=3000)
    on_disk = yaml.safe_load(paths.user_config_file().read_text())
    assert on_disk == {
        "conversation": {"max_turns": 3, "keep_audio": True, "show_transcript": True},
        "speech": {"enabled": False, "rate": 0.5},
    }
    cfg = app.vms.config
    assert (cfg.conversation.max_turns, cfg.speech.enabled, cfg.speech.rate) == (3, False, 0.5)
    assert not app.vms.speaker.enabled  # applied at once
    assert "Spoken replies are off" in app.window.status_pill.toolTip()

    again = app.window.open_settings()
    assert again.inputs["conversation.max_turns"].text() == "3"
    assert again.inputs["conversation.keep_audio"].isChecked()
    assert again.inputs["speech.rate"].value() == 5 and not again.inputs["speech.enabled"].isChecked()
    assert again.changes() == {}  # untouched: nothing to save
    again.reject()


def test_server_page_tests_the_connection_and_switching_engines_reloads_the_model(qtbot, make_app):
    from voxtral_desktop.core.config import load_config

    app = make_app(scripted_model(), model_factory=lambda cfg: scripted_model())
    dialog = app.window.open_settings()
    dialog.show_page(dialog.page_of("backend"))
    with OpenAICompatibleServer(models=("voxtral-mini",)) as server:
        dialog.inputs["remote.base_url"].setText(server.url + "/v1")
        dialog.inputs["remote.model"].setText("voxtral-mini")
        task = dialog.test_connection()
        qtbot.waitUntil(task.done, timeout=15000)
        assert dialog.connection_result.text().startswith("✓") and "voxtral-mini" in dialog.connection_result.text()
    dialog.inputs["remote.timeout_s"].setText("-2")
    assert not dialog.save_button.isEnabled() and "remote.timeout_s" in dialog.errors["remote.timeout_s"].text()
    dialog.inputs["remote.timeout_s"].setText("30")
    combo = dialog.inputs["backend"]
    combo.setCurrentIndex(combo.findData("openai"))
    dialog.save()
    assert app.vms.config.backend == "openai" and app.vms.config.remote.model == "voxtral-mini"
    saved = load_config()
    assert saved.backend == "openai" and saved.remote.timeout_s == 30
    assert "api_key" not in app.vms.settings.settings_file().read_text()
