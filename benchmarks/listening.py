"""Hands-free figures through the PulseAudio echo rig (speaker -> microphone at -6 dB / 30 ms): end of speech
to turn emitted, speech onset to barge-in event, VAD + AEC CPU per second of audio, false turns and
barge-ins per 10 spoken replies, echo removed (dB). Needs pulseaudio, pactl, pacat, paplay, espeak-ng.

Run: .venv/bin/python benchmarks/listening.py [--replies 10] [--runs 5]
Prints medians; measurements, not pass/fail tests.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import soxr

from voxtral_desktop.core.listening import BargeIn, Turn
from voxtral_desktop.testing.echo_rig import EchoRig, RigSession, onset_in
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


def last_sound(audio: np.ndarray) -> float:
    return np.flatnonzero(np.abs(audio) > 10 ** (-45 / 20))[-1] / 16000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replies", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with EchoRig() as rig:
        s = RigSession(rig)
        time.sleep(0.5)
        try:
            # End of speech -> turn emitted.
            ends = []
            for i in range(args.runs):
                user = synthesize(USER[i % len(USER)], voice="en+f3")
                s.clear()
                skip = len(s.recorded()[0])
                rig.play_user(user)
                (turn,) = s.wait_for(Turn, 1, 5)[:1]
                raw, _, t0 = s.recorded()
                end = t0 + (skip / 16000) + onset_in(raw[skip:], user) - (np.flatnonzero(np.abs(user) >= 0.01)[0] / 16000) + last_sound(user)
                ends.append(turn.wall - end)
                time.sleep(0.3)
            # Own voice through the rig: false turns / barge-ins, echo removed.
            s.clear()
            raw0 = len(s.recorded()[0])
            for i in range(args.replies):
                s.speak_reply(synthesize(REPLIES[i % len(REPLIES)]))
                time.sleep(0.4)
            time.sleep(1.0)
            false_turns, false_barge = len(s.of_type(Turn)), len(s.of_type(BargeIn))
            raw, clean, _ = s.recorded()
            r, c = raw[raw0 : raw0 + len(clean) - raw0], clean[raw0:]
            n = min(len(r), len(c))
            loud = np.abs(r[:n]) > 0.01
            removed = db(r[:n][loud]) - db(c[:n][loud])
            # Speech onset -> barge-in event.
            barges = []
            for i in range(args.runs):
                user = synthesize(USER[i % len(USER)], voice="en+f3")
                s.clear()
                skip = len(s.recorded()[0])
                reply = synthesize(" ".join(REPLIES[:2]))
                s.player.play(soxr.resample(reply, 16000, s.player.sample_rate).astype(np.float32))
                time.sleep(1.2)
                rig.play_user(user, wait=False)
                got = s.wait_for(BargeIn, 1, 5)
                s.player.stop_playing()
                raw, _, t0 = s.recorded()
                if got:
                    barges.append(got[0].wall - (t0 + skip / 16000 + onset_in(raw[skip:], user)))
                s.wait_for(Turn, 1, 5)
                time.sleep(0.5)
            cpu = s.listener.cpu_s / s.listener.processed_s
        finally:
            s.close()
    print(f"end of speech -> turn emitted: median {statistics.median(ends) * 1000:.0f} ms "
          f"(end_of_turn_ms 700; target <= 750; n={len(ends)})")
    print(f"speech onset -> barge-in event: median {statistics.median(barges) * 1000:.0f} ms "
          f"(min_barge_in_ms 250; n={len(barges)} of {args.runs})")
    print(f"resample + AEC + VAD CPU: {cpu * 1000:.1f} ms per second of audio ({cpu * 100:.1f}% of one core)")
    print(f"own voice over {args.replies} replies: {false_turns} false turns, {false_barge} false barge-ins")
    print(f"echo removed on the rig: {removed:.1f} dB (loud parts of the replies)")


if __name__ == "__main__":
    main()
