"""`respond` exits with its documented status while a forward pass is still running: no abort, no traceback.

Before: after a timeout the process printed "terminate called without an active exception" and died by
SIGABRT, because the generation thread was still inside torch when the interpreter exited.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf

from voxtral_desktop.core import chunks as C
from voxtral_desktop.core.backends.local import CLOSE_WAIT_S
from voxtral_desktop.testing.speech import UTTERANCES

pytestmark = pytest.mark.integration

LAYER_S = 4.0  # each layer of the tiny model takes this long: a forward pass outlives any exit below
HANG_GUARD_S = 240  # only turns a hang into a failure


@pytest.fixture
def question(tmp_path, utterance_audio) -> Path:
    path = tmp_path / "question.wav"
    sf.write(path, utterance_audio[UTTERANCES[0].key], 16000)
    return path


def slow_cli(
    home: Path, model: Path, timeout_ms: int, *args: str, layer_s: float = LAYER_S
) -> subprocess.Popen[str]:
    settings = home / "run.yaml"
    settings.write_text(f"streaming:\n  timeout_ms: {timeout_ms}\n")
    env = {**os.environ, "VOXTRAL_DESKTOP_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "voxtral_desktop.testing.slow_layers", str(layer_s), "--"]
    cmd += ["--model", str(model), "--config", str(settings), "respond", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def assert_no_abort(code: int, stderr: str) -> None:
    assert code >= 0, f"killed by signal {-code}:\n{stderr[-2000:]}"
    assert "terminate called" not in stderr and "Aborted" not in stderr, stderr[-2000:]
    assert "Traceback" not in stderr, stderr[-2000:]


def chunks_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_a_timeout_during_a_slow_forward_exits_1_cleanly(tiny_model_dir, question, isolated_home):
    # A layer that runs longer than the stall timeout looks stalled: the timeout chunk, then exit 1 while
    # that layer is still computing.
    proc = slow_cli(isolated_home, tiny_model_dir, 1500, str(question))
    out, err = proc.communicate(timeout=HANG_GUARD_S)
    assert_no_abort(proc.returncode, err)
    got = chunks_of(out)
    assert got and got[-1]["is_final"] and got[-1]["text"] == C.TIMEOUT_TEXT, (out, err[-2000:])
    assert proc.returncode == 1


def test_a_step_that_outlasts_the_wait_for_it_still_exits_1_cleanly(tiny_model_dir, question, isolated_home):
    # A layer longer than close()'s wait (a hung kernel, as far as anyone can tell): the process leaves it
    # behind with os._exit, after flushing, rather than abort under it.
    long_layer = CLOSE_WAIT_S + 30.0
    started = time.monotonic()
    proc = slow_cli(isolated_home, tiny_model_dir, 1500, str(question), layer_s=long_layer)
    out, err = proc.communicate(timeout=HANG_GUARD_S)
    assert_no_abort(proc.returncode, err)
    assert proc.returncode == 1
    assert chunks_of(out)[-1]["text"] == C.TIMEOUT_TEXT  # flushed before leaving
    assert "still running" in err
    assert time.monotonic() - started < long_layer  # it did not wait for the layer


def test_ctrl_c_during_a_slow_forward_ends_the_reply_and_exits_130(tiny_model_dir, question, isolated_home):
    proc = slow_cli(isolated_home, tiny_model_dir, 600_000, str(question))
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:  # the CLI says what the model is doing a second into the first (4 s) layer
        seen.append(line)
        if "voxtral-desktop: listening to your" in line:
            break
    assert "voxtral-desktop: listening to your 2 s question..." in seen[-1], "".join(seen)[-2000:]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=HANG_GUARD_S)
    err = "".join(seen) + err
    assert_no_abort(proc.returncode, err)
    assert proc.returncode == 130, err[-2000:]
    got = chunks_of(out)
    assert got and C.is_cancelled(got[-1]), out  # the JSON lines still end with a final chunk
