"""The spoken-reply hand-off: resolves the neural voice off the event loop (downloading it once, with progress),
speaks each reply chunk through one SpeechPlayer as it arrives, and falls back to the system voice, once and
said so, when no neural voice can be had."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from voxtral_desktop.core.config import Config, SpeechConfig
from voxtral_desktop.core.errors import HubUnreachable, SpeechError
from voxtral_desktop.core.model import LoadPhase
from voxtral_desktop.core.speech import PlayerEvent, PlayerEventKind, SpeechPlayer, Voice, resolve_voice
from voxtral_desktop.core.speech.fallback import VoiceTrouble
from voxtral_desktop.core.speech.languages import NAMES
from voxtral_desktop.core.speech.mistral_tts import is_mistral_voice, open_voice
from voxtral_desktop.core.speech.multilingual import follow_languages
from voxtral_desktop.core.speech.player import ReferenceListener
from voxtral_desktop.ui.view_models.status import VoiceStatus
from voxtral_desktop.ui.view_models.system_voice import SystemVoice

log = logging.getLogger(__name__)

SYSTEM = "system"  # `speech.voice` value that picks the system voice (speech-dispatcher) over a neural one

Resolver = Callable[..., Voice]  # resolve_voice(setting, *, progress=...) -> Voice, raises SpeechError
PlayerFactory = Callable[[Voice, str], Any]  # (voice, output device) -> a SpeechPlayer
# open_voice(setting, config, on_trouble=...) -> a server's voice with its local stand-in
RemoteResolver = Callable[..., Voice]
SYSTEM_TITLE = "Replies use the system voice"


class Speaker(QObject):
    """One voice for the window's replies: ``say_chunk`` while the model generates, ``end_reply``, ``stop``.

    Until ``load()`` has resolved the neural voice, chunks wait (in order) and are spoken once it is ready.
    Player events come from its audio thread and cross to the event loop with call_soon_threadsafe.
    """

    chunkQueued = Signal(str)  # a chunk handed to the voice, in order
    speakingChanged = Signal(bool)
    firstSound = Signal(float)  # time.monotonic() at which a reply's first sample reached the output
    chunkStarted = Signal(int, float)  # a chunk's number in its reply and when its first sample sounded
    untracked = Signal()  # a chunk went to a voice that cannot tell when it sounds (the system voice)
    statusChanged = Signal(object)  # VoiceStatus
    # why the system voice speaks instead of the neural one (emitted once), or why the default voice reads a
    # language that has no voice here (once per language); ``fallback_title`` is the banner's headline
    fallback = Signal(str)
    unavailable = Signal(str)  # why nothing can be spoken at all

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        voice: str = "",
        output_device: str = "",
        engine: str = "",
        enabled: bool = True,
        resolver: Resolver = resolve_voice,
        player_factory: PlayerFactory = SpeechPlayer,
        config: Config | None = None,
        remote_resolver: RemoteResolver = open_voice,
    ) -> None:
        super().__init__(parent)
        self.enabled = enabled
        self._voice_setting = voice
        self._output_device = output_device
        self._engine = engine
        self._rate = 0.0
        self._resolver = resolver
        self._player_factory = player_factory
        self._player: Any = None
        self._system: SystemVoice | None = None
        self._status = VoiceStatus()
        self._pending: list[str] = []  # chunks said while the voice was still loading
        self._pending_end = False
        self._speaking = False
        self._fallback_said = False
        self.fallback_title = SYSTEM_TITLE  # the window's banner headline for the fallback said
        self.fallback_whole = False  # the fallback's ``why`` says it all (no "natural voice" preamble)
        self._config = config  # the live settings: a mistral: voice's server and model
        self._remote_resolver = remote_resolver
        self._references: list[ReferenceListener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._generation = 0  # bumped when the settings change: a load that finishes late is dropped
        self._languages = self._language_settings()
        if self._wants_system:
            self._use_system("")  # nothing to load

    # --- state ----------------------------------------------------------------------------------------

    @property
    def status(self) -> VoiceStatus:
        return self._status

    @property
    def neural(self) -> bool:
        """A neural voice speaks (False: the system voice, or still loading)."""
        return self._player is not None

    @property
    def available(self) -> bool:
        if self._player is not None:
            return True
        return self._system is not None and self._system.available

    @property
    def error(self) -> str:
        if self._player is not None or self._system is None:
            return ""
        return self._system.error

    @property
    def engine(self) -> str:
        """What speaks: "mistral" for Mistral's voice, "piper" for a neural one here, else the system engine."""
        if self._player is not None:
            return "mistral" if is_mistral_voice(self._voice_setting) else "piper"
        return self._system.engine if self._system is not None else self._engine

    @property
    def voice(self) -> str:
        if self._player is not None:
            return str(self._player.voice.name)
        return self._system.voice if self._system is not None else ""

    @property
    def is_speaking(self) -> bool:
        return self._speaking

    def voices(self) -> list[str]:
        """The system engine's voices (the neural ones are listed by the settings view-model)."""
        return self._system.voices() if self._system is not None else []

    def add_reference_listener(self, listener: ReferenceListener) -> None:
        """``listener(samples, sample_rate, t_play)`` hears everything the neural voice plays, from the audio
        thread (the hands-free echo canceller). Kept across voice changes; the system voice has no signal."""
        self._references.append(listener)
        if self._player is not None:
            self._player.add_reference_listener(listener)

    @property
    def _wants_system(self) -> bool:
        return self._voice_setting.strip().lower() == SYSTEM

    # --- loading ----------------------------------------------------------------------------------------

    def configure(
        self, *, enabled: bool, voice: str = "", rate: float = 0.0, engine: str = "", output_device: str = ""
    ) -> bool:
        """Take the speech settings; True when the voice must be loaded again (call ``load()``)."""
        self.enabled = enabled
        self._rate = rate
        languages = self._language_settings()
        changed = (voice, output_device, engine, languages) != (
            self._voice_setting, self._output_device, self._engine, self._languages
        )
        self._voice_setting, self._output_device, self._engine = voice, output_device, engine
        self._languages = languages
        if self._system is not None:
            self._system.configure(enabled=enabled, rate=rate, engine=engine)
        if changed and self._status.phase != LoadPhase.IDLE:
            self._unload()
        if self._wants_system:
            self._use_system("")
            return False
        return enabled and (changed or self._status.phase == LoadPhase.IDLE)

    def _language_settings(self) -> tuple[bool, tuple[str, ...]]:
        """speech.follow_language and speech.language_voices (the live settings' when given)."""
        speech = self._config.speech if self._config is not None else SpeechConfig()
        return speech.follow_language, tuple(speech.language_voices)

    def _unload(self) -> None:
        self.stop()
        self._generation += 1
        if self._player is not None:
            self._player.close()
            self._player = None
        if self._system is not None:
            self._system.deleteLater()
            self._system = None
        self._publish(VoiceStatus())

    async def load(self) -> None:
        """Resolve ``speech.voice`` on a worker thread (a first use downloads it) and open its player."""
        if self._status.phase in (LoadPhase.DOWNLOADING, LoadPhase.LOADING, LoadPhase.READY):
            return
        generation = self._generation
        if self._wants_system:
            self._use_system("")
            return
        loop = self._loop = asyncio.get_running_loop()
        self._publish(VoiceStatus(LoadPhase.LOADING, "Loading the voice…"))

        def progress(fraction: float) -> None:  # the download's thread
            loop.call_soon_threadsafe(self._on_progress, generation, fraction)

        def trouble(found: VoiceTrouble) -> None:  # the player's thread
            loop.call_soon_threadsafe(self._on_trouble, generation, found)

        def language_progress(key: str, fraction: float) -> None:  # the player's thread: a first need
            loop.call_soon_threadsafe(self._on_language_progress, generation, key, fraction)

        def missing(language: str, why: str) -> None:  # the player's thread
            loop.call_soon_threadsafe(self._on_language_missing, generation, language, why)

        def switched(language: str, name: str) -> None:  # the player's thread
            loop.call_soon_threadsafe(self._on_language_switch, generation, language, name)

        setting, device = self._voice_setting, self._output_device
        follow, language_voices = self._languages

        def resolve() -> Voice:
            if is_mistral_voice(setting):
                from voxtral_desktop.core.config import load_config

                config = self._config if self._config is not None else load_config()
                return self._remote_resolver(setting, config, on_trouble=trouble)
            voice = self._resolver(setting, progress=progress)
            if not follow:
                return voice
            return follow_languages(
                voice, language_voices, progress=language_progress, on_missing=missing, on_switch=switched
            )

        try:
            voice = await loop.run_in_executor(None, resolve)
            player = await loop.run_in_executor(None, lambda: self._player_factory(voice, device))
            await loop.run_in_executor(None, self._prepare_player, player)
        except SpeechError as e:
            if generation == self._generation:
                self._use_system(str(e), e.cause if isinstance(e, HubUnreachable) else "")
            return
        if generation != self._generation:  # the settings changed while it loaded
            player.close()
            return
        self._player = player
        player.add_listener(lambda event: loop.call_soon_threadsafe(self._on_event, player, event))
        for listener in self._references:
            player.add_reference_listener(listener)
        self._publish(VoiceStatus(LoadPhase.READY, f"Speaking with the voice {voice.name}", None, True, voice.name))
        self._flush_pending()

    @staticmethod
    def _prepare_player(player: Any) -> None:
        """Open the sound output before the first reply (it stays open a while after each); one that cannot
        open is said by the first chunk (the system voice takes over)."""
        prepare = getattr(player, "prepare", None)
        if prepare is None:
            return
        try:
            prepare()
        except SpeechError as e:
            log.warning("the sound output did not open ahead of the reply: %s", e)

    def prepare(self) -> None:
        """A reply is coming (the user started talking): open the sound output now, so the reply's first
        words do not wait for it (~50 ms on PulseAudio). Cheap when it is open already."""
        if self._player is not None and self.enabled and self._loop is not None:
            self._loop.run_in_executor(None, self._prepare_player, self._player)

    def _on_progress(self, generation: int, fraction: float) -> None:
        if generation == self._generation and self._status.phase != LoadPhase.READY:
            name = self._voice_setting or "the default voice"
            message = f"Downloading {name} (first use only)… {fraction:.0%}"
            self._publish(VoiceStatus(LoadPhase.DOWNLOADING, message, fraction))

    def _on_language_progress(self, generation: int, key: str, fraction: float) -> None:
        """A language's voice downloads on its first need (its sentences wait): the window shows how far."""
        if generation != self._generation or self._player is None:
            return
        if fraction < 1.0:
            message = f"Downloading the voice {key} (first use only)… {fraction:.0%}"
            self._publish(VoiceStatus(LoadPhase.DOWNLOADING, message, fraction, True, self.voice))
        else:
            self._publish(VoiceStatus(LoadPhase.READY, f"Speaking with the voice {key}", None, True, key))

    def _on_language_missing(self, generation: int, language: str, why: str) -> None:
        if generation != self._generation:
            return
        self.fallback_title = f"No voice for {NAMES.get(language, language)}"
        self.fallback_whole = True
        self.fallback.emit(why)

    def _on_language_switch(self, generation: int, language: str, name: str) -> None:
        if generation == self._generation and self._player is not None:
            message = f"Speaking {NAMES.get(language, language)} with the voice {name}"
            self._publish(VoiceStatus(LoadPhase.READY, message, None, True, name))

    def _use_system(self, why: str, detail: str = "") -> None:
        """Speak with the system voice; ``why`` (not empty) is said once: the neural voice could not be had.
        ``detail``: the library's words behind it (the status carries it for a Details disclosure)."""
        if self._system is None:
            self._system = SystemVoice(self._engine, self)
            self._system.speakingChanged.connect(self._set_speaking)
            self._system.unavailable.connect(self.unavailable)
        self._system.configure(enabled=self.enabled, rate=self._rate, engine=self._engine)
        if why:
            log.warning("no neural voice, using the system voice: %s", why)
        phase = LoadPhase.FAILED if why else LoadPhase.READY
        self._publish(VoiceStatus(phase, why, None, False, self._system.voice, detail))
        if why and not self._fallback_said:
            self._fallback_said = True
            self.fallback_title, self.fallback_whole = SYSTEM_TITLE, False
            self.fallback.emit(why)
        if not self._system.available:
            self.unavailable.emit(self._system.error)
        self._flush_pending()

    def _on_trouble(self, generation: int, trouble: VoiceTrouble) -> None:
        """The server's voice did not say a chunk: a local voice said it, or (none here) the system voice says
        it now. The window hears why once."""
        if generation != self._generation:
            return
        if not trouble.local:
            self._say_with_system(trouble.text)
        if not self._fallback_said:
            self._fallback_said = True
            self.fallback_whole = True
            if trouble.local:
                self.fallback_title = "Replies use the voice on this computer"
                tail = f"Until it answers again, {trouble.local} speaks (on this computer)."
            else:
                self.fallback_title = SYSTEM_TITLE
                tail = "No natural voice is installed here, so the system voice speaks until it answers again."
            self.fallback.emit(f"{trouble.why}. {tail}")

    def _say_with_system(self, text: str) -> None:
        if self._system is None:
            self._system = SystemVoice(self._engine, self)
            self._system.speakingChanged.connect(self._set_speaking)
            self._system.unavailable.connect(self.unavailable)
            self._system.configure(enabled=self.enabled, rate=self._rate, engine=self._engine)
        self._say_system(text)

    def _publish(self, status: VoiceStatus) -> None:
        self._status = status
        self.statusChanged.emit(status)

    # --- speaking ---------------------------------------------------------------------------------------

    def say_chunk(self, text: str) -> None:
        """Queue one chunk of the reply being spoken; synthesis starts at once."""
        if not (self.enabled and text.strip()):
            return
        if self._player is not None:
            try:
                self._player.say(text)
            except SpeechError as e:  # the sound output went away or never was: the system voice tries
                self._player.close()
                self._player = None
                self._use_system(str(e))
                self._say_system(text)
                return
            self._set_speaking(True)
            self.chunkQueued.emit(text)
        elif self._system is not None:
            self._say_system(text)
        else:
            self._pending.append(text)
            self._set_speaking(True)  # as far as barge-in and Esc are concerned, the reply is being spoken

    def _say_system(self, text: str) -> None:
        assert self._system is not None
        if self._system.available:
            self._system.say_chunk(text)
            self.chunkQueued.emit(text)
            self.untracked.emit()  # the system voice never says when a chunk sounds

    def end_reply(self) -> None:
        """The reply has no more chunks: the speaker goes idle once they have all been played."""
        if self._player is not None:
            self._player.end()
        elif self._system is None:
            self._pending_end = True

    def _flush_pending(self) -> None:
        pending, end = self._pending, self._pending_end
        self._pending, self._pending_end = [], False
        for text in pending:
            self.say_chunk(text)
        if end:
            self.end_reply()
        if not pending and self._system is not None and self._player is None:
            self._set_speaking(self._system.is_speaking)

    def stop(self) -> None:
        """Silence now: the chunk being played, everything queued, and the device's buffer."""
        self._pending.clear()
        self._pending_end = False
        if self._player is not None:
            self._player.stop()
        if self._system is not None:
            self._system.stop()
        self._set_speaking(False)

    def close(self) -> None:
        """Quitting: silence, and let go of the sound device."""
        self.stop()
        self._generation += 1
        if self._player is not None:
            self._player.close()
            self._player = None

    def _on_event(self, player: Any, event: PlayerEvent) -> None:
        if player is not self._player:
            return  # from a player closed since
        if event.kind == PlayerEventKind.FIRST_SOUND:
            self.firstSound.emit(event.t)
        elif event.kind == PlayerEventKind.CHUNK_STARTED:
            self.chunkStarted.emit(event.index, event.t)
        elif event.kind == PlayerEventKind.IDLE:
            # An IDLE from a stopped reply can arrive after the next reply's first say(): ask the player.
            self._set_speaking(player.is_speaking)

    def _set_speaking(self, speaking: bool) -> None:
        if speaking != self._speaking:
            self._speaking = speaking
            self.speakingChanged.emit(speaking)
