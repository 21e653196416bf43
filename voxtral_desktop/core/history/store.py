"""Conversation history in SQLite (WAL): every turn, and each reply chunk saved the moment it arrives."""

from __future__ import annotations

import logging
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from voxtral_desktop.core import paths
from voxtral_desktop.core.backends.base import Mode, Turn
from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.errors import HistoryError, HistoryWriteError  # re-exported: their home before errors.py
from voxtral_desktop.core.history.export import as_json, as_markdown, check_format, render
from voxtral_desktop.core.history.transactions import Transaction
from voxtral_desktop.core.timings import from_saved_json, saved_json
from voxtral_desktop.core.turn_window import window_start

log = logging.getLogger(__name__)

DB_FILENAME = "history.sqlite3"
# How long a write waits for another program's lock before it is reported as not saved. Short: writes
# happen while a reply streams, and the reply must not stall behind a database it cannot use.
BUSY_TIMEOUT_S = 0.25
# Kept for callers that imported the states from here; the strings stored are ReplyStatus's values.
STREAMING, COMPLETE, ERROR, INTERRUPTED = (
    ReplyStatus.STREAMING,
    ReplyStatus.COMPLETE,
    ReplyStatus.ERROR,
    ReplyStatus.INTERRUPTED,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    mode TEXT NOT NULL DEFAULT 'conversation',
    text TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'complete',
    error TEXT,
    duration_s REAL,
    first_chunk_ms REAL,
    total_ms REAL,
    audio_wav BLOB,
    created_at REAL NOT NULL,
    timings TEXT
);
CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns(conversation_id, id);
CREATE TABLE IF NOT EXISTS chunks (
    turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
    chunk_index INTEGER NOT NULL,
    text TEXT NOT NULL,
    processing_time_ms REAL NOT NULL,
    PRIMARY KEY (turn_id, chunk_index)
);
"""


# The title a conversation gets until something better is known (see title_from).
_AUTO_TITLE = re.compile(r"Conversation \d{4}-\d{2}-\d{2} \d{2}:\d{2}")


@dataclass(frozen=True)
class ConversationSummary:
    id: str
    title: str
    created_at: float
    updated_at: float
    turns: int


@dataclass(frozen=True)
class TurnRecord:
    id: int
    role: str
    mode: str
    text: str
    status: ReplyStatus  # user turns are always COMPLETE
    error: str | None
    duration_s: float | None
    first_chunk_ms: float | None
    total_ms: float | None
    created_at: float
    has_audio: bool
    chunks: list[str] = field(default_factory=list)
    # A reply's stage times, ms since the recording ended (core/timings.py); None for user turns and replies
    # saved before timings existed.
    timings: dict[str, float | None] | None = None


def default_path() -> Path:
    return paths.user_data_dir() / DB_FILENAME


def new_conversation_id() -> str:
    """An id for a conversation not stored yet (a session makes one before its first turn is saved)."""
    return uuid.uuid4().hex[:12]


class HistoryStore:
    """One SQLite file; each write is its own transaction, so a crash loses at most the write in flight."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self.read_only = False
        self._read_only_why = ""  # when read_only: why nothing can be written, said with each refused write
        self._write_lock = threading.Lock()  # the GUI thread and a worker may both write (transactions.py)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (not a power cut) and keeps per-chunk commits cheap.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            self._migrate()
        except (sqlite3.DatabaseError, OSError) as e:
            # A read-only file or folder: the conversations can still be read, and new ones are not saved.
            self._db = self._open_read_only(e)
        self._db.row_factory = sqlite3.Row
        # An old file opened read-only has no timings column: its replies read back without timings.
        self._timings_column = "timings" in self._columns()

    def _columns(self) -> set[str]:
        return {row[1] for row in self._db.execute("PRAGMA table_info(turns)")}

    def _migrate(self) -> None:
        """Bring a file written by an older version up to date; changes only add, so nothing is lost."""
        if "timings" not in self._columns():
            # Nullable: old replies read back with timings None; older versions never select the column.
            self._db.execute("ALTER TABLE turns ADD COLUMN timings TEXT")
            log.info("history %s: added the timings column", self.path)

    def _open_read_only(self, cause: BaseException) -> sqlite3.Connection:
        if self.path.is_file():
            for params in ("mode=ro", "mode=ro&immutable=1"):  # immutable: no -shm can be made beside it
                try:
                    db = sqlite3.connect(
                        f"{self.path.resolve().as_uri()}?{params}",
                        uri=True,
                        check_same_thread=False,
                        timeout=BUSY_TIMEOUT_S,
                        isolation_level=None,
                    )
                    db.execute("SELECT COUNT(*) FROM conversations").fetchone()
                except sqlite3.DatabaseError:
                    continue
                log.warning("history %s opened read-only (%s): new turns will not be saved", self.path, cause)
                self.read_only = True
                self._read_only_why = self._why_read_only()
                return db
        raise HistoryError(
            f"cannot open the history file {self.path}: {cause}. Check that its folder exists and is "
            f"writable, and that the disk is not full."
        ) from cause

    def _why_read_only(self) -> str:
        """Why writes will fail, in the user's terms: on a full disk SQLite often says only "disk I/O error"
        (no room for the -wal and -shm files beside the database)."""
        try:
            if shutil.disk_usage(self.path.parent).free == 0:
                return f"the disk holding {self.path} is full; free some space"
        except OSError:
            pass
        return f"{self.path} is read-only (it was opened read-only)"

    def trace_statements(self, callback: Callable[[str], None] | None) -> None:
        """Calls `callback` with each SQL statement as it runs, on the thread that runs it (None stops it):
        for diagnosing which thread touches the database."""
        self._db.set_trace_callback(callback)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tx(self) -> Transaction:
        if self.read_only:
            raise HistoryWriteError(self._read_only_why)
        return Transaction(self._db, self.path, self._write_lock)

    # --- conversations ---------------------------------------------------------------------------------

    def create_conversation(self, title: str = "", conversation_id: str | None = None) -> str:
        now = time.time()
        cid = conversation_id or new_conversation_id()
        title = title.strip() or time.strftime("Conversation %Y-%m-%d %H:%M", time.localtime(now))
        with self._tx() as db:
            db.execute(
                "INSERT INTO conversations (id, title, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (cid, title, now, now),
            )
        return cid

    def exists(self, conversation_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone() is not None

    def _require(self, conversation_id: str) -> None:
        if not self.exists(conversation_id):
            raise HistoryError(f"no conversation with id {conversation_id!r}")

    def list_conversations(self) -> list[ConversationSummary]:
        rows = self._db.execute(
            "SELECT c.id, c.title, c.created_at, c.updated_at, COUNT(t.id) AS turns "
            "FROM conversations c LEFT JOIN turns t ON t.conversation_id = c.id "
            "GROUP BY c.id ORDER BY c.updated_at DESC, c.rowid DESC"
        ).fetchall()
        return [ConversationSummary(**dict(r)) for r in rows]

    def get_summary(self, conversation_id: str) -> ConversationSummary:
        for summary in self.list_conversations():
            if summary.id == conversation_id:
                return summary
        raise HistoryError(f"no conversation with id {conversation_id!r}")

    def rename(self, conversation_id: str, title: str) -> None:
        if not title.strip():
            raise ValueError("a conversation title cannot be empty")
        self._require(conversation_id)
        with self._tx() as db:
            db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title.strip(), conversation_id))

    def title_from(self, conversation_id: str, text: str, max_chars: int = 48) -> None:
        """Name a conversation after what was first said in it, unless it already has a real title."""
        title = self.get_summary(conversation_id).title
        words = " ".join(text.split())
        if not words or not _AUTO_TITLE.fullmatch(title):
            return
        if len(words) > max_chars:
            words = words[: max_chars].rsplit(" ", 1)[0] + "…"
        self.rename(conversation_id, words)

    def delete(self, conversation_id: str) -> None:
        self._require(conversation_id)
        with self._tx() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    # --- turns -----------------------------------------------------------------------------------------

    def add_user_turn(
        self,
        conversation_id: str,
        *,
        text: str = "",
        duration_s: float | None = None,
        mode: str = Mode.CONVERSATION,
        audio16k: np.ndarray | None = None,
    ) -> int:
        """Store what the user said; ``audio16k`` is kept only when given (the keep-audio setting)."""
        self._require(conversation_id)
        blob = None
        if audio16k is not None:
            from voxtral_desktop.core.audio import wav_bytes

            blob = wav_bytes(audio16k)
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO turns (conversation_id, role, mode, text, duration_s, audio_wav, created_at) "
                "VALUES (?, 'user', ?, ?, ?, ?, ?)",
                (conversation_id, str(mode), text, duration_s, blob, now),
            )
            db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))
        return int(cur.lastrowid or 0)

    def set_turn_text(self, turn_id: int, text: str) -> None:
        """Fill in a user turn's transcript once it is known."""
        with self._tx() as db:
            db.execute("UPDATE turns SET text = ? WHERE id = ?", (text, turn_id))

    def start_reply(self, conversation_id: str, mode: str = Mode.CONVERSATION) -> int:
        self._require(conversation_id)
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO turns (conversation_id, role, mode, status, created_at) VALUES (?, 'assistant', ?, ?, ?)",
                (conversation_id, str(mode), ReplyStatus.STREAMING.value, time.time()),
            )
        return int(cur.lastrowid or 0)

    def append_chunk(self, turn_id: int, chunk: dict[str, Any]) -> None:
        """Save one successful chunk's text at once, so a crash keeps every chunk already shown."""
        text = chunk.get("text", "")
        with self._tx() as db:
            db.execute(
                "INSERT INTO chunks (turn_id, chunk_index, text, processing_time_ms) VALUES (?, ?, ?, ?)",
                (turn_id, int(chunk["chunk_index"]), text, float(chunk["processing_time_ms"])),
            )
            if text:
                db.execute(
                    "UPDATE turns SET text = CASE WHEN text = '' THEN ? ELSE text || ' ' || ? END WHERE id = ?",
                    (text, text, turn_id),
                )
                if chunk["chunk_index"] == 0:
                    db.execute(
                        "UPDATE turns SET first_chunk_ms = ? WHERE id = ?", (chunk["processing_time_ms"], turn_id)
                    )

    def finish_reply(
        self,
        turn_id: int,
        status: ReplyStatus,
        *,
        error: str | None = None,
        total_ms: float | None = None,
        text: str | None = None,
        timings: Mapping[str, float | None] | None = None,
        kept_chunks: int | None = None,
    ) -> None:
        """Record how the reply ended: COMPLETE, ERROR or INTERRUPTED (a plain string of one of them will do).

        ``text``, when given, replaces what the chunks saved (some of them could not be, or only what was
        heard is kept); ``kept_chunks``, when given, drops the saved chunks from that index on (the words a
        voice cut short never said); ``timings`` are the reply's stage times (ReplyTimings.to_dict()).
        """
        if status not in (ReplyStatus.COMPLETE, ReplyStatus.ERROR, ReplyStatus.INTERRUPTED):
            raise ValueError(f"unknown reply status {status!r}")
        with self._tx() as db:
            db.execute(
                "UPDATE turns SET status = ?, error = ?, total_ms = ?, timings = ? WHERE id = ?",
                (ReplyStatus(status).value, error, total_ms, saved_json(timings), turn_id),
            )
            if text is not None:
                db.execute("UPDATE turns SET text = ? WHERE id = ?", (text, turn_id))
            if kept_chunks is not None:
                db.execute("DELETE FROM chunks WHERE turn_id = ? AND chunk_index >= ?", (turn_id, kept_chunks))
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = "
                "(SELECT conversation_id FROM turns WHERE id = ?)",
                (time.time(), turn_id),
            )

    def set_timings(self, turn_id: int, timings: Mapping[str, float | None]) -> None:
        """Replace a reply's stage times (the voice adds first_sound after the reply was saved)."""
        with self._tx() as db:
            db.execute("UPDATE turns SET timings = ? WHERE id = ?", (saved_json(timings), turn_id))

    def turns(self, conversation_id: str) -> list[TurnRecord]:
        self._require(conversation_id)
        timings = "timings" if self._timings_column else "NULL AS timings"
        rows = self._db.execute(
            "SELECT id, role, mode, text, status, error, duration_s, first_chunk_ms, total_ms, created_at, "
            f"audio_wav IS NOT NULL AS has_audio, {timings} FROM turns WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        ).fetchall()
        chunk_rows = self._db.execute(
            "SELECT c.turn_id, c.text FROM chunks c JOIN turns t ON t.id = c.turn_id "
            "WHERE t.conversation_id = ? ORDER BY c.turn_id, c.chunk_index",
            (conversation_id,),
        ).fetchall()
        by_turn: dict[int, list[str]] = {}
        for r in chunk_rows:
            by_turn.setdefault(r["turn_id"], []).append(r["text"])
        return [
            TurnRecord(
                **{
                    **dict(r),
                    "has_audio": bool(r["has_audio"]),
                    "status": _status(r["status"]),
                    "timings": from_saved_json(r["timings"]),
                },
                chunks=by_turn.get(r["id"], []),
            )
            for r in rows
        ]

    def user_audio(self, turn_id: int) -> np.ndarray | None:
        row = self._db.execute("SELECT audio_wav FROM turns WHERE id = ?", (turn_id,)).fetchone()
        if row is None or row["audio_wav"] is None:
            return None
        import io

        import soundfile as sf

        data, _ = sf.read(io.BytesIO(row["audio_wav"]), dtype="float32")
        return np.asarray(data, dtype=np.float32)

    def prompt_history(
        self,
        conversation_id: str,
        max_turns: int,
        audio_for: Mapping[int, np.ndarray] | None = None,
        *,
        block: int = 1,
    ) -> tuple[Turn, ...]:
        """At most the last ``max_turns`` exchanges as context for the next reply (conversation mode only).

        A spoken turn goes back as its audio (from ``audio_for``, this session's recordings, or the database
        when kept), else as its transcript; an exchange with neither, or without a reply, is left out
        (Voxtral's template needs user/assistant pairs). ``block``: see turn_window.window_start.
        """
        audio_for = audio_for or {}
        records = [t for t in self.turns(conversation_id) if t.mode == Mode.CONVERSATION]
        pairs: list[tuple[TurnRecord, str]] = []
        pending_user: TurnRecord | None = None
        for rec in records:
            if rec.role == "user":
                pending_user = rec
                continue
            if pending_user is not None and rec.text and (
                pending_user.id in audio_for or pending_user.has_audio or pending_user.text
            ):
                pairs.append((pending_user, rec.text))
            pending_user = None
        turns: list[Turn] = []
        for user, reply in pairs[window_start(len(pairs), max_turns, block) :]:  # audio decoded only for these
            audio = audio_for.get(user.id)
            if audio is None and user.has_audio:
                audio = self.user_audio(user.id)
            if audio is not None:
                turns.append(Turn(user_audio=audio, assistant_text=reply))
            else:
                turns.append(Turn(user_text=user.text, assistant_text=reply))
        return tuple(turns)

    # --- export ----------------------------------------------------------------------------------------

    def export_json(self, conversation_id: str) -> dict[str, Any]:
        return as_json(self.get_summary(conversation_id), self.turns(conversation_id))

    def export_markdown(self, conversation_id: str) -> str:
        return as_markdown(self.get_summary(conversation_id), self.turns(conversation_id))

    def export(self, conversation_id: str, fmt: str) -> str:
        """The conversation as Markdown (``fmt`` "md") or JSON ("json") text."""
        check_format(fmt)
        return render(self.get_summary(conversation_id), self.turns(conversation_id), fmt)

    def export_to(self, conversation_id: str, fmt: str, path: str | Path) -> Path:
        """Write the conversation to ``path`` as Markdown or JSON and return the path.

        Raises HistoryError (no such conversation) or ValueError (unknown format) before touching the file,
        and OSError when it cannot be written.
        """
        text = self.export(conversation_id, fmt)
        target = Path(path)
        target.write_text(text + "\n", encoding="utf-8")
        return target


def _status(stored: str) -> ReplyStatus:
    try:
        return ReplyStatus(stored)
    except ValueError:  # written by a newer version, or edited by hand: show the text, flag the reply
        log.warning("unknown reply status %r in the history; shown as an error", stored)
        return ReplyStatus.ERROR
