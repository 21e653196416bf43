"""Composes the desktop app: logging, exception hook, settings, model, window, and the qasync loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.handlers
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from voxtral_desktop.core import paths

if TYPE_CHECKING:
    from voxtral_desktop.core.config import Config

_STARTED = time.perf_counter()  # close to process start: this module is imported right after argparse

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_file() -> Path:
    return paths.user_log_dir() / "voxtral-desktop.log"


def _say_no_log_file(path: Path, e: OSError) -> None:
    print(
        f"voxtral-desktop: warning: cannot write the log file {path} ({e.strerror or e}); "
        "warnings and errors go to stderr only",
        file=sys.stderr,
        flush=True,
    )


class LogFile(logging.handlers.RotatingFileHandler):
    """The rotating log file. When it cannot be written (a full disk, a read-only folder) it says so once on
    stderr and stops, instead of logging's default: a traceback on stderr for every line logged."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        self.failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.failed:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):  # a bad format string is a bug: logging's own report shows it
            super().handleError(record)
            return
        self.failed = True
        with contextlib.suppress(OSError):  # closing flushes what is buffered, into the same full disk
            self.close()
        _say_no_log_file(Path(self.baseFilename), error)


def setup_logging(*, verbose: bool = False, to_file: bool = False) -> None:
    """Logs go to stderr (stdout belongs to `respond`'s JSON lines) and, for the GUI, to a rotating file."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.DEBUG if verbose else logging.WARNING)
    stderr.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(stderr)
    if to_file:
        path = log_file()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = LogFile(path)
        except OSError as e:  # the app runs without its log file rather than not at all
            _say_no_log_file(path, e)
        else:
            handler.setFormatter(logging.Formatter(LOG_FORMAT))
            root.addHandler(handler)
    # Third-party chatter at INFO buries our own lines.
    for noisy in ("httpx", "urllib3", "filelock", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# Set to 1 to print "window-shown <seconds>" once the window has painted, then quit (launch benchmarks).
EXIT_AFTER_SHOWN_ENV = "VOXTRAL_DESKTOP_EXIT_AFTER_SHOWN"
EXIT_OK, EXIT_NO_DISPLAY, EXIT_USAGE = 0, 1, 2
NO_DISPLAY_MESSAGE = (
    "voxtral-desktop: error: no display to open a window on (neither DISPLAY nor WAYLAND_DISPLAY is set). "
    "Run it inside a desktop session, set QT_QPA_PLATFORM=offscreen for a headless run, or use "
    "`voxtral-desktop respond AUDIO_FILE` without a window."
)


def has_display() -> bool:
    """Qt aborts the whole process when it finds no display; check first so users get a sentence instead."""
    if sys.platform in ("win32", "darwin"):
        return True
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


class ExceptionReporter:
    """Sends uncaught exceptions (main thread, async slots, other threads, asyncio callbacks) to the log
    file and to ``show(title, detail)``, so none is lost. ``show`` may be called from any thread."""

    def __init__(self, show: Callable[[str, str], None]) -> None:
        self.show = show
        self._saved: tuple[Any, Any] | None = None

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._saved = (sys.excepthook, threading.excepthook)
        sys.excepthook = self.excepthook
        threading.excepthook = self.thread_excepthook
        if loop is not None:
            loop.set_exception_handler(self.loop_exception_handler)

    def uninstall(self) -> None:
        if self._saved is not None:
            sys.excepthook, threading.excepthook = self._saved
            self._saved = None

    def excepthook(self, etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(etype, KeyboardInterrupt):
            sys.__excepthook__(etype, value, tb)
            return
        log.critical("uncaught exception", exc_info=(etype, value, tb))
        self._show(value)

    def thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        log.critical("uncaught exception in thread %s", name, exc_info=args.exc_value or True)
        if args.exc_value is not None:
            self._show(args.exc_value)

    def loop_exception_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        log.critical("asyncio: %s", context.get("message", "unhandled error"), exc_info=exc)
        if isinstance(exc, BaseException):
            self._show(exc)

    def _show(self, exc: BaseException) -> None:
        try:
            self.show("Something went wrong", f"{type(exc).__name__}: {exc}  (details in {log_file()})")
        except Exception:  # reporting must never raise out of an excepthook
            log.exception("could not show an uncaught exception")


# The generation thread runs Python between torch calls; with the default 5 ms switch interval the UI
# thread waited up to ~25 ms for the GIL while a reply streamed, at 1 ms it waits ~15 ms (benchmarks/ui.py).
UI_SWITCH_INTERVAL_S = 0.001


def tune_for_ui() -> None:
    """Let the UI thread take the GIL back quickly from worker threads (model load, generation)."""
    sys.setswitchinterval(UI_SWITCH_INTERVAL_S)


def prepare_qt() -> None:
    """Work around the known bugs of the PySide6 build at hand; call before the first window."""
    from voxtral_desktop.ui._pyside_fixes import guard_singletons_against_refcount_bug

    guard_singletons_against_refcount_bug()


def run_gui(
    model: str | None = None, config: Path | None = None, *, hands_free: bool = False, hidden: bool = False
) -> int:
    """Open the window (it appears at once; the model loads behind it) and run until it is closed.
    ``hidden``: start in the tray, the window not shown (the autostart entry's way; shown when there is no tray)."""
    if not has_display():
        print(NO_DISPLAY_MESSAGE, file=sys.stderr)
        return EXIT_NO_DISPLAY
    import qasync
    from PySide6.QtWidgets import QApplication

    tune_for_ui()
    prepare_qt()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("voxtral-desktop")
    app.setApplicationDisplayName("Voxtral")
    from voxtral_desktop.ui.single_instance import SingleInstance

    instance = SingleInstance()
    if not instance.claim():
        print("voxtral-desktop is already running: its window was brought forward.", file=sys.stderr)
        return EXIT_OK
    overrides: dict[str, dict[str, str]] = {"model": {"id": model}} if model else {}
    if hands_free:
        overrides["listening"] = {"mode": "hands_free"}
    cfg = settings_or_ask(config, overrides or None)
    if cfg is None:
        return EXIT_USAGE
    # We quit ourselves, after a clean shutdown; Qt quitting on the last window would stop the loop early.
    app.setQuitOnLastWindowClosed(False)
    exit_after_shown = os.environ.get(EXIT_AFTER_SHOWN_ENV, "") not in ("", "0")
    try:
        return int(qasync.run(_main(cfg, exit_after_shown=exit_after_shown, instance=instance, hidden=hidden)))
    finally:
        instance.close()


def settings_or_ask(config: Path | None, overrides: dict[str, Any] | None) -> Config | None:
    """The settings, or, when they cannot be used, a dialog that says why and offers to reset the user's file
    (keeping a copy) or quit: started from a desktop menu, nobody would see a message on stderr."""
    from voxtral_desktop.core.config import ConfigError, load_config, set_aside
    from voxtral_desktop.ui.config_repair import ask_to_reset

    try:
        return load_config(config, overrides)
    except ConfigError as e:
        problem = e
    print(f"voxtral-desktop: error: {problem}", file=sys.stderr)
    log.error("settings unusable: %s", problem)
    user_file = paths.user_config_file()
    try:  # is the user's own file at fault (not --config's, nor a command-line value)?
        load_config(None, None)
        resettable = None
    except ConfigError:
        resettable = user_file if user_file.exists() else None
    if not ask_to_reset(str(problem), resettable) or resettable is None:
        return None
    kept = set_aside(resettable)
    log.warning("settings reset; the old file is kept as %s", kept)
    try:
        return load_config(config, overrides)
    except ConfigError as e:
        print(f"voxtral-desktop: error: {e}", file=sys.stderr)
        return None


async def _main(cfg: Config, *, exit_after_shown: bool = False, instance: Any = None, hidden: bool = False) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from voxtral_desktop.ui.desktop import Desktop
    from voxtral_desktop.ui.main_window import MainWindow
    from voxtral_desktop.ui.theme import apply_theme
    from voxtral_desktop.ui.view_models import ViewModels

    loop = asyncio.get_running_loop()
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    apply_theme(app)
    vms = ViewModels(cfg)
    window = MainWindow(vms)
    desktop = Desktop(window, vms)  # global shortcuts, tray icon, notifications, autostart
    reporter = ExceptionReporter(vms.errorOccurred.emit)
    reporter.install(loop)
    done: asyncio.Future[int] = loop.create_future()

    def finish() -> None:
        if not done.done():
            done.set_result(EXIT_OK)

    window.closed.connect(finish)
    if instance is not None:
        instance.activated.connect(window.bring_forward)  # the user launched the app again
    app.aboutToQuit.connect(window.quit)  # e.g. the desktop session ends
    # Python runs signal handlers only between bytecodes: a slow heartbeat lets Ctrl+C in the terminal in.
    previous_sigint = signal.signal(signal.SIGINT, lambda *_: window.quit())
    heartbeat = QTimer()
    heartbeat.start(250)
    heartbeat.timeout.connect(lambda: None)
    if exit_after_shown:
        def shown() -> None:
            print(f"window-shown {time.perf_counter() - _STARTED:.3f}", flush=True)
            window.close()

        window.first_painted.connect(shown)
    else:
        window.first_painted.connect(vms.start)  # load behind the visible window
        QTimer.singleShot(1000, vms.start)  # a window that starts minimized (or hidden) is never painted
        desktop.start()
    if not (hidden and desktop.tray is not None):
        window.show()
    try:
        return await done
    finally:
        await desktop.close()
        heartbeat.stop()
        signal.signal(signal.SIGINT, previous_sigint)
        reporter.uninstall()

