"""Push-to-talk in the window on recorded human speech (not espeak-ng): a read sentence through a PulseAudio
virtual microphone and through a telephone-band (8 kHz) microphone is answered by the tiny Voxtral; the same
length of digital silence gets the "no speech" answer."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from ui_helpers import Captures, hold, wait_reply_done

from voxtral_desktop.core import chunks as C
from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.portaudio import SoundDeviceCapture, list_input_devices
from voxtral_desktop.testing import human_speech
from voxtral_desktop.testing.missing import missing
from voxtral_desktop.testing.speech import write_wav

pytestmark = pytest.mark.integration

SENTENCE = "ill_disposed"  # 8.3 s, one sentence with the reader's comma pause in it


def said_in_error(reply) -> str:
    return " ".join(label.text() for label in reply.error_bubble.findChildren(type(reply.label)))


def talk_into_the_virtual_microphone(qtbot, app, rig, audio16k: np.ndarray):
    """Hold the talk button while ``audio16k`` plays into the rig's microphone; the finished reply."""
    if not list_input_devices(refresh=True):
        missing("PortAudio sees no input device through PulseAudio (is libasound2-plugins installed?)")
    wav = write_wav(rig.root / "said.wav", audio16k)
    window = app.window
    center = window.ptt.rect().center()
    qtbot.mousePress(window.ptt, Qt.MouseButton.LeftButton, pos=center)
    qtbot.waitUntil(lambda: app.vms.recording.is_recording, timeout=3000)
    qtbot.wait(300)
    player = rig.play(wav)
    qtbot.waitUntil(lambda: player.poll() is not None, timeout=60000)
    assert player.returncode == 0
    qtbot.wait(400)
    qtbot.mouseRelease(window.ptt, Qt.MouseButton.LeftButton, pos=center)
    return wait_reply_done(qtbot, app, 1, timeout_ms=60000)


@pytest.mark.pulseaudio
def test_a_read_sentence_through_a_virtual_microphone_is_answered(
    qtbot, pulse_rig, make_app, tiny_model, human_sentences
):
    audio = human_sentences[SENTENCE]
    app = make_app(tiny_model, SoundDeviceCapture)
    reply = talk_into_the_virtual_microphone(qtbot, app, pulse_rig, audio)
    # The tiny model only learned two espeak-ng questions: what it says here is noise, that it says it is not.
    assert reply.status == ReplyStatus.COMPLETE, reply.error_bubble and said_in_error(reply)
    assert reply.text.strip()
    assert app.chat.user_turns()[0].duration_s >= len(audio) / 16000


@pytest.mark.pulseaudio
def test_the_same_length_of_digital_silence_through_it_is_refused(
    qtbot, pulse_rig, make_app, tiny_model, human_sentences
):
    app = make_app(tiny_model, SoundDeviceCapture)
    reply = talk_into_the_virtual_microphone(qtbot, app, pulse_rig, np.zeros_like(human_sentences[SENTENCE]))
    assert reply.status == ReplyStatus.ERROR and reply.bubble.isHidden()
    assert C.NO_SPEECH_TEXT in said_in_error(reply)


@pytest.mark.parametrize("silent", [False, True], ids=["sentence", "silence"])
def test_a_telephone_band_microphone_is_answered_and_its_silence_refused(
    qtbot, make_app, tiny_model, human_sentences, silent
):
    # 8 kHz, as a telephone or a Bluetooth headset in hands-free profile delivers it: the app resamples it.
    audio = human_speech.load(SENTENCE, human_speech.TELEPHONE_RATE)
    app = make_app(tiny_model, Captures(np.zeros_like(audio) if silent else audio, human_speech.TELEPHONE_RATE))
    hold(qtbot, app)
    reply = wait_reply_done(qtbot, app, 1, timeout_ms=60000)
    if silent:
        assert reply.status == ReplyStatus.ERROR and C.NO_SPEECH_TEXT in said_in_error(reply)
    else:
        assert reply.status == ReplyStatus.COMPLETE, reply.error_bubble and said_in_error(reply)
        assert reply.text.strip()
        assert app.chat.user_turns()[0].duration_s >= len(audio) / human_speech.TELEPHONE_RATE
