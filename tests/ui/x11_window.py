"""The window on a real X display, for test_push_to_talk_x11.py: prints ``ready <window id> <button x> <y>``,
waits for a line on stdin, then for the turns to settle, and prints what the user saw as one JSON line."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time

import numpy as np
import qasync
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication

from voxtral_desktop.app import prepare_qt
from voxtral_desktop.core.config import load_config
from voxtral_desktop.core.model import VoxtralModel
from voxtral_desktop.testing.fakes import ScriptedBackend, word_pieces
from voxtral_desktop.testing.wav_capture import WavFileCapture
from voxtral_desktop.ui.main_window import MainWindow
from voxtral_desktop.ui.theme import apply_theme
from voxtral_desktop.ui.view_models import ViewModels

# Streamed slowly (~1.5 s in all), so a press read as a new turn while it streams would interrupt it.
REPLY = "I heard you clearly, and here is a reply that takes a little while to stream in full."
SPEECH_S = 6.0  # longer than any hold: the "microphone" never runs dry


def speech_like(seconds: float, rate: int = 16000) -> np.ndarray:
    """A loud warbling tone: passes the speech detector."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


async def wait_for(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def run() -> int:
    loop = asyncio.get_running_loop()
    backend = ScriptedBackend(pieces=word_pieces(REPLY), delay_s=0.08)
    config = load_config(overrides={"speech": {"enabled": False}})
    model = VoxtralModel(config, backend=backend)
    audio = speech_like(SPEECH_S)
    vms = ViewModels(
        model=model,
        capture_factory=lambda device: WavFileCapture(audio, 16000),
        device_lister=lambda refresh=False: [],
    )
    window = MainWindow(vms)
    said: list[str] = []  # hints next to the button ("Too short ..."), in order
    recordings: list[bool] = []
    vms.recording.hint.connect(said.append)
    vms.replies.hint.connect(said.append)
    vms.recording.recordingChanged.connect(recordings.append)
    window.show()
    vms.start()
    if not await wait_for(lambda: vms.model.status.ready and vms.recording.mic.available, 30):
        print("not ready", flush=True)
        return 1
    window.activateWindow()
    go = asyncio.Event()
    def wait_for_stdin() -> None:
        sys.stdin.readline()
        loop.call_soon_threadsafe(go.set)

    threading.Thread(target=wait_for_stdin, daemon=True).start()
    button = window.ptt.mapTo(window, window.ptt.rect().center())
    print(f"ready {int(window.winId())} {button.x()} {button.y()}", flush=True)
    await go.wait()
    settled = await wait_for(lambda: not vms.recording.is_recording and not vms.replies.is_busy, 30)
    chat = window.chat
    report = {
        "settled": settled,
        "recordings_started": recordings.count(True),
        "user_turns_s": [turn.duration_s for turn in chat.user_turns()],
        "replies": [
            {"status": r.status.name, "text": r.text, "meta": r.meta.text()} for r in chat.replies()
        ],
        "hints": said,
        "expected_reply": REPLY,
    }
    print(json.dumps(report), flush=True)
    window.close()
    await wait_for(lambda: vms.closed, 20)
    return 0


class StallAfterRelease(QObject):
    """Keeps the event loop busy for ``ms`` right after the first real release of Space has been handled."""

    def __init__(self, ms: int) -> None:
        super().__init__()
        self.ms = ms

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if (
            self.ms
            and event.type() == QEvent.Type.KeyRelease
            and event.key() == Qt.Key.Key_Space  # type: ignore[attr-defined]
            and not event.isAutoRepeat()  # type: ignore[attr-defined]
        ):
            QTimer.singleShot(0, lambda: time.sleep(self.ms / 1000))  # after the window has handled it
            self.ms = 0
        return False


def main() -> int:
    prepare_qt()
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    apply_theme(app)
    stall = StallAfterRelease(int(os.environ.get("X11_WINDOW_STALL_MS", "0")))
    app.installEventFilter(stall)
    return int(qasync.run(run()))


if __name__ == "__main__":
    sys.exit(main())
