"""A private PulseAudio daemon with virtual devices for tests and benchmarks: a speaker whose monitor can be
recorded with timestamps, a microphone that files can be played into, and an optional echo path from the
speaker into the microphone (the rig the hands-free loop is tested on)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voxtral_desktop.testing.speech import write_wav

TOOLS = ("pulseaudio", "pactl", "pacat", "parec", "paplay")
APT_HINT = "apt-get install pulseaudio pulseaudio-utils libasound2-plugins"
SPEAKER, MIC_SINK, MICROPHONE = "spk", "micmix", "vmic"
ENV_KEYS = ("HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "PULSE_SERVER")


class PulseUnavailable(RuntimeError):
    """The rig cannot run here (a tool is missing, the daemon would not start); the message says why."""


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


@dataclass
class PulseRig:
    """A running daemon; ``env`` points clients (and sounddevice in this process) at it."""

    root: Path
    env: dict[str, str]
    pid: int
    speaker: str = SPEAKER  # sink the app plays to (the default sink)
    mic_sink: str = MIC_SINK  # sink whose sound the microphone hears: play the user's voice here
    microphone: str = MICROPHONE  # the default source
    _children: list[subprocess.Popen] = field(default_factory=list)
    _said: int = 0

    def pactl(self, *args: str) -> str:
        done = subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise PulseUnavailable(f"pactl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def sink_input_of(self, module: str) -> str:
        """The sink input a module (e.g. the echo loopback) plays through."""
        current = ""
        for line in self.pactl("list", "sink-inputs").splitlines():
            line = line.strip()
            if line.startswith("Sink Input #"):
                current = line.removeprefix("Sink Input #")
            elif line == f"Owner Module: {module}":
                return current
        raise PulseUnavailable(f"module {module} has no sink input")

    def spawn(self, *args: str) -> subprocess.Popen:
        """Start a pulse client that the rig stops with itself."""
        child = subprocess.Popen(list(args), env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._children.append(child)
        return child

    def play(self, wav: Path, sink: str | None = None) -> subprocess.Popen:
        """Play a WAV file into ``sink`` (default: the microphone's, i.e. the user speaking)."""
        return self.spawn("paplay", "-d", sink or self.mic_sink, str(wav))

    def say(self, audio16k: np.ndarray, *, wait: bool = True) -> subprocess.Popen:
        """The user speaks ``audio16k`` (mono float32 at 16 kHz) into the microphone; ``wait``: until said."""
        self._said += 1
        player = self.play(write_wav(self.root / f"user-{self._said}.wav", audio16k))
        if wait:
            player.wait(120)
        return player

    def keep_running(self, sink: str, rate: int) -> None:
        # An idle null sink starts capture 0.5-2 s late and clips the first words: keep silence flowing in.
        self.spawn("pacat", "-p", "-d", sink, "--latency-msec=20", f"--rate={rate}", "--channels=1",
                   "--format=s16le", "/dev/zero")

    def record(self, source: str | None = None, rate: int = 48000) -> MonitorRecorder:
        """Start recording ``source`` (default: what the speaker plays) with monotonic timestamps."""
        return MonitorRecorder(self, source or f"{self.speaker}.monitor", rate)

    def close(self) -> None:
        for child in self._children:
            child.terminate()
        for child in self._children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        self._children.clear()
        _stop_pid(self.pid)


@contextmanager
def in_this_process(rig: PulseRig) -> Iterator[PulseRig]:
    """Point this process's sound clients (sounddevice/PortAudio) at the rig, and back afterwards.

    PortAudio lists devices once: it is made to look again on entry and on exit (no stream may be open)."""
    from voxtral_desktop.core.portaudio import list_input_devices

    saved = {key: os.environ.get(key) for key in ENV_KEYS}
    os.environ.update({key: rig.env[key] for key in ENV_KEYS})
    try:
        list_input_devices(refresh=True)
        yield rig
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        list_input_devices(refresh=True)


def start_pulse_rig(
    root: Path,
    *,
    speaker_rate: int = 48000,
    mic_rate: int = 16000,
    echo_db: float | None = None,
    echo_latency_ms: int = 30,
) -> PulseRig:
    """Start the daemon in ``root`` with the speaker, the microphone and, if ``echo_db``, the echo path.

    The caller must also put ``rig.env`` into os.environ (before PortAudio looks for devices) for the app
    in this process to use the rig. Raises PulseUnavailable with the reason.
    """
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise PulseUnavailable(f"{', '.join(missing)} not installed ({APT_HINT})")
    runtime = root / "run"
    runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(root),  # pulse (and sounddevice's import) write config here, never in the real home
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_CONFIG_HOME": str(root / "config"),
        "PULSE_SERVER": f"unix:{runtime}/pulse/native",
    }
    started = subprocess.run(
        ["pulseaudio", "-D", "--exit-idle-time=-1", "--disallow-exit", f"--log-target=file:{root}/pulse.log"],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )
    pid_file = runtime / "pulse" / "pid"
    deadline = time.monotonic() + 10
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if started.returncode != 0 or not pid_file.exists():
        raise PulseUnavailable(f"pulseaudio could not start (exit {started.returncode}): {started.stderr[-500:]}")
    rig = PulseRig(root, env, int(pid_file.read_text().split()[0]))
    try:
        rig.pactl("load-module", "module-null-sink", f"sink_name={SPEAKER}", f"rate={speaker_rate}", "channels=1")
        rig.pactl("load-module", "module-null-sink", f"sink_name={MIC_SINK}", f"rate={mic_rate}", "channels=1")
        rig.pactl("load-module", "module-remap-source", f"master={MIC_SINK}.monitor", f"source_name={MICROPHONE}")
        if echo_db is not None:
            module = rig.pactl("load-module", "module-loopback", f"source={SPEAKER}.monitor", f"sink={MIC_SINK}",
                               f"latency_msec={echo_latency_ms}")
            rig.pactl("set-sink-input-volume", rig.sink_input_of(module), f"{echo_db}dB")
        rig.pactl("set-default-sink", SPEAKER)
        rig.pactl("set-default-source", MICROPHONE)
        rig.keep_running(SPEAKER, speaker_rate)
        rig.keep_running(MIC_SINK, mic_rate)
    except BaseException:
        rig.close()
        raise
    return rig


def onset_in(stream: np.ndarray, utterance: np.ndarray, rate: int = 16000, threshold: float = 0.01) -> float:
    """Where ``utterance`` starts being audible inside ``stream`` (seconds), by cross-correlation."""
    n = 1 << int(np.ceil(np.log2(len(stream) + len(utterance))))
    corr = np.fft.irfft(np.fft.rfft(stream, n) * np.conj(np.fft.rfft(utterance, n)), n)[: len(stream)]
    offset = int(np.argmax(corr))
    first = int(np.flatnonzero(np.abs(utterance) >= threshold)[0])
    return (offset + first) / rate


@dataclass
class Recording:
    samples: np.ndarray  # float32 mono
    rate: int
    t0: float  # time.monotonic() at which samples[0] was at the source

    def index_at(self, t: float) -> int:
        return int(round((t - self.t0) * self.rate))

    def time_at(self, index: int) -> float:
        return self.t0 + index / self.rate

    def envelope(self, window_ms: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
        """(times, RMS) per window: what "sound" and "silence" are judged on."""
        n = max(1, int(self.rate * window_ms / 1000))
        frames = len(self.samples) // n
        rms = np.sqrt(np.mean(self.samples[: frames * n].reshape(frames, n) ** 2, axis=1))
        return self.t0 + (np.arange(frames) * n) / self.rate, rms


class MonitorRecorder:
    """Records a source through `parec` in small reads; each read's arrival time anchors the timeline."""

    def __init__(self, rig: PulseRig, source: str, rate: int) -> None:
        self.rate = rate
        self._proc = subprocess.Popen(
            ["parec", "-d", source, "--latency-msec=5", f"--rate={rate}", "--channels=1",
             "--format=float32le", "--raw"],
            env=rig.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        self._parts: list[bytes] = []
        self._received = 0
        self._t0 = float("inf")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while self._received < rate // 10 and time.monotonic() < deadline:
            time.sleep(0.01)  # recording for real before the caller plays anything

    def _read(self) -> None:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while True:
            data = os.read(fd, 4096)
            now = time.monotonic()
            if not data:
                return
            self._parts.append(data)
            self._received += len(data) // 4
            # The read that waited least puts its last sample closest to its arrival time.
            self._t0 = min(self._t0, now - self._received / self.rate)

    def stop(self) -> Recording:
        self._proc.terminate()
        self._proc.wait(10)
        self._thread.join(10)
        raw = b"".join(self._parts)
        samples = np.frombuffer(raw[: len(raw) // 4 * 4], dtype="<f4").astype(np.float32)
        return Recording(samples, self.rate, self._t0)
