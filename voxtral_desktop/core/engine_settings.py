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
from voxtral_desktop.core.errors import ModelLoadError

# Voxtral Mini in transformers: what the hub download weighs (core/hub.py KNOWN_SIZES) and what float32 on a
# CPU takes at its peak (measured: ../shared/notes/llama-cpp.md, 21.1 GB).
_TRANSFORMERS_DOWNLOAD = 9_400_000_000
_TRANSFORMERS_CPU_PEAK = 21_100_000_000
_MINI_KV_BYTES_PER_TOKEN = 30 * 2 * 8 * 128 * 2  # layers x (K, V) x kv heads x head dim x f16


def summary(config: Config) -> str:
    """What Settings shows before anything is downloaded: the engine that will run and why (line 1), what it
    downloads and the memory it takes (line 2; Voxtral Mini's figures, or measured from GGUF files on disk)."""
    backend = config.backend
    lines: list[str] = []
    if backend == "auto":
        choice = choose(config)
        backend = choice.backend
        lines.append(f"Here: {'llama.cpp' if backend == LLAMACPP else 'transformers'}, because {choice.why}.")
    if backend == LLAMACPP:
        lines.append(_llamacpp_cost(config))
    elif backend == LOCAL:
        cpu = "" if has_cuda() or has_mps() else f", {hub.about(_TRANSFORMERS_CPU_PEAK)} of memory on a CPU"
        lines.append(f"transformers: Voxtral Mini is {hub.about(_TRANSFORMERS_DOWNLOAD)} to download once{cpu}.")
    return "\n".join(lines)


def _llamacpp_cost(config: Config) -> str:
    cfg = config.llamacpp
    missing = "" if llamacpp_installed(config) else " Not installed yet: pip install 'voxtral-desktop[llamacpp]'."
    model_id = config.model.id
    if names_gguf(model_id):
        on_disk = llamacpp_model.looks_like_path(model_id) or model_id.lower().endswith(".gguf")
        if not on_disk:  # a GGUF hub repo of the user's: its files' sizes are not known here
            return f"llama.cpp runs the GGUF model you chose.{missing}"
        try:  # files on disk: measured, and nothing to download
            pair = llamacpp_model.resolve(
                model_id, repo=cfg.repo, quantization=cfg.quantization, mmproj_quantization=cfg.mmproj_quantization
            )
        except ModelLoadError as e:
            return f"llama.cpp cannot use this model: {e}"
        memory = llamacpp_model.needed_bytes(pair, cfg.context)
        return f"llama.cpp, {pair.model.name}: on this computer, {hub.about(memory)} of memory.{missing}"
    files = llamacpp_model.download_bytes(cfg.quantization, cfg.mmproj_quantization)
    if files is None:
        return f"llama.cpp, {cfg.quantization}.{missing}"
    memory = files + cfg.context * _MINI_KV_BYTES_PER_TOKEN + llamacpp_model.ENGINE_OVERHEAD_BYTES
    return f"llama.cpp, {cfg.quantization}: {hub.about(files)} to download once, {hub.about(memory)} of memory.{missing}"
