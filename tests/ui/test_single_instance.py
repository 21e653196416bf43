"""A second launch while the app runs: the running window comes forward and the second process exits, rather
than a second window on the same history database and microphone. Two real processes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from voxtral_desktop.testing.missing import missing
from voxtral_desktop.testing.small_disk import Unavailable, full_disk
from voxtral_desktop.ui.single_instance import SingleInstance

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


# --- a full temporary folder (the socket's home) ------------------------------------------------------------


# Instances made in this process stay referenced: freed by Python's GC (possibly on another thread) after
# serving a connection, PySide crashes the whole test run (the app keeps its one instance until it exits).
_KEPT: list[SingleInstance] = []


@pytest.fixture
def full_tmp(tmp_path, monkeypatch):
    """Qt's temporary folder (where the socket goes) on a disk with no room for one more file."""
    try:
        with full_disk(tmp_path / "disk", no_new_files=True) as disk:
            monkeypatch.setenv("TMPDIR", str(disk))
            yield disk
    except Unavailable as e:
        missing(f"a full disk cannot be staged: {e}")


def test_with_the_temporary_folder_full_a_second_launch_still_finds_the_first(
    qtbot, full_tmp, tmp_path, monkeypatch
):
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    name = f"voxtral-desktop-test-{os.getpid()}"
    first = SingleInstance(name)
    assert first.claim() is True
    try:
        second = SingleInstance(name)
        _KEPT.extend([first, second])
        with qtbot.waitSignal(first.activated, timeout=5000):
            assert second.claim() is False  # it would open a second window on the same history otherwise
    finally:
        first.close()


def test_with_nowhere_to_listen_the_app_still_runs_and_says_why_once(full_tmp, monkeypatch, caplog):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    first = SingleInstance(f"voxtral-desktop-test-{os.getpid()}")
    _KEPT.append(first)
    with caplog.at_level(logging.WARNING, logger="voxtral_desktop.ui.single_instance"):
        assert first.claim() is True  # one window is better than none
    first.close()
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1, said
    assert "second window" in said[0] and "No space left on device" in said[0] and str(full_tmp) in said[0]
