"""UI test setup: a qasync loop under pytest-qt, the window built around a chosen model and capture source."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import qasync
from ui_helpers import App, Captures, SharedBackend, speech_like, tiny_config

from voxtral_desktop.app import prepare_qt
from voxtral_desktop.core.backends.base import Backend
from voxtral_desktop.core.config import Config, default_config
from voxtral_desktop.core.model import VoxtralModel
from voxtral_desktop.core.portaudio import InputDevice
from voxtral_desktop.ui.main_window import MainWindow
from voxtral_desktop.ui.view_models.speaker import Speaker
from voxtral_desktop.ui.theme import apply_theme
from voxtral_desktop.ui.view_models import ViewModels

# Closed loops stay referenced: their timer QObject must never be freed by Python's GC on another thread.
_RETIRED_LOOPS: list[asyncio.AbstractEventLoop] = []


@pytest.fixture(autouse=True)
def qasync_loop(qapp) -> Iterator[asyncio.AbstractEventLoop]:
    """A qasync loop that counts as running, so @asyncSlot work runs whenever qtbot spins Qt's loop.

    Tests here are plain (sync) functions: an async test would run inside a task, and qtbot.wait()'s
    nested Qt loop would then try to step other tasks inside it, which asyncio forbids.
    """
    prepare_qt()
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
    # Leave "already running" the public way: stop() marks the loop stopped (and asks Qt to quit), then
    # one short run_forever() (it stops itself) spins Qt's loop once, which clears Qt's quit request and
    # asyncio's running loop, so the next test, or an asyncio test elsewhere, starts clean.
    loop.stop()
    loop.call_soon(loop.stop)
    loop.run_forever()
    loop.close()
    _RETIRED_LOOPS.append(loop)
    asyncio.set_event_loop(None)


@pytest.fixture(scope="session")
def tiny_backend(tiny_model_dir) -> Backend:
    # Session fixtures run before the per-test home folder is set: read no user file here.
    cfg = default_config()
    cfg.update({"model": {"id": str(tiny_model_dir)}})
    model = VoxtralModel.from_config(cfg)
    model.initialize()
    return model.backend


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
        speaker: Speaker | None = None,
    ) -> App:
        capture = capture if capture is not None else Captures(speech_like())
        kw: dict[str, Any] = {"capture_factory": capture}
        # Never the real PortAudio here unless a test asks: the machine's devices must not matter.
        kw["device_lister"] = device_lister or (lambda refresh=False: [])
        if model_factory is not None:
            kw["model_factory"] = model_factory
        if model is not None:
            kw["model"] = model
        if speaker is not None:
            kw["speaker"] = speaker
        vms = ViewModels(config, **kw)
        window = MainWindow(vms)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        app = App(window, vms, capture)
        made.append(app)
        vms.start()
        if wait_ready:
            qtbot.waitUntil(lambda: vms.model.status.ready and vms.recording.mic.available, timeout=20000)
        return app

    yield make
    for app in made:
        if not app.vms.closed:
            app.window.close()
            qtbot.waitUntil(lambda a=app: a.vms.closed, timeout=20000)


@pytest.fixture
def make_desktop(qtbot) -> Iterator[Callable[..., Any]]:
    """The desktop integration (ui/desktop.py: global shortcuts, tray, notifications) around a test window."""
    from desktop_helpers import desktops

    yield from desktops(qtbot)
