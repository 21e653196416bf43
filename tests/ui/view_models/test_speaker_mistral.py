"""A mistral:<voice_id> voice in the window: when Mistral's speech API fails (an error, or nothing listening) the
voice on this computer says the reply, or the system voice when none is installed, and the window says so once.
The player here synthesises without a sound device; real sound is in tests/core/speech/test_mistral_tts.py."""

from __future__ import annotations

from typing import Any

import numpy as np
from ui_helpers import scripted_model

from voxtral_desktop.core.errors import SpeechError
from voxtral_desktop.core.model import LoadPhase
from voxtral_desktop.core.speech.mistral_tts import open_voice
from voxtral_desktop.testing.openai_server import free_port
from voxtral_desktop.testing.speech_server import SpeechServer

KEY = "sk-test-tts"
MARK = 0.25  # every sample the stand-in local voice says


class LocalVoice:
    name = "en_US-joe-medium"
    sample_rate = 22050

    def synthesize(self, text: str):
        yield np.full(2205, MARK, np.float32)


class SynthPlayer:
    """SpeechPlayer's contract without a sound device: each chunk is synthesised when it is said."""

    def __init__(self, voice: Any, device: str) -> None:
        self.voice = voice
        self.played: list[tuple[str, np.ndarray]] = []
        self.is_speaking = False

    def add_listener(self, listener: Any) -> None:
        pass

    def add_reference_listener(self, listener: Any) -> None:
        pass

    def say(self, text: str) -> int:
        audio = [np.asarray(a) for a in self.voice.synthesize(text)]
        self.played.append((text, np.concatenate(audio) if audio else np.zeros(0, np.float32)))
        return len(self.played) - 1

    def end(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


def mistral_app(make_app, url: str, local: Any, players: list[SynthPlayer]):
    model = scripted_model(["The weather ", "is sunny. ", "A light breeze ", "blows today."])
    model.config.update({"speech": {"voice": "mistral:voice_478", "engine": "mock", "server_url": url}})
    from voxtral_desktop.ui.view_models.speaker import Speaker

    def player(voice: Any, device: str) -> SynthPlayer:
        players.append(SynthPlayer(voice, device))
        return players[-1]

    speaker = Speaker(
        voice="mistral:voice_478",
        engine="mock",
        config=model.config,
        player_factory=player,
        remote_resolver=lambda s, c, on_trouble: open_voice(s, c, on_trouble=on_trouble, local=local),
    )
    return make_app(model, speaker=speaker), speaker


def test_a_speech_api_error_hands_the_reply_to_the_local_voice_and_the_window_says_so_once(
    qtbot, make_app, clean_keys, monkeypatch
):
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)
    players: list[SynthPlayer] = []
    with SpeechServer(require_key=KEY) as server:
        server.script.status = 500
        app, speaker = mistral_app(make_app, server.base_url, LocalVoice, players)
        qtbot.waitUntil(lambda: speaker.status.phase == LoadPhase.READY, timeout=5000)
        fallbacks: list[str] = []
        speaker.fallback.connect(fallbacks.append)
        app.vms.replies.sendText("what is the weather?")
        qtbot.waitUntil(lambda: app.chat.has_reply(1) and app.vms.replies.reply_task.done(), timeout=10000)
        qtbot.waitUntil(lambda: bool(fallbacks), timeout=5000)

        # Mistral was asked once, with the key; after its error the local voice said every chunk, at the
        # remote voice's rate (one output stream plays both).
        assert len(server.speech_requests()) == 1
        assert server.speech_requests()[0].headers["authorization"] == f"Bearer {KEY}"
        said = [text for text, _ in players[0].played]
        assert said == app.chat.reply(1).chunks
        assert " ".join(said).split() == ["The", "weather", "is", "sunny.", "A", "light", "breeze", "blows", "today."]
        for _, audio in players[0].played:  # 0.1 s of the local voice, resampled to 24 kHz
            assert len(audio) == 2400 and abs(float(np.median(audio)) - MARK) < 0.01
        banner = app.window.banner("voice")
        assert banner is not None and banner.title.text() == "Replies use the voice on this computer"
        assert "HTTP 500" in banner.text.text() and server.base_url in banner.text.text()
        assert "en_US-joe-medium" in banner.text.text()
        assert len(fallbacks) == 1


def test_unreachable_with_no_local_voice_the_system_voice_speaks_and_the_window_says_so(
    qtbot, make_app, clean_keys, monkeypatch
):
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)

    def none_installed() -> Any:
        raise SpeechError("voice 'en_US-ljspeech-medium' is not installed")

    players: list[SynthPlayer] = []
    url = f"http://127.0.0.1:{free_port()}/v1"
    app, speaker = mistral_app(make_app, url, none_installed, players)
    qtbot.waitUntil(lambda: speaker.status.phase == LoadPhase.READY, timeout=5000)
    queued: list[str] = []
    speaker.chunkQueued.connect(queued.append)
    fallbacks: list[str] = []
    speaker.fallback.connect(fallbacks.append)
    app.vms.replies.sendText("what is the weather?")
    qtbot.waitUntil(lambda: app.chat.has_reply(1) and app.vms.replies.reply_task.done(), timeout=10000)
    chunks = app.chat.reply(1).chunks
    # Each chunk went to the player (Mistral's voice), then, unsaid there, at once to the system voice.
    qtbot.waitUntil(lambda: queued == [c for c in chunks for _ in (1, 2)], timeout=5000)
    assert all(len(audio) == 0 for _, audio in players[0].played)
    banner = app.window.banner("voice")
    assert banner is not None and banner.title.text() == "Replies use the system voice"
    assert "could not be reached" in banner.text.text() and url in banner.text.text()
    assert len(fallbacks) == 1


def test_settings_lists_mistrals_voices_by_language_with_the_price_and_saves_the_choice(qtbot, make_app):
    app = make_app(scripted_model())
    dialog = app.window.open_settings()
    combo = dialog.inputs["speech.voice"]
    entries = [(combo.itemData(i), combo.itemText(i)) for i in range(combo.count())]
    mistral = [(value, label) for value, label in entries if value.startswith("mistral:")]
    assert ("mistral:voice_478", "English · Sarah · Mistral API ($16 per million characters)") in mistral
    assert any(label.startswith("German · Fiona") for _, label in mistral)
    languages = [label.split(" · ")[0] for _, label in mistral]
    assert languages == sorted(languages)  # grouped by language
    values = [value for value, _ in entries]
    assert values.index("mistral:voice_478") > values.index("") and values[-1] == "system"  # beside the local ones
    combo.setCurrentIndex(combo.findData("mistral:voice_481"))
    assert dialog.changes() == {"speech": {"voice": "mistral:voice_481"}}
    dialog.save()
    qtbot.waitUntil(lambda: app.window.settings_dialog is None, timeout=3000)
    assert app.vms.config.speech.voice == "mistral:voice_481"


def test_a_reply_in_the_window_is_spoken_by_mistrals_voice_chunk_by_chunk(qtbot, make_app, clean_keys, monkeypatch):
    """The working path: each chunk of the window's reply is one speech request (its text, the voice, the key)
    and the server's streamed audio is what the player says, whole; no fallback, no banner."""
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)
    players: list[SynthPlayer] = []
    with SpeechServer(require_key=KEY) as server:
        spoken = np.linspace(-0.5, 0.5, 4800, dtype=np.float32)  # 0.2 s at 24 kHz, told apart by its shape
        server.script.audio = spoken
        app, speaker = mistral_app(make_app, server.base_url, LocalVoice, players)
        qtbot.waitUntil(lambda: speaker.status.phase == LoadPhase.READY, timeout=5000)
        fallbacks: list[str] = []
        speaker.fallback.connect(fallbacks.append)
        app.vms.replies.sendText("what is the weather?")
        qtbot.waitUntil(lambda: app.chat.has_reply(1) and app.vms.replies.reply_task.done(), timeout=10000)
        chunks = app.chat.reply(1).chunks
        qtbot.waitUntil(lambda: len(players[0].played) == len(chunks), timeout=5000)

        requests = server.speech_requests()
        assert [r.body["input"] for r in requests] == chunks
        assert {r.body["voice_id"] for r in requests} == {"voice_478"}
        assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in requests)
        for text, audio in players[0].played:
            np.testing.assert_allclose(audio, spoken, atol=1e-6)
        assert fallbacks == [] and app.window.banner("voice") is None
