"""ConversationSession: memory of earlier turns within the context, every turn and chunk saved as it streams."""

from __future__ import annotations

import numpy as np
import pytest

from voxtral_desktop.core.backends.base import Turn
from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.conversation import ConversationSession, fit_history
from voxtral_desktop.core.history import HistoryStore
from voxtral_desktop.testing.fakes import ScriptedBackend, exchange, scripted_session, tone

REPLY = "Sure, the meeting is at three o'clock in the main hall."


def session_with(store: HistoryStore, conversation_id: str | None = None, **kw) -> tuple[ConversationSession, ScriptedBackend]:
    return scripted_session(store, conversation_id, reply=REPLY, **kw)


async def test_second_turn_prompt_holds_the_first_audio_turn_and_its_reply(store):
    session, backend = session_with(store)
    first_audio, second_audio = tone(1.0, 200), tone(1.5, 300)
    await exchange(session, first_audio)
    await exchange(session, second_audio)
    first, second = backend.requests
    assert first.history == ()
    (turn,) = second.history
    np.testing.assert_array_equal(turn.user_audio, first_audio)
    assert turn.assistant_text == REPLY
    np.testing.assert_array_equal(second.audio, second_audio)


async def test_memory_is_bounded_by_max_turns(store):
    session, backend = session_with(store)
    session.model.config.conversation.max_turns = 2
    for _ in range(4):
        await exchange(session)
    assert [len(r.history) for r in backend.requests] == [0, 1, 2, 2]
    session.model.config.conversation.max_turns = 0
    await exchange(session)
    assert backend.requests[-1].history == ()


def test_memory_is_bounded_by_the_context():
    long_turns = [Turn(user_audio=np.zeros(16000 * 20, np.float32), assistant_text="ok") for _ in range(10)]
    kept = fit_history(long_turns, max_turns=10, budget_tokens=1200)
    assert len(kept) == 3 and kept[-1] is long_turns[-1]


async def test_transcribe_turns_get_no_memory_and_are_not_memory(store):
    session, backend = session_with(store)
    await exchange(session, mode="transcribe")
    await exchange(session)
    assert backend.requests[0].history == () and backend.requests[1].history == ()


async def test_reply_text_and_chunks_are_saved(store):
    session, _ = session_with(store)
    chunks = await exchange(session)
    user, reply = store.turns(session.conversation_id)
    assert user.role == "user" and user.duration_s == pytest.approx(1.0)
    assert reply.role == "assistant" and reply.status == ReplyStatus.COMPLETE and reply.text == REPLY
    assert reply.chunks == [c["text"] for c in chunks if c["text"]]
    assert reply.first_chunk_ms == chunks[0]["processing_time_ms"]
    assert not user.has_audio  # kept only when the setting says so


async def test_audio_is_kept_only_when_asked(store):
    session, _ = session_with(store)
    session.model.config.conversation.keep_audio = True
    audio = tone(0.8)
    await exchange(session, audio)
    user = store.turns(session.conversation_id)[0]
    assert user.has_audio
    np.testing.assert_allclose(store.user_audio(user.id), audio, atol=1e-4)


async def test_stored_audio_is_memory_for_a_later_session(store):
    session, _ = session_with(store)
    session.model.config.conversation.keep_audio = True
    await exchange(session, tone(0.7))
    later, backend = session_with(store, session.conversation_id)
    await exchange(later)
    (turn,) = backend.requests[0].history
    assert turn.user_audio is not None and turn.user_audio.shape[0] == int(0.7 * 16000)


async def test_errors_and_interruptions_are_recorded(store):
    session, _ = session_with(store, fail_after=5)
    chunks = await exchange(session)
    reply = store.turns(session.conversation_id)[-1]
    assert reply.status == ReplyStatus.ERROR and "CUDA out of memory" in reply.error
    assert reply.text == " ".join(c["text"] for c in chunks if c["success"] and c["text"])

    session2, _ = session_with(store, delay_s=0.01)
    async for chunk in session2.respond(tone()):
        session2.model.cancel()
    assert store.turns(session2.conversation_id)[-1].status == ReplyStatus.INTERRUPTED


async def test_typed_turns_are_answered_stored_and_remembered(store):
    session, backend = session_with(store)
    chunks = [c async for c in session.respond_text("  What time is the meeting?  ")]
    assert " ".join(c["text"] for c in chunks) == REPLY
    request = backend.requests[0]
    assert request.audio is None and request.user_text == "What time is the meeting?"
    user, reply = store.turns(session.conversation_id)
    assert user.text == "What time is the meeting?" and reply.text == REPLY
    await exchange(session)
    (turn,) = backend.requests[1].history
    assert turn.user_audio is None and turn.user_text == "What time is the meeting?"


async def test_a_conversation_is_named_after_its_first_typed_words(store):
    session, _ = session_with(store)
    [c async for c in session.respond_text("Plan a weekend trip to Lisbon with two kids and a dog, please")]
    [c async for c in session.respond_text("Something else entirely")]
    assert store.get_summary(session.conversation_id).title == "Plan a weekend trip to Lisbon with two kids and…"
    named = store.create_conversation("My own title")
    store.title_from(named, "words")
    assert store.get_summary(named).title == "My own title"


async def test_empty_typed_turn_is_an_error_chunk_without_a_model_call(store):
    session, backend = session_with(store)
    (chunk,) = [c async for c in session.respond_text("   ")]
    assert chunk["success"] is False and chunk["is_final"] and backend.requests == []
    assert not store.exists(session.conversation_id)  # nothing stored, not even an empty conversation


async def test_new_conversation_starts_fresh(store):
    session, backend = session_with(store)
    await exchange(session)
    fresh = ConversationSession(session.model, store)
    await exchange(fresh)
    assert backend.requests[-1].history == ()
    assert len(store.list_conversations()) == 2


def test_the_memory_budget_is_the_models_context_less_this_turn_and_the_reply(store):
    session, backend = session_with(store)
    backend.context_tokens = 4096
    assert session.context_budget() == 4096 - 50 - 2 * 375  # max_new_tokens, two 30 s audio windows
    backend.context_tokens = 100
    assert session.context_budget() == 0


async def test_an_empty_conversation_id_starts_a_new_conversation_and_its_turns_are_saved(store):
    # '' is "no conversation yet" (the window's id before the first turn), never a conversation's id.
    session, _ = session_with(store, "")
    chunks = await exchange(session)
    assert chunks[-1]["is_final"] and session.last.saved
    assert session.conversation_id and store.exists(session.conversation_id)
    assert [t.role for t in store.turns(session.conversation_id)] == ["user", "assistant"]
