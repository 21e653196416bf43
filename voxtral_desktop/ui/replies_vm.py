"""The UI's door to replies: send a recording or typed text, stream the reply's chunks to the chat view and the
speaker, stop it when the user talks over it (barge-in), and fill in the transcript of what was said."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import time
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from qasync import asyncSlot

from voxtral_desktop.core import chunks as C
from voxtral_desktop.core.history import thread as history_thread
from voxtral_desktop.core.audio import waveform
from voxtral_desktop.core.capture import Recording
from voxtral_desktop.core.chunks import ReplyStatus, status_of
from voxtral_desktop.core.config import Config
from voxtral_desktop.core.conversation import ConversationSession
from voxtral_desktop.core.errors import HistoryError
from voxtral_desktop.core.history import HistoryStore
from voxtral_desktop.core.model import Mode
from voxtral_desktop.core.timings import ReplyTimings, Stage
from voxtral_desktop.ui.conversations_vm import ConversationsViewModel
from voxtral_desktop.ui.model_vm import ModelViewModel
from voxtral_desktop.ui.speaker import Speaker
from voxtral_desktop.ui.status import ReplyResult
from voxtral_desktop.ui.talk_rules import NOT_READY
from voxtral_desktop.ui.workers import Workers

log = logging.getLogger(__name__)


def _log_failed_write(done: concurrent.futures.Future[Any]) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.warning("history not updated: %s", done.exception())

WAVEFORM_BARS = 40  # bars in the little picture of the user's voice message
# A reply with no words yet says what the model is doing ("listening to your 2 s question... 14 s") once it
# has taken this long (a fast model never shows it), and updates it this often.
PROGRESS_AFTER_S, PROGRESS_EVERY_S = 1.0, 0.5



class RepliesViewModel(QObject):
    """One reply streams at a time; a new turn, Esc, or opening another conversation stops the one in flight.

    Turn ids count up from 1 in this window; the chat view keys its bubbles by them.
    """

    userTurn = Signal(int, float, object)  # turn id, recording seconds, waveform (list of floats)
    userText = Signal(int, str)  # turn id, a typed turn's text
    userTranscript = Signal(int, str)  # turn id, what the user said (the "show what I said" setting)
    replyStarted = Signal(int, object)  # turn id, the Mode the reply answers in (a typed turn: CONVERSATION)
    replyChunk = Signal(int, str)  # turn id, the chunk's words
    # turn id, what the model is doing before the first words ("thinking... 12 s"); "" once words come
    replyProgress = Signal(int, str)
    replyFinished = Signal(int, object)  # turn id, ReplyResult
    busyChanged = Signal(bool)  # a reply is streaming
    modeChanged = Signal(object)  # Mode
    speakingChanged = Signal(bool)
    # turn id, ms from the reply's start (the button's release) to its first audible sample. The hook for
    # the per-reply timings (issue 11's ReplyTimings.first_sound takes it from here).
    firstSound = Signal(int, float)
    # turn id, stage -> ms since the recording ended: a finished reply's timings changed (its first sound
    # came after its last words); ReplyResult.timings has them as they were when the reply finished.
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
        self._spoken_turn: int | None = None  # the reply whose chunks are being spoken; None once silenced
        # The last reply that finished writing while its voice went on: (session, stored reply id, result).
        self._sounding: tuple[ConversationSession, int, ReplyResult] | None = None
        self._sound_turn: tuple[int, float] | None = None  # (turn, monotonic start) awaiting its first sound
        self._first_sound_ms: dict[int, float] = {}
        self._timings: dict[int, ReplyTimings] = {}  # the replies whose first sound may still come
        self._unsounded: dict[int, tuple[HistoryStore, int]] = {}  # saved replies whose first sound is to come
        self._troubles: set[str] = set()  # keys of the troubles shown, so each is said once
        speaker.speakingChanged.connect(self.speakingChanged)
        speaker.firstSound.connect(self._on_first_sound)
        # A conversation opened (or a new one started) silences the reply to the old one.
        conversations.conversationOpened.connect(lambda *_: self.barge_in())
        self.apply_settings()

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
        sp = self.config.speech
        reload = self.speaker.configure(
            enabled=sp.enabled, voice=sp.voice, rate=sp.rate, engine=sp.engine, output_device=sp.output_device
        )
        if reload and before is not None:  # a changed voice loads now; the first one loads in start()
            self.load_voice()

    def load_voice(self) -> asyncio.Future[Any] | None:
        """Resolve the voice in the background (a first use downloads it); None when speech is off."""
        if not self.config.speech.enabled:
            return None
        return self._workers.track(asyncio.ensure_future(self.speaker.load()))

    def _on_first_sound(self, t: float) -> None:
        if self._sound_turn is None:
            return
        turn_id, started = self._sound_turn
        self._sound_turn = None
        timings = self._timings.get(turn_id)
        if timings is None:  # no chunk yet (cannot happen: the voice speaks chunks): count from the send
            ms = max(0.0, (t - started) * 1000.0)
        else:
            timings.mark(Stage.FIRST_SOUND, time.perf_counter() - (time.monotonic() - t))  # t: monotonic
            ms = timings.ms(Stage.FIRST_SOUND) or 0.0
            log.info("reply %d: first sound %.0f ms after the recording ended", turn_id, ms)
        self._first_sound_ms[turn_id] = ms
        self.firstSound.emit(turn_id, ms)
        saved = self._unsounded.pop(turn_id, None)
        if saved is not None and timings is not None:  # written and saved before it was heard: add it now
            self.timingsChanged.emit(turn_id, timings.to_dict())
            self._workers.track(asyncio.ensure_future(self._save_timings(*saved, timings.to_dict())))

    async def _save_timings(self, store: HistoryStore, reply_id: int, timings: dict[str, float | None]) -> None:
        """On the store's thread, after the reply's own saves: a locked database waits up to its busy
        timeout, the window must not."""
        try:
            await history_thread.run(store, store.set_timings, reply_id, timings)
        except HistoryError as e:
            log.warning("first sound of reply %d not saved: %s", reply_id, e)

    # --- sending ------------------------------------------------------------------------------------

    def sendRecording(self, recording: Recording, *, ended_at: float | None = None) -> asyncio.Future[Any]:
        """Show the user's turn and stream the reply to it; returns the reply's task.

        ``ended_at``: when the user stopped talking (``time.perf_counter()``: the button's release, or the
        hands-free end of turn); the reply's timings count from there (default: now).
        """
        turn_id = next(self._turns)
        self.userTurn.emit(turn_id, recording.duration_s, waveform(recording.audio, WAVEFORM_BARS))
        return self._start(self._reply(turn_id, recording, None, ended_at))

    def sendText(self, text: str) -> asyncio.Future[Any] | None:
        """A typed turn instead of speech (always conversation mode); returns the reply's task."""
        text = text.strip()
        if not text:
            return None
        if not self._model.status.ready:
            self.hint.emit(NOT_READY)
            return None
        self.barge_in()
        turn_id = next(self._turns)
        self.userText.emit(turn_id, text)
        return self._start(self._reply(turn_id, None, text))

    def _start(self, task: Any) -> asyncio.Future[Any]:
        self._reply_task = task
        self._workers.track(task)
        self._model.lend(task)
        return task

    # --- streaming ----------------------------------------------------------------------------------

    @asyncSlot()
    async def _reply(
        self, turn_id: int, recording: Recording | None, text: str | None, ended_at: float | None = None
    ) -> None:
        # A reply cancelled by talking over it may still be winding down; the model runs one at a time.
        self._active += 1
        mode = self._mode if recording is not None else Mode.CONVERSATION
        self.replyStarted.emit(turn_id, mode)
        if self._active == 1:
            self.busyChanged.emit(True)
        started = time.monotonic()
        first_ms: float | None = None
        final: dict[str, Any] | None = None
        session = self._conversations.session()
        self.speaker.stop()  # a previous reply still being spoken gives way to this one
        self._sounding = None
        self._spoken_turn = turn_id if mode == Mode.CONVERSATION else None
        self._sound_turn = (turn_id, started) if self._spoken_turn is not None else None
        self._timings.clear()
        self._unsounded.clear()
        timings: ReplyTimings | None = None
        progress = asyncio.ensure_future(self._say_progress(turn_id, session))
        try:
            if recording is not None:
                stream = session.respond(
                    recording.audio,
                    sample_rate=recording.sample_rate,
                    mode=mode,
                    chunk_id=f"turn-{turn_id}",
                    recording_ended=ended_at,
                )
            else:
                stream = session.respond_text(text or "", chunk_id=f"turn-{turn_id}")
            async for chunk in stream:
                if timings is None:  # the model starts this reply's stage clock as it begins
                    timings = self._timings[turn_id] = session.model.last_timings or ReplyTimings()
                self._check_saving(session)  # said while the reply streams on, not after it
                if chunk["success"] and chunk["text"]:
                    if first_ms is None:
                        first_ms = float(chunk["processing_time_ms"])
                        progress.cancel()
                        self.replyProgress.emit(turn_id, "")
                    self.replyChunk.emit(turn_id, chunk["text"])
                    if self._spoken_turn == turn_id:
                        self.speaker.say_chunk(chunk["text"])
                if chunk["is_final"]:
                    final = dict(chunk)
                    if self._spoken_turn == turn_id:
                        self.speaker.end_reply()
        except Exception as e:
            # Shown in the conversation where it happened, and logged with its traceback.
            log.exception("reply %d failed", turn_id)
            detail = f"{type(e).__name__}: {e}"
            self.replyFinished.emit(
                turn_id, ReplyResult(turn_id, ReplyStatus.ERROR, first_ms, 0.0, C.FALLBACK_TEXT, detail)
            )
            return
        finally:
            if not progress.done():
                progress.cancel()
                self.replyProgress.emit(turn_id, "")
            self._active -= 1
            if self._active == 0:
                self.busyChanged.emit(False)
            self._conversations.notify_changed()
        assert final is not None
        status = status_of(final)
        self._after_exchange(session, final, status)
        sound_ms = self._first_sound_ms.pop(turn_id, None)
        total = float(final["processing_time_ms"])
        if session.last is not None and session.last.timings is not None:
            timings = session.last.timings  # what was saved with the reply
        stages = timings.to_dict() if timings is not None else None
        if timings is not None:  # from the release of the button, not from the model's start
            first_ms = timings.first_words_ms if timings.has(Stage.FIRST_CHUNK) else first_ms
            total = timings.ms(Stage.LAST_CHUNK) or total
        if status == ReplyStatus.ERROR:
            result = ReplyResult(turn_id, status, first_ms, total, final["text"], final.get("error", ""), timings=stages)
        else:
            result = ReplyResult(turn_id, status, first_ms, total, first_sound_ms=sound_ms, timings=stages)
        if self._sound_turn is not None and self._sound_turn[0] == turn_id and session.last is not None:
            if session.last.reply_turn_id is not None and session.last.saved:
                self._unsounded[turn_id] = (session.store, session.last.reply_turn_id)
        self.replyFinished.emit(turn_id, result)
        if status == ReplyStatus.COMPLETE and session.last is not None and self._spoken_turn == turn_id:
            self._sounding = (session, session.last.reply_turn_id, result)  # written; maybe still being spoken
        if (
            recording is not None
            and mode == Mode.CONVERSATION
            and status == ReplyStatus.COMPLETE
            and self.config.conversation.show_transcript
            and session.last is not None
        ):
            await self._show_transcript(turn_id, recording, session, session.last.user_turn_id)

    async def _say_progress(self, turn_id: int, session: ConversationSession) -> None:
        """While no words have come: what the model is doing, from the core's stage marks (polled)."""
        await asyncio.sleep(PROGRESS_AFTER_S)
        said = ""
        while True:
            now = session.model.progress()
            text = str(now) if now is not None else ""
            if text != said:
                self.replyProgress.emit(turn_id, text)
                said = text
            await asyncio.sleep(PROGRESS_EVERY_S)

    # --- trouble the window must show ---------------------------------------------------------------

    def _say_trouble(self, key: str, title: str, text: str) -> None:
        if key not in self._troubles:
            self._troubles.add(key)
            self.trouble.emit(key, title, text)

    def _clear_trouble(self, key: str) -> None:
        if key in self._troubles:
            self._troubles.discard(key)
            self.troubleCleared.emit(key)

    def _check_saving(self, session: ConversationSession) -> None:
        error = session.save_error
        if error is not None:
            why = error.reason  # the banner's title says "could not be saved" already
            self._say_trouble(
                "history",
                "This conversation could not be saved",
                f"{why[:1].upper()}{why[1:]}. The reply still comes; what was saved before is safe.",
            )

    def _after_exchange(self, session: ConversationSession, final: dict[str, Any], status: ReplyStatus) -> None:
        self._check_saving(session)
        if session.last is not None and session.last.saved:
            self._clear_trouble("history")
        if status == ReplyStatus.ERROR and final.get("text") == C.BUSY_TEXT:
            self._say_trouble("busy", "The model is still busy", f"{final.get('error', '')}".strip() or C.BUSY_TEXT)
        elif status == ReplyStatus.COMPLETE:
            self._clear_trouble("busy")

    async def _show_transcript(
        self, turn_id: int, recording: Recording, session: ConversationSession, stored_turn_id: int | None
    ) -> None:
        """Transcribe the user's turn after the reply (so the reply is never delayed) and show it."""
        texts: list[str] = []
        async for chunk in self._model.model.process_realtime_chunk_streaming(
            recording.audio, f"turn-{turn_id}-transcript", mode=Mode.TRANSCRIBE, sample_rate=recording.sample_rate
        ):
            if not chunk["success"]:
                log.info("no transcript for turn %d: %s", turn_id, chunk.get("error"))
                return
            if chunk["text"]:
                texts.append(chunk["text"])
        transcript = " ".join(texts)
        self.userTranscript.emit(turn_id, transcript)  # shown even when the user's turn was not saved
        if stored_turn_id is not None:
            try:
                await self._conversations.store_transcript(session, stored_turn_id, transcript)
            except HistoryError as e:
                log.warning("transcript of turn %d not saved: %s", turn_id, e)
                self._say_trouble("history", "This conversation could not be saved", f"The transcript {e}.")
        self._conversations.notify_changed()

    # --- stopping -----------------------------------------------------------------------------------

    def barge_in(self) -> None:
        """Stop the reply in flight and its speech at once; the reply ends marked interrupted."""
        self._spoken_turn = None
        self._sound_turn = None
        self.speaker.stop()
        if self.is_busy:
            self._model.cancel()

    def stop_by_voice(self) -> None:
        """The user spoke over the reply (voice barge-in): stop it and its voice now. A reply already written
        but still being spoken ends marked interrupted too, in the window and in the history."""
        sounding, self._sounding = self._sounding, None
        speaking = self.speaker.is_speaking
        self.barge_in()
        if sounding is None or not speaking:
            return
        session, stored_id, result = sounding
        marked = history_thread.submit(  # on the store's thread: the window answers the voice at once
            session.store,
            session.store.finish_reply,
            stored_id,
            ReplyStatus.INTERRUPTED,
            total_ms=result.total_ms,
            timings=self._stages_of(result),
        )
        marked.add_done_callback(_log_failed_write)
        self.replyFinished.emit(
            result.turn_id,
            ReplyResult(
                result.turn_id,
                ReplyStatus.INTERRUPTED,
                result.first_chunk_ms,
                result.total_ms,
                timings=self._stages_of(result),
            ),
        )
        self._conversations.notify_changed()

    def _stages_of(self, result: ReplyResult) -> dict[str, float | None] | None:
        """A finished reply's timings, with its first sound when that came later."""
        live = self._timings.get(result.turn_id)
        return live.to_dict() if live is not None else (dict(result.timings) if result.timings else None)

    def interrupt(self) -> bool:
        """Esc with no recording: stop the reply that is streaming or being spoken. True if there was one."""
        if self.is_busy or self.speaker.is_speaking:
            self.barge_in()
            return True
        return False

    def close(self) -> None:
        """Quitting: silence at once and let go of the sound device (the model is stopped by its own view-model)."""
        self._spoken_turn = None
        self.speaker.close()
