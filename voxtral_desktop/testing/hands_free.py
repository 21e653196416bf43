"""The hands-free loop on the PulseAudio echo rig without the window: a Listener on the rig's microphone, the
real SpeechPlayer speaking on its speaker (the echo canceller's reference), and the events collected.
Tests and benchmarks only."""

from __future__ import annotations

import threading
import time

import numpy as np

from voxtral_desktop.core.config import ListeningConfig
from voxtral_desktop.core.listening import Listener
from voxtral_desktop.core.portaudio import SoundDeviceCapture
from voxtral_desktop.core.speech.player import SpeechPlayer
from voxtral_desktop.core.speech.voices import Voice
from voxtral_desktop.testing.pulse_rig import PulseRig

# What the assistant says in the rig's runs: five ordinary spoken replies (tests and benchmarks/listening.py).
REPLIES = (
    "The weather is sunny today, with a light breeze from the west.",
    "Here is one: the chicken crossed the road to get home.",
    "I can help you with that, just tell me what you need.",
    "Paris is the capital of France, and it is lovely in spring.",
    "Sure, I have set a timer for ten minutes starting now.",
)


class HandsFreeSession:
    """Listens on ``rig``'s microphone while ``voice`` speaks on its speaker (the rig must be in_this_process)."""

    def __init__(
        self, rig: PulseRig, voice: Voice, *, mode: str = "hands_free", echo_cancellation: bool = True
    ) -> None:
        self.rig = rig
        cfg = ListeningConfig()
        cfg.mode = mode
        cfg.echo_cancellation = echo_cancellation
        self.events: list = []
        self.errors: list[Exception] = []
        self._raw: list[tuple[np.ndarray, float]] = []
        self._clean: list[np.ndarray] = []
        self._lock = threading.Lock()
        self.listener = Listener(SoundDeviceCapture(), cfg, self._on_event, on_error=self.errors.append, tap=self._tap)
        self.player = SpeechPlayer(voice)
        self.player.add_reference_listener(self.listener.add_reference)
        self.listener.start()
        # A PulseAudio capture delivers its first block a second or two after it opens: wait for it.
        deadline = time.monotonic() + 10
        while self.listener.processed_s < 0.2 and time.monotonic() < deadline:
            time.sleep(0.02)

    def _on_event(self, event: object) -> None:
        with self._lock:
            self.events.append(event)

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

    def speak_reply(self, text: str) -> None:
        """The assistant says ``text``; returns once the voice has gone quiet."""
        self.player.say(text)
        self.player.end()
        if not self.player.wait_idle(60):
            raise TimeoutError(f"the voice did not finish saying {text!r} within 60 s")

    def start_reply(self, text: str) -> None:
        """The assistant starts saying ``text`` (returns at once; ``player.stop()`` interrupts it)."""
        self.player.say(text)
        self.player.end()

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
