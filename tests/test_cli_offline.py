"""The command line on a machine whose hub cannot be reached: `respond` and `say` say so in one paragraph on
stderr, in a person's words (the library's only with -v), and exit 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voxtral_desktop.testing.offline_hub import unreachable_hub_env

LIBRARY_WORDS = ("Traceback", "Got:", "ConnectError", "LocalEntryNotFoundError", "OfflineModeIsEnabled", "Errno",
                 "huggingface_hub", "Retrying")  # fmt: skip
OFFLINE = pytest.mark.parametrize("offline_mode", [False, True], ids=["no-network", "HF_HUB_OFFLINE=1"])


def cli(tmp_path: Path, *args: str, offline_mode: bool) -> subprocess.CompletedProcess[str]:
    env = unreachable_hub_env(tmp_path, offline_mode=offline_mode)
    env["VOXTRAL_DESKTOP_HOME"] = str(tmp_path / "home")
    return subprocess.run(
        [sys.executable, "-m", "voxtral_desktop", *args], capture_output=True, text=True, env=env, timeout=120
    )


def question(tmp_path: Path) -> Path:
    path = tmp_path / "q.wav"
    sf.write(str(path), (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32), 16000)
    return path


def one_paragraph(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("voxtral-desktop: error: ")
    assert not [w for w in LIBRARY_WORDS if w in lines[0]], lines[0]
    return lines[0]


@OFFLINE
def test_respond_without_the_model_and_no_hub_says_what_to_do_in_one_paragraph(tmp_path, offline_mode):
    # transformers' model (backend auto may pick llama.cpp here: tests/core/backends/test_llamacpp_model.py)
    done = cli(tmp_path, "respond", str(question(tmp_path)), "--backend", "local", offline_mode=offline_mode)
    assert done.returncode == 1 and done.stdout == ""
    said = one_paragraph(done.stderr)
    assert ("offline mode is on" if offline_mode else "This computer is offline") in said
    assert "mistralai/Voxtral-Mini-3B-2507" in said and "about 9 GB" in said and "hf download" in said
    assert "--model" in said

    verbose = cli(tmp_path, "respond", str(question(tmp_path)), "-v", offline_mode=offline_mode)
    assert verbose.returncode == 1
    assert ("OfflineModeIsEnabled" if offline_mode else "ConnectError") in verbose.stderr  # the details, asked for


@OFFLINE
def test_say_and_respond_speak_without_the_voice_and_no_hub_say_what_to_do(tmp_path, offline_mode):
    out = tmp_path / "never.wav"
    done = cli(tmp_path, "say", "Hello.", "--voice", "en_GB-alan-low", "--out", str(out), offline_mode=offline_mode)
    assert done.returncode == 1 and not out.exists()
    said = one_paragraph(done.stderr)
    assert "en_GB-alan-low could not be downloaded" in said and "hf download rhasspy/piper-voices" in said

    spoken = cli(tmp_path, "respond", str(question(tmp_path)), "--speak", "--voice", "en_GB-alan-low",
                 offline_mode=offline_mode)  # fmt: skip
    assert spoken.returncode == 1 and spoken.stdout == ""
    assert one_paragraph(spoken.stderr) == said
