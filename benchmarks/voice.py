"""Voice figures through a PulseAudio virtual speaker whose output is recorded: a chunk's arrival to its
first audible sample, synthesis real-time factor, stop() to silence; plots one spoken reply to a PNG.

Run: .venv/bin/python benchmarks/voice.py [--runs 15] [--voice KEY_OR_PATH] [--plot out.png]
     .venv/bin/python benchmarks/voice.py --levers --runs 9   (issue 21: each first-sound lever's median)
Needs pulseaudio + pulseaudio-utils (scripts/setup.sh installs them). Prints medians; these are
measurements, not pass/fail tests. (b) is the whole app: the view-models on the trained tiny Voxtral, a
WAV file as the microphone, the voice on the virtual speaker; --app-runs 0 skips it.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

CHUNKS_4 = ["The weather is sunny", "Here is one joke", "I can help with", "Let me think about",
            "That sounds like fun", "The answer is yes"]
SENTENCES = [
    "Hello there.",
    "The weather is sunny today, with a light breeze from the west.",
    "Here is one: the chicken crossed the road to get home.",
    "Voice assistants are judged by how quickly they start to speak, and by how natural they sound.",
]
REPLY = ["The weather is sunny", "today, with a light", "breeze from the west,", "and it should stay",
         "warm until the evening."]
LOUD = 0.01  # RMS of a 2 ms window that counts as sound


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000.0


def envelope(rec, window_ms: float = 2.0):
    return rec.envelope(window_ms)


def onset_after(rec, t: float) -> float | None:
    times, rms = envelope(rec)
    hits = times[(times >= t) & (rms > LOUD)]
    return float(hits[0]) if len(hits) else None


def last_sound_after(rec, t: float, until: float) -> float:
    """How long after ``t`` the last loud window ends (0 when silent at once)."""
    times, rms = envelope(rec)
    hits = times[(times >= t) & (times <= until) & (rms > LOUD)]
    return float(hits[-1] + 0.002 - t) if len(hits) else 0.0


def real_time_factor(voice, runs: int) -> tuple[float, float]:
    factors, chunk_times = [], []
    for _ in range(runs):
        for text in SENTENCES:
            t0 = time.perf_counter()
            audio = np.concatenate(list(voice.synthesize(text)))
            factors.append((time.perf_counter() - t0) / (len(audio) / voice.sample_rate))
        text = random.choice(CHUNKS_4)
        t0 = time.perf_counter()
        list(voice.synthesize(text))
        chunk_times.append(time.perf_counter() - t0)
    return statistics.median(factors), median_ms(chunk_times)


def first_sound(rig, player, runs: int) -> tuple[list[float], list[float]]:
    from voxtral_desktop.core.speech.player import PlayerEventKind

    heard, reported = [], []
    firsts: list[float] = []
    player.add_listener(lambda e: firsts.append(e.t) if e.kind == PlayerEventKind.FIRST_SOUND else None)
    for i in range(runs):
        firsts.clear()
        rec = rig.record()
        time.sleep(0.2)
        t_say = time.monotonic()
        player.say(CHUNKS_4[i % len(CHUNKS_4)])
        player.end()
        player.wait_idle(20)
        time.sleep(0.1)
        recording = rec.stop()
        onset = onset_after(recording, t_say)
        if onset is not None:
            heard.append(onset - t_say)
        if firsts:
            reported.append(firsts[-1] - t_say)
    return heard, reported


# Issue 21's levers, each on its own over the old way (espeak-ng process per chunk, the 4-word chunk in one
# piece, a voice whose session has never run, the stream opened by the chunk), then all together.
OLD = {"resident": False, "first_words": 0, "warm": False, "prepared": False, "latency": 0.03}
NOW = {"resident": True, "first_words": 2, "warm": True, "prepared": True, "latency": 0.02}
LEVERS = {
    "old way (none)": {},
    "resident phonemizer": {"resident": True},
    "shorter first piece (2 words, edges trimmed)": {"first_words": 2},
    "warmed synthesis session": {"warm": True},
    "stream opened before the reply": {"prepared": True},
    "all four, 30 ms output latency (as before)": {**NOW, "latency": 0.03},
    "all four, 20 ms output latency (the app now)": NOW,
    "the app now, but the stream opened by the chunk": {**NOW, "prepared": False},
    "the app now, 10 ms output latency": {**NOW, "latency": 0.01},
    "the app now, 60 ms output latency": {**NOW, "latency": 0.06},
}


def lever_first_sound(rig, model: Path, runs: int, *, resident: bool, first_words: int, warm: bool,
                      prepared: bool, latency: float) -> tuple[list[float], list[float]]:
    """A reply's first chunk (4 words) arriving at a player made for it -> first audible sample at the speaker
    and the player's estimate; a fresh voice and player each run, as for the first reply after load."""
    import json

    from voxtral_desktop.core.speech.player import PlayerEventKind, SpeechPlayer
    from voxtral_desktop.core.speech.voices import PiperVoice, config_path_for

    config = json.loads(config_path_for(model).read_text(encoding="utf-8"))
    heard, reported = [], []
    for i in range(runs):
        voice = PiperVoice(model, config, resident_phonemizer=resident)
        if warm:
            voice.warm()
        player = SpeechPlayer(voice, latency=latency, first_piece_words=first_words)
        firsts: list[float] = []
        player.add_listener(lambda e, firsts=firsts: firsts.append(e.t) if e.kind == PlayerEventKind.FIRST_SOUND
                            else None)
        if prepared:
            player.prepare()
        rec = rig.record()
        time.sleep(0.3)
        t_say = time.monotonic()
        player.say(CHUNKS_4[i % len(CHUNKS_4)])
        player.end()
        player.wait_idle(20)
        time.sleep(0.1)
        recording = rec.stop()
        player.close()
        voice.close()
        onset = onset_after(recording, t_say)
        if onset is not None:
            heard.append(onset - t_say)
        if firsts:
            reported.append(firsts[0] - t_say)
    return heard, reported


def phonemizer_ms(runs: int) -> tuple[float, float]:
    """espeak-ng per 4-word chunk: a process each time vs the resident child (medians, ms)."""
    from voxtral_desktop.core.speech.phonemes import EspeakPhonemizer

    out = []
    for resident in (False, True):
        phonemizer = EspeakPhonemizer("en-us", resident=resident)
        phonemizer.sentences("Hello.")
        times = []
        for i in range(runs):
            t0 = time.perf_counter()
            phonemizer.sentences(CHUNKS_4[i % len(CHUNKS_4)])
            times.append(time.perf_counter() - t0)
        phonemizer.close()
        out.append(median_ms(times))
    return out[0], out[1]


def first_run_ms(model: Path, runs: int) -> tuple[float, float]:
    """A 4-word chunk's synthesis by a voice's first run vs its later runs (medians, ms)."""
    from voxtral_desktop.core.speech.voices import PiperVoice

    cold, warm = [], []
    for i in range(runs):
        voice = PiperVoice.load(model, warm=False)
        for times in (cold, warm):
            t0 = time.perf_counter()
            list(voice.synthesize(CHUNKS_4[i % len(CHUNKS_4)]))
            times.append(time.perf_counter() - t0)
        voice.close()
    return median_ms(cold), median_ms(warm)


def piece_ms(voice, runs: int) -> dict[int, float]:
    """Synthesis time of a chunk's first N words (medians, ms): why the first piece is short."""
    words = ["The", "weather", "is", "sunny", "today", "with", "a", "light", "breeze"]
    out = {}
    for n in (2, 3, 4, 8):
        text = " ".join(words[:n])
        out[n] = statistics.median(_timed(lambda text=text: list(voice.synthesize(text))) for _ in range(runs)) * 1000
    return out


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def print_levers(rig, voice, runs: int) -> None:
    resident_off, resident_on = phonemizer_ms(runs * 3)
    print(f"lever: phonemes of a 4-word chunk, espeak-ng process per chunk {resident_off:.1f} ms -> "
          f"resident child {resident_on:.1f} ms (median of {runs * 3})")
    cold, warm = first_run_ms(voice.model_path, runs)
    print(f"lever: a 4-word chunk's synthesis, the session's first run {cold:.0f} ms -> later runs {warm:.0f} ms")
    pieces = piece_ms(voice, runs)
    print("lever: synthesis of a chunk's first N words: "
          + ", ".join(f"{n} words {ms:.0f} ms" for n, ms in pieces.items()))
    from voxtral_desktop.core import portaudio

    t0 = time.perf_counter()
    stream, _ = portaudio.open_output_stream("", voice.sample_rate, lambda o, *_: o.fill(0), latency=0.03,
                                             block_s=0.01)
    opened = time.perf_counter() - t0
    portaudio.close_output_stream(stream)
    print(f"lever: opening the output stream takes {opened * 1000:.0f} ms (paid by a reply that finds it closed)")
    print(f"first chunk (4 words) arrival -> first audible sample at the speaker, a fresh voice and player per "
          f"run (median of {runs}; the player's estimate in brackets):")
    for name, change in LEVERS.items():
        heard, reported = lever_first_sound(rig, voice.model_path, runs, **{**OLD, **change})
        print(f"  {name:<46} {median_ms(heard):5.0f} ms  ({median_ms(reported):.0f} ms)", flush=True)


def stop_to_silence(rig, player, runs: int) -> tuple[list[float], list[float]]:
    from voxtral_desktop.core.speech.player import PlayerEventKind

    silences, calls = [], []
    sounding = threading.Event()
    player.add_listener(lambda e: sounding.set() if e.kind == PlayerEventKind.FIRST_SOUND else None)
    for _ in range(runs):
        sounding.clear()
        rec = rig.record()
        player.say(SENTENCES[3])
        sounding.wait(10)
        time.sleep(random.uniform(0.3, 1.2))
        t_stop = time.monotonic()
        player.stop()
        calls.append(time.monotonic() - t_stop)
        time.sleep(0.5)
        recording = rec.stop()
        silences.append(last_sound_after(recording, t_stop, t_stop + 0.5))
    return silences, calls


def plot_reply(rig, player, path: Path) -> None:
    """Speak REPLY as a model would hand it over (a chunk every 350 ms), stop during the fourth chunk."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from voxtral_desktop.core.speech.player import PlayerEventKind

    events = []
    player.add_listener(events.append)
    rec = rig.record()
    time.sleep(0.3)
    t0 = time.monotonic()
    arrivals = []
    for chunk in REPLY:
        arrivals.append(time.monotonic())
        player.say(chunk)
        time.sleep(0.35)
    starts = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        starts = {e.index: e.t for e in events if e.kind == PlayerEventKind.CHUNK_STARTED}
        if len(starts) >= 4:
            break
        time.sleep(0.01)
    time.sleep(0.5)
    t_stop = time.monotonic()
    player.stop()
    time.sleep(0.6)
    recording = rec.stop()
    first_index = min(starts)

    t = (np.arange(len(recording.samples)) / recording.rate) + recording.t0 - t0
    fig, ax = plt.subplots(figsize=(13, 4.2), dpi=110)
    ax.plot(t, recording.samples, lw=0.4, color="#335")
    for i, (index, t_start) in enumerate(sorted(starts.items())):
        ax.axvline(t_start - t0, color="#2a2", lw=1.2)
        ax.text(t_start - t0 + 0.02, 0.93 - 0.09 * (i % 2), f"chunk {index - first_index + 1} plays",
                color="#2a2", fontsize=8, transform=ax.get_xaxis_transform())
    for i, t_arr in enumerate(arrivals):
        ax.axvline(t_arr - t0, color="#999", lw=0.8, ls=":")
        ax.text(t_arr - t0 + 0.02, 0.04, f"arrives {i + 1}", color="#777", fontsize=7,
                transform=ax.get_xaxis_transform())
    ax.axvline(t_stop - t0, color="#c22", lw=1.6)
    ax.text(t_stop - t0 + 0.02, 0.75, "stop()", color="#c22", fontsize=9, transform=ax.get_xaxis_transform())
    ax.set_xlim(-0.2, t_stop - t0 + 0.5)
    ax.set_ylim(-1, 1)
    ax.set_xlabel("seconds after the first chunk arrived")
    ax.set_ylabel("recorded at the speaker")
    ax.set_title("A spoken reply (en_US-joe-medium) recorded from the virtual speaker's monitor: "
                 "chunks as they arrive (dotted), when the player starts each (green), and stop() (red)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    print(f"plot: {path}")


def release_to_first_sound(rig, voice, runs: int) -> tuple[list[float], list[float], list[float]]:
    """The app end to end: talk-button release -> (first audible sample, the player's estimate, first chunk)."""
    import asyncio

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ["VOXTRAL_DESKTOP_HOME"] = tempfile.mkdtemp(prefix="voice-bench-home-")
    import qasync
    from PySide6.QtWidgets import QApplication

    from voxtral_desktop.app import prepare_qt
    from voxtral_desktop.core.config import load_config
    from voxtral_desktop.testing.speech import UTTERANCES, synthesize
    from voxtral_desktop.testing.tiny_voxtral import cached_tiny_voxtral
    from voxtral_desktop.testing.wav_capture import WavFileCapture
    from voxtral_desktop.ui.view_models import ViewModels

    prepare_qt()
    QApplication.instance() or QApplication([])
    question = synthesize(UTTERANCES[0].spoken)
    cfg = load_config(overrides={
        "model": {"id": str(cached_tiny_voxtral())}, "streaming": {"temperature": 0},
        "conversation": {"max_turns": 0}, "speech": {"voice": str(voice.model_path), "engine": "mock"},
    })
    heard: list[float] = []
    reported: list[float] = []
    chunked: list[float] = []

    async def until(predicate, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("the app did not get there")
            await asyncio.sleep(0.005)

    async def run() -> None:
        vms = ViewModels(cfg, capture_factory=lambda device: WavFileCapture(question, 16000))
        vms.start()
        await until(lambda: vms.model.status.ready and vms.speaker.neural and vms.recording.mic.available)
        sounds: list[float] = []
        chunks: list[float] = []
        vms.speaker.firstSound.connect(sounds.append)
        vms.replies.replyChunk.connect(lambda *_: chunks.append(time.monotonic()))
        for run_index in range(runs + 1):  # the first warms the model and the output stream up
            sounds.clear()
            chunks.clear()
            vms.recording.startRecording()
            await until(lambda: vms.recording.is_recording)
            source = vms.recording.capture_source
            await until(lambda: source.finished.is_set())
            recorder = rig.record()
            await asyncio.sleep(0.15)  # trailing silence, as a person leaves
            t_release = time.monotonic()
            vms.recording.stopRecording()
            await until(lambda: bool(sounds))
            await until(lambda: not vms.speaker.is_speaking and not vms.replies.is_busy)
            recording = recorder.stop()
            onset = onset_after(recording, t_release)
            if run_index and onset is not None:
                heard.append(onset - t_release)
                reported.append(sounds[0] - t_release)
                chunked.append(chunks[0] - t_release)
        await vms.shutdown()

    qasync.run(run())
    return heard, reported, chunked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--voice", default="en_US-joe-medium", help="voice key or .onnx path")
    parser.add_argument("--plot", type=Path, default=Path("benchmarks/out/voice_reply.png"))
    parser.add_argument("--app-runs", type=int, default=7, help="(b) replies through the app; 0 skips it")
    parser.add_argument("--only-app", action="store_true", help="measure (b) only")
    parser.add_argument("--levers", action="store_true", help="issue 21's first-sound levers, one by one, only")
    args = parser.parse_args()

    from voxtral_desktop.testing.pulse_rig import start_pulse_rig

    rig = start_pulse_rig(Path(tempfile.mkdtemp(prefix="voice-bench-")))
    for key in ("HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "PULSE_SERVER"):
        os.environ[key] = rig.env[key]  # before PortAudio starts: it must see this daemon
    try:
        from voxtral_desktop.core.speech.catalogue import resolve_voice
        from voxtral_desktop.core.speech.player import SpeechPlayer

        voice = resolve_voice(args.voice, download=False)
        print(f"voice {voice.name} ({voice.sample_rate} Hz); {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (figures grow with it); "
              "PulseAudio null sink at 48 kHz")
        if args.levers:
            print_levers(rig, voice, args.runs)
            return
        if args.app_runs:
            heard, reported, chunked = release_to_first_sound(rig, voice, args.app_runs)
            print(f"(b) talk-button release -> first audible sample, the app on the tiny model (median of "
                  f"{len(heard)}): {median_ms(heard):.0f} ms (first chunk at {median_ms(chunked):.0f} ms; the "
                  f"player's estimate {median_ms(reported):.0f} ms)")
            after_chunk = [h - c for h, c in zip(heard, chunked, strict=True)]
            print(f"(b) the app's first chunk -> its first audible sample (median of {len(after_chunk)}): "
                  f"{median_ms(after_chunk):.0f} ms (issue 21's goal: 100 ms)")
        if args.only_app:
            return
        rtf, chunk_ms = real_time_factor(voice, max(3, args.runs // 3))
        print(f"synthesis real-time factor (median, 1-16 word sentences): {rtf:.3f}")
        print(f"synthesis of a 4-word chunk (median): {chunk_ms:.0f} ms")

        player = SpeechPlayer(voice)
        t_open = time.monotonic()
        player.say("Ready.")
        player.end()
        player.wait_idle(20)
        print(f"first chunk with the output stream still closed, to idle: {(time.monotonic() - t_open) * 1000:.0f} ms")
        heard, reported = first_sound(rig, player, args.runs)
        print(f"(a) 4-word chunk arrival -> first audible sample at the speaker (median of {len(heard)}): "
              f"{median_ms(heard):.0f} ms (target <= 150); the player's own estimate: {median_ms(reported):.0f} ms")
        silences, calls = stop_to_silence(rig, player, args.runs)
        print(f"(c) stop() -> silence at the speaker (median of {len(silences)}): {median_ms(silences):.1f} ms, "
              f"max {max(silences) * 1000:.1f} ms (target <= 50); stop() returns in {median_ms(calls):.1f} ms")
        plot_reply(rig, player, args.plot)
        player.close()
    finally:
        rig.close()


if __name__ == "__main__":
    main()
