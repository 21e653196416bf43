"""Echo cancellation on synthetic echo: the assistant's voice goes, the user's stays, bursts line up."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from voxtral_desktop.core.echo import EchoCanceller
from voxtral_desktop.core.listening import BargeIn, TurnEnded, TurnDetector, removed_db
from voxtral_desktop.testing.speech import room_echo, synthesize

RATE = 16000
VOICE_RATE = 22050  # the voice plays at its own rate; the canceller resamples it


def db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20)


@pytest.fixture(scope="module")
def assistant() -> np.ndarray:
    reply = synthesize("The weather is sunny today, with a light breeze from the west. Here is one more.")
    return np.concatenate([reply, np.zeros(RATE // 2, np.float32)])


@pytest.fixture(scope="module")
def user() -> np.ndarray:
    return synthesize("Please tell me a short joke.", voice="en+f3")


class BurstyPlayer:
    """Plays ``far16k`` from ``t0`` as a player does: irregular bursts (5-80 ms) at the voice's rate, each
    stamped with its play time and handed over up to 150 ms before it is heard."""

    def __init__(self, ec: EchoCanceller, far16k: np.ndarray, t0: float) -> None:
        self.ec, self.t0 = ec, t0
        self.far = soxr.resample(far16k, RATE, VOICE_RATE).astype(np.float32)
        self.rng = np.random.default_rng(3)
        self.i = 0

    def until(self, t: float) -> None:
        while self.i < len(self.far) and self.t0 + self.i / VOICE_RATE < t + 0.15:
            n = int(self.rng.integers(VOICE_RATE // 200, VOICE_RATE // 12))
            self.ec.add_reference(self.far[self.i : self.i + n], VOICE_RATE, self.t0 + self.i / VOICE_RATE)
            self.i += n


def cancel(ec: EchoCanceller, near: np.ndarray, player: BurstyPlayer, block: int = 320) -> np.ndarray:
    out = []
    for i in range(0, len(near), block):
        t = player.t0 + i / RATE
        player.until(t)
        out.append(ec.process(near[i : i + block], t))
    return np.concatenate(out)


def test_the_assistants_echo_is_removed_even_when_its_reference_arrives_in_bursts(assistant):
    near = room_echo(assistant)
    ec = EchoCanceller(RATE)
    out = cancel(ec, near, BurstyPlayer(ec, assistant, t0=100.0))
    loud = np.abs(near[: len(out)]) > 0.01
    loud[: RATE // 2] = False  # AEC3 converges within the first half second
    assert db(near[: len(out)][loud]) - db(out[loud]) >= 20


def test_the_users_voice_survives_while_the_assistant_talks(assistant, user):
    near = room_echo(assistant)
    at = RATE  # the user starts 1 s into the reply
    near[at : at + len(user)] += user
    ec = EchoCanceller(RATE)
    out = cancel(ec, near, BurstyPlayer(ec, assistant, t0=5.0))
    # AEC3's output lags its input by a few ms: compare at the best small lag.
    corr = max(np.corrcoef(out[at + k : at + k + len(user)], user)[0, 1] for k in range(0, 320, 4))
    assert corr > 0.5
    assert db(out[at : at + len(user)]) > db(user) - 6


def test_vad_on_the_cleaned_signal_hears_only_the_user(assistant, user):
    def run(enabled: bool) -> list:
        near = np.concatenate([room_echo(assistant), np.zeros(RATE, np.float32)])
        at = len(assistant) + RATE // 4
        near = np.concatenate([near, np.zeros(len(user) + RATE, np.float32)])
        near[at : at + len(user)] += user
        ec = EchoCanceller(RATE, enabled=enabled)
        player = BurstyPlayer(ec, assistant, t0=0.0)
        detector = TurnDetector(hands_free=True, barge_in=True)
        events = []
        for i in range(0, len(near), 320):
            player.until(i / RATE)
            clean = ec.process(near[i : i + 320], i / RATE)
            events += detector.feed(
                clean,
                assistant_speaking=ec.playing_near(i / RATE, 0.3),
                echo_removed_db=removed_db(near[i : i + 320], clean),
            )
        return events

    with_aec = run(True)
    turns = [e for e in with_aec if isinstance(e, TurnEnded)]
    assert len(turns) == 1 and not any(isinstance(e, BargeIn) for e in with_aec)
    assert turns[0].start > len(assistant) / RATE  # the one turn is the user's
    without = run(False)
    assert any(isinstance(e, BargeIn) for e in without)  # the same echo, uncancelled, interrupts the reply


def test_turned_off_it_passes_the_microphone_through(assistant):
    near = room_echo(assistant)
    ec = EchoCanceller(RATE, enabled=False)
    out = cancel(ec, near, BurstyPlayer(ec, assistant, t0=0.0))
    assert np.array_equal(out, near[: len(out)])
    assert len(near) - len(out) < RATE // 100  # only the last partial 10 ms frame waits


def test_it_knows_when_the_app_was_playing(assistant):
    ec = EchoCanceller(RATE)
    ec.add_reference(np.zeros(RATE, np.float32), RATE, 10.0)  # a second of silence is not playing
    assert not ec.playing_near(11.0, 0.3)
    ec.add_reference(assistant[:RATE], RATE, 11.0)
    assert ec.playing_near(11.5, 0.3)
    assert ec.playing_near(12.2, 0.3)  # the room still rings just after
    assert not ec.playing_near(13.0, 0.3)
