"""Every error the user may see, in one tree; each message says what happened and what to do about it.

```
VoxtralError                       root of every error the user may see (message = what to do)
├── ConfigError(VoxtralError, ValueError)
│                                  a setting is unknown, mistyped or out of range; a config file is unreadable
├── AudioError(VoxtralError, ValueError)
│   │                              audio of the wrong type, shape or dtype; empty, too short, not finite
│   └── AudioTooLong               longer than audio.max_recording_s (found from the shape, nothing copied)
├── CaptureError                   microphone / sound device trouble
├── ListeningUnavailable           hands-free cannot run as set: a package it needs is missing
│   ├── VadUnavailable             the Silero speech detector (silero-vad, onnxruntime)
│   └── EchoCancellerUnavailable   echo cancellation (pywebrtc-audio); hands-free goes on without it
├── HistoryError(VoxtralError, LookupError)
│   │                              a conversation or turn that does not exist; an unusable history file
│   └── HistoryWriteError          could not save (disk full, read-only, locked)
├── KeyringUnavailable             no usable OS keyring to store an API key in
├── HubUnreachable                 the Hugging Face hub cannot be reached (offline, HF_HUB_OFFLINE=1, DNS,
│                                  timeout) and the files are not here; ``.repo``, ``.size_bytes``, ``.cause``
├── ModelLoadError                 the model could not be loaded
│   ├── NotEnoughMemory            it would not fit in memory; ``.needed`` / ``.available`` in bytes
│   ├── EngineUnavailable          the llama.cpp engine is not installed (the message names the command)
│   └── ModelUnavailableOffline(ModelLoadError, HubUnreachable)
│                                  the model is not on this machine and cannot be downloaded now
├── SpeechError                    voice / audio output trouble
│   ├── VoiceUnavailableOffline(SpeechError, HubUnreachable)
│   │                              the voice is not on this machine and cannot be downloaded now
│   └── RemoteVoiceFailed          a server's voice (Mistral's Voxtral TTS) could not speak a chunk: no key,
│                                  key refused or kept off http://, unreachable, an HTTP error; a local voice
│                                  takes over
├── ReplyError                     why a reply ended without its answer (a reply's Ended event carries it)
│   ├── InputRejected              the input cannot be answered; the model was not called
│   │   ├── NoSpeech               no speech heard in the recording
│   │   ├── TooShort               too short to hold speech (audio.min_speech_ms)
│   │   ├── UnknownMode(InputRejected, ValueError)
│   │   │                          a mode other than conversation / transcribe
│   │   └── EmptyTurn              a typed turn with no text
│   ├── ReplyTimedOut              no progress from the model for streaming.timeout_ms
│   ├── ReplyCancelled             the user stopped it (Esc, a new turn, barge-in)
│   └── ReplyClosed                its reader stopped reading before the reply ended (the app quit)
└── GenerationError                generation failed inside the back-end
    ├── ModelBusy                  an earlier, stuck generation still holds the model; nothing was started
    ├── RemoteConnectionError      the server could not be reached (refused, unknown host, TLS, reset)
    ├── RemoteTimeout              the server did not answer in remote.timeout_s
    ├── RemoteStatusError          the server answered with an HTTP error; ``.status`` holds the code
    ├── EngineCrashed              the llama.cpp engine process ended mid-reply; ``.how`` (e.g. "was killed
    │                              (SIGKILL)"); the next reply starts it again
    ├── KeyInClearRefused          an API key would go over plain http:// to another machine: refused before
    │                              connecting; ``.base_url``, ``.host`` (fix: https, remote.allow_http_hosts)
    └── StreamBroken               the reply stream ended early; ``.words`` says how many arrived first
```

Catch ``VoxtralError`` to show any of them; catch a leaf to react to one case (a retry on RemoteTimeout,
"check the key" on RemoteStatusError with status 401). The old homes of these classes (config, audio,
capture, history, secrets, backends.base) re-export them, so existing imports keep working.
"""

from __future__ import annotations

__all__ = [
    "AudioError",
    "AudioTooLong",
    "CaptureError",
    "ConfigError",
    "EchoCancellerUnavailable",
    "EmptyTurn",
    "EngineCrashed",
    "EngineUnavailable",
    "GenerationError",
    "HistoryError",
    "HistoryWriteError",
    "HubUnreachable",
    "InputRejected",
    "KeyInClearRefused",
    "KeyringUnavailable",
    "ListeningUnavailable",
    "ModelBusy",
    "ModelLoadError",
    "ModelUnavailableOffline",
    "NoSpeech",
    "NotEnoughMemory",
    "RemoteConnectionError",
    "RemoteStatusError",
    "RemoteTimeout",
    "RemoteVoiceFailed",
    "ReplyCancelled",
    "ReplyClosed",
    "ReplyError",
    "ReplyTimedOut",
    "SpeechError",
    "StreamBroken",
    "TooShort",
    "UnknownMode",
    "VadUnavailable",
    "VoiceUnavailableOffline",
    "VoxtralError",
]


class VoxtralError(Exception):
    """Root of every error the user may see; the message says what to do."""


class ConfigError(VoxtralError, ValueError):
    """A setting is unknown, of the wrong type or out of range, or a config file cannot be read."""


class AudioError(VoxtralError, ValueError):
    """Audio that cannot be used: wrong type, shape or dtype, empty, too short, not finite."""


class AudioTooLong(AudioError):
    """Audio longer than the caller accepts; raised before any sample is read or copied."""

    def __init__(self, seconds: float, limit_s: float) -> None:
        self.seconds = seconds
        self.limit_s = limit_s
        super().__init__(f"audio is {seconds:.1f} s long; the limit is {limit_s:g} s (audio.max_recording_s)")


class CaptureError(VoxtralError):
    """The microphone cannot be used: none present, it vanished, or PortAudio refused it."""


class ListeningUnavailable(VoxtralError):
    """Hands-free listening cannot run as set: a package it needs is missing or broken."""


class VadUnavailable(ListeningUnavailable):
    """The Silero speech detector cannot run (silero-vad or onnxruntime missing)."""


class EchoCancellerUnavailable(ListeningUnavailable):
    """Echo cancellation cannot run (pywebrtc-audio missing); listening goes on without it."""


class HistoryError(VoxtralError, LookupError):
    """A conversation or turn that does not exist, or a history file that cannot be used."""


class HistoryWriteError(HistoryError):
    """The history could not be saved (disk full, read-only, locked); ``reason`` says why, in the user's words.

    The one place the sentence "could not be saved: ..." is written.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"could not be saved: {reason}")
        self.reason = reason

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.reason,))


class KeyringUnavailable(VoxtralError):
    """No usable OS keyring: the message says how to provide the key instead."""


class ModelLoadError(VoxtralError):
    """The model could not be loaded; the message says what to do about it."""


class NotEnoughMemory(ModelLoadError):
    """The model would not fit in memory (loading it anyway would get the app killed by the OS)."""

    def __init__(self, message: str, *, needed: int, available: int) -> None:
        super().__init__(message)
        self.needed = needed  # bytes the model needs, by the estimate made before loading
        self.available = available  # bytes the OS could give at that moment


class EngineUnavailable(ModelLoadError):
    """The llama.cpp engine cannot run here: neither the xllamacpp package nor a llama-server binary is found."""


class SpeechError(VoxtralError):
    """Speaking a reply failed: no voice, or no audio output."""


class RemoteVoiceFailed(SpeechError):
    """A voice on a server could not speak a chunk (no key, the key refused or kept off plain http://, the
    server unreachable or answering an error); the message names the server and what to do."""


class HubUnreachable(VoxtralError):
    """The Hugging Face hub could not be reached and the files are not on this machine.

    The message is for people (offline, how big, how to get the files here); ``cause`` keeps the library's
    own words for a Details disclosure and the log. ``offline_mode``: HF_HUB_OFFLINE=1 forbade the network,
    rather than the network failing.
    """

    def __init__(
        self, message: str, *, repo: str, cause: str, size_bytes: int | None = None, offline_mode: bool = False
    ) -> None:
        super().__init__(message)
        self.repo = repo  # the hub repository, e.g. mistralai/Voxtral-Mini-3B-2507
        self.cause = cause  # what the library said, every exception of the chain
        self.size_bytes = size_bytes  # what the download would be, when known (None: unknown)
        self.offline_mode = offline_mode

    def __reduce__(self) -> tuple[object, ...]:  # keyword fields survive pickling (worker processes)
        return (_rebuild, (type(self), str(self), self.__dict__.copy()))


def _rebuild(cls: type[HubUnreachable], message: str, fields: dict[str, object]) -> HubUnreachable:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(fields)
    return error


class ModelUnavailableOffline(ModelLoadError, HubUnreachable):
    """The model is neither on this machine nor downloadable now; the message says how to bring it here."""


class VoiceUnavailableOffline(SpeechError, HubUnreachable):
    """The voice is neither on this machine nor downloadable now; the message says how to bring it here."""


class ReplyError(VoxtralError):
    """Why a reply ended without its answer; the reply's final event carries it (core/reply.py)."""


class InputRejected(ReplyError):
    """The input cannot be answered (no speech, too short, unknown mode, no text); the model was not called."""


class NoSpeech(InputRejected):
    """The recording holds no speech the detectors could hear."""


class TooShort(InputRejected):
    """The recording is shorter than audio.min_speech_ms."""


class UnknownMode(InputRejected, ValueError):
    """A mode other than conversation or transcribe."""


class EmptyTurn(InputRejected):
    """A typed turn with no text."""


class ReplyTimedOut(ReplyError):
    """No progress from the model (no text, no finished layer) for streaming.timeout_ms."""


class ReplyCancelled(ReplyError):
    """The user stopped the reply; its words so far stay."""

    def __init__(self) -> None:
        super().__init__("cancelled")


class ReplyClosed(ReplyCancelled):
    """Whoever read the reply stopped before its end (the window closed, the caller broke off)."""

    def __init__(self) -> None:
        ReplyError.__init__(self, "closed before the reply ended")


class GenerationError(VoxtralError):
    """Generation failed inside the back-end; the message says what happened."""


class ModelBusy(GenerationError):
    """An earlier generation is stuck and still holds the model; the reply was not started."""


class RemoteConnectionError(GenerationError):
    """The server could not be reached: refused, unknown host, TLS failure, connection reset."""


class RemoteTimeout(GenerationError):
    """The server did not answer (or went quiet mid-reply) for remote.timeout_s."""


class RemoteStatusError(GenerationError):
    """The server answered with an HTTP error status (401, 404, 429, 5xx ...)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status

    def __reduce__(self) -> tuple[object, ...]:  # keeps ``status`` across pickling (worker processes)
        return (type(self), (str(self), self.status))


class EngineCrashed(GenerationError):
    """The llama.cpp engine process ended during a reply (a crash, the OS killing it); the next reply restarts it."""

    def __init__(self, how: str, detail: str = "") -> None:
        super().__init__(
            f"the llama.cpp engine stopped during the reply (it {how}); it starts again with your next turn"
            + (f". Its last words: {detail}" if detail else "")
        )
        self.how = how
        self.detail = detail

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.how, self.detail))


class KeyInClearRefused(GenerationError):
    """An API key would travel unencrypted (plain http://) to a host that is not this machine; nothing was sent.

    The message names the server and the two fixes: an https:// address, or the host in
    remote.allow_http_hosts when the network between is trusted.
    """

    def __init__(self, base_url: str, host: str, key_source: str) -> None:
        super().__init__(
            f"not sending the API key (from {key_source}) to {base_url}: plain http:// would carry it "
            f"unencrypted to {host}, another machine. Use an https:// address for the server, or, if the "
            f"network to {host} is one you trust, add it to remote.allow_http_hosts in the settings file"
        )
        self.base_url = base_url
        self.host = host
        self.key_source = key_source

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.base_url, self.host, self.key_source))


class StreamBroken(GenerationError):
    """The reply stream ended early, after ``words`` words; ``reason`` says why.

    The one place the sentence "the stream broke after N words: ..." is written.
    """

    def __init__(self, words: int, reason: str) -> None:
        super().__init__(f"the stream broke after {words} words: {reason}")
        self.words = words
        self.reason = reason

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.words, self.reason))
