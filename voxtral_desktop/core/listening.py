"""Hands-free turn-taking: a state machine fed with microphone audio (speech start/end, turns, barge-in),
and a Listener that runs it, with echo cancellation, on a live capture source off the event loop.

Nothing is stored: a turn's audio exists only in the TurnEnded event handed to the caller.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from voxtral_desktop.core.audio import SAMPLE_RATE
from voxtral_desktop.core.capture import CaptureError, CaptureSource
from voxtral_desktop.core.config import ListeningConfig
from voxtral_desktop.core.echo import EchoCanceller, EchoCancellerUnavailable
from voxtral_desktop.core.vad import FRAME_SAMPLES, VoiceActivityDetector

log = logging.getLogger(__name__)

TAIL_MS = 200  # audio kept after the last voiced frame: the end of the last word is soft, keep it
ECHO_TAIL_S = 0.3  # after playback stops the room (and the AEC's residue) rings this long
# While the app plays, a block the canceller took this much energy out of is mostly its own voice: what is
# left is residue that Silero (which ignores level) could still call speech. The user talking over it adds
# energy the canceller cannot remove, so their blocks lose far less.
RESIDUE_DB = 12.0
# ...and while it plays, a cleaned block quieter than this (dBFS) is residue too: nobody talks over a
# speaker at -45 dBFS into their own microphone.
RESIDUE_FLOOR_DBFS = -45.0


@dataclass(frozen=True)
class SpeechStarted:
    """The user started speaking (drives the live-microphone indicator). Times are stream seconds."""

    at: float
    wall: float = 0.0  # monotonic time it was emitted (set by the Listener)


@dataclass(frozen=True)
class BargeIn:
    """The user has spoken ``min_barge_in_ms`` over the assistant: stop the reply and the voice now."""

    onset: float  # where the user's speech began
    at: float  # where enough of it had been heard
    wall: float = 0.0


@dataclass(frozen=True)
class TurnEnded:
    """The user finished a turn: its 16 kHz mono float32 audio, pre-roll included."""

    audio: np.ndarray
    start: float  # the detected start of speech (the audio begins up to pre_roll_ms earlier)
    end: float  # the end of the last voiced frame
    at: float  # where the silence was long enough to end the turn
    barged_in: bool  # it interrupted a reply
    wall: float = 0.0

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass(frozen=True)
class SpeechDropped:
    """Speech too short to be a turn (a cough, a click): the indicator goes back to listening."""

    start: float
    end: float
    wall: float = 0.0


Event = SpeechStarted | BargeIn | TurnEnded | SpeechDropped


def _s(samples: int) -> float:
    return samples / SAMPLE_RATE


class TurnDetector:
    """Pure turn-taking logic on a 16 kHz stream (already echo-cancelled); feed it blocks, get events.

    - hands-free: speech starts a segment; ``end_of_turn_ms`` of silence after the last voiced frame ends it
      and emits a TurnEnded (at least ``min_speech_ms`` of voiced frames, else SpeechDropped);
    - barge-in: a segment heard while the assistant speaks emits BargeIn once it holds ``min_barge_in_ms``
      of voiced frames, and becomes the next turn (in push-to-talk too: only such segments are turns there);
    - with barge-in off, speech that starts while the assistant speaks is ignored (half duplex).
    """

    def __init__(
        self,
        vad: VoiceActivityDetector | None = None,
        *,
        hands_free: bool = True,
        end_of_turn_ms: int = 700,
        pre_roll_ms: int = 300,
        barge_in: bool = True,
        min_barge_in_ms: int = 250,
        min_speech_ms: int = 200,
        max_turn_s: float = 120.0,
    ) -> None:
        self.vad = vad if vad is not None else VoiceActivityDetector()
        self.hands_free = hands_free
        self.barge_in = barge_in
        self.end_of_turn = end_of_turn_ms * SAMPLE_RATE // 1000
        self.pre_roll = pre_roll_ms * SAMPLE_RATE // 1000
        self.min_barge_in = min_barge_in_ms * SAMPLE_RATE // 1000
        self.min_speech = min_speech_ms * SAMPLE_RATE // 1000
        self.max_turn = int(max_turn_s * SAMPLE_RATE)
        self.tail = TAIL_MS * SAMPLE_RATE // 1000
        self._chunks: deque[np.ndarray] = deque()  # audio from _base on
        self._base = 0  # stream index of the first kept sample
        self._kept = 0
        self._segment: _Segment | None = None
        self._recent = np.zeros(0, np.float32)  # the stream's last frame (a frame may straddle two feeds)

    @classmethod
    def from_config(cls, cfg: ListeningConfig, vad: VoiceActivityDetector | None = None, **kw) -> TurnDetector:
        return cls(
            vad,
            hands_free=cfg.mode == "hands_free",
            end_of_turn_ms=cfg.end_of_turn_ms,
            pre_roll_ms=cfg.pre_roll_ms,
            barge_in=cfg.barge_in,
            min_barge_in_ms=cfg.min_barge_in_ms,
            **kw,
        )

    @property
    def in_speech(self) -> bool:
        return self._segment is not None

    def feed(
        self, samples: np.ndarray, *, assistant_speaking: bool = False, echo_removed_db: float = 0.0
    ) -> list[Event]:
        """Feed the next 16 kHz samples; ``assistant_speaking``: is the app's voice audible right now;
        ``echo_removed_db``: how much the echo canceller took out of this block (raw over cleaned energy)."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._chunks.append(samples)
        self._kept += len(samples)
        events: list[Event] = []
        residue = assistant_speaking and (
            echo_removed_db >= RESIDUE_DB or _dbfs(samples) < RESIDUE_FLOOR_DBFS
        )
        recent = np.concatenate([self._recent, samples])  # every frame completed now lies in here
        recent_start = self._stream_end() - len(recent)
        for frame in self.vad.push(samples):
            p, speech = (0.0, False) if residue else (frame.probability, frame.speech)
            at = frame.start - recent_start
            self._on_frame(frame.start, p, speech, assistant_speaking, events, recent[at : at + FRAME_SAMPLES])
        self._recent = recent[-FRAME_SAMPLES:]
        if self._segment is None:
            self._trim(self._stream_end() - self.pre_roll - FRAME_SAMPLES)
        return events

    def _stream_end(self) -> int:
        return self._base + self._kept

    def _on_frame(
        self, start: int, p: float, speech: bool, assistant: bool, events: list[Event], audio: np.ndarray
    ) -> None:
        end = start + FRAME_SAMPLES
        level = _windows_rms(audio)
        seg = self._segment
        if seg is None:
            if not speech:
                return
            if assistant and not self.barge_in:
                return  # half duplex: the assistant has the floor
            if not self.hands_free and not (assistant and self.barge_in):
                return  # push-to-talk: only an interruption is heard
            seg = self._segment = _Segment(start=start, last_voiced=end, voiced=FRAME_SAMPLES)
            seg.peak = float(level.max(initial=0.0))
            events.append(SpeechStarted(at=_s(start)))
        elif p >= self.vad.on:
            # The on threshold, not the off one: the frame after a word's end still scores 0.3-0.47, and
            # counting it would add a frame or two to every end of turn.
            seg.peak = max(seg.peak, float(level.max(initial=0.0)))
            seg.voiced += FRAME_SAMPLES
            # The silence is counted from where the sound ends: Silero still calls the frame or two after a
            # word's last sound voiced (the turn came 15-60 ms late), so a voiced frame holding nothing within
            # END_DB of the loudest so far is that lag, not speech, and moves the end nowhere.
            loud = np.flatnonzero(level >= seg.peak * 10 ** (-END_DB / 20))
            if len(loud):
                seg.last_voiced = max(seg.last_voiced, start + (int(loud[-1]) + 1) * SUB)
        # min_barge_in_ms of speech since the onset, most of it voiced: Silero scores a word's first frame
        # low, so demanding every frame voiced would add a frame to every interruption.
        if (
            assistant
            and self.barge_in
            and not seg.barged
            and end - seg.start >= self.min_barge_in
            and seg.voiced >= self.min_barge_in * 3 // 4
        ):
            seg.barged = True
            events.append(BargeIn(onset=_s(seg.start), at=_s(end)))
        too_long = end - seg.start >= self.max_turn
        if end - seg.last_voiced >= self.end_of_turn or too_long:
            self._finish(seg, end, events)

    def _finish(self, seg: _Segment, at: int, events: list[Event]) -> None:
        self._segment = None
        if seg.voiced < self.min_speech and not seg.barged or not (self.hands_free or seg.barged):
            events.append(SpeechDropped(start=_s(seg.start), end=_s(seg.last_voiced)))
            return
        first = max(self._base, seg.start - self.pre_roll)
        last = min(self._stream_end(), seg.last_voiced + self.tail, at)
        audio = self._slice(first, last)
        events.append(
            TurnEnded(audio=audio, start=_s(seg.start), end=_s(seg.last_voiced), at=_s(at), barged_in=seg.barged)
        )

    def _slice(self, first: int, last: int) -> np.ndarray:
        whole = np.concatenate(list(self._chunks)) if self._chunks else np.zeros(0, np.float32)
        self._chunks = deque([whole])
        return whole[first - self._base : last - self._base].copy()

    def _trim(self, keep_from: int) -> None:
        """Forget audio before ``keep_from`` (idle: only the pre-roll is needed)."""
        while self._chunks and self._base + len(self._chunks[0]) <= keep_from:
            dropped = self._chunks.popleft()
            self._base += len(dropped)
            self._kept -= len(dropped)


@dataclass
class _Segment:
    start: int
    last_voiced: int  # where the sound of the last voiced frame ends
    voiced: int
    barged: bool = False
    peak: float = 0.0  # RMS of the loudest 4 ms window of its voiced frames


SUB = 64  # 4 ms: the resolution of the end of the sound within a frame
END_DB = 35.0  # quieter than the segment's loudest by this much is past the end of the sound


def _windows_rms(frame: np.ndarray) -> np.ndarray:
    n = len(frame) // SUB
    return np.sqrt(np.mean(np.square(frame[: n * SUB].reshape(n, SUB), dtype=np.float64), axis=1))


def _dbfs(x: np.ndarray) -> float:
    e = float(np.mean(np.square(x, dtype=np.float64))) if len(x) else 0.0
    return 10 * np.log10(max(e, 1e-14))


def removed_db(raw: np.ndarray, clean: np.ndarray) -> float:
    """Energy the echo canceller took out of a block, dB (0 for silence or an empty block)."""
    e_raw = float(np.mean(np.square(raw, dtype=np.float64))) if len(raw) else 0.0
    e_clean = float(np.mean(np.square(clean, dtype=np.float64))) if len(clean) else 0.0
    if e_raw < 1e-12:
        return 0.0
    return float(10 * np.log10(e_raw / max(e_clean, 1e-14)))


class StreamClock:
    """Monotonic capture time of each sample of a live stream, from block arrival times.

    Blocks only ever arrive late (scheduling), never early, so the earliest arrival-minus-position seen
    recently is the best estimate of when sample 0 was captured; a window lets clock drift through.
    """

    def __init__(self, rate: int, window_s: float = 10.0) -> None:
        self.rate = rate
        self.window_s = window_s
        self._samples = 0
        self._candidates: deque[tuple[float, float]] = deque()  # (arrival, origin estimate)

    def block_arrived(self, n: int, arrival: float) -> float:
        """Register ``n`` samples that arrived at ``arrival``; returns the capture time of their first."""
        self._samples += n
        origin = arrival - self._samples / self.rate
        while self._candidates and self._candidates[-1][1] >= origin:
            self._candidates.pop()
        self._candidates.append((arrival, origin))
        while self._candidates[0][0] < arrival - self.window_s:
            self._candidates.popleft()
        return self._candidates[0][1] + (self._samples - n) / self.rate

    def origin(self) -> float:
        return self._candidates[0][1] if self._candidates else 0.0


class Listener:
    """Runs a TurnDetector on a live capture source: mic -> 16 kHz -> echo cancellation -> VAD -> events.

    Blocks are handed from the audio thread to a worker thread, which does all the work and calls
    ``on_event`` (from that worker thread: hop to the event loop with ``loop.call_soon_threadsafe``).
    Give ``add_reference`` to the speech player's ``add_reference_listener``. ``assistant_active`` may be
    set while a reply is being generated but not yet audible, so speech then counts as an interruption.
    """

    def __init__(
        self,
        source: CaptureSource,
        settings: ListeningConfig,
        on_event: Callable[[Event], None],
        *,
        on_error: Callable[[Exception], None] | None = None,
        min_speech_ms: int = 200,
        tap: Callable[[np.ndarray, np.ndarray, float], None] | None = None,
    ) -> None:
        self.source = source
        self.settings = settings
        self.on_event = on_event
        self.on_error = on_error
        # tap(raw, cleaned, t): the 16 kHz mic audio before and after echo cancellation, and the capture time
        # of raw's first sample (cleaned lags by under 10 ms). For tests and benchmarks.
        self.tap = tap
        self.assistant_active = False
        self.echo_unavailable_reason = ""
        try:
            self.echo = EchoCanceller(SAMPLE_RATE, enabled=settings.echo_cancellation)
        except EchoCancellerUnavailable as e:
            log.warning("%s; listening without echo cancellation", e)
            self.echo_unavailable_reason = str(e)
            self.echo = EchoCanceller(SAMPLE_RATE, enabled=False)
        self.detector = TurnDetector.from_config(settings, min_speech_ms=min_speech_ms)
        self._queue: queue.SimpleQueue[tuple[np.ndarray, float] | None] = queue.SimpleQueue()
        self._held: list[np.ndarray] = []  # blocks from the audio thread not yet handed to the worker
        self._held_samples = 0  # source samples received so far
        self._frame_in = float(FRAME_SAMPLES)
        self._handoff_at = self._frame_in
        self._worker: threading.Thread | None = None
        self._clock = StreamClock(SAMPLE_RATE)
        self.cpu_s = 0.0  # CPU time the worker spent on echo cancellation + VAD + turn logic
        self.processed_s = 0.0  # audio it processed
        self.handoffs = 0  # times the worker was woken with audio (at most one per detector frame)
        self.thread_cpu_s = 0.0  # all the worker's CPU time, waking up and waiting included

    @property
    def echo_cancelling(self) -> bool:
        """False when running without echo cancellation (turned off, or unavailable): the window says so."""
        return self.echo.enabled

    def add_reference(self, samples: np.ndarray, sample_rate: int, t_play: float) -> None:
        self.echo.add_reference(samples, sample_rate, t_play)

    @property
    def running(self) -> bool:
        return self._worker is not None

    def start(self) -> None:
        """Open the microphone and start listening. Raises CaptureError when the source cannot start."""
        if self._worker is not None:
            return
        rate = self.source.sample_rate
        self._held, self._held_samples = [], 0
        self._frame_in = FRAME_SAMPLES * rate / SAMPLE_RATE  # one detector frame, in the source's samples
        self._handoff_at = self._frame_in
        self._worker = threading.Thread(target=self._run, args=(rate,), name="voxtral-listener", daemon=True)
        self._worker.start()
        try:
            self.source.start(self._on_block, self._on_capture_error)
        except BaseException:
            self._queue.put(None)
            self._worker.join()
            self._worker = None
            raise

    def stop(self) -> None:
        """Close the microphone and end the worker; idempotent. No event is delivered after it returns."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        self.source.stop()
        self._queue.put(None)
        worker.join()

    def _on_block(self, block: np.ndarray) -> None:
        # Handed over only when it completes a speech-detector frame (512 samples at 16 kHz): nothing can be
        # decided before, and each wake-up of the worker costs more CPU on a busy machine than the work itself
        # (20 ms blocks: 50 wake-ups a second; this way ~31, with no added delay to any decision).
        self._held.append(block)
        self._held_samples += len(block)
        if self._held_samples < self._handoff_at:
            return
        held, self._held = self._held, []
        while self._handoff_at <= self._held_samples:
            self._handoff_at += self._frame_in
        self._queue.put((held[0] if len(held) == 1 else np.concatenate(held), time.monotonic()))

    def _on_capture_error(self, error: CaptureError) -> None:
        if self.on_error is not None:
            self.on_error(error)

    def _run(self, rate: int) -> None:
        try:
            self._loop(rate)
        except Exception as e:  # forwarded, never left to a timeout
            log.exception("listener failed")
            if self.on_error is not None:
                self.on_error(e)

    def _loop(self, rate: int) -> None:
        resampler = None
        if rate != SAMPLE_RATE:
            import soxr

            resampler = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32")
        clock = self._clock = StreamClock(rate)
        out_samples = 0  # 16 kHz samples produced; resampler output k is input time k / 16000
        while True:
            item = self._queue.get()
            if item is None:
                return
            block, arrival = item
            self.handoffs += 1
            clock.block_arrived(len(block), arrival)
            cpu0 = time.thread_time()
            audio = resampler.resample_chunk(block) if resampler is not None else block
            t_start = clock.origin() + out_samples / SAMPLE_RATE
            out_samples += len(audio)
            clean = self.echo.process(audio, t_start)
            if self.tap is not None:
                self.tap(audio, clean, t_start)
            speaking = self.assistant_active or self.echo.playing_near(t_start, ECHO_TAIL_S)
            events = self.detector.feed(clean, assistant_speaking=speaking, echo_removed_db=removed_db(audio, clean))
            cpu1 = time.thread_time()
            self.cpu_s += cpu1 - cpu0
            self.thread_cpu_s = cpu1
            self.processed_s += len(audio) / SAMPLE_RATE
            now = time.monotonic()
            for event in events:
                self.on_event(dataclasses.replace(event, wall=now))

    def monotonic_of(self, stream_s: float) -> float:
        """Capture time (monotonic) of a stream position in seconds, as events report them."""
        return self._clock.origin() + stream_s
