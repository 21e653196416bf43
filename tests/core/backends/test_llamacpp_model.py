"""Which GGUF files the llama.cpp back-end runs, what it says when they are not here, and the memory guard."""

from __future__ import annotations

import pytest

from voxtral_desktop.core.backends import llamacpp_model
from voxtral_desktop.core.backends.llamacpp import LlamaCppBackend
from voxtral_desktop.core.config import Config
from voxtral_desktop.core.errors import ModelLoadError, ModelUnavailableOffline, NotEnoughMemory
from voxtral_desktop.testing.tiny_gguf import MMPROJ_FILE, TEXT_FILE


def resolve(model_id: str, quantization: str = "Q4_K_M") -> llamacpp_model.GgufPair:
    return llamacpp_model.resolve(
        model_id, repo=llamacpp_model.DEFAULT_REPO, quantization=quantization, mmproj_quantization="Q8_0"
    )


def test_offline_without_the_files_says_what_to_download_and_how_big(monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))  # never the developer's cache
    with pytest.raises(ModelUnavailableOffline) as offline:
        resolve("mistralai/Voxtral-Mini-3B-2507")  # transformers' id: llama.cpp's default repo instead
    said = str(offline.value)
    assert "offline mode is on" in said and "ggml-org/Voxtral-Mini-3B-2507-GGUF" in said
    assert "about 3 GB" in said and "hf download ggml-org/Voxtral-Mini-3B-2507-GGUF" in said
    assert offline.value.size_bytes == 2_473_001_920 + 715_714_080


def test_a_folder_file_or_quantization_picks_the_pair(tmp_path, tiny_gguf_dir):
    folder = tmp_path / "gguf"
    folder.mkdir()
    for name in ("voxtral-Q4_K_M.gguf", "voxtral-Q8_0.gguf"):
        (folder / name).symlink_to(tiny_gguf_dir / TEXT_FILE)
    (folder / "mmproj-voxtral-Q8_0.gguf").symlink_to(tiny_gguf_dir / MMPROJ_FILE)
    assert resolve(str(folder), "Q8_0").model.name == "voxtral-Q8_0.gguf"
    assert resolve(str(folder)).mmproj.name == "mmproj-voxtral-Q8_0.gguf"
    assert resolve(str(folder / "voxtral-Q4_K_M.gguf"), "Q8_0").model.name == "voxtral-Q4_K_M.gguf"  # a file wins
    with pytest.raises(ModelLoadError, match="several language model files"):
        resolve(str(folder), "Q5_K_M")


def test_wrong_or_missing_files_are_named_before_the_engine_starts(tmp_path, tiny_gguf_dir):
    folder = tmp_path / "only-text"
    folder.mkdir()
    (folder / "voxtral.gguf").symlink_to(tiny_gguf_dir / TEXT_FILE)
    with pytest.raises(ModelLoadError, match="mmproj"):
        resolve(str(folder))
    (folder / "mmproj-voxtral.gguf").symlink_to(tiny_gguf_dir / TEXT_FILE)  # a language model, not a projector
    with pytest.raises(ModelLoadError, match="not an audio projector"):
        resolve(str(folder))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "voxtral.gguf").write_bytes(b"<html>not found</html>")
    (broken / "mmproj-voxtral.gguf").symlink_to(tiny_gguf_dir / MMPROJ_FILE)
    with pytest.raises(ModelLoadError, match="voxtral.gguf is not a GGUF file"):
        resolve(str(broken))
    with pytest.raises(ModelLoadError, match="does not exist"):
        resolve(str(tmp_path / "nowhere" / "model"))


def test_the_memory_guard_refuses_before_starting_the_engine(tiny_gguf_dir):
    cfg = Config()
    cfg.model.id = str(tiny_gguf_dir)
    backend = LlamaCppBackend(cfg, available_memory=lambda: 200_000_000)
    with pytest.raises(NotEnoughMemory) as refused:
        backend.load()
    assert refused.value.needed > refused.value.available == 200_000_000
    assert "only 0.2 GB is free" in str(refused.value) and "smaller quantization" in str(refused.value)
    assert backend.engine is None  # nothing was started
