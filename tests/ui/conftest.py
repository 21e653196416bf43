"""UI test setup: a qasync loop under pytest-qt, the window built around a chosen model and capture source."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import qasync
from ui_helpers import App, Captures, SharedBackend, speech_like, tiny_config

from voxtral_desktop.core.backends.base import Backend
from voxtral_desktop.core.capture import InputDevice
from voxtral_desktop.core.config import Config, default_config
from voxtral_desktop.core.model import VoxtralModel
from voxtral_desktop.ui.bridge import READY, Bridge
from voxtral_desktop.ui.main_window import MainWindow
from voxtral_desktop.ui.theme import apply_theme

_RETIRED_LOOPS: list[asyncio.AbstractEventLoop] = []


@pytest.fixture(autouse=True)
def qasync_loop(qapp) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop that counts as running, so @asyncSlot work runs whenever qtbot spins Qt's loop.

    Tests here are plain (sync) functions: an async test would run inside a task, and qtbot.wait()'s
    nested Qt loop would then try to step other tasks inside it, which asyncio forbids.
    """
    apply_theme(qapp)
    loop = qasync.QEventLoop(qapp, already_running=True)
    asyncio.set_event_loop(loop)
    yield loop
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    deadline = time.monotonic() + 5
    while any(not t.done() for t in pending) and time.monotonic() < deadline:
        qapp.processEvents()
        time.sleep(0.005)
    try:
        qapp.aboutToQuit.disconnect(loop._after_run_forever)
    except (RuntimeError, TypeError):
        pass
    # The loop's timer QObject may still hold Qt timers (handles of cancelled callbacks). If Python's GC
    # later frees it on another thread, Qt cannot unregister them and fires one at freed memory:
    # kill them here, on the GUI thread, and keep the object alive for the rest of the session.
    timer = loop._timer
    for timer_id in list(getattr(timer, "_SimpleTimer__callbacks", {})):
        timer.killTimer(timer_id)
    getattr(timer, "_SimpleTimer__callbacks", {}).clear()
    _RETIRED_LOOPS.append(loop)
    # loop.stop() would call QApplication.exit(), whose quit flag then breaks the next test's waits.
    loop._QEventLoop__is_running = False  # type: ignore[attr-defined]
    asyncio.events._set_running_loop(None)
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture(scope="session")
def tiny_backend(tiny_model_dir) -> Backend:
    from voxtral_desktop.core.backends.local import LocalBackend

    # Session fixtures run before the per-test home folder is set: read no user file here.
    cfg = default_config()
    cfg.update({"model": {"id": str(tiny_model_dir)}})
    backend = LocalBackend(cfg)
    backend.load()
    return backend


@pytest.fixture
def tiny_model(tiny_model_dir, tiny_backend) -> VoxtralModel:
    """The trained tiny Voxtral (real transformers path), with fresh settings per test."""
    return VoxtralModel(tiny_config(tiny_model_dir), backend=SharedBackend(tiny_backend))


@pytest.fixture
def make_app(qtbot, qasync_loop) -> Iterator[Callable[..., App]]:
    """Build the window around a model and a capture factory, shown, model loaded, microphone probed."""
    made: list[App] = []

    def make(
        model: VoxtralModel | None = None,
        capture: Any = None,
        *,
        config: Config | None = None,
        wait_ready: bool = True,
        device_lister: Callable[..., list[InputDevice]] | None = None,
        model_factory: Callable[[Config], VoxtralModel] | None = None,
    ) -> App:
        capture = capture if capture is not None else Captures(speech_like())
        kw: dict[str, Any] = {"capture_factory": capture}
        # Never the real PortAudio here unless a test asks: the machine's devices must not matter.
        kw["device_lister"] = device_lister or (lambda refresh=False: [])
        if model_factory is not None:
            kw["model_factory"] = model_factory
        if model is not None:
            kw["model"] = model
        bridge = Bridge(config, **kw)
        window = MainWindow(bridge)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        app = App(window, bridge, capture)
        made.append(app)
        bridge.start()
        if wait_ready:
            qtbot.waitUntil(lambda: bridge.model_state == READY and bridge.mic_available, timeout=20000)
        return app

    yield make
    for app in made:
        if not app.bridge._closed:
            app.window.close()
            qtbot.waitUntil(lambda a=app: a.bridge._closed, timeout=20000)
