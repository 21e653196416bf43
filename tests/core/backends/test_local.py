"""Loading a hub id: the cache first, else a download whose progress reaches the caller, else clear advice."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from huggingface_hub.errors import LocalEntryNotFoundError

from voxtral_desktop import ModelLoadError, VoxtralModel, load_config
from voxtral_desktop.core.backends import local
from voxtral_desktop.testing.offline_hub import unreachable_hub_env


def fake_hub(folder, monkeypatch, *, cached: bool, fail: Exception | None = None):
    """Stands in for huggingface_hub.snapshot_download: drives the progress bar as the hub does."""
    calls: list[dict] = []

    def snapshot_download(repo_id, allow_patterns=None, local_files_only=False, tqdm_class=None):
        calls.append({"repo_id": repo_id, "local_files_only": local_files_only, "patterns": allow_patterns})
        if local_files_only:
            if cached:
                return str(folder)
            raise LocalEntryNotFoundError("Cannot find an appropriate cached snapshot folder")
        if fail is not None:
            raise fail
        bar = tqdm_class(total=1000, unit="B", desc="Downloading (incomplete total...)")
        for _ in range(4):
            bar.update(250)
        bar.close()
        return str(folder)

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


@pytest.mark.integration
def test_download_reports_progress_then_loads(tiny_model_dir, monkeypatch):
    calls = fake_hub(tiny_model_dir, monkeypatch, cached=False)
    seen: list[tuple[str, float | None]] = []
    model = VoxtralModel(load_config(overrides={"backend": "local", "model": {"id": "someone/voxtral-tiny"}}))
    model.initialize(lambda phase, fraction: seen.append((phase, fraction)))
    assert model.is_initialized
    downloads = [f for p, f in seen if p == "downloading"]
    assert downloads == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [p for p, _ in seen][-2:] == ["loading", "ready"]
    assert [c["local_files_only"] for c in calls] == [True, False]
    assert "consolidated.safetensors" not in str(calls[-1]["patterns"])


@pytest.mark.integration
def test_a_cached_model_loads_without_downloading(tiny_model_dir, monkeypatch):
    calls = fake_hub(tiny_model_dir, monkeypatch, cached=True)
    seen: list[str] = []
    VoxtralModel(load_config(overrides={"backend": "local", "model": {"id": "someone/voxtral-tiny"}})).initialize(
        lambda phase, fraction: seen.append(phase)
    )
    assert "downloading" not in seen and len(calls) == 1


def test_a_failed_download_says_what_to_do(tmp_path, monkeypatch):
    fake_hub(tmp_path, monkeypatch, cached=False, fail=OSError("We couldn't connect to the hub"))
    with pytest.raises(ModelLoadError, match="couldn't connect.*model.id"):
        local.LocalBackend(load_config(overrides={"model": {"id": "mistralai/Voxtral-Mini-3B-2507"}})).load()


# The default model, loaded in a child process whose hub cannot be reached (read when huggingface_hub loads).
LOAD_DEFAULT = """
import json
from voxtral_desktop.core.backends.local import LocalBackend
from voxtral_desktop.core.config import load_config
try:
    LocalBackend(load_config()).load()
except Exception as e:
    print(json.dumps({"type": type(e).__name__, "message": str(e), "cause": getattr(e, "cause", "")}))
"""

LIBRARY_WORDS = ("Got:", "ConnectError", "LocalEntryNotFoundError", "OfflineModeIsEnabled", "Errno", "try again..")


@pytest.mark.parametrize("offline_mode", [False, True], ids=["no-network", "HF_HUB_OFFLINE=1"])
def test_offline_the_default_model_is_explained_as_a_person_would(tmp_path, offline_mode):
    env = unreachable_hub_env(tmp_path, offline_mode=offline_mode)
    env["VOXTRAL_DESKTOP_HOME"] = str(tmp_path / "home")
    done = subprocess.run([sys.executable, "-c", LOAD_DEFAULT], capture_output=True, text=True, env=env, timeout=120)
    error = json.loads(done.stdout.splitlines()[-1])
    assert error["type"] == "ModelUnavailableOffline", error
    message = error["message"]
    assert ("offline mode is on (HF_HUB_OFFLINE=1)" if offline_mode else "This computer is offline") in message
    assert "about 9 GB" in message
    assert "hf download mistralai/Voxtral-Mini-3B-2507 --exclude consolidated.safetensors --local-dir" in message
    assert "Settings > Model" in message and "model.id" in message and "--model" in message
    assert not [w for w in LIBRARY_WORDS if w in message], message
    assert ("OfflineModeIsEnabled" if offline_mode else "ConnectError") in error["cause"]


def test_a_bug_while_downloading_is_not_called_offline(tmp_path, monkeypatch):
    fake_hub(tmp_path, monkeypatch, cached=False, fail=TypeError("unexpected keyword argument 'tqdm_class'"))
    with pytest.raises(TypeError, match="tqdm_class"):
        local.LocalBackend(load_config(overrides={"model": {"id": "mistralai/Voxtral-Mini-3B-2507"}})).load()
