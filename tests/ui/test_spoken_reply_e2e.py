"""Real sound through the app: the window's reply (trained tiny Voxtral) is spoken by the real joe voice on a
PulseAudio virtual speaker whose monitor is recorded: speech is there, starts soon after the first chunk, flows
without gaps longer than the model's own pauses, and stops when the user talks over it."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import Qt
from ui_helpers import Captures, SharedBackend, hold, loud_times, tiny_config, wait_reply_done

from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.model import LoadPhase, VoxtralModel
from voxtral_desktop.core.portaudio import list_output_devices
from voxtral_desktop.testing.missing import missing
from voxtral_desktop.testing.speech import UTTERANCES

pytestmark = [pytest.mark.pulseaudio, pytest.mark.integration]

@pytest.fixture
def speaking_app(pulse_rig, joe_voice, make_app, tiny_model_dir, tiny_backend, utterance_audio):
    """The window on the tiny model, replies spoken by the joe voice on the rig's speaker."""
    if not list_output_devices(refresh=True):
        missing("PortAudio sees no output device through PulseAudio (is libasound2-plugins installed?)")

    def make():
        config = tiny_config(tiny_model_dir)
        # "mock" only matters if the neural voice failed, and then the test fails on what it hears.
        config.update({"speech": {"voice": str(joe_voice.model_path), "engine": "mock"}})
        model = VoxtralModel(config, backend=SharedBackend(tiny_backend))
        app = make_app(model, Captures(utterance_audio["a"]))
        return app, app.vms.speaker

    return make


def test_the_reply_is_heard_soon_after_its_first_chunk_and_flows_to_its_end(qtbot, pulse_rig, speaking_app):
    app, speaker = speaking_app()
    qtbot.waitUntil(lambda: speaker.status.phase == LoadPhase.READY, timeout=20000)
    assert speaker.neural and speaker.voice
    chunk_times: list[float] = []
    app.vms.replies.replyChunk.connect(lambda *_: chunk_times.append(time.monotonic()))
    sounds: list[float] = []
    speaker.firstSound.connect(sounds.append)
    first_sound_ms: list[tuple[int, float]] = []
    app.vms.replies.firstSound.connect(lambda turn, ms: first_sound_ms.append((turn, ms)))
    recorder = pulse_rig.record()

    hold(qtbot, app)
    reply = wait_reply_done(qtbot, app, 1, timeout_ms=60000)
    assert reply.status == ReplyStatus.COMPLETE and reply.text == UTTERANCES[0].reply
    qtbot.waitUntil(lambda: not speaker.is_speaking, timeout=60000)
    t_idle = time.monotonic()
    qtbot.wait(300)
    recording = recorder.stop()

    heard = loud_times(recording, chunk_times[0] - 1.0, t_idle + 0.3)
    assert len(heard) * 0.005 > 2.0, "under 2 s of speech reached the speaker"
    onset = heard[0]
    assert onset >= chunk_times[0] - 0.01, "sound before the first chunk existed"
    assert onset - chunk_times[0] < 1.5, f"first sound {onset - chunk_times[0]:.2f} s after the first chunk"
    assert sounds and abs(sounds[0] - onset) < 0.25  # the player's first-sound time is when it was heard
    assert first_sound_ms and first_sound_ms[0][0] == 1 and first_sound_ms[0][1] > 0
    # The first sound is part of the reply's timings: in its footer, its breakdown, and its saved turn.
    history, cid = app.vms.conversations.history, app.vms.conversations.current_conversation_id
    qtbot.waitUntil(lambda: (history.turns(cid)[-1].timings or {}).get("first_sound") is not None, timeout=5000)
    saved = history.turns(cid)[-1].timings
    assert saved["first_sound"] == first_sound_ms[0][1] and saved["first_sound"] >= saved["first_chunk"]
    assert f"first sound in {saved['first_sound'] / 1000:.2f} s" in reply.meta.text()
    assert "First sound" in [r.label for r in reply.details.rows]
    # No silence longer than the model's own pauses between chunks (plus the voice's pause between phrases).
    model_pause = max(np.diff(chunk_times), default=0.0)
    longest_gap = float(np.max(np.diff(heard), initial=0.0))
    assert longest_gap < model_pause + 0.8, f"a {longest_gap:.2f} s gap (model paused {model_pause:.2f} s)"


def test_talking_over_the_reply_silences_it(qtbot, pulse_rig, speaking_app, tiny_backend):
    original = tiny_backend.generate_kwargs
    tiny_backend.generate_kwargs = lambda r: {**original(r), "min_new_tokens": 400, "max_new_tokens": 400}
    try:
        app, speaker = speaking_app()
        qtbot.waitUntil(lambda: speaker.status.phase == LoadPhase.READY, timeout=20000)
        sounds: list[float] = []
        speaker.firstSound.connect(sounds.append)
        recorder = pulse_rig.record()
        hold(qtbot, app)
        qtbot.waitUntil(lambda: bool(sounds), timeout=30000)
        qtbot.wait(700)
        t_press = time.monotonic()
        qtbot.mousePress(app.window.ptt, Qt.MouseButton.LeftButton, pos=app.window.ptt.rect().center())
        assert not speaker.is_speaking
        qtbot.wait(1200)
        recording = recorder.stop()
    finally:
        del tiny_backend.generate_kwargs
    assert wait_reply_done(qtbot, app, 1).status == ReplyStatus.INTERRUPTED
    assert len(loud_times(recording, t_press - 0.5, t_press)) > 10, "it was not speaking when interrupted"
    after = loud_times(recording, t_press, t_press + 1.2)
    # Silent soon after the press (generous here; benchmarks/ui.py measures it precisely).
    assert len(after) == 0 or after[-1] < t_press + 0.25, f"sound until {after[-1] - t_press:.3f} s after"
    source = app.vms.recording.capture_source
    qtbot.waitUntil(lambda: source.finished.is_set(), timeout=30000)
    qtbot.mouseRelease(app.window.ptt, Qt.MouseButton.LeftButton, pos=app.window.ptt.rect().center())
    assert wait_reply_done(qtbot, app, 2, timeout_ms=60000).status == ReplyStatus.COMPLETE  # the new turn's
