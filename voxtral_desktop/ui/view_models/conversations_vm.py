"""The UI's door to the conversation history: list, start, open, rename, delete and export conversations, and
the session (memory + saving) that the next turn goes into."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal, Slot

from voxtral_desktop.core.conversation import ConversationSession
from voxtral_desktop.core.errors import HistoryError
from voxtral_desktop.core.history import ConversationSummary, HistoryStore
from voxtral_desktop.core.history import thread as history_thread
from voxtral_desktop.core.model import VoxtralModel
from voxtral_desktop.ui.view_models.model_vm import ModelViewModel

log = logging.getLogger(__name__)
T = TypeVar("T")


class ConversationsViewModel(QObject):
    """The current conversation and the list of stored ones.

    Starting or opening a conversation emits ``conversationOpened``; the replies view-model listens to it and
    stops the reply in flight, so a late answer never lands in the wrong conversation. Every read and write of
    the history runs on its own thread (core/history/thread.py): a busy or locked database never stalls the
    window, and each action's result comes back on the event loop.
    """

    conversationsChanged = Signal()
    conversationOpened = Signal(str, object)  # conversation id ("" for a new one), its stored turns (TurnRecord list)
    errorOccurred = Signal(str, str)  # title, detail: shown in the window's banner
    conversationsListed = Signal(object)  # list[ConversationSummary]: the answer to list_later()
    listFailed = Signal(str)  # why the list could not be read

    def __init__(
        self, model: ModelViewModel, history: HistoryStore | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._model = model
        self._history = history
        self._session: ConversationSession | None = None  # made on the first turn: no empty conversations
        self._opening = 0  # counts opens and new ones: an open read late is not shown over a later choice
        model.modelReplaced.connect(self._use_model)

    @property
    def history(self) -> HistoryStore:
        """The history database, opened on first use; an unusable file falls back to memory, with a warning."""
        if self._history is None:
            try:
                self._history = HistoryStore()
            except HistoryError as e:
                log.error("%s; this session's history is kept in memory only", e)
                self.errorOccurred.emit("History is not being saved", f"{e}. The file was left untouched.")
                self._history = HistoryStore(":memory:")
        return self._history

    def session(self) -> ConversationSession:
        """The conversation the next turn goes into, stored with that turn (on the history's thread)."""
        if self._session is None:
            self._session = ConversationSession(self._model.model, self.history)
        return self._session

    def _use_model(self, model: VoxtralModel) -> None:
        if self._session is not None:
            self._session.model = model

    @property
    def current_conversation_id(self) -> str:
        return self._session.conversation_id if self._session is not None else ""

    def conversations(self) -> list[ConversationSummary]:
        return self.history.list_conversations()

    def list_later(self) -> None:
        """Read the list on the history's thread (after the writes queued before); conversationsListed or
        listFailed follows, on the event loop. A busy database delays the list, never the window."""
        history = self.history  # opened here: a problem opening it goes to errorOccurred, from this thread
        asyncio.ensure_future(self._list(history))

    async def _list(self, history: HistoryStore) -> None:
        try:
            summaries = await history_thread.query(history, history.list_conversations)
        except HistoryError as e:  # an unreadable history file must not take the window down
            log.warning("could not list conversations: %s", e)
            self.listFailed.emit(str(e))
            return
        self.conversationsListed.emit(summaries)

    async def _in_history(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)`` on the history's thread, after the writes queued before it (core/history/thread.py).

        Writes raise HistoryWriteError (full, read-only, locked); a read that fails is said as a HistoryError.
        """
        return await history_thread.query(self.history, call, *args)

    def notify_changed(self) -> None:
        """A turn was added or finished: the list's order, sizes or titles may have changed."""
        self.conversationsChanged.emit()

    @Slot()
    def newConversation(self) -> None:
        """Start fresh: no memory of earlier turns; the conversation is created with its first turn."""
        self._opening += 1
        self._session = None
        self.conversationOpened.emit("", [])
        self.conversationsChanged.emit()

    def openConversation(self, conversation_id: str) -> asyncio.Future[bool]:
        """Continue a stored conversation: its turns are read, then shown and remembered (as text, or kept
        audio) with conversationOpened; a failure goes to errorOccurred. The task's result: it was opened.
        Opening another one, or a new one, before the turns come wins: this one is then not shown."""
        self._opening += 1
        return asyncio.ensure_future(self._open(conversation_id, self._opening))

    async def _open(self, conversation_id: str, ticket: int) -> bool:
        history = self.history
        try:
            turns = await self._in_history(history.turns, conversation_id)
        except HistoryError as e:
            log.warning("conversation %s not opened: %s", conversation_id, e)
            if ticket == self._opening:
                self.errorOccurred.emit("Could not open the conversation", str(e))
            return False
        if ticket != self._opening:
            return False
        self._session = ConversationSession(self._model.model, history, conversation_id)
        self.conversationOpened.emit(conversation_id, turns)
        return True

    async def renameConversation(self, conversation_id: str, title: str) -> None:
        """Raises ValueError (a blank title) or HistoryError (no such conversation; not saved, and why)."""
        await self._in_history(self.history.rename, conversation_id, title)
        self.conversationsChanged.emit()

    async def deleteConversation(self, conversation_id: str) -> None:
        """Raises HistoryError (no such conversation; not deleted, and why). Deleting the open one starts
        a new one."""
        await self._in_history(self.history.delete, conversation_id)
        if conversation_id == self.current_conversation_id:
            self.newConversation()
        else:
            self.conversationsChanged.emit()

    async def exportConversation(self, conversation_id: str, fmt: str, path: str | Path) -> Path:
        """Write the conversation as Markdown ("md") or JSON ("json"), read and written on the history's
        thread; raises ValueError (format), HistoryError (no such conversation, unreadable) or OSError."""
        return await self._in_history(self.history.export_to, conversation_id, fmt, path)

    def close(self) -> None:
        if self._history is not None:
            history_thread.drain(self._history, timeout=10)  # the writes still queued land first
            self._history.close()
