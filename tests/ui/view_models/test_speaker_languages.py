"""The window's voice follows the reply's language (issue 21): a French sentence is spoken by the French voice
(the status says who speaks), and a language with no voice here is read by the default voice, said once in
the window. The voices are real (joe, registered under other languages' keys in the voices folder)."""

from __future__ import annotations

import asyncio
from typing import Any

from voxtral_desktop.core.config import Config
from voxtral_desktop.core.model import LoadPhase
from voxtral_desktop.testing.language_voices import register_joe_as
from voxtral_desktop.ui.view_models.speaker import Speaker


class SpeakingPlayer:
    """Stands in for SpeechPlayer without a sound device: each chunk is synthesised at once, in order."""

    def __init__(self, voice: Any, device: str) -> None:
        self.voice = voice
        self.is_speaking = False
        self.heard: list[int] = []  # samples per chunk

    def add_listener(self, listener: Any) -> None: ...
    def add_reference_listener(self, listener: Any) -> None: ...
    def prepare(self) -> None: ...
    def end(self) -> None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...

    def say(self, text: str) -> int:
        self.heard.append(sum(len(audio) for audio in self.voice.synthesize(text)))
        return len(self.heard) - 1


def speaker_for(config: Config) -> tuple[Speaker, list[SpeakingPlayer]]:
    players: list[SpeakingPlayer] = []

    def make(voice: Any, device: str) -> SpeakingPlayer:
        players.append(SpeakingPlayer(voice, device))
        return players[-1]

    return Speaker(voice="en_US-joe-medium", engine="mock", player_factory=make, config=config), players


def test_a_mixed_reply_switches_voices_sentence_by_sentence(qtbot):
    french = register_joe_as("fr")
    speaker, players = speaker_for(Config())
    said: list[str] = []
    speaker.statusChanged.connect(lambda status: said.append(status.message))
    qtbot.waitUntil(asyncio.ensure_future(speaker.load()).done, timeout=20000)
    assert speaker.status.phase == LoadPhase.READY
    for chunk in ["Here is the answer.", "Bonjour, je m'appelle", "Marie et j'habite à Paris.", "That is all."]:
        speaker.say_chunk(chunk)
    qtbot.waitUntil(lambda: len(said) >= 4, timeout=5000)
    assert said[-2:] == [
        f"Speaking French with the voice {french}",
        "Speaking English with the voice en_US-joe-medium",
    ]
    assert all(players[0].heard)


def test_a_language_without_a_voice_is_read_by_the_default_and_the_window_says_so_once(qtbot):
    config = Config()
    speaker, players = speaker_for(config)
    told: list[tuple[str, str]] = []
    speaker.fallback.connect(lambda why: told.append((speaker.fallback_title, why)))
    qtbot.waitUntil(asyncio.ensure_future(speaker.load()).done, timeout=20000)
    for chunk in ["Oggi il tempo è molto bello.", "Domani pioverà tutto il giorno.", "Ciao, a presto!"]:
        speaker.say_chunk(chunk)
    qtbot.waitUntil(lambda: bool(told), timeout=5000)
    qtbot.wait(100)
    assert len(told) == 1
    title, why = told[0]
    assert title == "No voice for Italian"
    assert "en_US-joe-medium" in why and "Settings > Voice" in why
    assert all(players[0].heard)  # the default voice read every chunk
    assert speaker.status.phase == LoadPhase.READY and speaker.neural


def test_follow_language_off_keeps_one_voice(qtbot):
    register_joe_as("fr")
    config = Config({"speech": {"follow_language": False}})
    speaker, _ = speaker_for(config)
    said: list[str] = []
    speaker.statusChanged.connect(lambda status: said.append(status.message))
    qtbot.waitUntil(asyncio.ensure_future(speaker.load()).done, timeout=20000)
    speaker.say_chunk("Bonjour, je m'appelle Marie et j'habite à Paris.")
    qtbot.wait(200)
    assert said[-1] == "Speaking with the voice en_US-joe-medium"
