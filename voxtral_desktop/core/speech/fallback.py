"""FallbackVoice: a server's voice while it works; when it cannot speak a chunk, a local neural voice says that
chunk (and the next ones, until the server is tried again), or, with no local voice, the caller is handed it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from voxtral_desktop.core.errors import RemoteVoiceFailed, SpeechError
from voxtral_desktop.core.speech.voices import Voice

log = logging.getLogger(__name__)

RETRY_AFTER_S = 60.0  # after a failure the server is left alone this long (offline: no wait per chunk)


@dataclass(frozen=True)
class VoiceTrouble:
    """The server's voice could not speak ``text``: ``why``; ``local`` names the voice that says it instead,
    "" when none could be had (the caller speaks ``text`` some other way: the system voice)."""

    why: str
    text: str
    local: str = ""


TroubleListener = Callable[[VoiceTrouble], None]


class FallbackVoice:
    """A Voice: ``remote`` streams each chunk; on RemoteVoiceFailed ``local()`` (resolved once, an installed
    voice) says it, resampled to the remote's rate so one output stream plays both. ``on_trouble`` hears each
    chunk that the remote voice did not say (from the player's thread)."""

    def __init__(
        self,
        remote: Any,
        local: Callable[[], Voice],
        on_trouble: TroubleListener | None = None,
        *,
        retry_after_s: float = RETRY_AFTER_S,
    ) -> None:
        self.remote = remote
        self.name = str(remote.name)
        self.sample_rate = int(remote.sample_rate)
        self._local_factory = local
        self._local: Voice | None = None
        self._local_error = ""
        self.on_trouble = on_trouble
        self._retry_after_s = retry_after_s
        self._failed_at: float | None = None
        self._why = ""
        self._lock = threading.Lock()

    @property
    def remote_ok(self) -> bool:
        """The server's voice is tried for the next chunk (no failure, or the last one is old enough)."""
        return self._failed_at is None or time.monotonic() - self._failed_at >= self._retry_after_s

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        if self.remote_ok:
            try:
                yield from self.remote.synthesize(text)
                self._failed_at = None
                return
            except RemoteVoiceFailed as e:
                log.warning("the server's voice failed, a local voice takes over: %s", e)
                self._failed_at, self._why = time.monotonic(), str(e)
        local = self._local_voice()
        self._tell(VoiceTrouble(self._why, text, local.name if local is not None else ""))
        if local is None:
            return
        for audio in local.synthesize(text):
            yield self._resampled(np.asarray(audio, dtype=np.float32), local.sample_rate)

    def cancel(self) -> None:
        cancel = getattr(self.remote, "cancel", None)
        if cancel is not None:
            cancel()

    def _local_voice(self) -> Voice | None:
        with self._lock:
            if self._local is None and not self._local_error:
                try:
                    self._local = self._local_factory()
                except SpeechError as e:
                    self._local_error = str(e)
                    log.warning("no local neural voice to stand in: %s", e)
            return self._local

    def _tell(self, trouble: VoiceTrouble) -> None:
        if self.on_trouble is None:
            return
        try:
            self.on_trouble(trouble)
        except Exception:  # noqa: BLE001 - a listener's bug must not silence the voice
            log.exception("voice trouble listener failed")

    def _resampled(self, audio: np.ndarray, rate: int) -> np.ndarray:
        if rate == self.sample_rate:
            return audio
        import soxr

        return soxr.resample(audio, rate, self.sample_rate).astype(np.float32)
