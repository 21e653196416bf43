"""Spoken replies through real (virtual) sound devices: the speaker's monitor is recorded while the player
speaks chunks as they arrive; stop() silences it at once; what was played is handed out with its timing."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import soxr

from voxtral_desktop.core.errors import SpeechError
from voxtral_desktop.core.portaudio import list_output_devices
from voxtral_desktop.core.speech.player import PlayerEvent, PlayerEventKind, SpeechPlayer
from voxtral_desktop.testing.missing import missing

pytestmark = [pytest.mark.pulseaudio]

LOUD = 0.01  # RMS of a 5 ms window that counts as sound (the voice peaks at 0.9; the null sink is exact)
REPLY = ["The weather is sunny", "today, with a light", "breeze from the west."]


@pytest.fixture
def player(pulse_rig, joe_voice):
    if not list_output_devices(refresh=True):
        missing("PortAudio sees no output device through PulseAudio (is libasound2-plugins installed?)")
    made = SpeechPlayer(joe_voice)
    yield made
    made.close()


def sound_spans(recording, after: float, before: float) -> list[tuple[float, float]]:
    """(start, end) times of the sounding stretches between two instants; pauses under 30 ms merged."""
    times, rms = recording.envelope()
    inside = (times >= after) & (times <= before)
    spans: list[tuple[float, float]] = []
    for t, loud in zip(times[inside], rms[inside] > LOUD, strict=True):
        if not loud:
            continue
        if spans and t - spans[-1][1] <= 0.03:
            spans[-1] = (spans[-1][0], t + 0.005)
        else:
            spans.append((t, t + 0.005))
    return spans


def test_a_reply_is_heard_chunk_by_chunk_as_it_arrives(pulse_rig, player):
    events: list[PlayerEvent] = []
    played: list[tuple[np.ndarray, int, float]] = []
    player.add_listener(events.append)
    player.add_reference_listener(lambda samples, rate, t: played.append((samples, rate, t)))
    recorder = pulse_rig.record()
    time.sleep(0.3)  # a little silence recorded before the reply
    t_first = time.monotonic()
    for chunk in REPLY:  # the model hands over a chunk every 400 ms
        player.say(chunk)
        time.sleep(0.4)
    player.end()
    assert player.wait_idle(30)
    time.sleep(0.2)
    recording = recorder.stop()

    kinds = [(e.kind, e.index) for e in events]
    assert kinds == [
        (PlayerEventKind.FIRST_SOUND, 0),
        (PlayerEventKind.CHUNK_STARTED, 0),
        (PlayerEventKind.CHUNK_STARTED, 1),
        (PlayerEventKind.CHUNK_STARTED, 2),
        (PlayerEventKind.IDLE, -1),
    ]
    starts = [e.t for e in events if e.kind == PlayerEventKind.CHUNK_STARTED]
    assert starts == sorted(starts) and [e.text for e in events[1:4]] == REPLY

    spans = sound_spans(recording, t_first, events[-1].t + 0.3)
    assert spans, "nothing was heard at the speaker"
    heard_from, heard_to = spans[0][0], spans[-1][1]
    # Speech starts soon after the first chunk was said (generous: a loaded CI machine), and matches the
    # player's own first-sound time.
    assert heard_from - t_first < 1.5
    assert abs(heard_from - events[0].t) < 0.25
    # Three chunks of speech: about 3 s, with no silence longer than the voice's own pauses.
    assert 2.0 < heard_to - heard_from < 6.0
    gaps = [b[0] - a[1] for a, b in zip(spans, spans[1:], strict=False)]
    assert max(gaps, default=0) < 0.6, gaps
    # Nothing after idle.
    assert not sound_spans(recording, events[-1].t + 0.1, events[-1].t + 0.3)

    # The reference signal is what the speaker played, at the time the player said it played it.
    rate = played[0][1]
    reference = np.concatenate([p[0] for p in played])
    t_ref = played[0][2]
    assert len(reference) / rate == pytest.approx(events[-1].t - t_ref, abs=0.1)
    ref48 = soxr.resample(reference, rate, recording.rate)
    lead = int(0.2 * recording.rate)  # search the recording 200 ms either side of where it should be
    start = recording.index_at(t_ref)
    window = recording.samples[start - lead : start + len(ref48) + lead]
    corr = np.correlate(window, ref48[: len(window) - 2 * lead], mode="valid")
    lag_s = (np.argmax(corr) - lead) / recording.rate
    assert abs(lag_s) < 0.1, f"the recording is {lag_s * 1000:.0f} ms off the reference's timing"
    matched = window[np.argmax(corr) : np.argmax(corr) + len(ref48) - 2 * lead]
    assert np.corrcoef(matched, ref48[: len(matched)])[0, 1] > 0.9


def test_stop_silences_at_once_and_drops_what_was_queued(pulse_rig, player):
    events: list[PlayerEvent] = []
    player.add_listener(events.append)
    sounding = threading.Event()
    player.add_listener(lambda e: sounding.set() if e.kind == PlayerEventKind.FIRST_SOUND else None)
    recorder = pulse_rig.record()
    player.say("Here is one: the chicken crossed the road to get home, and then it went back again.")
    player.say("This chunk was queued but must never be heard.")
    assert sounding.wait(10)
    time.sleep(0.6)
    t_stop = time.monotonic()
    player.stop()
    assert not player.is_speaking
    time.sleep(1.5)
    recording = recorder.stop()

    assert sound_spans(recording, t_stop - 0.3, t_stop), "it was not speaking when stopped"
    assert not sound_spans(recording, t_stop + 0.1, t_stop + 1.5), "sound after stop()"
    assert [e.kind for e in events][-1] == PlayerEventKind.IDLE
    assert 1 not in [e.index for e in events if e.kind == PlayerEventKind.CHUNK_STARTED]

    # The next reply speaks again, from its own first sound and its own first chunk (the window counts what
    # the user heard of a reply by these numbers).
    events.clear()
    assert player.say("Hello again.") == 0
    player.end()
    assert player.wait_idle(20)
    assert [(e.kind, e.index) for e in events] == [
        (PlayerEventKind.FIRST_SOUND, 0), (PlayerEventKind.CHUNK_STARTED, 0), (PlayerEventKind.IDLE, -1)
    ]
    # So does a reply after one that was said to its end.
    events.clear()
    assert player.say("Once more.") == 0
    player.end()
    assert player.wait_idle(20)
    assert [e.index for e in events if e.kind == PlayerEventKind.CHUNK_STARTED] == [0]


def test_an_unknown_output_device_is_a_clear_error(pulse_rig, joe_voice):
    assert list_output_devices(refresh=True)
    player = SpeechPlayer(joe_voice, output_device="Headphones that are not there")
    try:
        with pytest.raises(SpeechError, match="'Headphones that are not there' was not found \\(outputs: .*pulse"):
            player.say("Hello")
        assert not player.is_speaking
    finally:
        player.close()


def test_a_named_output_device_is_used(pulse_rig, joe_voice):
    names = [d.name for d in list_output_devices(refresh=True)]
    assert "pulse" in names
    player = SpeechPlayer(joe_voice, output_device="pulse")
    try:
        recorder = pulse_rig.record()
        t0 = time.monotonic()
        player.say("Hello there.")
        player.end()
        assert player.wait_idle(20)
        assert sound_spans(recorder.stop(), t0, time.monotonic())
    finally:
        player.close()


def test_looking_for_new_devices_while_speaking_does_not_cut_the_voice(pulse_rig, player):
    from voxtral_desktop.core.portaudio import list_input_devices, open_stream_count

    sounding = threading.Event()
    player.add_listener(lambda e: sounding.set() if e.kind == PlayerEventKind.FIRST_SOUND else None)
    recorder = pulse_rig.record()
    player.say("Here is one: the chicken crossed the road to get home.")
    player.end()
    assert sounding.wait(10)
    time.sleep(0.3)
    t_refresh = time.monotonic()
    assert open_stream_count() >= 1
    list_input_devices(refresh=True)  # Settings opened: PortAudio must not be re-initialised under the voice
    list_output_devices(refresh=True)
    assert player.wait_idle(20)
    t_idle = time.monotonic()
    recording = recorder.stop()
    spans = sound_spans(recording, t_refresh, t_idle)
    assert spans and spans[-1][1] - t_refresh > 0.8  # the sentence went on after the refresh
