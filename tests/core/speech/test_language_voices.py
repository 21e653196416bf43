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


def test_a_chosen_voice_downloads_on_its_first_need_with_progress_then_works_offline(
    tmp_path, monkeypatch, joe_voice, detector
):
    import json
    from pathlib import Path

    from test_speech_catalogue import fake_hub

    key, folder = "fr_FR-testfr-low", "fr/fr_FR/testfr/low"
    hub = tmp_path / "hub"
    (hub / folder).mkdir(parents=True)
    model = hub / folder / f"{key}.onnx"
    model.symlink_to(joe_voice.model_path)
    settings = json.loads(Path(str(joe_voice.model_path) + ".json").read_text())
    settings["language"] = {"code": "fr_FR", "name_english": "French", "country_english": "France"}
    settings["espeak"] = {"voice": "fr-fr"}
    Path(str(model) + ".json").write_text(json.dumps(settings))
    files = {f"{folder}/{key}.onnx": {"size_bytes": 60_000_000}, f"{folder}/{key}.onnx.json": {"size_bytes": 5000}}
    entry = {"key": key, "name": "testfr", "quality": "low", "files": files, "language": settings["language"]}
    (hub / "voices.json").write_text(json.dumps({key: entry}))
    fetched = fake_hub(hub, monkeypatch)

    progress: list[tuple[str, float]] = []
    switched: list[str] = []
    chooser = language_chooser([f"fr={key}"], progress=lambda name, fraction: progress.append((name, fraction)))
    voice = MultilingualVoice(joe_voice, chooser, detector=detector, on_switch=lambda lang, name: switched.append(name))
    assert all(len(a) for a in voice.synthesize("Bonjour, comment allez-vous aujourd'hui ?"))
    assert switched == [key]
    assert progress[0] == (key, 0.0) and progress[-1] == (key, 1.0) and len(progress) > 2
    assert fetched[-1] == f"{folder}/{key}.onnx"

    # Offline afterwards: the next run's French sentence is spoken by the downloaded voice, nothing fetched.
    fetched = fake_hub(None, monkeypatch)
    switched.clear()
    again = MultilingualVoice(joe_voice, language_chooser([f"fr={key}"]), detector=detector,
                              on_switch=lambda lang, name: switched.append(name))
    list(again.synthesize("Merci beaucoup, à bientôt !"))
    assert switched == [key] and fetched == []
