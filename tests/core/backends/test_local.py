"""Loading a hub id: the cache first, else a download whose progress reaches the caller, else clear advice."""

from __future__ import annotations

import pytest

from voxtral_desktop import ModelLoadError, VoxtralModel, load_config
from voxtral_desktop.core.backends import local


def fake_hub(folder, monkeypatch, *, cached: bool, fail: Exception | None = None):
    """Stands in for huggingface_hub.snapshot_download: drives the progress bar as the hub does."""
    calls: list[dict] = []

    def snapshot_download(repo_id, allow_patterns=None, local_files_only=False, tqdm_class=None):
        calls.append({"repo_id": repo_id, "local_files_only": local_files_only, "patterns": allow_patterns})
        if local_files_only:
            if cached:
                return str(folder)
            raise FileNotFoundError("not in the cache")
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
    model = VoxtralModel(load_config(overrides={"model": {"id": "someone/voxtral-tiny"}}))
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
    VoxtralModel(load_config(overrides={"model": {"id": "someone/voxtral-tiny"}})).initialize(
        lambda phase, fraction: seen.append(phase)
    )
    assert "downloading" not in seen and len(calls) == 1


def test_a_failed_download_says_what_to_do(tmp_path, monkeypatch):
    fake_hub(tmp_path, monkeypatch, cached=False, fail=OSError("We couldn't connect to the hub"))
    with pytest.raises(ModelLoadError, match="couldn't connect.*model.id"):
        local.LocalBackend(load_config(overrides={"model": {"id": "mistralai/Voxtral-Mini-3B-2507"}})).load()
