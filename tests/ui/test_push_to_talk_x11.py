"""Holding Space through real X events (xdotool on Xvfb) while the CPU is busy: one recording, one reply.

X11 auto-repeats a held key as KeyRelease+KeyPress pairs; Qt marks a pair as a repeat only if the press is
already queued when it handles the release, which a loaded machine often prevents. The window runs in a child
process (this one is offscreen) on a private Xvfb; busy-loop processes keep every core loaded meanwhile."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from voxtral_desktop.testing.missing import missing

pytestmark = pytest.mark.slow

HOLD_S = 4.0  # a sentence or two
# A fast auto-repeat (after 250 ms, 50 a second): more repeats per hold, so more
# chances for a pair to arrive split. With Xvfb's default (660 ms, 25 Hz) and a 2.5 s hold the old code
# failed 16 of 19 runs here; with these settings and a 4 s hold, 9 of 10.
REPEAT = ["-ardelay", "250", "-arinterval", "20"]
CHILD = Path(__file__).with_name("x11_window.py")


@pytest.fixture
def x_display(tmp_path: Path) -> Iterator[str]:
    """A private Xvfb with a fast auto-repeat; its display name."""
    yield from _xvfb(tmp_path, *REPEAT)


@pytest.fixture
def x_display_no_repeat(tmp_path: Path) -> Iterator[str]:
    """A private Xvfb with auto-repeat off: only the presses and releases a test sends."""
    yield from _xvfb(tmp_path, "-r")


def _xvfb(tmp_path: Path, *options: str) -> Iterator[str]:
    """Xvfb picks a free display number itself and writes it to ``-displayfd`` once it accepts clients."""
    for tool, package in (("Xvfb", "xvfb"), ("xdotool", "xdotool")):
        if shutil.which(tool) is None:
            missing(f"{tool} is not installed (apt-get install {package})")
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1024x768x24", "-nolisten", "tcp", *options],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "xvfb.log").open("wb"),
    )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    try:
        if not number:
            pytest.fail(f"Xvfb did not start: {(tmp_path / 'xvfb.log').read_text()[-2000:]}")
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(10)


@pytest.fixture
def busy_cpu() -> Iterator[None]:
    """Two busy loops per core: the scheduler makes every thread wait its turn, as on a loaded machine."""
    count = min(2 * (os.cpu_count() or 2), 32)
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for proc in loops:
            proc.kill()
        for proc in loops:
            proc.wait(10)


# xdotool commands that press and let go: Space (auto-repeated by the server while held), or the talk button.
PRESS = {
    "space": ["keydown", "space"],
    "mouse": ["mousemove", "--window", "{wid}", "{x}", "{y}", "mousedown", "1"],
}
LET_GO = {"space": ["keyup", "space"], "mouse": ["mouseup", "1"]}


@pytest.mark.parametrize("held", ["space", "mouse"])
def test_holding_space_or_the_button_on_a_busy_machine_makes_one_recording_and_one_whole_reply(
    held, x_display, busy_cpu, tmp_path
):
    report = drive(x_display, tmp_path, [PRESS[held], HOLD_S, LET_GO[held]])

    assert_one_whole_turn(report, HOLD_S)


def test_a_press_that_comes_while_the_window_is_stalled_after_a_release_continues_the_recording(
    x_display_no_repeat, tmp_path
):
    # The window is stalled (busy for 0.4 s, past the release's grace) right after Space is let go, and Space
    # is pressed again 50 ms later, as a split auto-repeat pair or a quick re-press would: the press, queued
    # while the window was busy, must still count as within the grace. No busy CPU needed: it always fails
    # when a release ends the recording at once.
    half_s = HOLD_S / 2
    steps = [["keydown", "space"], half_s, ["keyup", "space", "sleep", "0.05", "keydown", "space"], half_s]
    report = drive(x_display_no_repeat, tmp_path, [*steps, ["keyup", "space"]], stall_ms=400)

    assert_one_whole_turn(report, HOLD_S)


def drive(display: str, tmp_path: Path, steps: list, *, stall_ms: int = 0) -> dict:
    """Start the window on ``display``, focus it, run ``steps`` (xdotool arguments, or seconds to wait) and
    return the window's report once its turns have settled."""
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "X11_WINDOW_STALL_MS": str(stall_ms)}
    window = subprocess.Popen(
        [sys.executable, str(CHILD)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "window.log").open("wb"),
        text=True,
    )
    try:
        ready = window.stdout.readline().split()  # type: ignore[union-attr]
        assert ready[:1] == ["ready"], f"{ready}: {(tmp_path / 'window.log').read_text()[-3000:]}"
        where = dict(zip(("wid", "x", "y"), ready[1:]))
        subprocess.run(["xdotool", "windowfocus", where["wid"]], env=env, check=True, timeout=30)
        time.sleep(0.5)
        for step in steps:
            if isinstance(step, float):
                time.sleep(step)
            else:
                xdotool = [arg.format(**where) for arg in step]
                subprocess.run(["xdotool", *xdotool], env=env, check=True, timeout=30)
        out, _ = window.communicate("report\n", timeout=120)
    finally:
        if window.poll() is None:
            window.kill()
            window.wait(10)
    return json.loads(out.strip().splitlines()[-1])


def assert_one_whole_turn(report: dict, held_s: float) -> None:
    """One recording of about the time held, answered by one reply streamed in full."""
    assert report["settled"], report
    assert report["recordings_started"] == 1, report
    (recorded_s,) = report["user_turns_s"]
    assert held_s - 0.5 <= recorded_s <= held_s + 1.0, report
    (reply,) = report["replies"]
    assert reply["status"] == "COMPLETE", report
    assert reply["text"] == report["expected_reply"]
    assert not any("Too short" in hint for hint in report["hints"]), report
