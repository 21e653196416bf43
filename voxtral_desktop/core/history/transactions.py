"""History writes as SQLite transactions that land whole or not at all, with failures said in user terms."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from voxtral_desktop.core.errors import HistoryWriteError


def write_error(path: Path, e: sqlite3.Error) -> HistoryWriteError:
    """What went wrong writing ``path``, and what to do about it (full, read-only, locked)."""
    code = getattr(e, "sqlite_errorname", "")
    text = str(e).lower()
    if code.startswith("SQLITE_FULL") or "full" in text:
        why = f"the disk holding {path} is full; free some space"
    elif code.startswith("SQLITE_READONLY") or "readonly" in text or "read-only" in text:
        why = f"{path} is read-only; check the permissions of the file and its folder"
    elif code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        why = f"{path} is locked by another program (another copy of voxtral-desktop?); close it"
    else:
        why = f"{path} could not be written ({e})"
    return HistoryWriteError(why)


class Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on error: each write lands whole or not at all.

    Any SQLite failure while writing becomes a HistoryWriteError that says why (full, read-only, locked).
    ``lock`` is the connection's: writes from two threads on one connection would nest their BEGINs.
    """

    def __init__(self, db: sqlite3.Connection, path: Path, lock: threading.Lock) -> None:
        self._db = db
        self._path = path
        self._lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            self._lock.release()
            raise write_error(self._path, e) from e
        return self._db

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            if exc_type is None:
                try:
                    self._db.execute("COMMIT")
                    return
                except sqlite3.Error as e:
                    exc = e
            self._rollback()
            if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError):
                raise write_error(self._path, exc) from exc
        finally:
            self._lock.release()

    def _rollback(self) -> None:
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.Error:  # SQLite already rolled back (disk full does that); nothing is half-written
                pass
