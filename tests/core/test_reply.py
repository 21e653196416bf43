"""A reply as one object: its typed events, the chunk dicts derived from them, and what of it is kept."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from voxtral_desktop.core import chunks as C
from voxtral_desktop.core.backends.base import GenerationRequest
from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.conversation import ConversationSession
from voxtral_desktop.core.errors import (
    AudioError,
    AudioTooLong,
    EmptyTurn,
    GenerationError,
    ModelBusy,
    NoSpeech,
    ReplyCancelled,
    ReplyTimedOut,
    TooShort,
    UnknownMode,
)
from voxtral_desktop.core.reply import Ended, Marked, Reply, Words, chunk_of, describe
from voxtral_desktop.core.timings import Stage
from voxtral_desktop.testing.fakes import ScriptedBackend, scripted_model, scripted_session, tone, word_pieces

REPLY = "one two three four five six seven eight nine ten eleven twelve"


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (ReplyCancelled(), C.CANCELLED_TEXT),
        (ReplyTimedOut("no progress"), C.TIMEOUT_TEXT),
        (ModelBusy("stuck"), C.BUSY_TEXT),
        (NoSpeech("quiet"), C.NO_SPEECH_TEXT),
        (TooShort("short"), C.TOO_SHORT_TEXT),
        (UnknownMode("sing"), C.BAD_MODE_TEXT),
        (EmptyTurn("nothing"), C.EMPTY_TEXT),
        (AudioTooLong(400.0, 300.0), C.TOO_LONG_TEXT),
        (AudioError("nan"), C.BAD_AUDIO_TEXT),
        (GenerationError("CUDA out of memory"), C.FALLBACK_TEXT),
        (ValueError("a bug"), C.FALLBACK_TEXT),
    ],
)
def test_the_user_reads_the_sentence_for_the_errors_type(error, text):
    said, detail = describe(error)
    assert said == text
    chunk = chunk_of(Ended(ReplyStatus.ERROR, 3, 12.5, error))
    assert chunk == {"success": False, "text": text, "is_final": True, "chunk_index": 3, "processing_time_ms": 12.5,
                     "error": detail}


def test_a_failure_in_generation_names_its_type_in_the_detail():
    assert describe(ValueError("a bug")) == (C.FALLBACK_TEXT, "ValueError: a bug")
    assert describe(ReplyCancelled())[1] == C.CANCELLED_ERROR  # the UI's "interrupted" rule reads this


def test_words_are_chunks_the_last_one_final_and_marks_have_no_dict():
    assert chunk_of(Words("hello there", 0, 1.0)) == C.text_chunk("hello there", 0, 1.0, final=False)
    assert chunk_of(Words("", 4, 2.0, last=True)) == C.text_chunk("", 4, 2.0, final=True)
    assert chunk_of(Ended(ReplyStatus.COMPLETE, 4, 2.0)) is None
    assert chunk_of(Marked(Stage.AUDIO_ENCODED, 10.0)) is None


async def test_the_chunk_dicts_are_the_events_seen_through_chunk_of():
    """transformers' streamer test, for our two faces: the dicts equal the events mapped in one place."""
    model, _ = scripted_model(word_pieces(REPLY))
    request = model.prepare(tone())
    reply = model.reply(request, "events")
    events = [e async for e in reply.events()]
    dicts = [c async for c in model.process_realtime_chunk_streaming(tone(), "dicts")]
    derived = [chunk_of(e) for e in events if chunk_of(e) is not None]
    assert [(c["text"], c["chunk_index"], c["is_final"]) for c in derived] == [
        (c["text"], c["chunk_index"], c["is_final"]) for c in dicts
    ]
    assert isinstance(events[-1], Ended) and events[-1].status == ReplyStatus.COMPLETE
    assert reply.status == ReplyStatus.COMPLETE and reply.text == REPLY
    assert reply.timings.has(Stage.FIRST_CHUNK) and reply.timings.has(Stage.LAST_CHUNK)


class _EncodingBackend(ScriptedBackend):
    """Marks "audio encoded" from a worker thread, then waits before its first piece (a slow encoder)."""

    async def stream(self, request: GenerationRequest, stop: threading.Event) -> AsyncIterator[str]:
        marked = threading.Thread(target=lambda: request.timings.mark(Stage.AUDIO_ENCODED))
        marked.start()
        marked.join()
        await asyncio.sleep(0.3)
        async for piece in super().stream(request, stop):
            yield piece


async def test_a_stage_marked_on_the_back_ends_thread_is_an_event_before_the_words():
    model, _ = scripted_model(word_pieces(REPLY))
    model.backend = _EncodingBackend(pieces=word_pieces(REPLY), loaded=True)
    reply = model.reply(model.prepare(tone()), "marks")
    kinds = []
    async for event in reply.events():
        kinds.append((type(event).__name__, getattr(event, "stage", None)))
    encoded = kinds.index(("Marked", Stage.AUDIO_ENCODED))
    assert encoded < kinds.index(("Words", None))


async def test_a_refused_input_is_one_ended_event_and_no_model_call():
    model, backend = scripted_model(word_pieces(REPLY))
    reply = model.reply(NoSpeech("quiet"), "refused")
    events = [e async for e in reply.events()]
    assert len(events) == 1 and isinstance(events[0].error, NoSpeech) and reply.status == ReplyStatus.ERROR
    assert backend.requests == []


def test_what_is_kept_of_a_spoken_reply_cut_short_is_what_was_heard():
    reply = Reply()
    for i, text in enumerate(["one two three", "four five six", "seven eight nine"]):
        reply.record(Words(text, i, float(i)))
    reply.record(Words("", 3, 3.0, last=True))
    reply.record(Ended(ReplyStatus.COMPLETE, 3, 3.0))
    assert reply.kept_text == reply.text  # nothing cut it short yet
    reply.began_chunk(0)
    reply.began_chunk(1)
    assert reply.interrupt_voice() and reply.status == ReplyStatus.INTERRUPTED
    assert reply.kept_text == "one two three four five six" and reply.kept_chunks == 2


def test_a_reply_never_spoken_keeps_its_whole_text_when_interrupted():
    reply = Reply()
    reply.record(Words("one two three", 0, 0.0))
    reply.record(Ended(ReplyStatus.INTERRUPTED, 1, 1.0, ReplyCancelled()))
    assert not reply.interrupt_voice()
    assert reply.kept_text == "one two three"


async def _stream_until_heard(session: ConversationSession, heard: int) -> Reply:
    """Stream a spoken exchange; once ``heard`` chunks are out, the voice has begun them and the user stops it."""
    reply = session.reply(tone())
    async for event in reply.events():
        if isinstance(event, Words) and event.text and len(reply.chunks) <= heard:
            reply.voiced = True
            reply.began_chunk(event.index)  # the voice says each chunk at once
        elif isinstance(event, Words) and len(reply.chunks) == heard + 1:
            session.model.cancel()  # one more chunk written, not yet said: Esc (the voice stops with it)
    return reply


async def test_an_interrupted_spoken_reply_keeps_only_what_was_heard_in_history_and_memory(store):
    session, backend = scripted_session(store, reply=REPLY, delay_s=0.01)
    session.model.config.streaming.chunk_size_words = 3
    reply = await _stream_until_heard(session, heard=2)
    assert reply.status == ReplyStatus.INTERRUPTED and len(reply.chunks) > 2
    heard = " ".join(reply.chunks[:2])
    turns = store.turns(session.conversation_id)
    assert turns[-1].text == heard and turns[-1].status == ReplyStatus.INTERRUPTED
    assert [c for c in turns[-1].chunks if c] == reply.chunks[:2]  # the unsaid chunks left the history too
    # The model's memory of the conversation holds what was heard, not the unsaid rest.
    [_ async for _ in session.respond(tone())]
    assert backend.requests[-1].history[-1].assistant_text == heard


async def test_a_written_reply_whose_voice_is_cut_short_keeps_what_was_heard(store):
    session, backend = scripted_session(store, reply=REPLY)
    session.model.config.streaming.chunk_size_words = 3
    reply = session.reply(tone())
    async for event in reply.events():
        if isinstance(event, Words) and event.text:
            reply.voiced = True
    reply.began_chunk(0)
    assert reply.status == ReplyStatus.COMPLETE and session.last.reply is reply
    assert reply.interrupt_voice()
    await asyncio.wrap_future(session.keep_heard(session.last))
    turn = store.turns(session.conversation_id)[-1]
    assert turn.status == ReplyStatus.INTERRUPTED and turn.text == reply.chunks[0]
    assert [c for c in turn.chunks if c] == reply.chunks[:1]
    [_ async for _ in session.respond(tone())]
    assert backend.requests[-1].history[-1].assistant_text == reply.chunks[0]


async def test_with_the_voice_off_an_interrupted_reply_keeps_all_it_wrote(store):
    session, _ = scripted_session(store, reply=REPLY, delay_s=0.01)
    session.model.config.streaming.chunk_size_words = 3
    reply = session.reply(tone())
    async for event in reply.events():
        if isinstance(event, Words) and len(reply.chunks) == 2:
            session.model.cancel()
    assert reply.status == ReplyStatus.INTERRUPTED
    assert store.turns(session.conversation_id)[-1].text == reply.text
