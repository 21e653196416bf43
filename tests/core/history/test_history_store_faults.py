"""History storage trouble (disk full, read-only, locked): the reply still streams, the failure is reported,
nothing saved earlier is lost, and no write holds the event loop for long."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from voxtral_desktop import VoxtralModel, load_config
from voxtral_desktop.core.conversation import ConversationSession
from voxtral_desktop.core.history import HistoryStore, HistoryWriteError
from voxtral_desktop.testing.fakes import ScriptedBackend
from voxtral_desktop.testing.missing import missing
from voxtral_desktop.testing.small_disk import Unavailable, fill, locked_by_another_process, read_only, tmpfs

REPLY = "one two three four five six seven eight nine ten eleven twelve"
STALL_LIMIT_S = 1.0  # generous: SQLite's default busy wait alone is 5 s


@pytest.fixture
def disk(tmp_path: Path):
    """A folder on its own small tmpfs when this machine can mount one (needed for a full disk)."""
    try:
        with tmpfs(tmp_path / "disk", 4 * 1024 * 1024) as mounted:
            yield mounted
    except Unavailable as e:
        missing(f"a full disk cannot be staged: {e}")


def make_session(store: HistoryStore, conversation_id: str | None = None) -> ConversationSession:
    backend = ScriptedBackend(pieces=[w + " " for w in REPLY.split()], delay_s=0.01)
    model = VoxtralModel(load_config(overrides={"streaming": {"temperature": 0.0, "chunk_size_words": 3}}), backend)
    model.initialize()
    return ConversationSession(model, store, conversation_id)


async def typed(session: ConversationSession, text: str, during=None) -> tuple[list[dict], float]:
    """One typed exchange; returns its chunks and the longest the event loop went without running."""
    stalls: list[float] = []
    done = False

    async def ticker() -> None:
        last = time.monotonic()
        while not done:
            await asyncio.sleep(0.005)
            now = time.monotonic()
            stalls.append(now - last)
            last = now

    tick = asyncio.ensure_future(ticker())
    chunks: list[dict] = []
    try:
        async for chunk in session.respond_text(text):
            chunks.append(chunk)
            if during is not None and len(chunks) == 1:
                during()
    finally:
        done = True
        await tick
    return chunks, max(stalls, default=0.0)


def shown(chunks: list[dict]) -> str:
    return " ".join(c["text"] for c in chunks if c["success"] and c["text"])


def saved_turns(path: Path, conversation_id: str) -> list[tuple[str, str, str]]:
    with HistoryStore(path) as store:
        return [(t.role, t.text, t.status) for t in store.turns(conversation_id)]


def integrity(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


async def two_saved_exchanges(path: Path) -> tuple[str, list[tuple[str, str, str]]]:
    with HistoryStore(path) as store:
        session = make_session(store)
        for text in ("first question", "second question"):
            chunks, _ = await typed(session, text)
            assert shown(chunks) == REPLY and session.last is not None and session.last.saved
        cid = session.conversation_id
    before = saved_turns(path, cid)
    assert [r for r, _, _ in before] == ["user", "assistant"] * 2
    return cid, before


async def test_disk_full_mid_reply_streams_on_and_keeps_what_was_saved(disk):
    path = disk / "history.sqlite3"
    cid, before = await two_saved_exchanges(path)
    filler: list[Path] = []
    with HistoryStore(path) as store:
        session = make_session(store, cid)
        chunks, stall = await typed(session, "third question", during=lambda: filler.append(fill(disk)))
        assert shown(chunks) == REPLY and chunks[-1]["success"]
        assert session.last is not None and not session.last.saved
        error = session.last.save_error
        assert isinstance(error, HistoryWriteError)
        assert str(error).startswith("could not be saved") and "full" in str(error)
        assert stall < STALL_LIMIT_S
    filler[0].unlink()
    assert integrity(path) == "ok"
    after = saved_turns(path, cid)
    assert after[: len(before)] == before
    # The reply's first chunk was saved before the disk filled: it is there, marked unfinished.
    assert after[len(before) : len(before) + 2][0] == ("user", "third question", "complete")
    # With space back, the next exchange is saved whole.
    with HistoryStore(path) as store:
        session = make_session(store, cid)
        chunks, _ = await typed(session, "fourth question")
        assert session.last is not None and session.last.saved
    assert saved_turns(path, cid)[-1] == ("assistant", REPLY, "complete")


async def test_a_read_only_history_opens_for_reading_and_replies_still_stream(disk):
    path = disk / "history.sqlite3"
    cid, before = await two_saved_exchanges(path)
    with read_only(disk):
        with HistoryStore(path) as store:
            assert store.read_only
            assert [(t.role, t.text, t.status) for t in store.turns(cid)] == before  # still readable
            session = make_session(store, cid)
            chunks, stall = await typed(session, "third question")
            assert shown(chunks) == REPLY and chunks[-1]["success"]
            assert session.last is not None and not session.last.saved
            assert "read-only" in str(session.last.save_error)
            assert stall < STALL_LIMIT_S
            # Earlier turns still reach the model as memory.
            assert len(session.history()) == 2
    assert saved_turns(path, cid) == before
    assert integrity(path) == "ok"


async def test_a_database_locked_by_another_process_never_stalls_the_reply(tmp_path):
    path = tmp_path / "history.sqlite3"
    cid, before = await two_saved_exchanges(path)
    with HistoryStore(path) as store:
        session = make_session(store, cid)
        with locked_by_another_process(path):
            started = time.monotonic()
            chunks, stall = await typed(session, "third question")
            took = time.monotonic() - started
            assert shown(chunks) == REPLY and chunks[-1]["success"]
            assert session.last is not None and not session.last.saved
            assert "locked by another program" in str(session.last.save_error)
            assert stall < STALL_LIMIT_S and took < 10.0
        # The other program let go: the next exchange is saved, and nothing earlier was lost.
        chunks, _ = await typed(session, "fourth question")
        assert session.last.saved
    after = saved_turns(path, cid)
    assert after[: len(before)] == before
    assert after[len(before) :] == [("user", "fourth question", "complete"), ("assistant", REPLY, "complete")]
