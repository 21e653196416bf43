"""The voice list (installed + hub), downloads with byte progress that work offline afterwards, and what
`speech.voice` resolves to."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from voxtral_desktop.core.speech import catalogue
from voxtral_desktop.core.speech.catalogue import (
    downloadable_voices,
    installed_voices,
    resolve_voice,
    voices_dir,
)
from voxtral_desktop.core.errors import HubUnreachable, SpeechError, VoiceUnavailableOffline
from voxtral_desktop.testing.offline_hub import unreachable_hub_env

HUB_KEY = "en_GB-testvoice-low"
HUB_DIR = "en/en_GB/testvoice/low"


def make_hub(root: Path, joe_voice) -> Path:
    """A folder laid out like rhasspy/piper-voices, holding one real voice (joe's files under a new key)."""
    folder = root / HUB_DIR
    folder.mkdir(parents=True)
    model = folder / f"{HUB_KEY}.onnx"
    model.symlink_to(joe_voice.model_path)
    settings = json.loads(Path(str(joe_voice.model_path) + ".json").read_text())
    settings["language"] = {"code": "en_GB", "name_english": "English", "country_english": "Great Britain"}
    settings["audio"]["quality"] = "low"
    Path(str(model) + ".json").write_text(json.dumps(settings))
    files = {
        f"{HUB_DIR}/{HUB_KEY}.onnx": {"size_bytes": model.stat().st_size},
        f"{HUB_DIR}/{HUB_KEY}.onnx.json": {"size_bytes": Path(str(model) + ".json").stat().st_size},
        f"{HUB_DIR}/MODEL_CARD": {"size_bytes": 10},
    }
    entry = {"key": HUB_KEY, "name": "testvoice", "quality": "low", "files": files,
             "language": settings["language"]}
    (root / "voices.json").write_text(json.dumps({HUB_KEY: entry, "broken-entry": {"name": "x"}}))
    return root


def fake_hub(hub: Path | None, monkeypatch) -> list[str]:
    """Stands in for huggingface_hub's file look-up and download: copies from ``hub`` (None = offline, raising
    what the hub raises then), driving the progress bar in byte steps as the hub does."""
    from huggingface_hub.errors import OfflineModeIsEnabled

    fetched: list[str] = []

    def get_hf_file_metadata(url, **kwargs):
        if hub is None:
            raise OfflineModeIsEnabled(f"Cannot reach {url}: offline mode is enabled.")
        return None

    def hf_hub_download(repo_id, filename, local_dir=None, tqdm_class=None, **kwargs):
        assert repo_id == "rhasspy/piper-voices"
        if hub is None:
            raise OfflineModeIsEnabled(f"Cannot reach {filename}: offline mode is enabled.")
        source = hub / filename
        target = Path(local_dir) / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        if tqdm_class is not None:
            bar = tqdm_class(total=4000, unit="B")
            for _ in range(4):
                bar.update(1000)
            bar.close()
        shutil.copyfile(source, target)
        fetched.append(filename)
        return str(target)

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", get_hf_file_metadata)
    return fetched


def test_the_pip_installed_voice_is_listed_with_language_name_and_quality():
    joe = next(v for v in installed_voices() if v.key == "en_US-joe-medium")
    assert (joe.language, joe.name, joe.quality) == ("en_US", "joe", "medium")
    assert joe.language_name == "English (United States)"
    assert joe.installed and joe.size_bytes > 10_000_000


def test_a_hub_voice_downloads_with_progress_then_speaks_offline(tmp_path, monkeypatch, joe_voice):
    hub = make_hub(tmp_path / "hub", joe_voice)
    fetched = fake_hub(hub, monkeypatch)
    listed = downloadable_voices()
    assert [(v.key, v.language, v.name, v.quality) for v in listed] == [(HUB_KEY, "en_GB", "testvoice", "low")]
    assert listed[0].language_name == "English (Great Britain)" and not listed[0].installed

    progress: list[float] = []
    voice = resolve_voice(HUB_KEY, progress=progress.append)
    assert progress == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert fetched[-2:] == [f"{HUB_DIR}/{HUB_KEY}.onnx.json", f"{HUB_DIR}/{HUB_KEY}.onnx"]
    assert voice.name == HUB_KEY
    assert np.concatenate(list(voice.synthesize("Hello from the hub."))).std() > 0.01

    # Offline afterwards: the voice is installed (in the voice folder) and resolves without the hub.
    fetched = fake_hub(None, monkeypatch)
    assert HUB_KEY in [v.key for v in installed_voices()]
    assert resolve_voice(HUB_KEY).model_path.is_relative_to(voices_dir())
    assert [v.key for v in downloadable_voices()] == [HUB_KEY]  # the list was kept too
    assert fetched == []


def test_offline_with_no_voice_installed_says_what_to_do(monkeypatch):
    fake_hub(None, monkeypatch)
    monkeypatch.setattr(catalogue, "VOICE_PACKAGES", ())
    assert installed_voices() == []
    with pytest.raises(VoiceUnavailableOffline) as raised:
        resolve_voice("")
    message = str(raised.value)
    assert "offline" in message and "en_US-ljspeech-medium (about 63 MB)" in message
    onnx = "en/en_US/ljspeech/medium/en_US-ljspeech-medium.onnx"
    assert f"hf download rhasspy/piper-voices {onnx} {onnx}.json" in message and str(voices_dir()) in message
    assert "OfflineModeIsEnabled" in raised.value.cause and "OfflineModeIsEnabled" not in message
    with pytest.raises(SpeechError, match="not installed"):
        resolve_voice("en_US-ljspeech-medium", download=False)


def test_an_unknown_voice_name_is_a_clear_error(tmp_path, monkeypatch, joe_voice):
    fake_hub(make_hub(tmp_path / "hub", joe_voice), monkeypatch)
    with pytest.raises(SpeechError, match="no voice called 'en_XX-nobody-high'"):
        resolve_voice("en_XX-nobody-high")


def test_empty_setting_picks_an_installed_voice_without_the_hub(monkeypatch):
    fetched = fake_hub(None, monkeypatch)
    assert resolve_voice("").name == "en_US-joe-medium"
    assert fetched == []


def test_a_path_setting_loads_that_voice(tmp_path, joe_voice):
    assert resolve_voice(str(joe_voice.model_path)).model_path == joe_voice.model_path
    with pytest.raises(SpeechError, match="does not exist"):
        resolve_voice(str(tmp_path / "mine.onnx"))


def test_a_voice_dropped_into_the_voice_folder_is_listed(joe_voice):
    folder = voices_dir() / "mine"
    folder.mkdir(parents=True)
    (folder / "de_DE-mine-high.onnx").symlink_to(joe_voice.model_path)
    settings = json.loads(Path(str(joe_voice.model_path) + ".json").read_text())
    settings["language"] = {"code": "de_DE", "name_english": "German", "country_english": "Germany"}
    (folder / "de_DE-mine-high.onnx.json").write_text(json.dumps(settings))
    (folder / "orphan.onnx").write_bytes(b"no settings beside it")
    keys = [v.key for v in installed_voices()]
    assert keys[0] == "de_DE-mine-high" and "orphan" not in keys
    assert resolve_voice("de_DE-mine-high").name == "de_DE-mine-high"


# A voice that is not installed, resolved in a child process whose hub cannot be reached.
RESOLVE = """
import json, sys
from voxtral_desktop.core.speech.catalogue import resolve_voice
try:
    resolve_voice(sys.argv[1])
except Exception as e:
    print(json.dumps({"type": type(e).__name__, "message": str(e), "cause": getattr(e, "cause", "")}))
"""


@pytest.mark.parametrize("offline_mode", [False, True], ids=["no-network", "HF_HUB_OFFLINE=1"])
def test_offline_a_voice_download_is_explained_as_a_person_would(tmp_path, offline_mode):
    env = unreachable_hub_env(tmp_path, offline_mode=offline_mode)
    env["VOXTRAL_DESKTOP_HOME"] = str(tmp_path / "home")
    done = subprocess.run(
        [sys.executable, "-c", RESOLVE, "en_GB-alan-low"], capture_output=True, text=True, env=env, timeout=120
    )
    error = json.loads(done.stdout.splitlines()[-1])
    assert error["type"] == "VoiceUnavailableOffline", error
    message = error["message"]
    assert ("offline mode is on" if offline_mode else "This computer is offline") in message
    assert "the voice en_GB-alan-low could not be downloaded" in message
    assert "hf download rhasspy/piper-voices en/en_GB/alan/low/en_GB-alan-low.onnx" in message
    assert not [w for w in ("ConnectError", "LocalEntryNotFoundError", "Errno", "OfflineMode") if w in message]
    assert ("OfflineModeIsEnabled" if offline_mode else "ConnectError") in error["cause"]


def test_a_voice_download_failing_for_another_reason_is_not_called_offline(tmp_path, monkeypatch, joe_voice):
    import huggingface_hub

    fake_hub(make_hub(tmp_path / "hub", joe_voice), monkeypatch)
    downloadable_voices()  # the list is here; the voice itself fails

    def full_disk(repo_id, filename, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", full_disk)
    with pytest.raises(SpeechError, match="No space left") as raised:
        resolve_voice(HUB_KEY)
    assert not isinstance(raised.value, HubUnreachable)

    def bug(repo_id, filename, **kwargs):
        raise AttributeError("'NoneType' object has no attribute 'size'")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", bug)
    with pytest.raises(AttributeError):
        resolve_voice(HUB_KEY)
