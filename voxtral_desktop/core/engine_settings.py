"""What Settings > Engine says before anything is downloaded: the engine that runs, why, its download, memory."""

# The UI's door to engine facts (as remote_settings.py is to the server's): the view-models never import a
# back-end module themselves.

from __future__ import annotations

from voxtral_desktop.core import hub
from voxtral_desktop.core.backends import llamacpp_model
from voxtral_desktop.core.backends.engine_choice import (
    LLAMACPP,
    LOCAL,
    choose,
    has_cuda,
    has_mps,
    llamacpp_installed,
)
from voxtral_desktop.core.backends.llamacpp_model import names_gguf
from voxtral_desktop.core.config import Config

# Voxtral Mini in transformers: what the hub download weighs (core/hub.py KNOWN_SIZES) and what float32 on a
# CPU takes at its peak (measured: ../shared/notes/llama-cpp.md, 21.1 GB).
_TRANSFORMERS_DOWNLOAD = 9_400_000_000
_TRANSFORMERS_CPU_PEAK = 21_100_000_000
_MINI_KV_BYTES_PER_TOKEN = 30 * 2 * 8 * 128 * 2  # layers x (K, V) x kv heads x head dim x f16


def summary(config: Config) -> str:
    """What Settings shows before anything is downloaded: the engine that will run, why, the download and
    the memory it takes (figures for Voxtral Mini; a model on disk is measured from its files)."""
    backend = config.backend
    lead = ""
    if backend == "auto":
        choice = choose(config)
        backend = choice.backend
        lead = f"Here: {'llama.cpp' if backend == LLAMACPP else 'transformers'}, because {choice.why}. "
    if backend == LLAMACPP:
        cfg = config.llamacpp
        installed = llamacpp_installed(config)
        kv = config.llamacpp.context * _MINI_KV_BYTES_PER_TOKEN
        files = llamacpp_model.download_bytes(cfg.quantization, cfg.mmproj_quantization)
        where = "" if installed else " The engine is not installed: pip install 'voxtral-desktop[llamacpp]'."
        if files is None or names_gguf(config.model.id):
            return f"{lead}llama.cpp runs the GGUF model you chose.{where}".strip()
        memory = files + kv + llamacpp_model.ENGINE_OVERHEAD_BYTES
        return (
            f"{lead}llama.cpp, {cfg.quantization}: {hub.about(files)} to download once, "
            f"{hub.about(memory)} of memory.{where}"
        ).strip()
    if backend == LOCAL:
        cpu = "" if has_cuda() or has_mps() else f", {hub.about(_TRANSFORMERS_CPU_PEAK)} of memory on a CPU"
        return f"{lead}transformers: Voxtral Mini is {hub.about(_TRANSFORMERS_DOWNLOAD)} to download once{cpu}."
    return ""
