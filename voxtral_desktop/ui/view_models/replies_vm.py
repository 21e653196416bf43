"""The UI's door to replies: send a recording or typed text, pass the reply's events to the chat view and the
voice, stop it when the user talks over it (barge-in), and fill in the transcript of what was said."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from qasync import asyncSlot

from voxtral_desktop.core.audio import waveform
from voxtral_desktop.core.capture import Recording
from voxtral_desktop.core.config import Config
from voxtral_desktop.core.conversation import ConversationSession, ExchangeResult
from voxtral_desktop.core.errors import HistoryError
from voxtral_desktop.core.model import TYPED_MODE, Mode
from voxtral_desktop.core.reply import Ended, Marked, Reply, Words
from voxtral_desktop.ui.view_models.conversations_vm import ConversationsViewModel
from voxtral_desktop.ui.view_models.model_vm import ModelViewModel
from voxtral_desktop.ui.view_models.reply_voice import ReplyVoice
from voxtral_desktop.ui.view_models.speaker import Speaker
from voxtral_desktop.ui.view_models.status import ReplyResult, ReplyStatus, reply_result
from voxtral_desktop.ui.view_models.talk_rules import NOT_READY
from voxtral_desktop.ui.view_models.troubles import HISTORY, HISTORY_TITLE, Troubles
from voxtral_desktop.ui.view_models.workers import Workers

log = logging.getLogger(__name__)

WAVEFORM_BARS = 40  # bars in the little picture of the user's voice message
# A reply with no words yet says what the model is doing ("listening to your 2 s question... 14 s") once it
# has taken this long (a fast model never shows it), and updates it this often.
PROGRESS_AFTER_S, PROGRESS_EVERY_S = 1.0, 0.5


class RepliesViewModel(QObject):
    """One reply streams at a time; a new turn, Esc, or opening another conversation stops the one in flight.

    Turn ids count up from 1 in this window; the chat view keys its bubbles by them. The reply itself
    (core/reply.py) holds its status, timings and what of it was heard; this class only routes its events.
    """

    userTurn = Signal(int, float, object)  # turn id, recording seconds, waveform (list of floats)
    userText = Signal(int, str)  # turn id, a typed turn's text
    userTranscript = Signal(int, str)  # turn id, what the user said (the "show what I said" setting)
    replyStarted = Signal(int, object)  # turn id, the Mode the reply answers in (a typed turn: TYPED_MODE)
    replyChunk = Signal(int, str)  # turn id, the chunk's words
    # turn id, what the model is doing before the first words ("thinking... 12 s"); "" once words come
    replyProgress = Signal(int, str)
    # turn id, ReplyResult; again for a finished reply whose voice the user cut short (then INTERRUPTED)
    replyFinished = Signal(int, object)
    busyChanged = Signal(bool)  # a reply is streaming
    modeChanged = Signal(object)  # Mode
    firstSound = Signal(int, float)  # turn id, ms from the end of the recording to its first audible sample
    # turn id, stage -> ms: a finished reply's timings changed (its first sound came after its last words)
    timingsChanged = Signal(int, object)
    hint = Signal(str)  # a short, transient tip next to the talk button
    # Trouble the user must know of while replies go on (a banner, once per trouble): key, title, what to do.
    # "history": the conversation could not be saved; "busy": a stuck earlier reply still holds the model.
    trouble = Signal(str, str, str)
    troubleCleared = Signal(str)  # key: that trouble has passed (a later reply was saved / answered)

    def __init__(
        self,
        config: Config,
        workers: Workers,
        model: ModelViewModel,
        conversations: ConversationsViewModel,
        speaker: Speaker,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.config = config
        self._workers = workers
        self._model = model
        self._conversations = conversations
        self.speaker = speaker
        self._mode = Mode.CONVERSATION
        self._turns = itertools.count(1)
        self._reply_task: asyncio.Future[Any] | None = None
        self._active = 0  # replies not yet wound down (a stopped one may still be ending)
        self.troubles = Troubles(self.trouble.emit, self.troubleCleared.emit)
        signals = (self.firstSound.emit, self.timingsChanged.emit, self._cut_short)
        self.voice = ReplyVoice(config, speaker, workers.track, *signals)
        # A conversation opened (or a new one started) silences the reply to the old one.
        conversations.conversationOpened.connect(lambda *_: self.barge_in())

    @property
    def mode(self) -> Mode:
        return self._mode

    @Slot(str)
    def setMode(self, mode: str) -> None:
        """Conversation (answers, spoken) or transcribe (a written transcript); typed turns always converse."""
        new = Mode(mode)  # ValueError for an unknown mode
        if new != self._mode:
            self._mode = new
            self.modeChanged.emit(new)

    @property
    def is_busy(self) -> bool:
        return self._reply_task is not None and not self._reply_task.done()

    @property
    def reply_task(self) -> asyncio.Future[Any] | None:
        return self._reply_task

    def apply_settings(self, before: Config | None = None) -> None:
        """The speech settings take effect at once (the rest is read at the start of every reply)."""
        self.voice.apply_settings(reload_now=before is not None)

    # --- sending ------------------------------------------------------------------------------------

    def sendRecording(self, recording: Recording, *, ended_at: float | None = None) -> asyncio.Future[Any]:
        """Show the user's turn and stream the reply to it; returns the reply's task.

        ``ended_at``: when the user stopped talking (``time.perf_counter()``: the button's release, or the
        hands-free end of turn); the reply's timings count from there (default: now).
        """
        turn_no = next(self._turns)
        self.userTurn.emit(turn_no, recording.duration_s, waveform(recording.audio, WAVEFORM_BARS))
        session = self._conversations.session()
        audio, rate, chunk_id = recording.audio, recording.sample_rate, f"turn-{turn_no}"
        reply = session.reply(audio, sample_rate=rate, mode=self._mode, chunk_id=chunk_id, recording_ended=ended_at)
        return self._start(self._reply(turn_no, self._mode, session, reply, recording))

    def sendText(self, text: str) -> asyncio.Future[Any] | None:
        """A typed turn instead of speech (always TYPED_MODE); returns the reply's task."""
        text = text.strip()
        if not text:
            return None
        if not self._model.status.ready:
            self.hint.emit(NOT_READY)
            return None
        self.barge_in()
        turn_no = next(self._turns)
        self.userText.emit(turn_no, text)
        session = self._conversations.session()
        reply = session.reply_text(text, chunk_id=f"turn-{turn_no}")
        return self._start(self._reply(turn_no, TYPED_MODE, session, reply))

    def _start(self, task: Any) -> asyncio.Future[Any]:
        self._reply_task = task
        self._workers.track(task)
        self._model.lend(task)
        return task

    # --- streaming ----------------------------------------------------------------------------------

    @asyncSlot()
    async def _reply(
        self, turn_no: int, mode: Mode, session: ConversationSession, reply: Reply, recording: Recording | None = None
    ) -> None:
        # A reply cancelled by talking over it may still be winding down; the model runs one at a time.
        self._active += 1
        self.replyStarted.emit(turn_no, mode)
        if self._active == 1:
            self.busyChanged.emit(True)
        if mode == Mode.CONVERSATION:
            self.voice.begin(turn_no, reply, session)  # a previous reply still being spoken gives way
        else:
            self.voice.cut()
        progress = asyncio.ensure_future(self._say_progress(turn_no, reply))
        try:
            async for event in reply.events():
                self.troubles.saving_failed(session.save_error)  # said while the reply streams on
                if isinstance(event, Words) and event.text:
                    if not progress.done():
                        progress.cancel()
                        self.replyProgress.emit(turn_no, "")
                    self.replyChunk.emit(turn_no, event.text)
                    self.voice.say(reply, event.text)
                elif isinstance(event, Marked) and not progress.done():
                    self.replyProgress.emit(turn_no, str(reply.progress() or ""))  # e.g. listening -> thinking
                elif isinstance(event, Ended):
                    self.voice.end(reply)
        except Exception as e:
            log.exception("reply %d failed", turn_no)
            self.replyFinished.emit(turn_no, ReplyResult.failed(turn_no, reply.first_words_ms, e))
            return
        finally:
            if not progress.done():
                progress.cancel()
                self.replyProgress.emit(turn_no, "")
            self._active -= 1
            if self._active == 0:
                self.busyChanged.emit(False)
            self._conversations.notify_changed()
        last = session.last
        self.troubles.after_reply(session.save_error, last is not None and last.saved, reply)
        self.replyFinished.emit(turn_no, reply_result(turn_no, reply))
        wanted = recording is not None and mode == Mode.CONVERSATION and self.config.conversation.show_transcript
        if wanted and reply.status == ReplyStatus.COMPLETE and last is not None and last.reply is reply:
            await self._show_transcript(turn_no, recording, session, last)  # type: ignore[arg-type]

    async def _say_progress(self, turn_no: int, reply: Reply) -> None:
        """While no words have come: what the model is doing, from the reply's stage marks (polled)."""
        await asyncio.sleep(PROGRESS_AFTER_S)
        said = ""
        while True:
            text = str(reply.progress() or "")
            if text != said:
                self.replyProgress.emit(turn_no, text)
                said = text
            await asyncio.sleep(PROGRESS_EVERY_S)

    def _cut_short(self, turn_no: int, result: ReplyResult) -> None:
        """A written reply's voice was cut short: it ends interrupted now, keeping what was heard."""
        self.replyFinished.emit(turn_no, result)
        self._conversations.notify_changed()

    # --- what the user said -----------------------------------------------------------------------------

    async def _show_transcript(
        self, turn_no: int, recording: Recording, session: ConversationSession, exchange: ExchangeResult
    ) -> None:
        """Transcribe the user's turn after the reply (so the reply is never delayed) and show it."""
        transcript = await self._model.transcribe(recording, f"turn-{turn_no}-transcript")
        if transcript is None:
            return
        self.userTranscript.emit(turn_no, transcript)  # shown even when the user's turn was not saved
        try:
            await session.keep_transcript(exchange, transcript)
        except HistoryError as e:
            log.warning("transcript of turn %d not saved: %s", turn_no, e)
            self.troubles.say(HISTORY, HISTORY_TITLE, f"The transcript {e}.")
        self._conversations.notify_changed()

    # --- stopping -----------------------------------------------------------------------------------

    def barge_in(self) -> None:
        """Stop the reply in flight and its voice at once: it ends interrupted, keeping what was heard."""
        self.voice.cut()
        if self.is_busy:
            self._model.cancel()

    def interrupt(self) -> bool:
        """Esc with no recording: stop the reply that is streaming or being spoken. True if there was one."""
        if self.is_busy or self.speaker.is_speaking:
            self.barge_in()
            return True
        return False

    def close(self) -> None:
        """Quitting: silence at once and let go of the sound device (the model is stopped by its own view-model)."""
        self.voice.close()

