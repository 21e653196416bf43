"""Speech output (no Qt): neural Piper voices, their catalogue and downloads, and a player on the sound device.

- voices.py: the Voice interface (text -> streamed float32 audio) and PiperVoice (onnxruntime)
- phonemes.py: text -> phonemes through a resident espeak-ng program (a separate process, never linked)
- languages.py, multilingual.py: each sentence's language (py3langid) and the voice that speaks it
- catalogue.py: installed + hub voices, downloads with byte progress, resolving `speech.voice`
- player.py: SpeechPlayer (queue chunks, synthesise while the model generates, the first chunk in a short
  first piece, stop() at once, events, the played signal with timing for echo cancellation)
"""

from voxtral_desktop.core.errors import SpeechError
from voxtral_desktop.core.speech.catalogue import (
    DEFAULT_VOICE,
    VoiceInfo,
    download_voice,
    downloadable_voices,
    installed_voices,
    resolve_voice,
    voices_dir,
)
from voxtral_desktop.core.speech.player import PlayerEvent, PlayerEventKind, SpeechPlayer
from voxtral_desktop.core.speech.voices import PiperVoice, Voice

__all__ = [
    "DEFAULT_VOICE",
    "PiperVoice",
    "PlayerEvent",
    "PlayerEventKind",
    "SpeechError",
    "SpeechPlayer",
    "Voice",
    "VoiceInfo",
    "download_voice",
    "downloadable_voices",
    "installed_voices",
    "resolve_voice",
    "voices_dir",
]
