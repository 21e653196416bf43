"""MultilingualVoice: each sentence of a reply spoken by the voice for its language (detected per sentence), the
default voice where none fits (said once per language); and the chooser that finds or downloads those voices."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from voxtral_desktop.core.errors import SpeechError
from voxtral_desktop.core.speech.catalogue import installed_voices, resolve_voice
from voxtral_desktop.core.speech.languages import NAMES, SURE, LanguageDetector, voice_language
from voxtral_desktop.core.speech.voices import PiperVoice, Voice

log = logging.getLogger(__name__)

# A sentence ends at one of these (the Devanagari danda for Hindi), closing quotes or brackets allowed after; a
# colon counts too, as it often opens words in another language ("In French you say: bonjour").
_SENTENCE_END = re.compile(r"(?<=[.!?…।:])[\"'”’»)\]]*\s+")
_ENDS_SENTENCE = re.compile(r"[.!?…।:][\"'”’»)\]]*\s*$")
_QUALITY_ORDER = {"medium": 0, "high": 1, "low": 2, "x_low": 3}

Chooser = Callable[[str], "Voice | None"]  # language -> its voice, or None (raises SpeechError: none to be had)
MissingListener = Callable[[str, str], None]  # (language, why): said once per language
SwitchListener = Callable[[str, str], None]  # (language, voice name): another voice takes over
DownloadProgress = Callable[[str, float], None]  # (voice key, fraction)


def parse_language_voices(entries: Iterable[str]) -> dict[str, str]:
    """`speech.language_voices` (["fr=fr_FR-siwis-medium", ...]) as {language: voice}."""
    pairs = (entry.partition("=") for entry in entries)
    return {language.strip(): voice.strip() for language, _, voice in pairs if voice.strip()}


def installed_voice_for(language: str) -> str:
    """The key of an installed voice speaking ``language`` (medium quality first), or ""."""
    found = [v for v in installed_voices() if voice_language(v.language) == language]
    found.sort(key=lambda v: (_QUALITY_ORDER.get(v.quality, 9), v.key))
    return found[0].key if found else ""


def language_chooser(
    language_voices: Iterable[str] = (),
    *,
    progress: DownloadProgress | None = None,
    load: Callable[[str, Callable[[float], None] | None], Voice] | None = None,
) -> Chooser:
    """language -> the user's voice for it: the one `speech.language_voices` names (downloaded on first need,
    with progress), else an installed voice of that language, else None."""
    chosen = parse_language_voices(language_voices)

    def default_load(setting: str, on_progress: Callable[[float], None] | None) -> Voice:
        return resolve_voice(setting, progress=on_progress)

    loader = load or default_load

    def choose(language: str) -> Voice | None:
        setting = chosen.get(language) or installed_voice_for(language)
        if not setting:
            return None
        name = Path(setting).name.removesuffix(".onnx")
        on_progress = (lambda fraction: progress(name, fraction)) if progress is not None else None
        return loader(setting, on_progress)

    return choose


class MultilingualVoice:
    """A Voice over several: ``default`` speaks its own language and any language with no voice; ``choose``
    gives the others (asked once per language, from the player's thread: a first need may download).

    A sentence's language is decided by its first words the detector is sure of; until then, and for short
    sentences ("OK."), the language before it carries on (the default's at first). Audio comes at ``default``'s rate whatever speaks."""

    quick_first_piece = True

    def __init__(
        self,
        default: Voice,
        choose: Chooser,
        *,
        default_language: str = "",
        detector: LanguageDetector | None = None,
        on_missing: MissingListener | None = None,
        on_switch: SwitchListener | None = None,
    ) -> None:
        self.default = default
        self.name = default.name
        self.sample_rate = int(default.sample_rate)
        self.default_language = default_language or voice_language(str(getattr(default, "language", "en")))
        self.quick_first_piece = bool(getattr(default, "quick_first_piece", False))
        self._choose = choose
        self._detector = detector or LanguageDetector()
        self.on_missing = on_missing
        self.on_switch = on_switch
        self._speaking: Voice = default  # the voice of the last segment
        self._voices: dict[str, Voice | None] = {self.default_language: default}
        self._lock = threading.Lock()
        self._language = ""  # the current sentence's
        self._sentence = ""  # the current sentence so far
        self._decided = False  # the detector was sure of the current sentence's language
        self._new_sentence = True
        self._primed = False  # expect() decided the next segment's language

    @property
    def language(self) -> str:
        """The language being spoken (the last sentence's), or the default's before any."""
        return self._language or self.default_language

    def expect(self, text: str) -> None:
        """The player says ``text`` in pieces (the reply's first chunk, cut short): the language of the sentence
        it begins or continues is decided on all of it, not on its first two words ("Je pense" alone is
        too short to tell)."""
        first = _SENTENCE_END.split(text.strip())[0]
        if first.strip():
            self._follow(first)
            self._primed = True

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        for segment in _SENTENCE_END.split(text.strip()):
            if not segment.strip():
                continue
            if self._primed:  # decided by expect()
                self._primed = False
                language = self.language
            else:
                language = self._follow(segment)
            voice = self._voice_for(language)
            if voice is not self._speaking:
                self._speaking = voice
                self._tell(self.on_switch, language, voice.name)
            for audio in voice.synthesize(segment):
                yield self._resampled(np.asarray(audio, dtype=np.float32), int(voice.sample_rate))
            self._new_sentence = bool(_ENDS_SENTENCE.search(segment))

    def _follow(self, segment: str) -> str:
        """The language ``segment`` is spoken in, as part of the sentence it begins or continues."""
        if self._new_sentence:
            self._sentence, self._decided = segment, False
        else:
            self._sentence = f"{self._sentence} {segment}"
        if not self._decided:
            found, probability = self._detector.detect(self._sentence)
            if found and probability >= SURE:
                self._language, self._decided = found, True
        return self.language

    def _voice_for(self, language: str) -> Voice:
        with self._lock:
            if language not in self._voices:
                voice: Voice | None = None
                why = ""
                try:
                    voice = self._choose(language)
                except SpeechError as e:
                    why = str(e)
                    log.warning("no %s voice: %s", language, e)
                self._voices[language] = voice
                if voice is None:
                    self._tell_missing(language, why)
                else:
                    log.info("%s sentences are spoken by %s", NAMES.get(language, language), voice.name)
            return self._voices[language] or self.default

    def _tell_missing(self, language: str, why: str) -> None:
        name = NAMES.get(language, language)
        message = (
            f"No {name} voice is installed, so {name} sentences are read by {self.default.name}. "
            f"Choose a voice for {name} in Settings > Voice."
        )
        if why:
            message = f"The {name} voice could not be had ({why}), so {name} sentences are read by {self.default.name}."
        log.info("%s", message)  # the listener tells the user
        self._tell(self.on_missing, language, message)

    @staticmethod
    def _tell(listener: Callable[[str, str], None] | None, language: str, what: str) -> None:
        if listener is None:
            return
        try:
            listener(language, what)
        except Exception:  # noqa: BLE001 - a listener's bug must not silence the voice
            log.exception("voice listener failed")

    def _resampled(self, audio: np.ndarray, rate: int) -> np.ndarray:
        if rate == self.sample_rate:
            return audio
        import soxr

        return soxr.resample(audio, rate, self.sample_rate).astype(np.float32)

    def close(self) -> None:
        for voice in {id(v): v for v in self._voices.values() if v is not None}.values():
            close = getattr(voice, "close", None)
            if close is not None:
                close()


def follow_languages(
    voice: Voice,
    language_voices: Iterable[str] = (),
    *,
    progress: DownloadProgress | None = None,
    on_missing: MissingListener | None = None,
    on_switch: SwitchListener | None = None,
) -> Voice:
    """``voice`` made to follow each sentence's language, for a local Piper voice (a server's voice, such as
    Mistral's, speaks every language itself and is returned as it is)."""
    if not isinstance(voice, PiperVoice):
        return voice
    chooser = language_chooser(language_voices, progress=progress)
    detector = LanguageDetector()
    detector.load()  # here, while the voice loads: not in the way of the first reply's first words
    return MultilingualVoice(voice, chooser, detector=detector, on_missing=on_missing, on_switch=on_switch)
