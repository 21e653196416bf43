"""The app around the window: start-up without a display, a fast start without torch, errors shown and logged,
and a clean quit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QApplication
from qasync import asyncSlot
from ui_helpers import Captures, scripted_model, speech_like

from voxtral_desktop import app as app_module
from voxtral_desktop.core import paths
from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.testing.missing import missing
from voxtral_desktop.testing.small_disk import Unavailable, fill, full_disk, tmpfs
from voxtral_desktop.ui.theme import apply_theme


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


@contextlib.contextmanager
def app_logging() -> Iterator[Path]:
    """The app's logging (stderr and the log file) for the block; the stderr it binds is the one current."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    app_module.setup_logging(to_file=True)
    try:
        yield app_module.log_file()
    finally:
        for handler in root.handlers:
            if handler not in saved[0]:
                handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


@pytest.fixture
def file_logging():
    with app_logging() as path:
        yield path


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


# --- a first start on a full disk: the window opens, the reply streams, and each loss is said once --------


@pytest.fixture(params=[False, True], ids=["full", "full-no-new-files"])
def full_home(request, tmp_path, monkeypatch):
    """VOXTRAL_DESKTOP_HOME on a disk with no byte left and nothing in it yet: a first start."""
    try:
        with full_disk(tmp_path / "disk", no_new_files=request.param) as disk:
            monkeypatch.setenv(paths.HOME_ENV, str(disk / "home"))
            yield disk / "home"
    except Unavailable as e:
        missing(f"a full disk cannot be staged: {e}")


def told_about_the_log(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "cannot write the log file" in line]


def test_on_a_full_disk_the_log_file_stops_with_one_line_not_a_traceback_per_line(capfd, full_home):
    with app_logging() as log_path:
        for n in range(3):
            logging.getLogger("voxtral_desktop.test").warning("warning number %d", n)
    err = capfd.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err
    told = told_about_the_log(err)
    assert len(told) == 1 and str(log_path) in told[0] and "No space left on device" in told[0], err
    assert all(f"warning number {n}" in err for n in range(3))  # the warnings themselves still reach stderr


def test_a_first_start_on_a_full_disk_streams_the_reply_under_the_not_saved_banner(
    qtbot, capfd, full_home, make_app
):
    with app_logging():
        first_start_on_a_full_disk(qtbot, make_app)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Logging error" not in err, err
    assert len(told_about_the_log(err)) == 1, err


def first_start_on_a_full_disk(qtbot, make_app) -> None:
    apply_theme(QApplication.instance())  # as the app starts: its cache is on the full disk too
    pieces = ["Hello ", "there, ", "how can ", "I help ", "you today?"]
    app = make_app(scripted_model(pieces, delay_s=0.05))
    seen: list[tuple[str, str]] = []  # each chunk, and the banner showing as it arrived

    def on_chunk(turn: int, text: str) -> None:
        banner = app.window.banner("error")
        seen.append((text, banner.title.text() if banner is not None and banner.isVisible() else ""))

    app.vms.replies.replyChunk.connect(on_chunk)
    app.vms.replies.sendText("hello?")
    qtbot.waitUntil(lambda: reply_ended(app, 1), timeout=10000)
    assert app.chat.reply(1).status == ReplyStatus.COMPLETE
    assert " ".join(text for text, _ in seen).split() == "".join(pieces).split()
    assert seen and all("not being saved" in banner for _, banner in seen), seen
    assert "full" in app.window.banner("error").text.text()
    app.window.close()  # shut down (and log it) while the log file is still the app's
    qtbot.waitUntil(lambda: app.vms.closed, timeout=20000)


def reply_ended(app, turn: int) -> bool:
    return app.chat.has_reply(turn) and app.chat.reply(turn).status != ReplyStatus.STREAMING


def test_a_start_on_a_disk_that_filled_after_the_history_streams_under_the_not_saved_banner(
    qtbot, tmp_path, monkeypatch, make_app
):
    """The history exists (one saved conversation), but there is no room left for anything new."""
    from voxtral_desktop.core.history import HistoryStore, default_path

    try:
        with tmpfs(tmp_path / "disk", 1 << 20) as disk:
            monkeypatch.setenv(paths.HOME_ENV, str(disk / "home"))
            with HistoryStore() as store:
                store.create_conversation("Trip planning", conversation_id="old")
            before = default_path().read_bytes()
            fill(disk)
            pieces = [w + " " for w in "one two three four five six seven eight nine".split()]
            app = make_app(scripted_model(pieces, delay_s=0.05))
            shown: list[str] = []
            app.vms.replies.trouble.connect(lambda key, title, text: shown.append(key))
            seen: list[str] = []  # the banner's title as each chunk arrived
            app.vms.replies.replyChunk.connect(
                lambda turn, text: seen.append(b.title.text() if (b := app.window.banner("history")) else "")
            )
            for turn, text in enumerate(("hello?", "still there?"), start=1):
                app.vms.replies.sendText(text)
                qtbot.waitUntil(lambda t=turn: reply_ended(app, t), timeout=10000)
                assert app.chat.reply(turn).status == ReplyStatus.COMPLETE
                assert app.chat.reply(turn).text.split() == "".join(pieces).split()
            assert seen and all(title == "This conversation could not be saved" for title in seen), seen
            assert "is full" in app.window.banner("history").text.text()
            assert shown == ["history"]  # said once, not with every reply
            app.window.close()
            qtbot.waitUntil(lambda: app.vms.closed, timeout=20000)
            assert default_path().read_bytes() == before  # what was saved before is untouched
    except Unavailable as e:
        missing(f"a full disk cannot be staged: {e}")
