"""Where one reply's time goes: stage times from the end of the recording to the first sound, in ms."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

log = logging.getLogger(__name__)


class Stage(StrEnum):
    """The stages of a reply, in the order they normally happen."""

    RECORDING_ENDED = "recording_ended"  # the origin: the user let go of the button (or the call began)
    NORMALISED = "normalised"  # audio checked, downmixed and resampled to 16 kHz
    PROMPT_BUILT = "prompt_built"  # prompt tokens and mel features ready
    AUDIO_ENCODED = "audio_encoded"  # the audio encoder's output ready (computed or cached)
    FIRST_TOKEN = "first_token"  # prefill done: the model produced its first token
    FIRST_CHUNK = "first_chunk"  # the first chunk dict with words handed to the caller
    LAST_CHUNK = "last_chunk"  # the final chunk dict handed to the caller
    FIRST_SOUND = "first_sound"  # the voice started speaking the reply (filled by the speech player)


STAGES: tuple[Stage, ...] = tuple(Stage)


class ReplyTimings:
    """Stage marks of one reply on the ``time.perf_counter`` clock, read as ms since the origin.

    The model, the back-end's worker thread and the speech player all mark stages; a stage keeps its
    first mark, so a retry or a second chunk never moves it.
    """

    def __init__(self, origin: float | None = None) -> None:
        self.origin = time.perf_counter() if origin is None else origin
        self._marks: dict[Stage, float] = {Stage.RECORDING_ENDED: self.origin}
        self._lock = threading.Lock()
        self._worked = self.origin  # the latest sign of work (a stage mark or a finished layer)
        # Called (from whichever thread marked) after each new stage mark: the model wakes its stream with it.
        self.on_mark: Callable[[], None] | None = None

    def touch(self) -> None:
        """The model finished a piece of work (a layer's forward): the reply is slow, not stalled.

        Called from the generation thread once per layer, so it is one assignment, no lock.
        """
        self._worked = time.perf_counter()

    @property
    def last_worked(self) -> float:
        """When the reply last showed progress (perf_counter): a stage mark or a touch(), whichever is later."""
        with self._lock:
            latest = max(self._marks.values())
        return max(latest, self._worked)

    def mark(self, stage: Stage | str, at: float | None = None) -> None:
        """Record that ``stage`` happened now (or at ``at``, a perf_counter time); the first mark wins."""
        stage = Stage(stage)
        when = time.perf_counter() if at is None else at
        with self._lock:
            new = stage not in self._marks
            self._marks.setdefault(stage, when)
        if new and self.on_mark is not None:
            self.on_mark()

    def progress(self, audio_s: float | None = None, now: float | None = None) -> Progress | None:
        """What the model is doing before the first words, and for how long; None once words have come.

        ``audio_s``: the spoken question's length (None for a typed turn, which has nothing to listen to).
        """
        now = time.perf_counter() if now is None else now
        with self._lock:
            marks = dict(self._marks)
        if Stage.FIRST_CHUNK in marks or Stage.LAST_CHUNK in marks:
            return None
        if audio_s is not None and Stage.AUDIO_ENCODED not in marks:
            return Progress(Activity.LISTENING, now - self.origin, audio_s)
        since = marks.get(Stage.AUDIO_ENCODED, marks.get(Stage.NORMALISED, self.origin))
        return Progress(Activity.THINKING, now - since, audio_s)

    def stages(self) -> tuple[Stage, ...]:
        """The stages marked so far, in the order of STAGES."""
        with self._lock:
            return tuple(stage for stage in STAGES if stage in self._marks)

    def has(self, stage: Stage | str) -> bool:
        return Stage(stage) in self._marks

    def ms(self, stage: Stage | str) -> float | None:
        """Milliseconds from the origin to ``stage``, or None when it has not happened (or does not apply)."""
        at = self._marks.get(Stage(stage))
        return None if at is None else round((at - self.origin) * 1000.0, 1)

    @property
    def first_words_ms(self) -> float | None:
        """What the user waited for: the first chunk with words (what a bubble's "first words in X s" shows)."""
        return self.ms(Stage.FIRST_CHUNK)

    def to_dict(self) -> dict[str, float | None]:
        """Every stage in order, ms since the origin; stages that did not happen are None."""
        return {stage.value: self.ms(stage) for stage in STAGES}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReplyTimings:
        """Rebuild from ``to_dict`` output (e.g. from history); unknown keys are ignored."""
        timings = cls(origin=0.0)
        for stage in STAGES:
            value = data.get(stage.value)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                timings._marks[stage] = float(value) / 1000.0
        return timings

    def summary(self) -> str:
        """One log line: the first-words figure, then each stage that happened."""
        parts = [f"{stage.value} {ms:.0f}" for stage, ms in ((s, self.ms(s)) for s in STAGES[1:]) if ms is not None]
        return "ms since recording ended: " + (", ".join(parts) or "nothing recorded")

    def __repr__(self) -> str:
        return f"ReplyTimings({self.to_dict()!r})"


class Activity(StrEnum):
    """What a reply is busy with before its first words (the stages a slow CPU makes the user wait through)."""

    LISTENING = "listening"  # the audio encoder is reading the question
    THINKING = "thinking"  # prefill: the text model reads the prompt, up to the first words


@dataclass(frozen=True)
class Progress:
    """A reply's activity before its first words: what, for how many seconds, and the question's length."""

    activity: Activity
    seconds: float
    audio_s: float | None = None

    def __str__(self) -> str:
        """"listening to your 2 s question... 14 s", "thinking... 3 s" (the window and the CLI say it so)."""
        took = f" {self.seconds:.0f} s" if self.seconds >= 1 else ""
        if self.activity == Activity.LISTENING:
            question = f"your {self.audio_s:.0f} s question" if self.audio_s else "your question"
            return f"listening to {question}...{took}"
        return f"thinking...{took}"


def saved_json(timings: Mapping[str, float | None] | None) -> str | None:
    """The form history stores: a JSON object of stage -> ms, or NULL."""
    return None if timings is None else json.dumps(dict(timings))


def from_saved_json(text: str | None) -> dict[str, float | None] | None:
    """Read back what ``saved_json`` wrote; NULL, or text that is not a JSON object, reads as None."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        log.warning("ignoring unreadable stage timings in the history: %r", text[:80])
        return None
    return data if isinstance(data, dict) else None
