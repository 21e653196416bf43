"""backend: auto, the default: the model's format first, then the machine (GPU -> transformers, CPU -> llama.cpp)."""

from __future__ import annotations

import json

from voxtral_desktop.core.backends import create_backend
from voxtral_desktop.core.backends.engine_choice import choose, has_cuda, has_mps
from voxtral_desktop.core.backends.llamacpp import LlamaCppBackend
from voxtral_desktop.core.backends.local import LocalBackend
from voxtral_desktop.core.config import default_config


def test_auto_is_the_default_and_runs_a_hub_model_where_it_is_fastest_here(tiny_gguf_dir):
    cfg = default_config()
    assert cfg.backend == "auto"
    backend = create_backend(cfg)
    if has_cuda() or has_mps():
        assert isinstance(backend, LocalBackend)
        return
    # This machine has no GPU and the llama.cpp engine is installed (the test fixture requires it).
    assert isinstance(backend, LlamaCppBackend)
    assert "no GPU" in backend.reason
    # The window's status line says which engine answers, and why (load_notice, once loaded).
    cfg.model.id = str(tiny_gguf_dir)
    cfg.llamacpp.threads = 1
    cfg.llamacpp.context = 2048
    backend = create_backend(cfg)
    backend.load()
    try:
        assert "llama.cpp" in backend.load_notice and "Chosen because backend is auto" in backend.load_notice
    finally:
        backend.close()


def test_auto_follows_the_format_of_a_model_on_disk(tmp_path, tiny_gguf_dir):
    folder = tmp_path / "voxtral"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "voxtral"}))
    cfg = default_config()
    cfg.model.id = str(folder)
    assert choose(cfg).backend == "local"
    assert isinstance(create_backend(cfg), LocalBackend)
    cfg.model.id = str(tiny_gguf_dir)
    assert choose(cfg).backend == "llamacpp" and "GGUF" in choose(cfg).why
    cfg.model.id = str(next(tiny_gguf_dir.glob("tiny-*.gguf")))
    assert choose(cfg).backend == "llamacpp"
