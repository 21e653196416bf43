"""Conversation history: the SQLite store and what works around it.

- store.py         HistoryStore: conversations, turns and reply chunks in SQLite (WAL); the public API below
- transactions.py  writes that land whole or not at all, and why a write failed, in the user's words
- thread.py        one thread per store: its calls run in order, off the event loop
- export.py        a stored conversation as Markdown or JSON
"""

from voxtral_desktop.core.history.store import (
    COMPLETE,
    DB_FILENAME,
    ERROR,
    INTERRUPTED,
    STREAMING,
    ConversationSummary,
    HistoryError,
    HistoryStore,
    HistoryWriteError,
    TurnRecord,
    default_path,
    new_conversation_id,
)

__all__ = [
    "COMPLETE",
    "DB_FILENAME",
    "ERROR",
    "INTERRUPTED",
    "STREAMING",
    "ConversationSummary",
    "HistoryError",
    "HistoryStore",
    "HistoryWriteError",
    "TurnRecord",
    "default_path",
    "new_conversation_id",
]
