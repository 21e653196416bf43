"""The history's own thread: a ConversationSession never touches sqlite on the event loop's thread, and its
writes land in order (the user's turn, the reply, each chunk, then how the reply ended), even when the reply
is closed early while chunk writes are still queued."""

from __future__ import annotations

import threading
import time
from typing import Any

from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.history import HistoryStore
from voxtral_desktop.testing.fakes import scripted_session

REPLY = "Sure, the meeting is at three o'clock in the main hall."
LONG_REPLY = " ".join([REPLY] * 6)
CALLS = ("prompt_history", "add_user_turn", "title_from", "start_reply", "append_chunk", "finish_reply")


class SlowWatchedStore(HistoryStore):
    """A real store that notes which thread makes each call, and writes chunks slowly (a busy disk)."""

    def __init__(self, path: Any) -> None:
        super().__init__(path)
        self.calls: list[tuple[str, str]] = []

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if name not in CALLS:
            return attr

        def watched(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, threading.current_thread().name))
            if name == "append_chunk":
                time.sleep(0.02)
            return attr(*args, **kwargs)

        return watched


async def test_every_history_call_of_an_exchange_runs_off_the_event_loop_in_order(tmp_path):
    with SlowWatchedStore(tmp_path / "h.sqlite3") as store:
        session, _ = scripted_session(store, reply=REPLY)
        chunks = [c async for c in session.respond_text("when is the meeting?")]
        loop_thread = threading.current_thread().name
        assert store.calls and all(thread != loop_thread for _, thread in store.calls), store.calls
        names = [name for name, _ in store.calls]
        words = sum(1 for c in chunks if c["success"])
        assert names == ["prompt_history", "add_user_turn", "title_from", "start_reply"] + ["append_chunk"] * words + [
            "finish_reply"
        ]
        reply = store.turns(session.conversation_id)[-1]
        assert reply.status == ReplyStatus.COMPLETE and reply.text == session.last.text
        assert reply.chunks == [c["text"] for c in chunks if c["success"] and c["text"]]


async def test_a_reply_closed_early_is_saved_after_its_queued_chunks(tmp_path):
    with SlowWatchedStore(tmp_path / "h.sqlite3") as store:
        session, _ = scripted_session(store, reply=LONG_REPLY)
        stream = session.respond_text("when is the meeting?")
        seen = [await anext(stream) for _ in range(3)]  # chunk writes are still queued (20 ms each)
        await stream.aclose()
        names = [name for name, _ in store.calls]
        assert names[-1] == "finish_reply" and names.count("append_chunk") == 3
        reply = store.turns(session.conversation_id)[-1]
        assert reply.status == ReplyStatus.INTERRUPTED
        assert reply.chunks == [c["text"] for c in seen if c["text"]]


async def test_a_session_reads_and_writes_the_history_only_on_its_thread_from_its_start(tmp_path):
    loop_thread = threading.current_thread().name
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        # Every statement sqlite runs, with the thread that ran it (the trace runs on the caller's thread).
        statements: list[tuple[str, str]] = []
        store.trace_statements(lambda sql: statements.append((threading.current_thread().name, sql)))
        new, _ = scripted_session(store, reply=REPLY)  # a new conversation, as the window's first turn makes
        assert statements == []  # made on the loop: nothing read or written yet
        await exchange_text(new, "when is the meeting?")
        again, _ = scripted_session(store, new.conversation_id, reply=REPLY)  # an opened one
        await exchange_text(again, "and where?")
        store.trace_statements(None)
        assert any(sql.startswith("INSERT INTO conversations") for _, sql in statements)
        on_loop = [sql for thread, sql in statements if thread == loop_thread]
        assert on_loop == []
        turns = store.turns(new.conversation_id)
        assert [t.text for t in turns] == ["when is the meeting?", REPLY, "and where?", REPLY]


async def exchange_text(session, text: str) -> None:
    async for _ in session.respond_text(text):
        pass


async def test_a_read_that_sqlite_refuses_is_said_as_a_history_error_naming_the_file(tmp_path):
    import sqlite3

    import pytest

    from voxtral_desktop.core.errors import HistoryError
    from voxtral_desktop.core.history import thread as history_thread

    with HistoryStore(tmp_path / "h.sqlite3") as store:

        def damaged() -> None:
            raise sqlite3.DatabaseError("database disk image is malformed")

        with pytest.raises(HistoryError, match="could not read the history .*h.sqlite3.*malformed"):
            await history_thread.query(store, damaged)
        assert await history_thread.query(store, store.list_conversations) == []  # the thread goes on
