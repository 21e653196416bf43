"""A second launch while the app runs: the running window comes forward and the second process exits, rather
than a second window on the same history database and microphone. Two real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

LISTENING = "listening for other launches"
FORWARD = "bringing it forward"


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "VOXTRAL_DESKTOP_EXIT_AFTER_SHOWN"}
    return {**env, "QT_QPA_PLATFORM": "offscreen", "VOXTRAL_DESKTOP_HOME": str(home), **extra}


def _launch(home: Path, **extra: str) -> subprocess.Popen[str]:
    # A model folder that is not there: the window opens (with its load error) and nothing heavy loads.
    return subprocess.Popen(
        [sys.executable, "-m", "voxtral_desktop", "--model", str(home / "no-model")],
        env=_env(home, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _log(home: Path) -> str:
    path = home / "log" / "voxtral-desktop.log"
    return path.read_text(errors="replace") if path.exists() else ""


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the app exited ({proc.returncode}) before {what}: {proc.stderr.read()[-2000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # closes the window cleanly
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_second_launch_brings_the_running_window_forward_and_exits(tmp_path):
    first = _launch(tmp_path)
    try:
        _wait_for(lambda: LISTENING in _log(tmp_path), 120, "the first window", first)
        second = subprocess.run(
            [sys.executable, "-m", "voxtral_desktop", "--model", str(tmp_path / "no-model")],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 0, second.stderr[-2000:]
        assert "already running" in second.stderr
        _wait_for(lambda: FORWARD in _log(tmp_path), 30, "the first window to come forward", first)
        assert _log(tmp_path).count(LISTENING) == 1  # the second never opened a window of its own
        assert first.poll() is None  # and the first runs on
    finally:
        _stop(first)


def test_a_crashed_instance_does_not_stop_the_next_launch(tmp_path):
    crashed = _launch(tmp_path)
    _wait_for(lambda: LISTENING in _log(tmp_path), 120, "the first window", crashed)
    crashed.kill()  # SIGKILL: its socket is left behind
    crashed.wait()
    shown = subprocess.run(
        [sys.executable, "-m", "voxtral_desktop", "--model", str(tmp_path / "no-model")],
        env=_env(tmp_path, VOXTRAL_DESKTOP_EXIT_AFTER_SHOWN="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "window-shown" in shown.stdout and "already running" not in shown.stderr


def test_another_settings_folder_is_another_app(tmp_path):
    first = _launch(tmp_path / "a")
    try:
        _wait_for(lambda: LISTENING in _log(tmp_path / "a"), 120, "the first window", first)
        other = subprocess.run(
            [sys.executable, "-m", "voxtral_desktop", "--model", str(tmp_path / "no-model")],
            env=_env(tmp_path / "b", VOXTRAL_DESKTOP_EXIT_AFTER_SHOWN="1"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert other.returncode == 0 and "window-shown" in other.stdout, other.stderr[-2000:]
    finally:
        _stop(first)
