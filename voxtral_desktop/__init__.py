"""voxtral-desktop: a push-to-talk voice assistant that streams Mistral Voxtral's spoken replies in chunks."""

from __future__ import annotations

from voxtral_desktop.core.audio import AudioError
from voxtral_desktop.core.backends.base import GenerationError, ModelLoadError
from voxtral_desktop.core.config import Config, ConfigError, load_config
from voxtral_desktop.core.model import VoxtralModel

__version__ = "0.1.0"

__all__ = [
    "AudioError",
    "Config",
    "ConfigError",
    "GenerationError",
    "ModelLoadError",
    "VoxtralModel",
    "__version__",
    "load_config",
]
