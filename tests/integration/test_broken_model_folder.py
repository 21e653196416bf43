"""A damaged model folder: the load error names the file and what to do; the CLI says it in one line, exit 1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from voxtral_desktop import ModelLoadError, VoxtralModel, load_config

pytestmark = pytest.mark.integration


def truncate(name: str, keep: float) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        path = folder / name
        os.truncate(path, int(path.stat().st_size * keep))

    return damage


def write(name: str, text: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_text(text)


def remove(name: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).unlink()


def vocabulary(file: str, scale: float) -> Callable[[Path], None]:
    """Another model's tokenizer (tekken.json) or config: its vocabulary ``scale`` times the other's."""

    def damage(folder: Path) -> None:
        data = json.loads((folder / file).read_text())
        where = data["config"] if file == "tekken.json" else data["text_config"]
        key = "default_vocab_size" if file == "tekken.json" else "vocab_size"
        where[key] = int(where[key] * scale)
        (folder / file).write_text(json.dumps(data))

    return damage


def mismatch(tokenizer: int, model: int) -> str:
    """Both sizes, in the order the message gives them (the tiny model's vocabulary is 8,100)."""
    return f"covers {tokenizer:,} tokens but the model's vocabulary (config.json, text_config.vocab_size) has {model:,}"


# damage, the file the message must name, and words that say what is wrong with it
DAMAGES = {
    "config-invalid-json": (write("config.json", '{"model_type": "voxtral", '), "config.json", "not valid JSON"),
    "config-not-an-object": (write("config.json", "[1, 2]"), "config.json", "JSON object"),
    "config-missing": (remove("config.json"), "config.json", "missing"),
    "weights-truncated": (truncate("model.safetensors", 0.6), "model.safetensors", "truncated"),
    "weights-header-cut": (truncate("model.safetensors", 0.0001), "model.safetensors", "truncated"),
    "weights-empty": (truncate("model.safetensors", 0.0), "model.safetensors", "truncated"),
    "weights-missing": (remove("model.safetensors"), "model.safetensors", "missing"),
    "tokenizer-missing": (remove("tekken.json"), "tekken.json", "missing"),
    "tokenizer-truncated": (truncate("tekken.json", 0.5), "tekken.json", "not valid JSON"),
    # Before: it loaded, and a reply failed on the first token past the tokenizer's end ("Invalid token for
    # decoding: 99976" with an 8k tokenizer on a 131k model).
    "tokenizer-smaller-than-model": (vocabulary("tekken.json", 0.5), "tekken.json", mismatch(4050, 8100)),
    "model-larger-than-tokenizer": (vocabulary("config.json", 16.0), "tekken.json", mismatch(8100, 129600)),
    "tokenizer-larger-than-model": (vocabulary("tekken.json", 2.0), "tekken.json", mismatch(16200, 8100)),
}


@pytest.fixture
def broken_copy(tiny_model_dir, tmp_path) -> Callable[[str], Path]:
    def make(damage: str) -> Path:
        folder = tmp_path / f"model-{damage}"
        shutil.copytree(tiny_model_dir, folder)
        DAMAGES[damage][0](folder)
        return folder

    return make


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_model_folder_names_the_file_and_what_to_do(broken_copy, damage):
    folder = broken_copy(damage)
    _, filename, what = DAMAGES[damage]
    model = VoxtralModel(load_config(overrides={"model": {"id": str(folder)}}))
    with pytest.raises(ModelLoadError) as raised:
        model.initialize()
    message = str(raised.value)
    assert filename in message and what in message, message
    assert str(folder) in message
    assert "download" in message and "model.id" in message  # what to do about it
    assert not model.is_initialized


def test_an_intact_copy_still_loads(broken_copy, tiny_model_dir, tmp_path):
    folder = tmp_path / "intact"
    shutil.copytree(tiny_model_dir, folder)
    model = VoxtralModel(load_config(overrides={"model": {"id": str(folder)}}))
    model.initialize()
    assert model.is_initialized
    model.close()


@pytest.mark.parametrize(
    "damage", ["config-invalid-json", "weights-truncated", "tokenizer-missing", "tokenizer-smaller-than-model"]
)
def test_the_cli_reports_a_damaged_folder_in_one_line_and_exits_1(broken_copy, damage, tmp_path, isolated_home):
    folder = broken_copy(damage)
    _, filename, what = DAMAGES[damage]
    audio = tmp_path / "hello.wav"
    t = np.arange(16000) / 16000
    sf.write(audio, (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), 16000)
    env = {**os.environ, "VOXTRAL_DESKTOP_HOME": str(isolated_home), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "voxtral_desktop", "--model", str(folder), "respond", str(audio)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("voxtral-desktop: error:")]
    assert len(errors) == 1, done.stderr
    assert filename in errors[0] and what in errors[0] and "download" in errors[0]
