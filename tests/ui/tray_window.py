"""The window with its tray icon on a real X display, for test_tray.py (the tray needs Qt's xcb platform: it is
a StatusNotifierItem on the session bus when a watcher is there). Prints ``ready``, then takes commands on
stdin: ``press`` / ``release`` (the talk path), ``close`` (the window's close button), ``menu PATH`` (a
screenshot of the tray's menu), ``report`` (one JSON line: what the user sees)."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time

import numpy as np
import qasync
from PySide6.QtWidgets import QApplication

from voxtral_desktop.app import prepare_qt
from voxtral_desktop.core.config import load_config
from voxtral_desktop.core.model import VoxtralModel
from voxtral_desktop.testing.fakes import ScriptedBackend, word_pieces
from voxtral_desktop.testing.wav_capture import WavFileCapture
from voxtral_desktop.ui.desktop import Desktop
from voxtral_desktop.ui.main_window import MainWindow
from voxtral_desktop.ui.theme import apply_theme
from voxtral_desktop.ui.view_models import ViewModels

REPLY = "A reply streamed slowly enough to see the icon think."


async def wait_for(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def run() -> int:
    loop = asyncio.get_running_loop()
    config = load_config(overrides={"speech": {"enabled": False}, "desktop": {"hide_to_tray": True}})
    model = VoxtralModel(config, backend=ScriptedBackend(pieces=word_pieces(REPLY), delay_s=0.1))
    silence = np.zeros(16000 * 30, dtype=np.float32)  # hands-free keeps listening: nobody speaks
    vms = ViewModels(
        model=model,
        capture_factory=lambda device: WavFileCapture(silence, 16000),
        device_lister=lambda refresh=False: [],
    )
    window = MainWindow(vms)
    desktop = Desktop(window, vms)
    window.show()
    vms.start()
    desktop.start()
    if not await wait_for(lambda: vms.model.status.ready and vms.recording.mic.available, 30):
        print("not ready", flush=True)
        return 1
    lines: asyncio.Queue[str] = asyncio.Queue()
    threading.Thread(
        target=lambda: [loop.call_soon_threadsafe(lines.put_nowait, line) for line in sys.stdin], daemon=True
    ).start()
    print("ready", flush=True)
    while not vms.closed:
        try:
            line = await asyncio.wait_for(lines.get(), 0.2)
        except TimeoutError:
            continue
        verb, _, arg = line.strip().partition(" ")
        if verb == "press":
            vms.talk_pressed()
        elif verb == "release":
            vms.talk_released()
        elif verb == "close":
            window.close()
        elif verb == "menu":
            menu = desktop.tray.menu  # type: ignore[union-attr]
            menu.popup(window.geometry().center())
            await asyncio.sleep(0.3)
            menu.grab().save(arg)
            menu.hide()
        elif verb == "report":
            print(
                json.dumps(
                    {
                        "visible": window.isVisible(),
                        "tray": desktop.tray is not None,
                        "state": desktop.tray.state.value if desktop.tray else None,
                        "hands_free": vms.listening.hands_free,
                        "closed": vms.closed,
                    }
                ),
                flush=True,
            )
    await desktop.close()
    print(json.dumps({"quit": True, "closed": vms.closed}), flush=True)
    return 0


def main() -> int:
    prepare_qt()
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    apply_theme(app)
    return int(qasync.run(run()))


if __name__ == "__main__":
    sys.exit(main())
