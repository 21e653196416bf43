"""The voice follows the reply's language (issue 21): each sentence is spoken by the voice for its language,
detected per sentence; a language with no voice is read by the default voice, and that is said once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from voxtral_desktop.core.speech.catalogue import installed_voices
from voxtral_desktop.core.speech.languages import LanguageDetector
from voxtral_desktop.core.speech.multilingual import MultilingualVoice, language_chooser
from voxtral_desktop.core.speech.player import PlayerEvent, PlayerEventKind, SpeechPlayer
from voxtral_desktop.core.speech.voices import PiperVoice
from voxtral_desktop.testing.language_voices import register_joe_as

# A reply as the model hands it over, in 4-word chunks: English, then French, then English again.
MIXED = [
    "Sure, here it is.", "In French you say:", "Bonjour, je m'appelle Marie", "et j'habite à Paris.",
    "That means hello, my", "name is Marie.",
]


class Recording:
    """A real voice that notes what it was asked to say, in a log shared by all the voices."""

    def __init__(self, voice, spoken: list[tuple[str, str]]) -> None:
        self.voice, self.spoken = voice, spoken
        self.name, self.sample_rate = voice.name, voice.sample_rate
        self.language = voice.language
        self.quick_first_piece = True

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        self.spoken.append((self.name, text))
        yield from self.voice.synthesize(text)


@pytest.fixture(scope="module")
def detector():
    return LanguageDetector()


def recording_voices(spoken, language_voices=()):
    def load(setting, progress):
        for info in installed_voices():
            if info.key == setting:
                return Recording(PiperVoice.load(info.path, name=info.key), spoken)
        raise AssertionError(f"asked for a voice that is not installed: {setting}")

    return language_chooser(language_voices, load=load)


def test_each_sentence_is_spoken_by_the_voice_for_its_language(joe_voice, detector):
    french = register_joe_as("fr")
    spoken: list[tuple[str, str]] = []
    voice = MultilingualVoice(Recording(joe_voice, spoken), recording_voices(spoken), detector=detector)
    for chunk in MIXED:
        assert all(len(audio) for audio in voice.synthesize(chunk))
    assert spoken == [
        ("en_US-joe-medium", "Sure, here it is."),
        ("en_US-joe-medium", "In French you say:"),
        (french, "Bonjour, je m'appelle Marie"),
        (french, "et j'habite à Paris."),
        ("en_US-joe-medium", "That means hello, my"),
        ("en_US-joe-medium", "name is Marie."),
    ]


def test_a_chunk_holding_two_sentences_is_split_between_their_voices(joe_voice, detector):
    german = register_joe_as("de")
    spoken: list[tuple[str, str]] = []
    voice = MultilingualVoice(Recording(joe_voice, spoken), recording_voices(spoken), detector=detector)
    list(voice.synthesize("It is sunny today. Heute scheint die Sonne."))
    assert spoken == [("en_US-joe-medium", "It is sunny today."), (german, "Heute scheint die Sonne.")]


def test_the_voice_named_in_the_settings_wins_over_another_installed_one(joe_voice, detector):
    register_joe_as("fr")
    chosen = register_joe_as("fr", "CA")
    spoken: list[tuple[str, str]] = []
    voice = MultilingualVoice(Recording(joe_voice, spoken), recording_voices(spoken, [f"fr={chosen}"]),
                              detector=detector)
    list(voice.synthesize("Il fait très beau aujourd'hui."))
    assert spoken == [(chosen, "Il fait très beau aujourd'hui.")]


def test_a_language_without_a_voice_is_read_by_the_default_and_said_once(joe_voice, detector):
    spoken: list[tuple[str, str]] = []
    missing: list[tuple[str, str]] = []
    voice = MultilingualVoice(Recording(joe_voice, spoken), recording_voices(spoken), detector=detector,
                              on_missing=lambda language, why: missing.append((language, why)))
    for chunk in ["Oggi il tempo è", "molto bello.", "Domani pioverà tutto il giorno."]:
        assert all(len(audio) for audio in voice.synthesize(chunk))
    assert [name for name, _ in spoken] == ["en_US-joe-medium"] * 3
    assert len(missing) == 1 and missing[0][0] == "it"
    assert "No Italian voice is installed" in missing[0][1] and "Settings > Voice" in missing[0][1]


@pytest.mark.pulseaudio
def test_through_the_player_one_start_per_chunk_in_order_whoever_speaks(pulse_rig, joe_voice, detector):
    french = register_joe_as("fr")
    spoken: list[tuple[str, str]] = []
    voice = MultilingualVoice(Recording(joe_voice, spoken), recording_voices(spoken), detector=detector)
    player = SpeechPlayer(voice)
    events: list[PlayerEvent] = []
    player.add_listener(events.append)
    try:
        for reply in (["Hello. Bonjour à tous,", "et bienvenue à Paris."], ["That is right.", "See you soon."],
                      ["Je pense que la réponse", "est oui, merci."]):
            events.clear()
            for chunk in reply:
                player.say(chunk)
            player.end()
            assert player.wait_idle(30)
            time.sleep(0.05)
            assert [(e.kind, e.index) for e in events] == [
                (PlayerEventKind.FIRST_SOUND, 0),
                (PlayerEventKind.CHUNK_STARTED, 0),
                (PlayerEventKind.CHUNK_STARTED, 1),
                (PlayerEventKind.IDLE, -1),
            ]
    finally:
        player.close()
    # The third reply's first chunk is cut after two words ("Je pense" | "que la réponse"): both pieces in
    # French, though "Je pense" alone is too short to tell from another language.
    assert spoken == [
        ("en_US-joe-medium", "Hello."), (french, "Bonjour à tous,"), (french, "et bienvenue à Paris."),
        ("en_US-joe-medium", "That is right."), ("en_US-joe-medium", "See you soon."),
        (french, "Je pense"), (french, "que la réponse"), (french, "est oui, merci."),
    ]
