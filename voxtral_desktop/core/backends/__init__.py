"""Engines that turn a request (audio plus settings) into a stream of text pieces."""

from __future__ import annotations

from voxtral_desktop.core.backends.base import (
    Backend,
    GenerationError,
    GenerationRequest,
    ModelLoadError,
    Turn,
)
from voxtral_desktop.core.config import Config

__all__ = ["Backend", "GenerationError", "GenerationRequest", "ModelLoadError", "Turn", "create_backend"]


def create_backend(config: Config) -> Backend:
    """The back-end the config names; imports stay lazy so the window never waits on torch."""
    if config.backend == "local":
        from voxtral_desktop.core.backends.local import LocalBackend

        return LocalBackend(config)
    if config.backend == "auto":
        from voxtral_desktop.core.backends.engine_choice import choose

        choice = choose(config)
        if choice.backend == "llamacpp":
            from voxtral_desktop.core.backends.llamacpp import LlamaCppBackend

            return LlamaCppBackend(config, reason=f"backend is auto and {choice.why}")
        from voxtral_desktop.core.backends.local import LocalBackend

        return LocalBackend(config)
    if config.backend == "llamacpp":
        from voxtral_desktop.core.backends.llamacpp import LlamaCppBackend

        return LlamaCppBackend(config)
    if config.backend in ("openai", "mistral"):  # mistral: the same back-end on Mistral's API
        from voxtral_desktop.core.backends.remote import RemoteBackend

        return RemoteBackend(config)
    raise ValueError(f"unknown backend {config.backend!r}")
