"""The settings' connection test for the remote back-end, against the honest local test server."""

from __future__ import annotations

import asyncio

from ui_helpers import scripted_model

from voxtral_desktop.testing.openai_server import OpenAICompatibleServer


def run(qtbot, coro):
    """Drive a coroutine on the window's qasync loop, as a slot would."""
    task = asyncio.ensure_future(coro)
    qtbot.waitUntil(task.done, timeout=15000)
    return task.result()


def test_connection_reports_models_and_errors_without_changing_settings(qtbot, make_app):
    app = make_app(scripted_model())
    with OpenAICompatibleServer(models=("voxtral-mini",)) as server:
        ok, message = run(
            qtbot, app.vms.settings.test_connection({"base_url": server.url + "/v1", "model": "voxtral-mini", "timeout_s": 5})
        )
        assert ok and "voxtral-mini" in message
    ok, message = run(qtbot, app.vms.settings.test_connection({"base_url": "http://127.0.0.1:9/v1", "timeout_s": 2}))
    assert not ok and "127.0.0.1:9" in message
    ok, message = run(qtbot, app.vms.settings.test_connection({"timeout_s": -1}))
    assert not ok and "remote.timeout_s" in message
    assert app.vms.config.backend == "local"


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
