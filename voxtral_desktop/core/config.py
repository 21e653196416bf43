"""Typed settings: shipped defaults, the user's file, an explicit file and overrides, validated and saved atomically."""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from voxtral_desktop.core import paths
from voxtral_desktop.core.errors import ConfigError  # re-exported: its home before core/errors.py
from voxtral_desktop.core.shortcuts import check_shortcut

log = logging.getLogger(__name__)

CONFIG_FILENAME = "config.yaml"

# A check returns None when the value is fine, else the reason it is not.
Check = Callable[[Any], "str | None"]


def _one_of(*choices: object) -> Check:
    allowed = ", ".join(str(c) for c in choices)
    return lambda v: None if v in choices else f"must be one of {allowed}"


def _at_least(lo: float) -> Check:
    return lambda v: None if v >= lo else f"must be >= {lo}"


def _greater_than(lo: float) -> Check:
    return lambda v: None if v > lo else f"must be > {lo}"


def _unit_interval_open_left(v: float) -> str | None:
    return None if 0 < v <= 1 else "must be in (0, 1]"


def _not_blank(v: str) -> str | None:
    return None if v.strip() else "must not be empty"


def _setting(default: Any, check: Check | None = None, doc: str = "") -> Any:
    return field(default=default, metadata={"check": check, "doc": doc})


class _Section:
    """Validates every assignment, so a running app can never hold a bad value."""

    _path: str = ""

    def __setattr__(self, name: str, value: Any) -> None:
        fields = {f.name: f for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        if name not in fields:
            raise ConfigError(f"unknown config key '{self._path}.{name}'")
        f = fields[name]
        value = _coerce(f"{self._path}.{name}", value, f.type)
        check = f.metadata.get("check")
        if check is not None:
            reason = check(value)
            if reason:
                raise ConfigError(f"{self._path}.{name} {reason}, got {value!r}")
        object.__setattr__(self, name, value)


_TYPE_NAMES = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "true or false",
    "list[str]": "a list of strings",
}


def _coerce(key: str, value: Any, type_name: Any) -> Any:
    """Accept a value only when it already has the declared type (ints may stand for floats)."""
    type_name = type_name if isinstance(type_name, str) else type_name.__name__
    if type_name == "list[str]":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key} must be {_TYPE_NAMES[type_name]}, got {value!r}")
        return list(value)  # a fresh list: copies of the settings never share one
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
    }[type_name]
    if not ok:
        raise ConfigError(f"{key} must be {_TYPE_NAMES[type_name]}, got {value!r}")
    return float(value) if type_name == "float" else value


@dataclass
class ModelConfig(_Section):
    _path = "model"
    id: str = _setting("mistralai/Voxtral-Mini-3B-2507", _not_blank, "hub id or local folder")
    device: str = _setting("auto", _one_of("auto", "cpu", "cuda", "mps"))
    dtype: str = _setting("auto", _one_of("auto", "float32", "bfloat16", "float16"))
    reuse_prefix: bool = _setting(True, None, "reuse the previous turn's computation (local back-end)")
    cache_mb: int = _setting(0, _at_least(0), "memory for reused computation, MB; 0 = auto (scales with the model)")


@dataclass
class AudioConfig(_Section):
    _path = "audio"
    sample_rate: int = _setting(16000, _one_of(16000), "Voxtral's encoder rate, Hz")
    speech_threshold: float = _setting(0.01, _at_least(0.0), "RMS level that counts as speech")
    min_speech_ms: int = _setting(200, _at_least(0), "shortest speech, ms")
    max_recording_s: float = _setting(120.0, _greater_than(0), "longest recording, s")
    input_device: str = _setting("", None, "microphone name; empty = system default")


@dataclass
class StreamingConfig(_Section):
    _path = "streaming"
    max_new_tokens: int = _setting(50, _at_least(1))
    temperature: float = _setting(0.7, _at_least(0.0), "0 = greedy")
    top_p: float = _setting(0.9, _unit_interval_open_left)
    chunk_size_words: int = _setting(4, _at_least(1))
    timeout_ms: int = _setting(60000, _greater_than(0))
    flush_interval_ms: int = _setting(600, _greater_than(0))


@dataclass
class ConversationConfig(_Section):
    _path = "conversation"
    instruction: str = _setting("", None, "text sent with the audio")
    max_turns: int = _setting(6, _at_least(0), "earlier exchanges sent as context")
    keep_audio: bool = _setting(False, None, "store recorded audio in history")
    show_transcript: bool = _setting(False, None, "transcribe the user's turn for display")


# The languages Voxtral understands and answers in (its model card): a voice can be chosen for each.
VOXTRAL_LANGUAGES = ("en", "es", "fr", "pt", "hi", "de", "nl", "it")


def _language_voices(entries: list[str]) -> str | None:
    seen: set[str] = set()
    for entry in entries:
        language, _, voice = entry.partition("=")
        if language.strip() not in VOXTRAL_LANGUAGES or not voice.strip():
            return (f"must list language=voice pairs such as fr=fr_FR-siwis-medium, the language one of "
                    f"{', '.join(VOXTRAL_LANGUAGES)}; {entry!r} is not one")
        if language.strip() in seen:
            return f"names two voices for {language.strip()}"
        seen.add(language.strip())
    return None


@dataclass
class SpeechConfig(_Section):
    _path = "speech"
    enabled: bool = _setting(True, None, "speak replies aloud")
    voice: str = _setting(
        "", None, "Piper voice key or path to an .onnx; mistral:<voice_id> = Mistral's Voxtral TTS; empty = default"
    )
    output_device: str = _setting("", None, "sound output name; empty = system default")
    engine: str = _setting("", None, "system voice (Qt engine) used when no neural voice is available")
    rate: float = _setting(0.0, lambda v: None if -1.0 <= v <= 1.0 else "must be in [-1, 1]")
    # A mistral:<voice_id> voice: the API it is asked of (a proxy or a test server may stand in) and the model.
    server_url: str = _setting("https://api.mistral.ai/v1", _not_blank, "Mistral's API root for voxtral TTS")
    mistral_model: str = _setting("voxtral-mini-tts-latest", _not_blank, "Mistral's text-to-speech model")
    # Each sentence of a reply is spoken by the voice for its language (detected per sentence).
    follow_language: bool = _setting(True, None, "each sentence spoken by the voice for its language")
    # "fr=fr_FR-siwis-medium": the voice for a language (a key or an .onnx path); a language not listed uses
    # an installed voice of that language, else `voice`.
    language_voices: list[str] = field(
        default_factory=list,
        metadata={"check": _language_voices, "doc": "lang=voice pairs, e.g. fr=fr_FR-siwis-medium"},
    )


@dataclass
class TranscriptionConfig(_Section):
    _path = "transcription"
    language: str = _setting("en", None, "language hint; empty = detect")


@dataclass
class LlamaCppConfig(_Section):
    _path = "llamacpp"
    # model.id picks the weights when it names GGUF (a *GGUF* hub repo, a folder, a .gguf file); otherwise this repo.
    repo: str = _setting("ggml-org/Voxtral-Mini-3B-2507-GGUF", _not_blank, "GGUF hub repo used by default")
    quantization: str = _setting("Q4_K_M", _not_blank, "the language model's GGUF quantization")
    mmproj_quantization: str = _setting("Q8_0", _not_blank, "the audio projector's GGUF quantization")
    threads: int = _setting(0, _at_least(0), "CPU threads; 0 = llama.cpp's choice")
    context: int = _setting(8192, _at_least(1024), "context length in tokens (memory grows with it)")
    server: str = _setting("", None, "a llama-server binary; empty = the embedded engine (xllamacpp)")


def _between(lo: float, hi: float) -> Check:
    return lambda v: None if lo <= v <= hi else f"must be between {lo} and {hi}"


@dataclass
class ListeningConfig(_Section):
    _path = "listening"
    mode: str = _setting("push_to_talk", _one_of("push_to_talk", "hands_free"), "how a turn starts")
    # Shorter than ~200 ms cuts people off between words; longer than 5 s feels like the app hung.
    end_of_turn_ms: int = _setting(700, _between(200, 5000), "silence that ends a hands-free turn, ms")
    pre_roll_ms: int = _setting(300, _between(0, 2000), "audio kept from before the detected start, ms")
    barge_in: bool = _setting(True, None, "speaking over a reply stops it")
    # Push-to-talk opens the microphone only while the button is held unless this is on: then it also
    # listens while a reply is generated or spoken, so speaking over it stops it (off: push-to-talk unchanged).
    push_to_talk_barge_in: bool = _setting(False, None, "push-to-talk: speaking over a reply stops it too")
    min_barge_in_ms: int = _setting(250, _between(32, 3000), "speech needed to interrupt, ms")
    echo_cancellation: bool = _setting(True, None, "remove the app's own voice from the microphone")


def _host_names(hosts: list[str]) -> str | None:
    """None when each entry is a bare host name or address (no scheme, port or path), else why not."""
    for host in hosts:
        bare = host.strip().strip("[]")
        if not bare or any(c in bare for c in "/@ ") or bare.count(":") == 1:  # one colon: a port
            return (
                "must list bare host names or addresses such as gpu-box or 192.168.1.20 "
                f"(no http://, port or path); {host!r} is not one"
            )
    return None


@dataclass
class RemoteConfig(_Section):
    _path = "remote"
    base_url: str = _setting("http://127.0.0.1:8000/v1", _not_blank)
    model: str = _setting("mistralai/Voxtral-Mini-3B-2507", _not_blank)
    timeout_s: float = _setting(60.0, _greater_than(0))
    audio_format: str = _setting("audio_url", _one_of("audio_url", "input_audio", "mistral"))
    # Hosts an API key may reach over plain http:// (a trusted LAN); this machine always may.
    allow_http_hosts: list[str] = field(
        default_factory=list,
        metadata={"check": _host_names, "doc": "trusted LAN hosts for http:// with a key"},
    )
    # backend: mistral (Mistral's API): its address (a proxy or a test server may stand in) and the models
    # it uses for conversation and for transcription.
    mistral_base_url: str = _setting("https://api.mistral.ai/v1", _not_blank, "Mistral's API root")
    mistral_model: str = _setting("voxtral-small-latest", _not_blank, "Mistral's chat-with-audio model")
    mistral_transcribe_model: str = _setting("voxtral-mini-latest", _not_blank, "Mistral's transcribe model")


@dataclass
class ShortcutsConfig(_Section):
    _path = "shortcuts"
    # Global: they work while another application has the keyboard (an X11 key grab, or the desktop portal).
    push_to_talk: str = _setting("Ctrl+Alt+Space", check_shortcut, "hold to record, let go to send")
    hands_free: str = _setting("Ctrl+Alt+H", check_shortcut, "hands-free on or off")


@dataclass
class DesktopConfig(_Section):
    _path = "desktop"
    hide_to_tray: bool = _setting(False, None, "closing the window keeps the app in the tray")
    notifications: bool = _setting(True, None, "a finished reply is shown as a notification while hidden")
    autostart: bool = _setting(False, None, "start with the desktop session, hidden in the tray")


_SECTIONS: dict[str, type[_Section]] = {
    "model": ModelConfig,
    "llamacpp": LlamaCppConfig,
    "audio": AudioConfig,
    "streaming": StreamingConfig,
    "conversation": ConversationConfig,
    "speech": SpeechConfig,
    "transcription": TranscriptionConfig,
    "listening": ListeningConfig,
    "remote": RemoteConfig,
    "shortcuts": ShortcutsConfig,
    "desktop": DesktopConfig,
}
BACKENDS = ("auto", "local", "llamacpp", "openai", "mistral")
_SCALARS: dict[str, tuple[str, Check | None]] = {"backend": ("str", _one_of(*BACKENDS))}


class Config:
    """All settings, as attributes: ``cfg.model.id``, ``cfg.streaming.temperature``, ``cfg.backend``."""

    model: ModelConfig
    llamacpp: LlamaCppConfig
    audio: AudioConfig
    streaming: StreamingConfig
    conversation: ConversationConfig
    speech: SpeechConfig
    transcription: TranscriptionConfig
    listening: ListeningConfig
    remote: RemoteConfig
    shortcuts: ShortcutsConfig
    desktop: DesktopConfig
    backend: str

    def __init__(self, data: Mapping[str, Any] | None = None, *, user_file: Path | None = None) -> None:
        object.__setattr__(self, "user_file", user_file)
        for name, cls in _SECTIONS.items():
            object.__setattr__(self, name, cls())
        object.__setattr__(self, "backend", "auto")
        if data:
            self.update(data)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _SECTIONS:
            raise ConfigError(f"config section '{name}' cannot be replaced; set its keys instead")
        if name not in _SCALARS:
            raise ConfigError(f"unknown config key '{name}'")
        type_name, check = _SCALARS[name]
        value = _coerce(name, value, type_name)
        reason = check(value) if check else None
        if reason:
            raise ConfigError(f"{name} {reason}, got {value!r}")
        object.__setattr__(self, name, value)

    def update(self, data: Mapping[str, Any], *, source: str = "") -> None:
        """Apply a nested dict of settings, all or nothing: a bad key leaves every setting as it was."""
        staged = self.copy()
        where = f" (in {source})" if source else ""
        if not isinstance(data, Mapping):
            raise ConfigError(f"config must be a mapping of sections{where}, got {type(data).__name__}")
        try:
            for key, value in data.items():
                if key in _SECTIONS:
                    if not isinstance(value, Mapping):
                        raise ConfigError(f"config section '{key}' must be a mapping, got {value!r}")
                    section = getattr(staged, key)
                    for sub, subvalue in value.items():
                        setattr(section, str(sub), subvalue)
                else:
                    setattr(staged, str(key), value)
        except ConfigError as e:
            raise ConfigError(f"{e}{where}") from None
        for name in _SECTIONS:
            object.__setattr__(self, name, getattr(staged, name))
        for name in _SCALARS:
            object.__setattr__(self, name, getattr(staged, name))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in _SCALARS}
        for name in _SECTIONS:
            out[name] = dataclasses.asdict(getattr(self, name))
        return out

    def copy(self) -> Config:
        clone = Config(user_file=self.user_file)
        for name in _SECTIONS:
            object.__setattr__(clone, name, copy.copy(getattr(self, name)))
        for name in _SCALARS:
            object.__setattr__(clone, name, getattr(self, name))
        return clone

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the settings that differ from the shipped defaults, atomically, to the user's file."""
        target = Path(path) if path is not None else (self.user_file or paths.user_config_file())
        _back_up_if_corrupt(target)
        diff = _diff(self.to_dict(), default_config().to_dict())
        text = "# voxtral-desktop settings (only what differs from the defaults).\n"
        text += yaml.safe_dump(diff, sort_keys=False, allow_unicode=True) if diff else ""
        _atomic_write(target, text)
        log.info("saved settings to %s", target)
        return target

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Config({self.to_dict()!r})"


def save_changes(
    changes: Mapping[str, Any], *, live: Config | None = None, path: str | os.PathLike[str] | None = None
) -> Config:
    """Merge ``changes`` into the user's settings file, validated, atomically; Settings' "Save".

    ``changes`` maps a section to its changed keys (``{"streaming": {"temperature": 0.2}}``); top-level
    settings sit directly (``{"backend": "openai"}``); empty sections are ignored. Only these keys are
    added to what the file already holds, so settings given for one run (``--model``, ``--config``) are not
    saved behind the user's back. ``live``, the running app's settings, gets the changes too (the next reply
    uses them). The file is ``path``, else ``live``'s user file, else the default one.

    Raises ConfigError (a bad value, or a file that cannot be written), leaving the file and ``live`` as
    they were. A user file that cannot be used (not YAML, or holding bad values) is kept as a
    ``.corrupt-<time>`` copy and the changes are saved over the defaults. Returns what the file now holds,
    over the shipped defaults.
    """
    cleaned = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in changes.items() if v not in ({}, None)}
    target = Path(path) if path is not None else ((live.user_file if live else None) or paths.user_config_file())
    before = live.copy() if live is not None else None
    if live is not None:
        live.update(cleaned)  # validates: a bad value raises here, before anything is written
    try:
        stored = _stored_settings(target)
        if cleaned:
            stored.update(cleaned)
            stored.save(target)
    except (ConfigError, OSError) as e:
        if live is not None and before is not None:
            live.update(before.to_dict())
        if isinstance(e, OSError):
            # strerror: "No space left on device", not "[Errno 28] ...: '<the folder again>'"
            raise ConfigError(f"could not save settings to {target}: {e.strerror or e}") from e
        raise
    return stored


def _stored_settings(target: Path) -> Config:
    """The defaults with ``target``'s settings on top; an unusable file is backed up and left out."""
    stored = default_config()
    object.__setattr__(stored, "user_file", target)
    if not target.exists():
        return stored
    try:
        stored.update(_read_yaml(target), source=str(target))
    except ConfigError as e:
        log.warning("%s; saving the new settings over defaults", e)
        _back_up(target, e)
    return stored


def _diff(values: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            sub = _diff(value, defaults.get(key, {}))
            if sub:
                out[key] = sub
        elif defaults.get(key) != value:
            out[key] = value
    return out


def _atomic_write(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _back_up_if_corrupt(target: Path) -> None:
    """Saving over a file we could not read would lose what the user wrote in it: keep a copy first."""
    if not target.exists():
        return
    try:
        _read_yaml(target)
    except ConfigError as e:
        _back_up(target, e)


def _back_up(target: Path, problem: ConfigError) -> None:
    backup = target.with_name(f"{target.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(target, backup)
    log.warning("%s; kept it as %s before saving new settings", problem, backup)


def set_aside(path: Path | None = None) -> Path:
    """Move a settings file that cannot be used out of the way (the defaults apply again) and return where the
    copy is kept, so nothing the user wrote in it is lost."""
    target = Path(path) if path is not None else paths.user_config_file()
    backup = target.with_name(f"{target.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(target, backup)
    log.warning("settings file %s set aside as %s", target, backup)
    return backup


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path} is not UTF-8 text: {e}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, got {type(data).__name__}")
    return data


def shipped_config_text() -> str:
    return resources.files("voxtral_desktop").joinpath(CONFIG_FILENAME).read_text(encoding="utf-8")


def default_config() -> Config:
    """The defaults shipped inside the package."""
    data = yaml.safe_load(shipped_config_text()) or {}
    cfg = Config()
    cfg.update(data, source="shipped config.yaml")
    return cfg


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Shipped defaults, then the user's file, then ``path``, then ``overrides`` (a nested dict).

    Raises ConfigError naming the key and value (or the file) when anything is wrong; nothing is written.
    """
    user_file = paths.user_config_file()
    cfg = default_config()
    object.__setattr__(cfg, "user_file", user_file)
    if user_file.exists():
        cfg.update(_read_yaml(user_file), source=str(user_file))
    if path is not None:
        explicit = Path(path)
        if not explicit.exists():
            raise ConfigError(f"config file {explicit} does not exist")
        cfg.update(_read_yaml(explicit), source=str(explicit))
    if overrides:
        cfg.update(overrides, source="overrides")
    return cfg
