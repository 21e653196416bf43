"""A private PulseAudio daemon wired like a laptop: what the app plays on the "speaker" leaks into the
"microphone" (-6 dB, ~30 ms later), and the test's "user" speaks into the microphone too.

    app output -> spk (default sink) --monitor--> loopback (-6 dB, 30 ms) --> micmix --> vmic (default source)
    user voice (paplay)  --------------------------------------------------> micmix

Plus ``TonePlayer``-style ``RigPlayer``: a minimal sounddevice output that plays arrays on the default
sink and reports every block it plays to reference listeners, with the time it reaches the speaker (the
same contract as the speech player's ``add_reference_listener``). Tests and benchmarks only.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from voxtral_desktop.testing.speech import write_wav

log = logging.getLogger(__name__)

TOOLS = ("pulseaudio", "pactl", "pacat", "paplay")
RATE = 48000
ECHO_DELAY_MS = 30
ECHO_GAIN_DB = -6


class RigUnavailable(RuntimeError):
    """The rig cannot be built here (a tool is missing, or pulseaudio would not start)."""


def _stop_pid(pid: int, timeout_s: float = 5.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


class EchoRig:
    """Start with ``start()`` (or ``with EchoRig() as rig``); sets this process's pulse environment."""

    def __init__(self, echo_delay_ms: int = ECHO_DELAY_MS, echo_gain_db: float = ECHO_GAIN_DB) -> None:
        self.echo_delay_ms = echo_delay_ms
        self.echo_gain_db = echo_gain_db
        self.root: Path | None = None
        self.env: dict[str, str] = {}
        self._saved_env: dict[str, str | None] = {}
        self._pid: int | None = None
        self._keepers: list[subprocess.Popen] = []
        self._count = 0

    def __enter__(self) -> EchoRig:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        missing = [t for t in TOOLS if shutil.which(t) is None]
        if missing:
            raise RigUnavailable(f"{', '.join(missing)} not installed (apt-get install pulseaudio pulseaudio-utils)")
        self.root = Path(tempfile.mkdtemp(prefix="voxtral-echo-rig-"))
        runtime = self.root / "run"
        runtime.mkdir(mode=0o700)
        self.env = {
            "HOME": str(self.root),  # pulse and sounddevice's import write here, never in the real home
            "XDG_RUNTIME_DIR": str(runtime),
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "PULSE_SERVER": f"unix:{runtime}/pulse/native",
        }
        for key, value in self.env.items():
            self._saved_env[key] = os.environ.get(key)
            os.environ[key] = value
        started = subprocess.run(
            ["pulseaudio", "-D", "--exit-idle-time=-1", "--disallow-exit", "-n", "--log-target=stderr",
             "--load=module-native-protocol-unix"],
            env=self.full_env, capture_output=True, text=True, timeout=30, check=False,
        )
        pid_file = runtime / "pulse" / "pid"
        deadline = time.monotonic() + 10
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if started.returncode != 0 or not pid_file.exists():
            self.stop()
            raise RigUnavailable(f"pulseaudio could not start: {started.stderr.strip()[-500:]}")
        self._pid = int(pid_file.read_text().split()[0])
        try:
            self._wire()
        except (subprocess.SubprocessError, OSError, RuntimeError) as e:
            self.stop()
            raise RigUnavailable(f"could not wire the echo rig: {e}") from e

    @property
    def full_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def pactl(self, *args: str) -> str:
        done = subprocess.run(["pactl", *args], env=self.full_env, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def _wire(self) -> None:
        for sink in ("spk", "micmix"):
            self.pactl("load-module", "module-null-sink", f"sink_name={sink}", f"rate={RATE}", "channels=1")
        self.pactl("load-module", "module-remap-source", "master=micmix.monitor", "source_name=vmic")
        self.pactl(
            "load-module", "module-loopback", "source=spk.monitor", "sink=micmix",
            f"latency_msec={self.echo_delay_ms}", "source_dont_move=true", "sink_dont_move=true",
        )
        deadline = time.monotonic() + 10
        while True:  # the loopback's sink input appears a moment after the module loads
            rows = [r.split("\t") for r in self.pactl("list", "short", "sink-inputs").splitlines() if r]
            # The owner column reads "-" for a loopback's input; its driver names the module (one loopback here).
            mine = [r[0] for r in rows if len(r) > 3 and r[3] == "module-loopback.c"]
            if mine or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if not mine:
            raise RuntimeError("the loopback's sink input never appeared")
        self.pactl("set-sink-input-volume", mine[0], f"{self.echo_gain_db:g}dB")
        self.pactl("set-default-sink", "spk")
        self.pactl("set-default-source", "vmic")
        # Idle null sinks start late and clip the first words: keep silence flowing into both.
        for sink in ("spk", "micmix"):
            self._keepers.append(
                subprocess.Popen(
                    ["pacat", "-p", "-d", sink, "--latency-msec=20", f"--rate={RATE}", "--channels=1",
                     "--format=s16le", "/dev/zero"],
                    env=self.full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
            )
        time.sleep(0.3)

    def play_user(self, audio16k: np.ndarray, *, wait: bool = True) -> subprocess.Popen:
        """The user speaks: ``audio16k`` (mono float32, 16 kHz) goes straight into the microphone mix."""
        assert self.root is not None
        self._count += 1
        wav = write_wav(self.root / f"user-{self._count}.wav", audio16k)
        proc = subprocess.Popen(["paplay", "-d", "micmix", str(wav)], env=self.full_env)
        if wait:
            proc.wait(timeout=120)
        return proc

    def stop(self) -> None:
        for proc in self._keepers:
            proc.terminate()
            proc.wait(10)
        self._keepers.clear()
        if self._pid is not None:
            _stop_pid(self._pid)
            self._pid = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


ReferenceListener = Callable[[np.ndarray, int, float], None]


class RigPlayer:
    """Plays mono float32 arrays on the default output; every block played goes to the reference listeners
    with the monotonic time its first sample reaches the speaker. Stand-in for the app's speech player."""

    def __init__(self, sample_rate: int = 22050, block_ms: int = 20) -> None:
        self.sample_rate = sample_rate
        self.block = sample_rate * block_ms // 1000
        self._listeners: list[ReferenceListener] = []
        self._queue: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
        self._current = np.zeros(0, dtype=np.float32)
        self._stream: Any = None
        self.idle = threading.Event()
        self.idle.set()
        self._stop_now = threading.Event()

    def add_reference_listener(self, cb: ReferenceListener) -> None:
        self._listeners.append(cb)

    def start(self) -> None:
        from voxtral_desktop.core.portaudio import import_sounddevice, list_input_devices

        sd = import_sounddevice()
        list_input_devices(refresh=True)  # PortAudio lists devices at start-up: the rig's pulse came later
        self._stream = sd.OutputStream(
            samplerate=self.sample_rate, blocksize=self.block, channels=1, dtype="float32",
            callback=self._callback, latency="low",
        )
        self._stream.start()

    def play(self, audio: np.ndarray) -> None:
        self.idle.clear()
        self._queue.put(np.asarray(audio, dtype=np.float32))

    def stop_playing(self) -> None:
        self._stop_now.set()

    def _callback(self, outdata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        out = np.zeros(frames, dtype=np.float32)
        if self._stop_now.is_set():
            self._stop_now.clear()
            self._current = np.zeros(0, dtype=np.float32)
            while not self._queue.empty():
                self._queue.get_nowait()
        filled = 0
        while filled < frames:
            if not len(self._current):
                if self._queue.empty():
                    break
                self._current = self._queue.get_nowait()
                continue
            take = min(frames - filled, len(self._current))
            out[filled : filled + take] = self._current[:take]
            self._current = self._current[take:]
            filled += take
        if not filled and self._queue.empty() and not len(self._current):
            self.idle.set()
        outdata[:, 0] = out
        dac_delay = when.outputBufferDacTime - when.currentTime
        if not 0.0 <= dac_delay < 1.0:  # some back-ends report no times: fall back on the stream latency
            dac_delay = float(self._stream.latency) if self._stream is not None else 0.0
        t_play = time.monotonic() + dac_delay
        for cb in self._listeners:
            cb(out, self.sample_rate, t_play)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None


def room_echo(far: np.ndarray, rate: int = 16000, *, delay_ms: float = 40, gain_db: float = -6,
              floor_dbfs: float = -70, seed: int = 0) -> np.ndarray:
    """What a microphone hears of ``far`` through a room: delayed, -6 dB, two weaker reflections, a noise floor."""
    out = np.zeros(len(far), dtype=np.float32)
    for extra_ms, rel_db in ((0, 0), (50, -10), (150, -20)):
        d = int((delay_ms + extra_ms) * rate / 1000)
        if d < len(far):
            out[d:] += far[: len(far) - d] * np.float32(10 ** ((gain_db + rel_db) / 20))
    rng = np.random.default_rng(seed)
    out += (rng.standard_normal(len(far)) * 10 ** (floor_dbfs / 20)).astype(np.float32)
    return out


def onset_in(stream: np.ndarray, utterance: np.ndarray, rate: int = 16000, threshold: float = 0.01) -> float:
    """Where ``utterance`` starts being audible inside ``stream`` (seconds), by cross-correlation."""
    n = 1 << int(np.ceil(np.log2(len(stream) + len(utterance))))
    corr = np.fft.irfft(np.fft.rfft(stream, n) * np.conj(np.fft.rfft(utterance, n)), n)[: len(stream)]
    offset = int(np.argmax(corr))
    first = int(np.flatnonzero(np.abs(utterance) >= threshold)[0])
    return (offset + first) / rate


class RigSession:
    """A Listener on the rig's microphone, the RigPlayer feeding it the reference, events collected."""

    def __init__(self, rig: EchoRig, *, mode: str = "hands_free", echo_cancellation: bool = True) -> None:
        from voxtral_desktop.core.portaudio import SoundDeviceCapture, list_input_devices
        from voxtral_desktop.core.config import ListeningConfig
        from voxtral_desktop.core.listening import Listener

        self.rig = rig
        list_input_devices(refresh=True)
        cfg = ListeningConfig()
        cfg.mode = mode
        cfg.echo_cancellation = echo_cancellation
        self.events: list = []
        self._raw: list[tuple[np.ndarray, float]] = []
        self._clean: list[np.ndarray] = []
        self._lock = threading.Lock()
        self.listener = Listener(SoundDeviceCapture(), cfg, self._on_event, on_error=self._on_error, tap=self._tap)
        self.errors: list[Exception] = []
        self.player = RigPlayer()
        self.player.add_reference_listener(self.listener.add_reference)
        self.player.start()
        self.listener.start()

    def _on_event(self, event: object) -> None:
        with self._lock:
            self.events.append(event)

    def _on_error(self, error: Exception) -> None:
        self.errors.append(error)

    def _tap(self, raw: np.ndarray, clean: np.ndarray, t: float) -> None:
        with self._lock:
            self._raw.append((raw.copy(), t))
            self._clean.append(clean.copy())

    def of_type(self, cls: type) -> list:
        with self._lock:
            return [e for e in self.events if isinstance(e, cls)]

    def wait_for(self, cls: type, count: int, timeout_s: float) -> list:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(self.of_type(cls)) < count:
            time.sleep(0.02)
        return self.of_type(cls)

    def speak_reply(self, audio16k: np.ndarray) -> None:
        """The assistant says ``audio16k`` (played at the voice's 22.05 kHz) and the call waits until it ends."""
        import soxr

        self.player.play(soxr.resample(audio16k, 16000, self.player.sample_rate).astype(np.float32))
        time.sleep(0.1)
        self.player.idle.wait(60)

    def recorded(self) -> tuple[np.ndarray, np.ndarray, float]:
        """(raw mic at 16 kHz, cleaned, capture time of raw's first sample)."""
        with self._lock:
            raw = np.concatenate([r for r, _ in self._raw]) if self._raw else np.zeros(0, np.float32)
            clean = np.concatenate(self._clean) if self._clean else np.zeros(0, np.float32)
            t0 = self._raw[0][1] if self._raw else 0.0
        return raw, clean, t0

    def clear(self) -> None:
        with self._lock:
            self.events.clear()

    def close(self) -> None:
        self.listener.stop()
        self.player.close()
