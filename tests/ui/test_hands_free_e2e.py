"""Hands-free in the window through the PulseAudio echo rig: the speaker's monitor leaks into the microphone
(-6 dB, 30 ms), the replies (trained tiny Voxtral) are spoken by the real joe voice, the user's espeak-ng voice
is played into the microphone, and no key is ever pressed."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ui_helpers import SharedBackend, tiny_config, wait_reply_done

from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.model import LoadPhase, VoxtralModel
from voxtral_desktop.core.portaudio import SoundDeviceCapture, list_input_devices, list_output_devices
from voxtral_desktop.testing import human_speech
from voxtral_desktop.testing.missing import missing
from voxtral_desktop.testing.pulse_rig import onset_in
from voxtral_desktop.ui.view_models.listening_vm import ListenState

pytestmark = [pytest.mark.pulseaudio, pytest.mark.integration]

LOUD = 0.01  # RMS of a 5 ms window that counts as sound at the speaker
PAUSE = np.zeros(16000 * 3 // 2, np.float32)  # 1.5 s: more than end_of_turn_ms (700)


@pytest.fixture
def hands_free_app(qtbot, echo_rig, joe_voice, make_app, tiny_model_dir, tiny_backend):
    """The window listening hands-free on the rig's microphone, replies spoken on its speaker."""
    if not list_input_devices(refresh=True) or not list_output_devices(refresh=True):
        missing("PortAudio sees no sound device through PulseAudio (is libasound2-plugins installed?)")
    config = tiny_config(tiny_model_dir)
    config.update({"speech": {"voice": str(joe_voice.model_path), "engine": "mock"},
                   "listening": {"mode": "hands_free"}})
    model = VoxtralModel(config, backend=SharedBackend(tiny_backend))
    app = make_app(model, SoundDeviceCapture, device_lister=list_input_devices)
    qtbot.waitUntil(lambda: app.vms.speaker.status.phase == LoadPhase.READY, timeout=20000)
    qtbot.waitUntil(lambda: app.vms.listening.status.state == ListenState.LISTENING, timeout=10000)
    listener = app.vms.listening.listener
    qtbot.waitUntil(lambda: listener.processed_s > 0.3, timeout=10000)  # the capture really delivers
    return app


def user_turns_stored(app) -> list:
    conversation = app.vms.conversations.current_conversation_id
    if not conversation:
        return []  # nothing said yet: no conversation was started
    return [t for t in app.vms.conversations.history.turns(conversation) if t.role == "user"]


def wait_quiet(qtbot, app, turn_no: int) -> None:
    """The reply is written and its voice has finished."""
    wait_reply_done(qtbot, app, turn_no, timeout_ms=60000)
    qtbot.waitUntil(lambda: not app.vms.speaker.is_speaking, timeout=60000)


def test_an_utterance_with_no_key_pressed_is_answered_and_a_pause_splits_two(
    qtbot, echo_rig, hands_free_app, utterance_audio
):
    app = hands_free_app
    echo_rig.say(utterance_audio["a"])
    reply = wait_reply_done(qtbot, app, 1, timeout_ms=60000)
    # The tiny model learned clips cut by hand, so its words may drift on a turn the detector cut: the reply
    # is judged by being there; the turn by holding the whole utterance.
    assert reply.status == ReplyStatus.COMPLETE and len(reply.text.split()) >= 5
    (turn,) = user_turns_stored(app)
    assert turn.duration_s >= len(utterance_audio["a"]) / 16000
    wait_quiet(qtbot, app, 1)
    qtbot.wait(500)

    echo_rig.say(np.concatenate([utterance_audio["b"], PAUSE, utterance_audio["a"]]))
    # The first of the two is answered at once, and the second talks over that reply (barge-in): two turns.
    last = wait_reply_done(qtbot, app, 3, timeout_ms=60000)
    assert last.status == ReplyStatus.COMPLETE and len(last.text.split()) >= 5
    wait_quiet(qtbot, app, 3)
    assert len(app.chat.user_turns()) == 3 and len(user_turns_stored(app)) == 3


def test_read_sentences_a_person_recorded_are_one_turn_and_one_reply_each(qtbot, echo_rig, hands_free_app,
                                                                          human_sentences):
    # Recorded human speech: two of the sentences hold the reader's own ~0.45 s pause, which must split neither.
    app = hands_free_app
    parts = [human_sentences[s.key] for s in human_speech.SENTENCES]
    for n, part in enumerate(parts, 1):
        echo_rig.say(part)
        reply = wait_reply_done(qtbot, app, n, timeout_ms=60000)
        # What the tiny model says to speech it never learned is noise; that it answers each sentence is not.
        assert reply.status == ReplyStatus.COMPLETE and reply.text.strip(), f"reply {n} was {reply.status}"
        wait_quiet(qtbot, app, n)
        qtbot.wait(800)
    assert len(app.chat.user_turns()) == 3 and len(user_turns_stored(app)) == 3
    for turn, part in zip(user_turns_stored(app), parts):
        assert turn.duration_s >= len(part) / 16000 - 0.6  # the whole sentence, less the clips' quiet ends


def test_the_assistants_own_voice_starts_no_turn_over_five_spoken_replies(
    qtbot, echo_rig, hands_free_app, utterance_audio
):
    app = hands_free_app
    recorder = echo_rig.record()
    for n in range(1, 6):
        echo_rig.say(utterance_audio["ab"[n % 2]])
        reply = wait_reply_done(qtbot, app, n, timeout_ms=60000)
        wait_quiet(qtbot, app, n)
        assert reply.status == ReplyStatus.COMPLETE, f"reply {n} was {reply.status}"
        qtbot.wait(800)  # the room rings out; the microphone keeps listening
    recording = recorder.stop()
    assert len(user_turns_stored(app)) == 5 and len(app.chat.user_turns()) == 5
    assert [r.status for r in app.chat.replies()] == [ReplyStatus.COMPLETE] * 5
    _, rms = recording.envelope()
    assert (rms > LOUD).sum() * 0.005 > 10, "under 10 s of the voice reached the speaker"


def test_speaking_over_a_spoken_reply_stops_it_and_is_answered(qtbot, echo_rig, hands_free_app, utterance_audio,
                                                               tiny_backend):
    app = hands_free_app
    original = tiny_backend.generate_kwargs
    tiny_backend.generate_kwargs = lambda r: {**original(r), "min_new_tokens": 400, "max_new_tokens": 400}
    stopped: list[float] = []
    # A reply may finish writing (COMPLETE) while its voice still speaks; the barge-in then re-marks it
    # INTERRUPTED with a second replyFinished: that one is the stop this test is about.
    app.vms.replies.replyFinished.connect(
        lambda turn, result: stopped.append(time.monotonic()) if result.status == ReplyStatus.INTERRUPTED else None
    )
    sounds: list[float] = []
    app.vms.speaker.firstSound.connect(sounds.append)
    try:
        echo_rig.say(utterance_audio["a"])
        qtbot.waitUntil(lambda: bool(sounds), timeout=60000)
        qtbot.wait(1000)
        speaker_rec, mic_rec = echo_rig.record(), echo_rig.record(echo_rig.microphone, rate=16000)
        t_say = time.monotonic()
        echo_rig.say(utterance_audio["b"], wait=False)
        qtbot.waitUntil(lambda: bool(stopped), timeout=10000)
    finally:
        del tiny_backend.generate_kwargs  # the new turn gets a normal reply
    assert app.chat.reply(1).status == ReplyStatus.INTERRUPTED
    answer = wait_reply_done(qtbot, app, 2, timeout_ms=60000)
    assert answer.status == ReplyStatus.COMPLETE and len(answer.text.split()) >= 5
    wait_quiet(qtbot, app, 2)
    heard, mic = speaker_rec.stop(), mic_rec.stop()

    skip = max(0, mic.index_at(t_say - 0.1))
    onset = mic.time_at(skip) + onset_in(mic.samples[skip:], utterance_audio["b"])
    # Generous (min_barge_in_ms is 250 of it); benchmarks/listening.py measures the listener's part precisely.
    assert 0.2 < stopped[0] - onset < 0.7, f"stopped {stopped[0] - onset:.3f} s after the user began"
    times, rms = heard.envelope()
    before = times[(times > onset - 0.5) & (times < onset) & (rms > LOUD)]
    assert len(before) > 20, "the voice was not speaking when the user began"
    # Silent from the stop until the answer's own voice begins.
    between = times[(times > stopped[0] + 0.1) & (times < sounds[1] - 0.05) & (rms > LOUD)]
    assert len(between) == 0, f"the interrupted voice went on until {between[-1] - stopped[0]:.3f} s after the stop"
    assert len(user_turns_stored(app)) == 2


@pytest.mark.parametrize("kind", ["noise", "tone"])
def test_white_noise_and_a_steady_tone_start_no_turn(qtbot, echo_rig, hands_free_app, kind):
    app = hands_free_app
    n = 3 * 16000
    if kind == "noise":  # -30 dBFS RMS
        audio = np.random.default_rng(2).standard_normal(n) * 10 ** (-30 / 20)
    else:
        audio = 0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 16000)
    states: list[ListenState] = []
    app.vms.listening.statusChanged.connect(lambda s: states.append(s.state))
    echo_rig.say(audio.astype(np.float32))
    qtbot.wait(1500)
    assert app.chat.turn_count() == 0 and user_turns_stored(app) == []
    assert ListenState.SENDING not in states and app.vms.listening.status.state == ListenState.LISTENING
