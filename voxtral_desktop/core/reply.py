"""One reply as one object: its typed events, and the status, timings and spoken progress they add up to.

The model and its back-end produce a reply's events; ``ConversationSession`` records them; the view-models
and the speaker consume them. Inside the app nothing else is passed around:

- ``Words``: a chunk of 3-5 words of the answer (``last`` on the chunk that ends a complete reply);
- ``Marked``: a stage of the reply happened (audio encoded, first token ...; core/timings.py);
- ``Ended``: how the reply ended, with the exception that ended it, told apart by its type.

The voice adds to the same object (``began_chunk``: how far the user heard it; the first sound's mark), and an
interrupted spoken reply keeps what was heard (``interrupt_voice``). The seed's chunk dicts, the public face
of a reply (``VoxtralModel.process_realtime_chunk_streaming``, the CLI), are derived from the events here,
in ``chunk_of``: the one place an event becomes a dict and an error becomes the sentence the user reads.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from voxtral_desktop.core import chunks as C
from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.errors import (
    AudioError,
    AudioTooLong,
    EmptyTurn,
    ModelBusy,
    NoSpeech,
    ReplyCancelled,
    ReplyTimedOut,
    TooShort,
    UnknownMode,
)
from voxtral_desktop.core.timings import Progress, ReplyTimings, Stage

__all__ = ["Ended", "Marked", "Reply", "ReplyEvent", "Words", "chunk_of", "describe"]


@dataclass(frozen=True)
class Words:
    """A chunk of the answer, in order; ``last``: the chunk that ends a complete reply (its text may be "")."""

    text: str
    index: int  # the chunk's number in the reply, from 0 (the contract's chunk_index)
    elapsed_ms: float  # since the reply's call began, never decreasing (the contract's processing_time_ms)
    last: bool = False


@dataclass(frozen=True)
class Marked:
    """A stage of the reply happened, ``ms`` after the recording ended."""

    stage: Stage
    ms: float | None


@dataclass(frozen=True)
class Ended:
    """The reply's last event: COMPLETE (after its last Words), ERROR or INTERRUPTED with ``error``."""

    status: ReplyStatus
    index: int  # the final chunk's chunk_index
    elapsed_ms: float
    error: BaseException | None = None


ReplyEvent = Words | Marked | Ended

# What the user reads when a reply ends on one of these (the most specific type first: AudioTooLong is an
# AudioError). Anything else that ends a reply is a failure in generation: the contract's fallback text.
_TEXTS: tuple[tuple[type[BaseException], str], ...] = (
    (ReplyCancelled, C.CANCELLED_TEXT),
    (ReplyTimedOut, C.TIMEOUT_TEXT),
    (ModelBusy, C.BUSY_TEXT),
    (NoSpeech, C.NO_SPEECH_TEXT),
    (TooShort, C.TOO_SHORT_TEXT),
    (UnknownMode, C.BAD_MODE_TEXT),
    (EmptyTurn, C.EMPTY_TEXT),
    (AudioTooLong, C.TOO_LONG_TEXT),
    (AudioError, C.BAD_AUDIO_TEXT),
)


def describe(error: BaseException) -> tuple[str, str]:
    """(the sentence for the user, the detail for logs and the Details line) of an error that ended a reply."""
    for kind, text in _TEXTS:
        if isinstance(error, kind):
            return text, str(error)
    return C.FALLBACK_TEXT, f"{type(error).__name__}: {error}"


def status_for(error: BaseException) -> ReplyStatus:
    """A reply the user stopped is interrupted; one ended by anything else failed."""
    return ReplyStatus.INTERRUPTED if isinstance(error, ReplyCancelled) else ReplyStatus.ERROR


def chunk_of(event: ReplyEvent) -> C.Chunk | None:
    """The contract's chunk dict for an event; None for events the contract has no dict for."""
    if isinstance(event, Words):
        return C.text_chunk(event.text, event.index, event.elapsed_ms, final=event.last)
    if isinstance(event, Ended) and event.error is not None:
        text, detail = describe(event.error)
        return C.error_chunk(text, detail, event.index, event.elapsed_ms)
    return None


class Reply:
    """One reply: fed its events by whoever produces them (``record``), read by whoever shows or says it.

    ``timings`` holds the stage marks (the back-end's thread marks some); ``status``, ``chunks`` and
    ``error`` follow the events; ``heard`` counts the chunks the voice has begun (``began_chunk``).
    """

    def __init__(
        self,
        timings: ReplyTimings | None = None,
        *,
        audio_s: float | None = None,
        events: AsyncIterator[ReplyEvent] | None = None,
    ) -> None:
        self.timings = timings if timings is not None else ReplyTimings()
        self.audio_s = audio_s  # the spoken question's length; None for a typed turn
        self.status = ReplyStatus.STREAMING
        self.chunks: list[str] = []  # the answer's chunks with words, in order
        self.error: BaseException | None = None
        self.elapsed_ms = 0.0  # the last event's processing_time_ms
        self.heard = 0  # chunks the voice has begun; all of them counts as heard
        self.voiced = False  # its chunks were handed to the voice (what the user heard is then what is kept)
        self._events = events

    # --- recording events ------------------------------------------------------------------------------

    def record(self, event: ReplyEvent) -> ReplyEvent:
        """Take one event into the reply's state (its producer calls this as it yields it) and return it."""
        if isinstance(event, Words):
            if event.text:
                self.chunks.append(event.text)
                self.timings.mark(Stage.FIRST_CHUNK)
            self.elapsed_ms = event.elapsed_ms
        elif isinstance(event, Marked):
            self.timings.mark(event.stage)
        elif isinstance(event, Ended):
            self.status = event.status
            self.error = event.error
            self.elapsed_ms = event.elapsed_ms
            self.timings.mark(Stage.LAST_CHUNK)
        return event

    def began_chunk(self, index: int) -> None:
        """The voice began the reply's chunk ``index`` (from 0): the user has heard it (the first sound
        itself is a stage mark, Stage.FIRST_SOUND, made by whoever hears the voice start)."""
        self.voiced = True
        self.heard = max(self.heard, min(index + 1, len(self.chunks)))

    def interrupt_voice(self) -> bool:
        """The user cut the voice short: from now on what was heard is the reply. True when a reply already
        written turns INTERRUPTED by it; one still streaming ends INTERRUPTED by its own cancel."""
        if not self.voiced or self.status != ReplyStatus.COMPLETE:
            return False
        self.status = ReplyStatus.INTERRUPTED
        return True

    # --- reading ----------------------------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self.status != ReplyStatus.STREAMING

    @property
    def text(self) -> str:
        """Every chunk written so far."""
        return " ".join(self.chunks)

    @property
    def kept_chunks(self) -> int:
        """How many chunks stay the reply's: those heard when the voice was cut short, else all of them."""
        cut = self.voiced and self.status == ReplyStatus.INTERRUPTED
        return min(self.heard, len(self.chunks)) if cut else len(self.chunks)

    @property
    def kept_text(self) -> str:
        """What the history and the model's memory keep of the reply."""
        return " ".join(self.chunks[: self.kept_chunks])

    @property
    def first_words_ms(self) -> float | None:
        """From the end of the recording (or the send) to the first words; None while none came."""
        return self.timings.first_words_ms

    @property
    def total_ms(self) -> float:
        """From the end of the recording to the last chunk (the call's own time while that is unknown)."""
        return self.timings.ms(Stage.LAST_CHUNK) or self.elapsed_ms

    def progress(self) -> Progress | None:
        """What the model is doing before the first words ("listening to your 2 s question... 14 s")."""
        return None if self.ended else self.timings.progress(self.audio_s)

    def describe(self) -> tuple[str, str]:
        """(the sentence for the user, the detail) of an error that ended the reply; ("", "") otherwise."""
        return describe(self.error) if self.error is not None else ("", "")

    def feed(self, events: AsyncIterator[ReplyEvent]) -> None:
        """Give the reply its source of events (its producer records each into it as it yields)."""
        self._events = events

    # --- streaming --------------------------------------------------------------------------------------

    async def events(self) -> AsyncGenerator[ReplyEvent, None]:
        """The reply's events once, as they come; closing this early stops the reply at once."""
        source, self._events = self._events, None
        if source is None:
            raise RuntimeError("a reply's events can be read once")
        async with contextlib.aclosing(source) as stream:  # type: ignore[type-var]
            async for event in stream:
                yield event

    async def chunks_out(self) -> AsyncGenerator[C.Chunk, None]:
        """The events as the seed's chunk dicts (the public contract), derived in ``chunk_of``."""
        async with contextlib.aclosing(self.events()) as events:
            async for event in events:
                chunk = chunk_of(event)
                if chunk is not None:
                    yield chunk


class Clock:
    """Milliseconds since the call began, never decreasing (the contract's processing_time_ms)."""

    def __init__(self, started: float | None = None) -> None:
        self._started = time.perf_counter() if started is None else started
        self._last = 0.0

    def ms(self) -> float:
        self._last = max(self._last, (time.perf_counter() - self._started) * 1000.0)
        return round(self._last, 3)


def refused(error: BaseException, timings: ReplyTimings | None = None, clock: Clock | None = None) -> Reply:
    """A reply that ends at once on ``error`` (bad input): one Ended event, no model call."""
    clock = clock or Clock()
    reply = Reply(timings)

    async def one() -> AsyncGenerator[ReplyEvent, None]:
        yield reply.record(Ended(status_for(error), 0, clock.ms(), error))

    reply.feed(one())
    return reply

