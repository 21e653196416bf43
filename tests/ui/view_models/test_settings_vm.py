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
    assert app.vms.config.backend == "auto"  # testing a server changes no setting
