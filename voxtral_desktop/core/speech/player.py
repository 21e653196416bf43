"""SpeechPlayer: reply chunks -> a voice -> a sounddevice output stream, synthesised while the model still
generates; stop() silences at once; events and the played signal (for echo cancellation) with timings."""

from __future__ import annotations

import collections
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from voxtral_desktop.core import portaudio
from voxtral_desktop.core.errors import SpeechError
from voxtral_desktop.core.speech.voices import Voice

log = logging.getLogger(__name__)

# A stream with nothing to say for this long is closed, so the app does not hold the sound device forever.
KEEP_OPEN_S = 20.0
# A reply's first chunk is synthesised in two pieces: up to its first pause (a comma...) or its first words,
# then the rest. A VITS voice's time grows with the text (joe: 2 words ~45 ms, 4 words ~165 ms on a busy
# core), so the first sound comes sooner; the rest is ready before the head has finished playing.
FIRST_PIECE_WORDS = 2
_PAUSE = re.compile(r"[,;:.!?](?=\s)")
# Piper pieces open with ~50 ms and close with ~120 ms of near-silence: the reply's first piece loses its
# opening (that is first-sound time), and a cut chunk's two pieces meet without a pause added mid-phrase.
QUIET = 0.01  # RMS of a 2.5 ms window below which a piece's edge counts as silent
KEEP_S = 0.015  # silence kept at a trimmed edge, so a soft onset is not clipped


def trim_silence(audio: np.ndarray, rate: int, *, lead: bool, tail: bool) -> np.ndarray:
    """``audio`` without its silent opening (``lead``) and/or ending (``tail``), ``KEEP_S`` of it kept."""
    window = max(1, int(rate * 0.0025))
    frames = len(audio) // window
    if frames == 0 or not (lead or tail):
        return audio
    rms = np.sqrt(np.mean(audio[: frames * window].reshape(frames, window) ** 2, axis=1))
    loud = np.nonzero(rms > QUIET)[0]
    if not len(loud):
        return audio
    keep = int(rate * KEEP_S)
    start = max(0, int(loud[0]) * window - keep) if lead else 0
    end = min(len(audio), (int(loud[-1]) + 1) * window + keep) if tail else len(audio)
    return audio[start:end]


def first_piece(text: str, words: int = FIRST_PIECE_WORDS) -> list[str]:
    """``text`` cut after its first pause when that comes within ``words`` + 2 words, else after ``words``
    words; one piece when there is nothing worth cutting."""
    parts = text.split()
    if words <= 0 or len(parts) <= words + 1:
        return [text]
    pause = _PAUSE.search(text)
    if pause is not None and len(text[: pause.end()].split()) <= words + 2:
        head, rest = text[: pause.end()], text[pause.end() :]
    else:
        head, rest = " ".join(parts[:words]), " ".join(parts[words:])
    return [head.strip(), rest.strip()] if rest.strip() else [text]


class PlayerEventKind(StrEnum):
    FIRST_SOUND = "first_sound"  # the reply's first sample reaches the output
    CHUNK_STARTED = "chunk_started"  # a chunk's first sample reaches the output
    IDLE = "idle"  # everything said has been played (after end()) or stop() silenced it


@dataclass(frozen=True)
class PlayerEvent:
    kind: PlayerEventKind
    t: float  # time.monotonic() at which the sound reaches the output (IDLE: when the last sample did)
    index: int = -1  # the chunk's number in the reply, from 0
    text: str = ""


EventListener = Callable[[PlayerEvent], None]
# (samples float32 mono, sample_rate, monotonic time their first sample reaches the output)
ReferenceListener = Callable[[np.ndarray, int, float], None]


@dataclass
class _Segment:
    generation: int
    index: int
    text: str
    samples: np.ndarray
    first: bool  # the chunk's first audio
    last: bool  # the chunk's end marker (its samples may be empty)


class SpeechPlayer:
    """Speaks chunks in order as they arrive. Thread-safe; listeners run on the audio thread: keep them short.

    A worker thread synthesises each chunk as soon as it is queued (sentence by sentence, so the first
    sound never waits for a whole reply); the output stream's callback plays what is ready.
    """

    def __init__(
        self,
        voice: Voice,
        output_device: str = "",
        *,
        latency: float = 0.02,
        block_s: float = 0.01,
        first_piece_words: int | None = None,
    ) -> None:
        self.voice = voice
        self.output_device = output_device
        # Only a voice that says so gains from a shorter first piece (a server's voice pays a request each).
        if first_piece_words is None:
            first_piece_words = FIRST_PIECE_WORDS if getattr(voice, "quick_first_piece", False) else 0
        self.first_piece_words = first_piece_words
        # 10 ms blocks in a 20 ms buffer: first sound comes soon (30 ms cost ~10 ms more at the speaker, 10 ms
        # gained nothing more; benchmarks/voice.py --levers) and three busy processes on two cores still did
        # not starve the device (no underrun on PulseAudio); stop() drops the buffer anyway.
        self._latency = latency
        self._block_s = block_s
        self._lock = threading.Lock()  # the queues and reply state, shared with the audio callback
        self._opening = threading.Lock()
        self._texts: queue.Queue[tuple[int, int, str] | None] = queue.Queue()
        self._ready: collections.deque[_Segment] = collections.deque()
        self._offset = 0  # samples of _ready[0] already played
        self._generation = 0
        self._next_index = 0
        self._unplayed: set[int] = set()  # chunks said but not fully played
        self._ended = False
        self._active = False  # a reply is sounding (between its first sample and idle)
        self._idle = threading.Event()
        self._idle.set()
        self._listeners: list[EventListener] = []
        self._references: list[ReferenceListener] = []
        self._stream: Any = None
        self._rate = 0
        self._closed = False
        self._touched = time.monotonic()  # the last say() or prepare(): the stream stays open KEEP_OPEN_S after
        self._worker = threading.Thread(target=self._synthesise_loop, name="speech-synth", daemon=True)
        self._worker.start()

    # --- listeners -------------------------------------------------------------------------------------
    def add_listener(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def add_reference_listener(self, listener: ReferenceListener) -> None:
        """``listener(samples, sample_rate, t_play)`` gets every block played, from the audio thread."""
        self._references.append(listener)

    # --- control ---------------------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        """The output stream's rate (0 until the first chunk opened it)."""
        return self._rate

    @property
    def is_speaking(self) -> bool:
        return not self._idle.is_set()

    def prepare(self) -> None:
        """Open the output stream now (it then stays open ``KEEP_OPEN_S`` past the last sound), so the next
        reply's first sound does not wait for the sound server; SpeechError when the output cannot open."""
        self._open_stream()
        self._touched = time.monotonic()

    def say(self, text: str) -> int:
        """Queue a chunk of the current reply; returns its number. Synthesis starts at once."""
        if self._closed:
            raise SpeechError("the speech player was closed")
        self._open_stream()
        with self._lock:
            self._ended = False  # more is coming until end()
            if self._idle.is_set():  # the first chunk of a new reply: its chunks count from 0 again
                self._next_index = 0
            index = self._next_index
            self._next_index += 1
            self._unplayed.add(index)
            self._idle.clear()
            generation = self._generation
        self._touched = time.monotonic()
        self._texts.put((generation, index, text))
        return index

    def end(self) -> None:
        """No more chunks for this reply: IDLE follows once everything queued has played."""
        with self._lock:
            self._ended = True
            idle = not self._unplayed and not self._ready and self._to_idle()
        if idle:
            self._emit(PlayerEvent(PlayerEventKind.IDLE, time.monotonic()))

    def stop(self) -> None:
        """Silence now: drop queued text and audio, and the audio already in the device's buffer."""
        with self._lock:
            self._generation += 1
            self._ready.clear()
            self._offset = 0
            self._unplayed.clear()
            self._ended = True
            was_speaking = self._to_idle()
            stream = self._stream
        while True:
            try:
                self._texts.get_nowait()
            except queue.Empty:
                break
        cancel = getattr(self.voice, "cancel", None)
        if cancel is not None:  # a voice that streams from a server closes its request now, not at its next piece
            cancel()
        if stream is not None and was_speaking:
            # abort() drops what the device still holds (a plain stop() would play it out); then restart.
            try:
                stream.abort()
                stream.start()
            except Exception as e:  # noqa: BLE001 - PortAudio errors: reopen on the next say()
                log.warning("restarting the output stream failed: %s", e)
                self._close_stream()
        if was_speaking:
            self._emit(PlayerEvent(PlayerEventKind.IDLE, time.monotonic()))

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)

    def close(self) -> None:
        self.stop()
        self._closed = True
        self._texts.put(None)
        self._worker.join(10)
        self._close_stream()

    # --- output stream ---------------------------------------------------------------------------------
    def _open_stream(self) -> None:
        with self._opening:  # two say() calls at once must not open two streams
            if self._stream is not None:
                return
            stream, rate = portaudio.open_output_stream(
                self.output_device, self.voice.sample_rate, self._fill, latency=self._latency, block_s=self._block_s
            )
            with self._lock:
                self._stream, self._rate = stream, rate

    def _close_stream(self) -> None:
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            portaudio.close_output_stream(stream)

    def _fill(self, outdata: np.ndarray, frames: int, when: Any, status: Any) -> None:
        """PortAudio's callback: copy ready audio out, note when each chunk starts sounding."""
        now = time.monotonic()
        delay = when.outputBufferDacTime - when.currentTime
        if not 0.0 <= delay < 1.0 or when.outputBufferDacTime <= 0:
            delay = self._stream.latency if self._stream is not None else 0.0
        t_block = now + delay
        out = outdata[:, 0]
        out.fill(0.0)
        events: list[PlayerEvent] = []
        filled = 0
        with self._lock:
            active = self._active
            while filled < frames and self._ready:
                seg = self._ready[0]
                if seg.first and self._offset == 0:
                    t = t_block + filled / self._rate
                    if not self._active:
                        self._active = active = True
                        events.append(PlayerEvent(PlayerEventKind.FIRST_SOUND, t, seg.index, seg.text))
                    events.append(PlayerEvent(PlayerEventKind.CHUNK_STARTED, t, seg.index, seg.text))
                n = min(frames - filled, len(seg.samples) - self._offset)
                out[filled : filled + n] = seg.samples[self._offset : self._offset + n]
                filled += n
                self._offset += n
                if self._offset >= len(seg.samples):
                    self._ready.popleft()
                    self._offset = 0
                    if seg.last:
                        self._unplayed.discard(seg.index)
            finished = active and self._ended and not self._unplayed and not self._ready and self._to_idle()
        for event in events:
            self._emit(event)
        if active:
            for listener in self._references:
                listener(out.copy(), self._rate, t_block)
        if finished:
            self._emit(PlayerEvent(PlayerEventKind.IDLE, t_block + filled / self._rate))

    # --- synthesis -------------------------------------------------------------------------------------
    def _synthesise_loop(self) -> None:
        while True:
            try:
                item = self._texts.get(timeout=KEEP_OPEN_S)
            except queue.Empty:
                if not self.is_speaking and time.monotonic() - self._touched >= KEEP_OPEN_S:
                    self._close_stream()
                continue
            if item is None:
                return
            generation, index, text = item
            if generation != self._generation:
                continue  # stopped before its turn came: nothing is asked of the voice
            first = True
            cut = first_piece(text, self.first_piece_words) if index == 0 else [text]
            expect = getattr(self.voice, "expect", None)
            if expect is not None and len(cut) > 1:
                expect(text)  # a voice that follows the language decides it on the whole chunk
            for n, piece in enumerate(cut):
                pieces: Any = None
                try:
                    pieces = self.voice.synthesize(piece)
                    for k, audio in enumerate(pieces):
                        if generation != self._generation:
                            break
                        if self.first_piece_words and index == 0 and k == 0:
                            # the reply's opening, and the seam of a chunk cut between words (not at a pause)
                            seam = n == 0 and len(cut) > 1 and piece[-1] not in ",;:.!?"
                            audio = trim_silence(np.asarray(audio, np.float32), self.voice.sample_rate,
                                                 lead=True, tail=seam)
                        self._push(_Segment(generation, index, text, self._resampled(audio), first, False))
                        first = False
                except Exception as e:  # noqa: BLE001 - a voice failure must not kill the player
                    log.error("could not synthesise %r: %s", piece, e)
                finally:
                    close = getattr(pieces, "close", None)
                    if close is not None:  # a streaming voice lets go of its request at once
                        close()
                if generation != self._generation:
                    break
            self._push(_Segment(generation, index, text, np.zeros(0, np.float32), first, True))

    def _resampled(self, audio: np.ndarray) -> np.ndarray:
        audio = np.asarray(audio, dtype=np.float32)
        if self._rate and self._rate != self.voice.sample_rate:
            import soxr

            audio = soxr.resample(audio, self.voice.sample_rate, self._rate).astype(np.float32)
        return audio

    def _push(self, segment: _Segment) -> None:
        with self._lock:
            if segment.generation != self._generation:
                return
            if segment.first and not len(segment.samples):
                segment.first = False  # a chunk with no audio (only punctuation) has no start to report
            self._ready.append(segment)
            silent = self._ended and not self._active and all(not len(s.samples) for s in self._ready)
            idle = silent and self._unplayed == {segment.index} and self._to_idle()
            if idle:  # nothing audible was ever queued for this reply
                self._ready.clear()
                self._unplayed.clear()
        if idle:
            self._emit(PlayerEvent(PlayerEventKind.IDLE, time.monotonic()))

    def _to_idle(self) -> bool:
        """Under the lock: end the reply; True when it was sounding or queued (so IDLE is due)."""
        self._active = False
        if self._idle.is_set():
            return False
        self._idle.set()
        return True

    def _emit(self, event: PlayerEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a listener's bug must not stop the sound
                log.exception("speech event listener failed")
