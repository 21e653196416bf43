"""voxtral-desktop: a push-to-talk voice assistant that streams Mistral Voxtral's spoken replies in chunks."""

from __future__ import annotations

from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.config import Config, load_config
from voxtral_desktop.core.errors import AudioError, ConfigError, GenerationError, ModelLoadError, VoxtralError
from voxtral_desktop.core.model import LoadPhase, Mode, VoxtralModel

__version__ = "0.1.0"

__all__ = [
    "AudioError",
    "Config",
    "ConfigError",
    "GenerationError",
    "LoadPhase",
    "Mode",
    "ModelLoadError",
    "ReplyStatus",
    "VoxtralError",
    "VoxtralModel",
    "__version__",
    "load_config",
]
