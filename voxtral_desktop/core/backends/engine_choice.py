"""backend: auto: which engine runs Voxtral on this machine, and a sentence saying why (no torch import)."""

from __future__ import annotations

import platform
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from voxtral_desktop.core.backends.llamacpp_model import looks_like_path, names_gguf
from voxtral_desktop.core.config import Config

LOCAL = "local"
LLAMACPP = "llamacpp"


@dataclass(frozen=True)
class EngineChoice:
    backend: str  # "local" (transformers) or "llamacpp"
    why: str  # finishes "Chosen because ..."


def has_cuda() -> bool:
    """An NVIDIA driver is loaded (what torch's CUDA needs), seen without importing torch (seconds)."""
    return Path("/proc/driver/nvidia/version").exists() or (
        sys.platform == "win32" and shutil.which("nvidia-smi") is not None
    )


def has_mps() -> bool:
    """Apple silicon: torch runs on its GPU (MPS)."""
    return sys.platform == "darwin" and platform.machine() == "arm64"


def llamacpp_installed(config: Config) -> bool:
    from voxtral_desktop.core.backends.llamacpp import engine_installed

    return engine_installed(config) is not None


def choose(config: Config) -> EngineChoice:
    """The engine for ``backend: auto``: the model's own format first, then the machine.

    A transformers folder runs on transformers and GGUF on llama.cpp, whatever the machine; a hub id goes to
    transformers where there is a CUDA or Apple GPU, else to llama.cpp when it is installed, else to
    transformers on the CPU.
    """
    model_id = config.model.id
    folder = Path(model_id).expanduser()
    if folder.is_dir() and (folder / "config.json").is_file() and not names_gguf(model_id):
        return EngineChoice(LOCAL, "the model folder holds transformers weights")
    if names_gguf(model_id):
        return EngineChoice(LLAMACPP, "the model is in GGUF, llama.cpp's format")
    if looks_like_path(model_id):  # a folder that is not there: transformers' loader says so best
        return EngineChoice(LOCAL, "model.id is a folder of transformers weights")
    if has_cuda():
        return EngineChoice(LOCAL, "an NVIDIA GPU is here, where transformers runs Voxtral fastest")
    if has_mps():
        return EngineChoice(LOCAL, "this Mac's GPU runs Voxtral through transformers")
    if llamacpp_installed(config):
        return EngineChoice(
            LLAMACPP,
            "there is no GPU here, and on a CPU llama.cpp takes a quarter of the memory and answers faster",
        )
    return EngineChoice(
        LOCAL,
        "there is no GPU here and llama.cpp is not installed (pip install 'voxtral-desktop[llamacpp]')",
    )

