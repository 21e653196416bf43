"""The UI's door to the settings: a copy to edit, each value checked with the config's own message, changes
saved to the user's file and applied at once, and a remote server tried before it is chosen."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from voxtral_desktop.core import engine_settings, paths, remote_settings
from voxtral_desktop.core.config import Config, save_changes
from voxtral_desktop.core.errors import CaptureError, ConfigError, SpeechError
from voxtral_desktop.core.portaudio import InputDevice, list_output_devices
from voxtral_desktop.core.speech import (
    SpeechPlayer,
    downloadable_voices,
    installed_voices,
    resolve_voice,
    voices_dir,
)
from voxtral_desktop.core.speech.catalogue import CATALOGUE_FILE
from voxtral_desktop.core.speech.languages import voice_language
from voxtral_desktop.core.speech.mistral_tts import PREFIX, PRESET_VOICES, PRICE, is_mistral_voice, open_voice
from voxtral_desktop.ui.view_models.speaker import SYSTEM, Speaker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpeechInfo:
    """What the settings dialog says about spoken replies on this computer."""

    available: bool
    engine: str
    error: str
    voices: tuple[str, ...]


@dataclass(frozen=True)
class VoiceChoice:
    """One entry of Settings' voice list."""

    value: str  # what `speech.voice` gets: a voice key, "system", or "" (the default)
    label: str  # e.g. "English (United States) · joe · medium"
    installed: bool = True


SAMPLE = "Hello! This is how I sound when I answer you."  # what "Try it" says


class SettingsViewModel(QObject):
    """Settings for the dialog. ``applied(before)`` tells the other view-models what the settings were."""

    applied = Signal(object)  # a copy of the Config as it was before the save
    tryProgress = Signal(str)  # "Try it": downloading / speaking / what went wrong

    def __init__(
        self,
        config: Config,
        speaker: Speaker,
        device_lister: Callable[..., list[InputDevice]],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.config = config
        self._speaker = speaker
        self._device_lister = device_lister

    def settings_file(self) -> Path:
        """Where Settings writes: the user file the config was loaded with, else the default one."""
        return self.config.user_file or paths.user_config_file()

    def snapshot(self) -> Config:
        """A copy of the live settings, for the settings dialog to show and edit."""
        return self.config.copy()

    def check(self, section: str, key: str, value: Any) -> str | None:
        """The config's own message when ``value`` is not acceptable, else None."""
        try:
            self.config.copy().update({section: {key: value}} if section else {key: value})
        except ConfigError as e:
            return str(e)
        return None

    def input_devices(self, *, refresh: bool = False) -> tuple[list[str], str]:
        """Names of the input devices (default first), and a message when there are none."""
        try:
            devices = self._device_lister(refresh=refresh)
        except CaptureError as e:
            return [], str(e)
        names = [d.name for d in sorted(devices, key=lambda d: not d.is_default)]
        return names, "" if names else "No microphone found."

    def voice_choices(self) -> list[VoiceChoice]:
        """The default, the voices on this computer, those the hub offers (once its list has been fetched:
        ``refresh_voices``), and the system voice."""
        choices = [VoiceChoice("", "Default (natural voice)"), *self._piper_choices(None)]
        for preset in sorted(PRESET_VOICES, key=lambda p: p.language):  # by language, as the local ones
            label = f"{preset.language} · {preset.name} · Mistral API ({PRICE})"
            choices.append(VoiceChoice(PREFIX + preset.voice_id, label, installed=False))
        choices.append(VoiceChoice(SYSTEM, "System voice (speech-dispatcher)"))
        return choices

    def language_voice_choices(self, language: str) -> list[VoiceChoice]:
        """Settings > Voice, one list per language: automatic, that language's voices on this computer, then those
        the hub offers with their download size (once its list has been fetched: ``refresh_voices``)."""
        return [VoiceChoice("", "Automatic"), *self._piper_choices(language)]

    @staticmethod
    def _piper_choices(language: str | None) -> list[VoiceChoice]:
        """The Piper voices on this computer, then those the hub offers with their download size (once its list
        has been fetched); only ``language``'s when given."""
        def wanted(info: Any) -> bool:
            return language is None or voice_language(info.language) == language

        choices: list[VoiceChoice] = []
        seen: set[str] = set()
        for info in installed_voices():
            if wanted(info):
                seen.add(info.key)
                choices.append(VoiceChoice(info.key, f"{info.language_name} · {info.name} · {info.quality}"))
        if (voices_dir() / CATALOGUE_FILE).is_file():
            try:
                hub = downloadable_voices()
            except SpeechError as e:
                log.warning("%s", e)
                hub = []
            for info in hub:
                if wanted(info) and info.key not in seen:
                    size = f"{info.size_bytes / 1e6:.0f} MB download"
                    label = f"{info.language_name} · {info.name} · {info.quality} ({size})"
                    choices.append(VoiceChoice(info.key, label, installed=False))
        return choices

    async def refresh_voices(self) -> str:
        """Fetch the hub's voice list (off the event loop); "" when done, else what went wrong."""
        try:
            await asyncio.get_running_loop().run_in_executor(None, lambda: downloadable_voices(refresh=True))
        except SpeechError as e:
            return str(e)
        return ""

    def output_devices(self, *, refresh: bool = False) -> tuple[list[str], str]:
        """Names of the sound outputs (default first), and a message when there are none."""
        try:
            devices = list_output_devices(refresh=refresh)
        except SpeechError as e:
            return [], str(e)
        names = [d.name for d in sorted(devices, key=lambda d: not d.is_default)]
        return names, "" if names else "No sound output found."

    async def try_voice(self, voice: str, output_device: str) -> tuple[bool, str]:
        """Settings' "Try it": speak a sample with ``voice`` on ``output_device`` (a new voice downloads first,
        with progress as tryProgress). (ok, what to show)."""
        if voice.strip().lower() == SYSTEM:
            self._speaker.say_chunk(SAMPLE)  # the system voice has no device of its own to choose
            return True, "Speaking with the system voice."
        loop = asyncio.get_running_loop()

        def progress(fraction: float) -> None:  # the download's thread
            loop.call_soon_threadsafe(self.tryProgress.emit, f"Downloading the voice… {fraction:.0%}")

        def speak() -> str:
            troubles: list[Any] = []
            if is_mistral_voice(voice):  # no stand-in here: "Try it" says plainly when Mistral's voice fails
                found: Any = open_voice(voice, self.config, local=_no_local, on_trouble=troubles.append)
            else:
                found = resolve_voice(voice, progress=progress)
            loop.call_soon_threadsafe(self.tryProgress.emit, f"Speaking with {found.name}…")
            player = SpeechPlayer(found, output_device)
            try:
                player.say(SAMPLE)
                player.end()
                player.wait_idle(60)
            finally:
                player.close()
            if troubles:
                raise SpeechError(troubles[0].why)
            return found.name

        self.tryProgress.emit("Loading the voice…")
        try:
            name = await loop.run_in_executor(None, speak)
        except SpeechError as e:
            return False, str(e)
        return True, f"That was {name}."

    def speech_info(self) -> SpeechInfo:
        s = self._speaker
        return SpeechInfo(s.available, s.engine, s.error, tuple(s.voices()))

    def save(self, changes: Mapping[str, Mapping[str, Any] | Any]) -> None:
        """Apply ``changes`` to the live settings (the next reply uses them) and write them to the user's file.

        Only the changed keys are written, so `--model`/`--config` given on the command line are not saved
        behind the user's back. Raises ConfigError, leaving the live settings and the file as they were.
        """
        if all(v in ({}, None) for v in changes.values()):
            return  # nothing changed: nothing to write or apply
        before = self.config.copy()
        save_changes(changes, live=self.config, path=self.settings_file())
        self.applied.emit(before)

    async def test_connection(
        self, remote: Mapping[str, Any], *, backend: str = "openai", api_key: str = ""
    ) -> tuple[bool, str]:
        """Settings' "Test connection": try the given server settings (and ``api_key``, typed but not yet saved;
        empty: the stored one) without applying them. On Mistral's API it lists the account's audio models and
        says when the chosen one cannot take audio."""
        candidate = self.config.copy()
        try:
            candidate.update({"backend": backend, "remote": dict(remote)})
        except ConfigError as e:
            return False, str(e)
        return await remote_settings.test_connection(candidate, api_key)

    def _server(self, backend: str, base_url: str) -> Config:
        """The settings with the dialog's engine and address (an address the config refuses: the saved one)."""
        candidate = self.config.copy()
        try:
            candidate.update({"backend": backend, "remote": {"base_url": base_url}})
        except ConfigError:
            candidate.update({"backend": backend})
        return candidate

    def key_source(self, backend: str, base_url: str) -> str:
        """Where the key for that server would come from now ("keyring", "MISTRAL_API_KEY", ...), or "none"."""
        return remote_settings.key_source(self._server(backend, base_url))

    def store_api_key(self, backend: str, base_url: str, key: str) -> None:
        """Keep ``key`` in the OS keyring for the server ``backend`` and ``base_url`` name (Mistral's API: its own
        address). Raises KeyringUnavailable (its message says how to give the key instead)."""
        remote_settings.store_key(self._server(backend, base_url), key)

    def engine_note(self, choices: Mapping[str, Any]) -> str:
        """With ``choices`` (not saved yet): the engine that would run, why, its download and its memory."""
        candidate = self.config.copy()
        try:
            candidate.update(choices)
        except ConfigError:
            return ""
        return engine_settings.summary(candidate)

    def audio_form_note(self, backend: str, base_url: str) -> str:
        """What was found about the audio form this server takes (shown by the format field), or ""."""
        return remote_settings.audio_form_found(self._server(backend, base_url)).capitalize()


def _no_local() -> Any:
    raise SpeechError("no stand-in voice for Try it")
