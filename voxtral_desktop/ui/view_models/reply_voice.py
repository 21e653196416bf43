"""The voice side of the window's replies: hands a reply's chunks to the Speaker, records in the reply what the
user heard (chunk by chunk) and when its first sound came, and keeps only what was heard when it is cut short."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from voxtral_desktop.core.config import Config
from voxtral_desktop.core.conversation import ConversationSession, ExchangeResult
from voxtral_desktop.core.errors import HistoryError
from voxtral_desktop.core.reply import Reply
from voxtral_desktop.core.timings import Stage
from voxtral_desktop.ui.view_models.speaker import Speaker
from voxtral_desktop.ui.view_models.status import ReplyResult, reply_result

log = logging.getLogger(__name__)


class ReplyVoice:
    """The reply being spoken (one at a time) and what the user has heard of it.

    ``first_sound(turn_no, ms)``, ``timings_changed(turn_no, stages)`` and ``cut_short(turn_no, result)`` are
    the replies view-model's signals: the window learns of a late first sound and of a written reply whose
    voice the user cut short (it then ends INTERRUPTED, keeping what was heard).
    """

    def __init__(
        self,
        config: Config,
        speaker: Speaker,
        track: Callable[[asyncio.Future[Any]], Any],
        first_sound: Callable[[int, float], None],
        timings_changed: Callable[[int, object], None],
        cut_short: Callable[[int, ReplyResult], None],
    ) -> None:
        self.config = config
        self.speaker = speaker
        self._track = track
        self._first_sound = first_sound
        self._timings_changed = timings_changed
        self._cut_short = cut_short
        # The reply the voice is saying: turn id, the reply, its session; None once silenced.
        self._current: tuple[int, Reply, ConversationSession] | None = None
        # A reply part of which the system voice said: what was heard cannot be told, so all of it is kept.
        self._untold: Reply | None = None
        speaker.firstSound.connect(self._on_first_sound)
        speaker.chunkStarted.connect(self._on_chunk_started)
        speaker.untracked.connect(self._on_untracked)
        self.apply_settings(reload_now=False)

    def apply_settings(self, *, reload_now: bool) -> None:
        """The speech settings take effect at once; ``reload_now``: a changed voice loads now (the first one
        loads when the app starts, through ``load()``)."""
        sp = self.config.speech
        reload = self.speaker.configure(
            enabled=sp.enabled, voice=sp.voice, rate=sp.rate, engine=sp.engine, output_device=sp.output_device
        )
        if reload and reload_now:
            self.load()

    def load(self) -> asyncio.Future[Any] | None:
        """Resolve the voice in the background (a first use downloads it); None when speech is off."""
        if not self.config.speech.enabled:
            return None
        return self._track(asyncio.ensure_future(self.speaker.load()))

    def begin(self, turn_no: int, reply: Reply, session: ConversationSession) -> None:
        """``reply`` is the one to speak now: the reply spoken before gives way (see ``cut``)."""
        self.cut()
        self._current = (turn_no, reply, session)

    def prepare(self) -> None:
        """The user started talking: a reply is coming, so the sound output opens now, not at its first words."""
        if self.config.speech.enabled:
            self.speaker.prepare()

    def say(self, reply: Reply, text: str) -> None:
        """A chunk of ``reply`` to speak, unless the voice was cut short since (or it speaks another)."""
        if self._current is None or self._current[1] is not reply:
            return
        # Only the neural voice tells which chunk sounds; with another, the whole text counts as heard.
        if reply is not self._untold:
            reply.voiced = reply.voiced or (self.speaker.enabled and self.speaker.neural)
        self.speaker.say_chunk(text)

    def end(self, reply: Reply) -> None:
        """``reply`` has no more chunks: the voice goes idle once they are said."""
        if self._current is not None and self._current[1] is reply:
            self.speaker.end_reply()

    def cut(self) -> None:
        """Silence the voice now. A reply already written keeps what the user heard, marked interrupted (one
        still streaming ends interrupted by its own cancel, keeping the same)."""
        current, self._current = self._current, None
        speaking = self.speaker.is_speaking
        self.speaker.stop()
        if current is None or not speaking:
            return
        turn_no, reply, session = current
        if not reply.interrupt_voice():
            return
        exchange = _exchange_of(session, reply)
        if exchange is None:  # written, its save still queued: that save keeps what was heard, and says so
            return
        saved = session.keep_heard(exchange)  # queued on the history's thread: the voice stops at once
        if saved is not None:
            saved.add_done_callback(_log_failed_write)
        self._cut_short(turn_no, reply_result(turn_no, reply))

    def close(self) -> None:
        """Quitting: silence at once and let go of the sound device (what was said stays as saved)."""
        self._current = None
        self.speaker.close()

    def _on_chunk_started(self, index: int, t: float) -> None:
        if self._current is not None and self._current[1] is not self._untold:
            self._current[1].began_chunk(index)

    def _on_untracked(self) -> None:
        if self._current is not None:
            self._untold = self._current[1]
            self._untold.voiced = False

    def _on_first_sound(self, t: float) -> None:
        """The voice's first audible sample of the reply it speaks (``t``: time.monotonic())."""
        if self._current is None or self._current[1].timings.has(Stage.FIRST_SOUND):
            return
        turn_no, reply, session = self._current
        reply.timings.mark(Stage.FIRST_SOUND, time.perf_counter() - (time.monotonic() - t))
        ms = reply.timings.ms(Stage.FIRST_SOUND) or 0.0
        log.info("reply %d: first sound %.0f ms after the recording ended", turn_no, ms)
        self._first_sound(turn_no, ms)
        exchange = _exchange_of(session, reply)
        if exchange is not None:  # written and saved before it was heard: add it now
            self._timings_changed(turn_no, reply.timings.to_dict())
            self._track(asyncio.ensure_future(_save_timings(session, exchange)))


def _exchange_of(session: ConversationSession, reply: Reply) -> ExchangeResult | None:
    """The stored exchange of ``reply`` once its text has ended and been recorded (None while it streams)."""
    last = session.last
    return last if last is not None and last.reply is reply else None


async def _save_timings(session: ConversationSession, exchange: ExchangeResult) -> None:
    try:
        await session.save_timings(exchange)
    except HistoryError as e:
        log.warning("first sound of reply %s not saved: %s", exchange.reply_turn_id, e)


def _log_failed_write(done: Any) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.warning("history not updated: %s", done.exception())
