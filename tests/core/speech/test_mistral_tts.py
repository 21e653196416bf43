"""Mistral's Voxtral TTS as a voice, against a loopback server speaking the documented speech SSE: the request
carries the model, voice, text and key; the audio plays through the player as it arrives; stop() closes the
request at once; no key or a key bound for plain http:// to another machine never leaves this one."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

from voxtral_desktop.core.config import Config
from voxtral_desktop.core.errors import RemoteVoiceFailed
from voxtral_desktop.core.portaudio import list_output_devices
from voxtral_desktop.core.speech.mistral_tts import RESPONSE_FORMAT, SAMPLE_RATE, mistral_voice
from voxtral_desktop.core.speech.player import PlayerEventKind, SpeechPlayer
from voxtral_desktop.testing.missing import missing
from voxtral_desktop.testing.speech_server import SpeechServer, tone

KEY = "sk-test-tts"


def config_for(url: str, **speech) -> Config:
    cfg = Config()
    cfg.update({"speech": {"server_url": url, "voice": "mistral:voice_478", **speech}})
    return cfg


@pytest.fixture
def server(clean_keys, monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)
    with SpeechServer(require_key=KEY) as srv:
        yield srv


class Heard:
    """The player's reference signal: every block it played, and when the first loud one came."""

    def __init__(self) -> None:
        self.blocks: list[np.ndarray] = []
        self.loud = threading.Event()

    def __call__(self, samples: np.ndarray, rate: int, t: float) -> None:
        self.blocks.append(samples)
        if float(np.sqrt(np.mean(samples**2))) > 0.1:
            self.loud.set()

    def loud_seconds(self, rate: int) -> float:
        """From the first sounding sample played to the last."""
        loud = np.flatnonzero(np.abs(np.concatenate(self.blocks)) > 0.05) if self.blocks else []
        return (loud[-1] - loud[0]) / rate if len(loud) else 0.0


def player_for(voice) -> SpeechPlayer:
    if not list_output_devices(refresh=True):
        missing("PortAudio sees no output device through PulseAudio (is libasound2-plugins installed?)")
    return SpeechPlayer(voice)


def test_a_chunk_is_asked_with_the_model_voice_text_and_key_and_its_audio_comes_back_whole(server):
    server.script.audio = tone(0.5, 330.0)
    voice = mistral_voice("mistral:voice_478", config_for(server.base_url))
    pieces = list(voice.synthesize("The weather is sunny."))

    rec = server.speech_requests()[-1]
    assert rec.headers["authorization"] == f"Bearer {KEY}"
    assert rec.body == {
        "model": "voxtral-mini-tts-latest",
        "input": "The weather is sunny.",
        "voice_id": "voice_478",
        "response_format": RESPONSE_FORMAT,
        "stream": True,
    }
    # The deltas were cut off sample boundaries; joined, the audio is exactly what the server spoke.
    assert len(pieces) >= 3
    np.testing.assert_array_equal(np.concatenate(pieces), server.script.audio)
    assert voice.sample_rate == SAMPLE_RATE and "Sarah" in voice.name


@pytest.mark.pulseaudio
def test_the_audio_is_played_as_it_arrives_before_the_server_has_sent_the_rest(pulse_rig, server):
    server.script.audio = tone(1.2)
    server.script.deltas, server.script.hold_before = 6, 2  # two deltas (0.4 s), then the server waits
    player = player_for(mistral_voice("mistral:voice_478", config_for(server.base_url)))
    heard, events = Heard(), []
    player.add_reference_listener(heard)
    player.add_listener(events.append)
    try:
        player.say("Hello there, how are you?")
        assert heard.loud.wait(10), "nothing of the first deltas was played"
        rec = server.speech_requests()[-1]
        assert rec.events_sent == 2 and not rec.finished.is_set()  # the rest is not even sent yet
        server.release.set()
        player.end()
        assert player.wait_idle(20)
    finally:
        player.close()
    assert [e.kind for e in events] == [PlayerEventKind.FIRST_SOUND, PlayerEventKind.CHUNK_STARTED,
                                        PlayerEventKind.IDLE]
    assert rec.finished.is_set() and not rec.disconnected.is_set()
    assert heard.loud_seconds(player.sample_rate) == pytest.approx(1.2, abs=0.05)  # all of it was played


@pytest.mark.pulseaudio
def test_stop_closes_the_speech_request_at_once_and_drops_its_audio(pulse_rig, server):
    server.script.audio = tone(2.0)
    server.script.deltas, server.script.hold_before = 8, 1  # one delta, then the server waits (10 s at most)
    player = player_for(mistral_voice("mistral:voice_478", config_for(server.base_url)))
    heard, events = Heard(), []
    player.add_reference_listener(heard)
    player.add_listener(events.append)
    try:
        player.say("A long answer that the user talks over.")
        assert heard.loud.wait(10)
        rec = server.speech_requests()[-1]
        player.stop()  # barge-in / Esc
        # The server sees the connection closed while it still had audio to send (bound: catches a hang only).
        assert rec.disconnected.wait(3), "the speech request was left open"
        assert not rec.finished.is_set() and rec.events_sent == 1
        assert events[-1].kind == PlayerEventKind.IDLE and not player.is_speaking
        played = len(heard.blocks)
        server.release.set()
        time.sleep(0.3)
        late = heard.blocks[played:]
        assert all(float(np.max(np.abs(b))) == 0.0 for b in late), "audio played after stop()"
    finally:
        player.close()


def test_without_a_key_nothing_is_sent(clean_keys):
    with SpeechServer() as srv:
        voice = mistral_voice("mistral:voice_478", config_for(srv.base_url))
        with pytest.raises(RemoteVoiceFailed, match="MISTRAL_API_KEY"):
            list(voice.synthesize("Hello."))
        assert srv.speech_requests() == []


def test_a_key_for_plain_http_to_another_machine_is_refused_before_connecting(clean_keys, monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)
    dialled: list[object] = []
    real = socket.create_connection
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: dialled.append(a) or real(*a, **k))
    voice = mistral_voice("mistral:voice_478", config_for("http://tts.example.net/v1"))
    with pytest.raises(RemoteVoiceFailed) as refused:
        list(voice.synthesize("Hello."))
    assert "tts.example.net" in str(refused.value) and "https://" in str(refused.value)
    assert dialled == []


def test_a_server_error_is_a_remote_voice_failure_naming_the_server_and_status(server):
    server.script.status = 500
    voice = mistral_voice("mistral:voice_478", config_for(server.base_url))
    with pytest.raises(RemoteVoiceFailed, match=r"answered HTTP 500: Internal server error") as failed:
        list(voice.synthesize("Hello."))
    assert server.base_url in str(failed.value)

