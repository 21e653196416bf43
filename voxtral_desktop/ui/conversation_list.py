"""The side panel: a "New conversation" button and the past conversations, newest first.

Click one to open it, double-click (or F2) to rename it in place, and use the "⋯" button or the context menu
to rename, export (Markdown or JSON) or delete it. Everything goes through the conversations view-model; the
panel refreshes on its ``conversationsChanged`` and highlights its ``current_conversation_id``. Renaming,
deleting and exporting run off the event loop: each returns the task, and a failure is shown when it comes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPainterPath
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from voxtral_desktop.ui import theme
from voxtral_desktop.ui.view_models.conversations_vm import ConversationsViewModel

log = logging.getLogger(__name__)

PANEL_WIDTH = 248  # px
ID_ROLE = Qt.ItemDataRole.UserRole
DETAIL_ROLE = Qt.ItemDataRole.UserRole + 1
ITEM_HEIGHT = 54
MORE_WIDTH = 28  # the "⋯" button at the right of the hovered or current row
EXPORT_FILTERS = {"md": "Markdown (*.md)", "json": "JSON (*.json)"}
EXPORT_NAMES = {"md": "Markdown", "json": "JSON"}
Index = QModelIndex | QPersistentModelIndex


def relative_time(ts: float, now: float | None = None) -> str:
    """ "just now", "5 min ago", "3 h ago", "yesterday", "Tue", "12 Mar", "12 Mar 2023"."""
    now = time.time() if now is None else now
    delta = max(0.0, now - ts)
    if delta < 60:
        return "just now"
    if delta < 3600:
        return f"{int(delta // 60)} min ago"
    then, today = time.localtime(ts), time.localtime(now)
    days = (
        time.mktime((today.tm_year, today.tm_mon, today.tm_mday, 0, 0, 0, 0, 0, -1))
        - time.mktime((then.tm_year, then.tm_mon, then.tm_mday, 0, 0, 0, 0, 0, -1))
    ) / 86400
    if days < 0.5:
        return f"{int(delta // 3600)} h ago"
    if days < 1.5:
        return "yesterday"
    if days < 6.5:
        return time.strftime("%a", then)
    if then.tm_year == today.tm_year:
        return f"{then.tm_mday} {time.strftime('%b', then)}"
    return f"{then.tm_mday} {time.strftime('%b %Y', then)}"


def describe(summary: Any, now: float | None = None) -> str:
    """The line under a conversation's title: when, and how much was said."""
    n = summary.turns
    size = "empty" if n == 0 else f"{n} message{'s' if n != 1 else ''}"
    return f"{relative_time(summary.updated_at, now)}  ·  {size}"


def safe_filename(title: str) -> str:
    name = re.sub(r"[^\w\- ]+", "", title).strip().replace(" ", "-")
    return name[:60] or "conversation"


class _ItemDelegate(QStyledItemDelegate):
    """Two lines per row (title, then time and size), a rounded highlight, and a "⋯" for the menu."""

    def __init__(self, view: ConversationListView) -> None:
        super().__init__(view)
        self.view = view

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        return QSize(option.rect.width(), ITEM_HEIGHT)

    def more_rect(self, rect: QRect) -> QRect:
        return QRect(rect.right() - MORE_WIDTH - 6, rect.top() + (rect.height() - 24) // 2, MORE_WIDTH, 24)

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = option.rect.adjusted(8, 2, -8, -2)
        current = index.data(ID_ROLE) == self.view.current_id
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        if current or hovered:
            path = QPainterPath()
            path.addRoundedRect(rect, 9, 9)
            p.fillPath(path, QColor(theme.ACCENT_SOFT if current else "#F4F4F6"))
            if current:
                p.setPen(QColor(theme.ACCENT_BORDER))
                p.drawPath(path)
        text_rect = rect.adjusted(12, 7, -(MORE_WIDTH + 8) if (current or hovered) else -12, -7)
        title_font = QFont(option.font)
        title_font.setWeight(QFont.Weight.DemiBold if current else QFont.Weight.Medium)
        p.setFont(title_font)
        p.setPen(QColor(theme.TEXT))
        title = QFontMetrics(title_font).elidedText(
            index.data(Qt.ItemDataRole.DisplayRole) or "", Qt.TextElideMode.ElideRight, text_rect.width()
        )
        p.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, title)
        detail_font = QFont(option.font)
        detail_font.setPointSizeF(max(7.0, option.font.pointSizeF() - 1.5))
        p.setFont(detail_font)
        p.setPen(QColor(theme.MUTED if current else theme.FAINT))
        p.drawText(
            text_rect,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom,
            index.data(DETAIL_ROLE) or "",
        )
        if current or hovered:
            more = self.more_rect(option.rect)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(theme.MUTED))
            cy = more.center().y() + 1
            for dx in (-6, 0, 6):
                p.drawEllipse(QPoint(more.center().x() + dx, cy), 2, 2)
        p.restore()

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem, index: Index) -> QWidget:
        editor = QLineEdit(parent)
        editor.setObjectName("renameEditor")
        editor.setFrame(True)
        return editor

    def updateEditorGeometry(self, editor: QWidget, option: QStyleOptionViewItem, index: Index) -> None:
        r = option.rect.adjusted(12, 4, -12, -4)
        editor.setGeometry(r.left(), r.top(), r.width(), 30)

    def setEditorData(self, editor: QWidget, index: Index) -> None:
        editor.setText(index.data(Qt.ItemDataRole.DisplayRole) or "")  # type: ignore[attr-defined]
        editor.selectAll()  # type: ignore[attr-defined]

    def setModelData(self, editor: QWidget, model: Any, index: Index) -> None:
        title = editor.text().strip()  # type: ignore[attr-defined]
        cid = index.data(ID_ROLE)
        if title and title != index.data(Qt.ItemDataRole.DisplayRole):
            self.view.renamed.emit(cid, title)


class ConversationListView(QListWidget):
    """The list itself: knows which row is current, opens the row menu from the "⋯" and the context menu."""

    renamed = Signal(str, str)  # conversation id, new title (from the inline editor)
    menu_requested = Signal(str, QPoint)  # conversation id, global position

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversationList")
        self.current_id = ""
        self.delegate = _ItemDelegate(self)
        self.setItemDelegate(self.delegate)
        self.setMouseTracking(True)
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed)  # F2; double-click is ours
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._on_context_menu)
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_Hover)

    def _on_context_menu(self, pos: QPoint) -> None:
        item = self.itemAt(pos)
        if item is not None:
            self.menu_requested.emit(item.data(ID_ROLE), self.viewport().mapToGlobal(pos))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        item = self.itemAt(event.position().toPoint())
        if item is not None and event.button() == Qt.MouseButton.LeftButton:
            rect = self.visualItemRect(item)
            more = self.delegate.more_rect(rect)
            if more.contains(event.position().toPoint()):
                self.menu_requested.emit(item.data(ID_ROLE), self.viewport().mapToGlobal(more.bottomLeft()))
                event.accept()
                return
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        item = self.itemAt(event.position().toPoint())
        if item is not None and event.button() == Qt.MouseButton.LeftButton:
            self.editItem(item)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def leaveEvent(self, event: QEvent) -> None:
        super().leaveEvent(event)
        self.viewport().update()


class ConversationList(QFrame):
    """The side panel. Signals ``error(title, detail)`` and ``notice(text)`` are for the window to show."""

    error = Signal(str, str)
    notice = Signal(str)

    def __init__(self, conversations: ConversationsViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.conversations = conversations
        self.setObjectName("sidePanel")
        self.setFixedWidth(PANEL_WIDTH)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 12, 10, 10)
        lay.setSpacing(8)

        self.new_button = QPushButton("+   New conversation")
        self.new_button.setObjectName("newConversation")
        self.new_button.setToolTip("Start a fresh conversation (Ctrl+N)")
        self.new_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.new_button.clicked.connect(self.new_conversation)
        lay.addWidget(self.new_button)

        heading = QLabel("RECENT")
        heading.setObjectName("sideTitle")
        heading.setContentsMargins(10, 8, 0, 0)
        lay.addWidget(heading)

        self.list = ConversationListView()
        self.list.itemClicked.connect(lambda item: self.open(item.data(ID_ROLE)))
        self.list.itemActivated.connect(lambda item: self.open(item.data(ID_ROLE)))
        self.list.renamed.connect(self.rename)
        self.list.menu_requested.connect(self.show_menu)
        self.list.installEventFilter(self)
        lay.addWidget(self.list, 1)

        self.empty = QLabel("Your conversations will be listed here.")
        self.empty.setObjectName("sideEmpty")
        self.empty.setWordWrap(True)
        self.empty.setContentsMargins(10, 0, 10, 0)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        lay.addWidget(self.empty)
        lay.addStretch(0)
        self._summaries: dict[str, Any] = {}
        conversations.conversationsListed.connect(self.show_list)
        conversations.listFailed.connect(self._list_failed)
        # No refresh here: the owner calls refresh() once it listens to this panel's errors.

    # --- contents -------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Ask for the list (read off the event loop); the rows are rebuilt when it comes (show_list)."""
        self.conversations.list_later()

    def _list_failed(self, why: str) -> None:
        self.error.emit("Could not read the conversation history", why)
        self.show_list([])

    def show_list(self, summaries: list[Any]) -> None:
        """Rebuild the rows (newest first), keeping the scroll position and the highlight."""
        summaries = list(summaries)
        summaries.sort(key=lambda s: s.updated_at, reverse=True)
        now = time.time()
        scroll = self.list.verticalScrollBar().value()
        self.list.blockSignals(True)
        self.list.clear()
        self._summaries = {s.id: s for s in summaries}
        for summary in summaries:
            item = QListWidgetItem(summary.title)
            item.setData(ID_ROLE, summary.id)
            item.setData(DETAIL_ROLE, describe(summary, now))
            item.setToolTip(summary.title)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.list.verticalScrollBar().setValue(scroll)
        self.empty.setVisible(not summaries)
        self.set_current(self.conversations.current_conversation_id)

    def set_current(self, conversation_id: str) -> None:
        self.list.current_id = conversation_id or ""
        item = self.item(conversation_id)
        self.list.blockSignals(True)
        if item is not None:
            self.list.setCurrentItem(item)
            self.list.scrollToItem(item)
        else:  # a new conversation, not listed yet: nothing is highlighted (the list itself comes later)
            self.list.setCurrentRow(-1)
            self.list.clearSelection()
        self.list.blockSignals(False)
        self.list.viewport().update()

    def ids(self) -> list[str]:
        return [self.list.item(i).data(ID_ROLE) for i in range(self.list.count())]

    def item(self, conversation_id: str) -> QListWidgetItem | None:
        for i in range(self.list.count()):
            if self.list.item(i).data(ID_ROLE) == conversation_id:
                return self.list.item(i)
        return None

    def summary(self, conversation_id: str) -> Any:
        return self._summaries.get(conversation_id)

    # --- actions --------------------------------------------------------------------------------------

    def new_conversation(self) -> None:
        self.conversations.newConversation()

    def open(self, conversation_id: str) -> None:
        if conversation_id and conversation_id != self.conversations.current_conversation_id:
            self.conversations.openConversation(conversation_id)
        self.set_current(self.conversations.current_conversation_id)

    def start_rename(self, conversation_id: str) -> None:
        item = self.item(conversation_id)
        if item is not None:
            self.list.setCurrentItem(item)
            self.list.editItem(item)

    def rename(self, conversation_id: str, title: str) -> asyncio.Future[bool] | None:
        """None for a blank title (nothing is asked); else the task, True once renamed."""
        title = title.strip()
        return asyncio.ensure_future(self._rename(conversation_id, title)) if title else None

    async def _rename(self, conversation_id: str, title: str) -> bool:
        try:
            await self.conversations.renameConversation(conversation_id, title)
        except (LookupError, ValueError, OSError) as e:  # HistoryError is a LookupError
            self.error.emit("Could not rename the conversation", str(e))
            self.refresh()
            return False
        return True

    def confirm_delete(self, summary: Any) -> bool:
        """Ask first (tests replace this)."""
        title = summary.title if summary is not None else "this conversation"
        box = QMessageBox(self.window())
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Delete conversation")
        box.setText(f"Delete “{title}”?")
        box.setInformativeText("Its messages are removed from the history for good.")
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is delete

    def delete(self, conversation_id: str) -> asyncio.Future[bool] | None:
        """None when the user says no; else the task, True once deleted."""
        if not self.confirm_delete(self.summary(conversation_id)):
            return None
        return asyncio.ensure_future(self._delete(conversation_id))

    async def _delete(self, conversation_id: str) -> bool:
        try:
            await self.conversations.deleteConversation(conversation_id)
        except (LookupError, ValueError, OSError) as e:
            self.error.emit("Could not delete the conversation", str(e))
            return False
        return True

    def choose_export_path(self, summary: Any, fmt: str) -> str:
        """Where to save an export; empty when the user cancels (tests replace this)."""
        start = Path.home() / f"{safe_filename(summary.title if summary else 'conversation')}.{fmt}"
        path, _ = QFileDialog.getSaveFileName(
            self.window(), f"Export as {EXPORT_NAMES[fmt]}", str(start), EXPORT_FILTERS[fmt]
        )
        if path and not Path(path).suffix:
            path += f".{fmt}"
        return path

    def export(self, conversation_id: str, fmt: str) -> asyncio.Future[str] | None:
        """Export to a file the user picks: None when cancelled; else the task, giving the path written, or ""
        when it failed (the error is shown)."""
        path = self.choose_export_path(self.summary(conversation_id), fmt)
        return asyncio.ensure_future(self._export(conversation_id, fmt, path)) if path else None

    async def _export(self, conversation_id: str, fmt: str, path: str) -> str:
        try:
            await self.conversations.exportConversation(conversation_id, fmt, path)
        except (OSError, ValueError, LookupError) as e:
            self.error.emit(f"Could not export to {EXPORT_NAMES.get(fmt, fmt)}", str(e))
            return ""
        self.notice.emit(f"Exported to {path}")
        return path

    def build_menu(self, conversation_id: str) -> QMenu:
        menu = QMenu(self)
        menu.addAction("Open", lambda: self.open(conversation_id))
        menu.addAction("Rename…", lambda: self.start_rename(conversation_id))
        menu.addSeparator()
        menu.addAction("Export as Markdown…", lambda: self.export(conversation_id, "md"))
        menu.addAction("Export as JSON…", lambda: self.export(conversation_id, "json"))
        menu.addSeparator()
        menu.addAction("Delete…", lambda: self.delete(conversation_id))
        return menu

    def show_menu(self, conversation_id: str, where: QPoint) -> None:
        menu = self.build_menu(conversation_id)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(where)

    def eventFilter(self, obj: Any, event: QEvent) -> bool:
        # Del deletes the selected conversation (F2 renames it: the list's own edit trigger).
        if (
            obj is self.list
            and event.type() == QEvent.Type.KeyPress
            and self.list.state() != self.list.State.EditingState
        ):
            key = event.key()  # type: ignore[attr-defined]
            item = self.list.currentItem()
            if key == Qt.Key.Key_Delete and item is not None:
                self.delete(item.data(ID_ROLE))
                return True
        return False
