"""The app around the window: start-up without a display, a fast start without torch, errors shown and logged,
and a clean quit."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading

import pytest
from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QApplication
from qasync import asyncSlot
from ui_helpers import Captures, scripted_model, speech_like

from voxtral_desktop import app as app_module
from voxtral_desktop.core.chunks import ReplyStatus


def _env(**changes: str | None) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def test_without_a_display_it_says_so_and_exits_1(tmp_path):
    env = _env(DISPLAY=None, WAYLAND_DISPLAY=None, QT_QPA_PLATFORM=None, VOXTRAL_DESKTOP_HOME=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-m", "voxtral_desktop"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1
    assert "no display" in out.stderr and "QT_QPA_PLATFORM=offscreen" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_window_shows_fast_without_importing_torch(tmp_path):
    env = _env(
        QT_QPA_PLATFORM="offscreen",
        VOXTRAL_DESKTOP_HOME=str(tmp_path),
        VOXTRAL_DESKTOP_EXIT_AFTER_SHOWN="1",
    )
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "voxtral_desktop", "--model", str(tmp_path / "model")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    shown = [line for line in out.stdout.splitlines() if line.startswith("window-shown ")]
    assert shown, out.stdout
    # Only catches a window held back by a model load or a hang; the figure itself is benchmarks/ui.py's.
    assert float(shown[0].split()[1]) < 60.0
    imported = {line.split("|")[-1].strip().split(".")[0] for line in out.stderr.splitlines() if "|" in line}
    assert "PySide6" in imported and "voxtral_desktop" in imported
    assert not imported & {"torch", "transformers", "sounddevice"}
    assert (tmp_path / "log" / "voxtral-desktop.log").exists()


class _Failing(QObject):
    @asyncSlot()
    async def explode(self) -> None:
        raise RuntimeError("boom from an async slot")


@pytest.fixture
def file_logging():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    app_module.setup_logging(to_file=True)
    yield app_module.log_file()
    for handler in root.handlers:
        if handler not in saved[0]:
            handler.close()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


@pytest.mark.qt_no_exception_capture
def test_uncaught_errors_in_async_slots_are_logged_and_shown(qtbot, make_app, file_logging):
    app = make_app(scripted_model())
    reporter = app_module.ExceptionReporter(app.vms.errorOccurred.emit)
    reporter.install(asyncio_loop())
    try:
        failing = _Failing()
        failing.explode()
        qtbot.waitUntil(lambda: app.window.banner("error") is not None, timeout=3000)
        text = app.window.banner("error").text.text()
        assert "RuntimeError: boom from an async slot" in text and str(file_logging) in text

        worker = threading.Thread(target=lambda: 1 / 0, name="voxtral-test-worker")
        worker.start()
        worker.join()
        qtbot.waitUntil(lambda: "ZeroDivisionError" in app.window.banner("error").text.text(), timeout=3000)
    finally:
        reporter.uninstall()
    for handler in logging.getLogger().handlers:
        handler.flush()
    logged = file_logging.read_text()
    assert "uncaught exception" in logged and "boom from an async slot" in logged
    assert "Traceback" in logged and "ZeroDivisionError" in logged


def asyncio_loop():

    return asyncio.get_event_loop()


def test_ctrl_q_stops_everything_and_closes(qtbot, make_app):
    words = [f"word{i} " for i in range(500)]
    model = scripted_model(words, delay_s=0.02)
    captures = Captures(speech_like(5.0))
    app = make_app(model, captures)
    window = app.window
    # A reply streaming and a new recording running (talking over the reply) when the user quits.
    qtbot.mousePress(window.ptt, Qt.MouseButton.LeftButton, pos=window.ptt.rect().center())
    qtbot.wait(400)
    qtbot.mouseRelease(window.ptt, Qt.MouseButton.LeftButton, pos=window.ptt.rect().center())
    qtbot.waitUntil(lambda: app.chat.has_reply(1) and len(app.chat.reply(1).chunks) > 1, timeout=5000)
    qtbot.keyPress(window, Qt.Key.Key_Space)
    assert app.vms.recording.is_recording

    closed: list[bool] = []
    window.closed.connect(lambda: closed.append(True))
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert not window.isVisible()  # gone at once for the user
    qtbot.waitUntil(lambda: closed == [True], timeout=10000)

    assert app.vms.closed and not app.vms.recording.is_recording and not app.vms.replies.is_busy
    assert model.backend.active == 0  # generation stopped
    assert app.chat.reply(1).status == ReplyStatus.INTERRUPTED
    assert not any(source.is_running for source in captures.made)  # audio stream closed
    left = [t.name for t in threading.enumerate() if t.name.startswith(("voxtral-", "QThread"))]
    assert left == []
