"""End to end through a real microphone path: espeak-ng speech played into a PulseAudio virtual microphone,
recorded by sounddevice in the app, answered by the trained tiny Voxtral in the chat view."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from ui_helpers import wait_reply_done

from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.portaudio import SoundDeviceCapture, list_input_devices
from voxtral_desktop.testing.speech import UTTERANCES, write_wav

pytestmark = [pytest.mark.pulseaudio, pytest.mark.integration]

SINK, SOURCE = "vmic_sink", "vmic"


def _skip(reason: str) -> None:
    print(f"\nskipping the PulseAudio test: {reason}")
    pytest.skip(reason)


def _stop(pid: int, timeout_s: float = 5.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def virtual_microphone(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict]:
    """A private PulseAudio daemon with a null sink whose monitor is the default source."""
    missing = [tool for tool in ("pulseaudio", "pactl", "pacat", "paplay") if shutil.which(tool) is None]
    if missing:
        _skip(f"{', '.join(missing)} not installed (apt-get install pulseaudio pulseaudio-utils)")
    root = tmp_path_factory.mktemp("pulse")
    runtime = root / "run"
    runtime.mkdir(mode=0o700)
    env = {
        "HOME": str(root),  # pulse (and sounddevice's import) write config here, never in the real home
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_CONFIG_HOME": str(root / "config"),
        "PULSE_SERVER": f"unix:{runtime}/pulse/native",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    run_env = {**os.environ, **env}
    started = subprocess.run(
        ["pulseaudio", "-D", "--exit-idle-time=-1", "--disallow-exit", "--log-target=stderr"],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    pid_file = runtime / "pulse" / "pid"
    deadline = time.monotonic() + 10
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if started.returncode != 0 or not pid_file.exists():
        _skip(f"pulseaudio could not start (exit {started.returncode}): {started.stderr.strip()[-500:]}")
    pulse_pid = int(pid_file.read_text().split()[0])
    silence: subprocess.Popen | None = None
    try:

        def pactl(*args: str) -> None:
            subprocess.run(["pactl", *args], env=run_env, check=True, capture_output=True, timeout=30)

        pactl("load-module", "module-null-sink", f"sink_name={SINK}", "rate=16000", "channels=1")
        pactl("load-module", "module-remap-source", f"master={SINK}.monitor", f"source_name={SOURCE}")
        pactl("set-default-source", SOURCE)
        # An idle null sink starts capture late and clips the first words: keep silence flowing into it.
        silence = subprocess.Popen(
            [
                "pacat",
                "-p",
                "-d",
                SINK,
                "--latency-msec=20",
                "--rate=16000",
                "--channels=1",
                "--format=s16le",
                "/dev/zero",
            ],
            env=run_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # PortAudio lists devices once: if sounddevice was imported before pulse started, look again.
        devices = list_input_devices(refresh=True)
        if not devices:
            _skip("PortAudio sees no input device through PulseAudio (is libasound2-plugins installed?)")
        yield {"env": run_env, "root": root, "devices": devices}
    finally:
        if silence is not None:
            silence.terminate()
            silence.wait(10)
        _stop(pulse_pid)


def test_spoken_utterance_through_a_virtual_microphone_gets_its_reply(
    qtbot, virtual_microphone, make_app, tiny_model, utterance_audio
):
    utterance = next(u for u in UTTERANCES if u.key == "a")
    wav = write_wav(Path(virtual_microphone["root"]) / "a.wav", utterance_audio["a"])
    app = make_app(tiny_model, SoundDeviceCapture)
    window = app.window
    center = window.ptt.rect().center()

    qtbot.mousePress(window.ptt, Qt.MouseButton.LeftButton, pos=center)
    qtbot.waitUntil(lambda: app.vms.recording.is_recording, timeout=3000)
    qtbot.wait(300)
    player = subprocess.Popen(["paplay", "-d", SINK, str(wav)], env=virtual_microphone["env"])
    qtbot.waitUntil(lambda: player.poll() is not None, timeout=30000)
    assert player.returncode == 0
    qtbot.wait(400)
    qtbot.mouseRelease(window.ptt, Qt.MouseButton.LeftButton, pos=center)

    reply = wait_reply_done(qtbot, app, 1, timeout_ms=60000)
    assert reply.status == ReplyStatus.COMPLETE, (
        reply.error_bubble and reply.error_bubble.findChildren(type(reply.label))[-1].text()
    )
    assert reply.text == utterance.reply
    assert len(reply.chunks) >= 2
    recorded_s = app.chat.user_turns()[0].duration_s
    assert recorded_s >= len(utterance_audio["a"]) / 16000
