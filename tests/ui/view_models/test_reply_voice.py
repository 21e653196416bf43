"""The voice side of replies on a fake speaker: only the current reply is said, the chunks it begins count as
heard, a first sound after the reply was saved is added to its saved timings once, and cutting a written reply
short keeps what was heard (nothing changes when the voice was silent or cannot tell how far it got)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from PySide6.QtCore import QObject, Signal

from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.config import load_config
from voxtral_desktop.core.conversation import ConversationSession
from voxtral_desktop.core.history import HistoryStore
from voxtral_desktop.core.history import thread as history_thread
from voxtral_desktop.core.reply import Ended, Reply, Words
from voxtral_desktop.core.timings import Stage
from voxtral_desktop.testing.fakes import scripted_session
from voxtral_desktop.ui.view_models.reply_voice import ReplyVoice
from voxtral_desktop.ui.view_models.status import ReplyResult, reply_result

REPLY = "The weather is sunny today, with a light breeze from the west."
CHUNKS = ["The weather is sunny today,", "with a light breeze", "from the west."]  # REPLY in 3-5 word chunks


class FakeSpeaker(QObject):
    """The Speaker's face to ReplyVoice: what it was asked to say, and the player's progress, played by hand."""

    firstSound = Signal(float)
    chunkStarted = Signal(int, float)
    untracked = Signal()  # a chunk went to a voice that cannot tell when it sounds (the system voice)

    def __init__(self, *, neural: bool = True) -> None:
        super().__init__()
        self.enabled = True
        self.neural = neural
        self.said: list[str] = []
        self.ended = 0
        self.stops = 0
        self.loads = 0
        self.prepared = 0
        self.closed = False
        self.settings: dict = {}
        self._speaking = False

    @property
    def is_speaking(self) -> bool:
        return self._speaking

    def configure(self, **settings) -> bool:
        self.settings = settings
        return False

    async def load(self) -> None:
        self.loads += 1

    def say_chunk(self, text: str) -> None:
        if self.enabled:
            self.said.append(text)
            self._speaking = True

    def end_reply(self) -> None:
        self.ended += 1

    def prepare(self) -> None:
        self.prepared += 1

    def stop(self) -> None:
        self.stops += 1
        self._speaking = False

    def close(self) -> None:
        self.closed = True
        self.stop()

    def sound(self, index: int) -> None:
        """The player's chunk ``index`` (of the reply it speaks) sounds now; index 0 is the reply's first."""
        t = time.monotonic()
        if index == 0:
            self.firstSound.emit(t)
        self.chunkStarted.emit(index, t)

    def idle(self) -> None:
        """Everything said has played."""
        self._speaking = False


class Voice:
    """ReplyVoice on a FakeSpeaker, with the view-model's signals and the background work it starts recorded."""

    def __init__(self, speaker: FakeSpeaker) -> None:
        self.speaker = speaker
        self.tracked: list[asyncio.Future] = []
        self.first_sounds: list[tuple[int, float]] = []
        self.timings: list[tuple[int, object]] = []
        self.cut_short: list[tuple[int, ReplyResult]] = []
        self.voice = ReplyVoice(
            load_config(),
            speaker,  # type: ignore[arg-type]
            self.track,
            lambda turn, ms: self.first_sounds.append((turn, ms)),
            lambda turn, stages: self.timings.append((turn, stages)),
            lambda turn, result: self.cut_short.append((turn, result)),
        )

    def track(self, future: asyncio.Future) -> asyncio.Future:  # as Workers.track: kept, and handed back
        self.tracked.append(future)
        return future


@pytest.fixture
def store(tmp_path):
    with HistoryStore(tmp_path / "h.sqlite3") as s:
        yield s


@pytest.fixture
def session(store) -> ConversationSession:
    session, _ = scripted_session(store, reply=REPLY)
    return session


def run(qtbot, coro):
    """Run a coroutine on the window's (qasync) loop, spinning Qt until it is done."""
    task = asyncio.ensure_future(coro)
    qtbot.waitUntil(task.done, timeout=10000)
    return task.result()


def speak(qtbot, v: Voice, turn_no: int, session: ConversationSession, *, sounding: int = 0) -> Reply:
    """A typed exchange whose chunks are handed to the voice as they come, as the replies view-model does;
    the voice begins one chunk as each is written, up to ``sounding`` of them. Returns the reply, written and
    saved."""
    reply = session.reply_text("What is the weather like?")
    v.voice.begin(turn_no, reply, session)

    async def stream() -> None:
        async for event in reply.events():
            if isinstance(event, Words) and event.text:
                v.voice.say(reply, event.text)
                if len(reply.chunks) <= sounding:
                    v.speaker.sound(len(reply.chunks) - 1)
        v.voice.end(reply)

    run(qtbot, stream())
    assert session.last is not None and session.last.reply is reply and session.last.saved
    return reply


def stored_reply(session: ConversationSession):
    """The last stored turn, read on the history's thread after the writes queued there (never half done)."""
    store = session.store
    return history_thread.submit(store, store.turns, session.conversation_id).result(timeout=5)[-1]


def test_chunks_of_a_reply_replaced_by_a_newer_one_are_not_said(qtbot, session):
    v = Voice(FakeSpeaker())
    old, new = Reply(), Reply()
    v.voice.begin(1, old, session)
    v.voice.say(old, "Old words")
    v.voice.begin(2, new, session)  # a new turn: the old reply gives way
    assert v.speaker.stops >= 1
    v.voice.say(old, "late words of the old reply")
    v.voice.end(old)
    v.voice.say(new, "New words")
    assert v.speaker.said == ["Old words", "New words"] and v.speaker.ended == 0
    v.voice.end(new)
    assert v.speaker.ended == 1
    v.voice.cut()  # silenced: nothing more of it is said
    v.voice.say(new, "after the cut")
    assert v.speaker.said == ["Old words", "New words"]


def test_the_chunks_the_current_reply_begins_count_as_heard(qtbot, session):
    v = Voice(FakeSpeaker())
    old, new = Reply(), Reply()
    for reply in (old, new):
        for i, text in enumerate(CHUNKS):
            reply.record(Words(text, i, 1.0))
    v.voice.begin(1, old, session)
    v.voice.say(old, CHUNKS[0])
    v.speaker.sound(0)
    assert (old.heard, old.voiced) == (1, True)
    v.voice.begin(2, new, session)
    v.voice.say(new, CHUNKS[0])
    v.speaker.sound(0)
    v.speaker.sound(1)
    assert (old.heard, new.heard) == (1, 2)  # the old reply heard no more once the new one was spoken
    v.voice.cut()
    v.speaker.sound(2)  # a late report from the player, after the voice was silenced
    assert new.heard == 2


def test_a_first_sound_after_the_reply_was_saved_is_added_to_its_saved_timings_once(qtbot, session):
    v = Voice(FakeSpeaker())
    reply = speak(qtbot, v, 7, session)  # written and saved before the voice was heard
    assert stored_reply(session).timings.get("first_sound") is None
    v.speaker.sound(0)
    v.speaker.firstSound.emit(time.monotonic())  # a second report of the same reply's first sound
    ms = reply.timings.ms(Stage.FIRST_SOUND)
    assert ms is not None and v.first_sounds == [(7, ms)]
    assert [(turn, stages["first_sound"]) for turn, stages in v.timings] == [(7, ms)]  # type: ignore[index]
    assert len(v.tracked) == 1
    qtbot.waitUntil(lambda: all(f.done() for f in v.tracked), timeout=5000)
    assert stored_reply(session).timings["first_sound"] == ms


def test_a_first_sound_while_the_reply_is_written_is_saved_with_it(qtbot, session):
    v = Voice(FakeSpeaker())
    reply = speak(qtbot, v, 1, session, sounding=1)
    ms = reply.timings.ms(Stage.FIRST_SOUND)
    assert ms is not None and v.first_sounds == [(1, ms)]
    assert v.timings == [] and v.tracked == []  # no second write: the reply's own save holds it
    assert stored_reply(session).timings["first_sound"] == ms


def test_cutting_a_written_reply_short_keeps_what_the_voice_had_begun(qtbot, session):
    v = Voice(FakeSpeaker())
    reply = speak(qtbot, v, 3, session, sounding=2)
    assert reply.status == ReplyStatus.COMPLETE and reply.chunks == CHUNKS
    assert stored_reply(session).text == REPLY
    v.voice.cut()  # the user talks over it while the voice says chunk 1
    assert not v.speaker.is_speaking
    ((turn_no, result),) = v.cut_short
    assert (turn_no, result.status, result.heard_chunks) == (3, ReplyStatus.INTERRUPTED, 2)
    assert reply.status == ReplyStatus.INTERRUPTED and reply.kept_text == " ".join(CHUNKS[:2])
    qtbot.waitUntil(lambda: stored_reply(session).status == ReplyStatus.INTERRUPTED, timeout=5000)
    assert stored_reply(session).text == " ".join(CHUNKS[:2])
    v.voice.cut()  # again: already silenced, nothing more
    assert len(v.cut_short) == 1


def test_cutting_a_reply_written_but_not_yet_saved_keeps_what_the_voice_had_begun(qtbot, session):
    v = Voice(FakeSpeaker())
    reply = session.reply_text("What is the weather like?")
    v.voice.begin(1, reply, session)

    async def stream() -> None:
        async with contextlib.aclosing(reply.events()) as events:
            async for event in events:
                if isinstance(event, Words) and event.text:
                    v.voice.say(reply, event.text)
                    if len(reply.chunks) == 1:
                        v.speaker.sound(0)
                elif isinstance(event, Ended):
                    v.voice.end(reply)
                    # The user cuts the voice short in the moment the reply's text ended and its history is
                    # still being written (a busy disk makes that moment long).
                    v.voice.cut()

    run(qtbot, stream())
    assert reply.status == ReplyStatus.INTERRUPTED and reply.kept_text == CHUNKS[0]
    assert reply_result(1, reply).heard_chunks == 1  # what the window shows once the reply is saved
    assert (stored_reply(session).status, stored_reply(session).text) == (ReplyStatus.INTERRUPTED, CHUNKS[0])


def test_cutting_a_voice_that_had_said_it_all_changes_nothing(qtbot, session):
    v = Voice(FakeSpeaker())
    reply = speak(qtbot, v, 1, session, sounding=3)
    v.speaker.idle()  # the voice said the whole reply
    v.voice.cut()  # Esc after the voice fell silent
    assert v.cut_short == [] and reply.status == ReplyStatus.COMPLETE
    assert stored_reply(session).text == REPLY and stored_reply(session).status == ReplyStatus.COMPLETE


def test_cutting_a_reply_whose_voice_never_sounded_changes_nothing(qtbot, session):
    speaker = FakeSpeaker()
    speaker.enabled = False  # speech off: the chunks are not said
    v = Voice(speaker)
    reply = speak(qtbot, v, 1, session)
    v.voice.cut()
    assert v.cut_short == [] and reply.status == ReplyStatus.COMPLETE and not reply.voiced
    assert stored_reply(session).text == REPLY


def test_a_voice_that_cannot_tell_its_progress_keeps_the_whole_reply(qtbot, session):
    v = Voice(FakeSpeaker(neural=False))  # the system voice: no chunk-by-chunk progress
    reply = speak(qtbot, v, 1, session)
    assert v.speaker.said == CHUNKS and v.speaker.is_speaking
    v.voice.cut()
    assert v.cut_short == [] and reply.status == ReplyStatus.COMPLETE and reply.kept_text == REPLY
    assert stored_reply(session).text == REPLY


def test_a_reply_part_of_which_went_to_the_system_voice_keeps_all_it_wrote(qtbot, session):
    v = Voice(FakeSpeaker())
    reply = speak(qtbot, v, 1, session, sounding=1)  # the neural voice began chunk 0...
    v.speaker.untracked.emit()  # ...then failed: the system voice says the rest, and cannot tell how far
    v.speaker.sound(1)
    v.voice.cut()
    assert v.cut_short == [] and reply.status == ReplyStatus.COMPLETE and reply.kept_text == REPLY
    assert stored_reply(session).text == REPLY


def test_the_speech_settings_reach_the_speaker_and_closing_lets_go_of_it(qtbot, session):
    speaker = FakeSpeaker()
    v = Voice(speaker)
    assert speaker.settings["enabled"] is True
    run(qtbot, v.voice.load())
    assert speaker.loads == 1
    v.voice.config.speech.enabled = False
    v.voice.apply_settings(reload_now=True)
    assert speaker.settings["enabled"] is False and v.voice.load() is None
    v.voice.close()
    assert speaker.closed and not speaker.is_speaking


def test_the_sound_output_is_opened_when_the_user_starts_talking_unless_speech_is_off():
    speaker = FakeSpeaker()
    v = Voice(speaker)
    v.voice.prepare()
    assert speaker.prepared == 1
    v.voice.config.speech.enabled = False
    v.voice.prepare()
    assert speaker.prepared == 1
