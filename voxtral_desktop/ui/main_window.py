"""The main window: header, conversation list, banners, chat view and dock laid out, and wired to the view-models."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QMainWindow, QVBoxLayout, QWidget

from voxtral_desktop.ui.chat_binding import ChatBinding
from voxtral_desktop.ui.chat_view import ChatView
from voxtral_desktop.ui.conversation_list import ConversationList
from voxtral_desktop.ui.dock import Dock
from voxtral_desktop.ui.header import Header
from voxtral_desktop.ui.listening_bar import ListeningBar
from voxtral_desktop.ui.view_models.listening_vm import ListeningStatus
from voxtral_desktop.ui.push_to_talk import PushToTalk
from voxtral_desktop.ui.view_models.status import Mode
from voxtral_desktop.ui.talk_line import TalkLine
from voxtral_desktop.ui.view_models import ViewModels
from voxtral_desktop.ui.widgets import Banner, BannerArea, BannerStack
from voxtral_desktop.ui.window_banners import WindowBanners

log = logging.getLogger(__name__)

SIDE_AUTO_HIDE_WIDTH = 720  # px: narrower windows hide the conversation list (the header button shows it)
COMPACT_WIDTH = 860  # px: narrower windows show the Settings button as an icon only


class MainWindow(QMainWindow):
    """Widgets only: everything that touches the model, the microphone or the settings goes via ``vms``."""

    closed = Signal()  # after a clean shutdown
    first_painted = Signal()

    def __init__(self, vms: ViewModels) -> None:
        super().__init__()
        self.vms = vms
        self.setWindowTitle("Voxtral")
        self.resize(1060, 780)
        self.setMinimumSize(480, 520)
        self._shutting_down = False
        self._painted = False
        self._side_wanted = True  # the user's choice; narrow windows hide the list regardless
        self.settings_dialog: Any = None
        self.hide_instead_of_closing: Any = None  # ui/desktop.py's: True when it hid the window to the tray

        central = QWidget()
        central.setObjectName("central")
        root = QVBoxLayout(central)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)
        self.header = Header(vms.model.label(), vms.config.model.id)
        self.header.modeChosen.connect(self.set_mode)
        self.header.side_button.toggled.connect(self._on_side_toggled)
        self.header.settings_button.clicked.connect(self.open_settings)
        # The header's widgets by name, as the dock's below.
        self.side_button, self.model_name, self.status_pill = (
            self.header.side_button, self.header.model_name, self.header.status_pill
        )
        self.settings_button, self.mode_buttons = self.header.settings_button, self.header.mode_buttons
        root.addWidget(self.header)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(0)
        self.side = ConversationList(vms.conversations)
        self.side.error.connect(self.show_error)
        self.side.notice.connect(lambda text: self.show_hint(text, "info"))
        body.addWidget(self.side)
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        self.banners = BannerStack()
        self.chat = ChatView()
        self.chat_binding = ChatBinding(self.chat, vms.replies, vms.conversations)
        column.addWidget(BannerArea(self.banners, below=self.chat))
        column.addWidget(self.chat, 1)
        self.dock = Dock(self.chat)
        # The dock's widgets by name, for the window's own use and for tests and scripts driving it.
        self.ptt, self.hint, self.composer = self.dock.ptt, self.dock.hint, self.dock.composer
        self.send_button, self.meter_box = self.dock.send_button, self.dock.meter_box
        self.level_meter, self.elapsed = self.dock.level_meter, self.dock.elapsed
        self.listening_bar = ListeningBar()
        self.dock.layout().insertWidget(0, self.listening_bar)
        self.composer.returnPressed.connect(self.send_text)
        self.send_button.clicked.connect(self.send_text)
        column.addWidget(self.dock)
        body.addLayout(column, 1)
        root.addLayout(body, 1)
        self.setCentralWidget(central)

        self._add_action("New conversation", QKeySequence("Ctrl+N"), self.new_conversation)
        self._add_action("Settings…", QKeySequence("Ctrl+,"), self.open_settings)
        self._add_action("Quit", QKeySequence("Ctrl+Q"), self.quit)
        self.push_to_talk = PushToTalk(self, self.ptt, vms.cancel)
        self.push_to_talk.pressed.connect(vms.talk_pressed)
        self.push_to_talk.released.connect(vms.talk_released)
        self.listening_bar.modeChosen.connect(vms.listening.setHandsFree)
        vms.listening.statusChanged.connect(self._on_listening)

        self.window_banners = WindowBanners(self.banners, vms, self.open_settings, self)
        self.talk_line = TalkLine(self.dock, self.push_to_talk, vms, self)
        model_or_voice = (vms.model.statusChanged, vms.settings.applied, vms.speaker.statusChanged)
        for changed in (*model_or_voice, vms.speaker.unavailable):
            changed.connect(self._show_model)
        vms.replies.replyChunk.connect(self._on_reply_chunk)
        vms.replies.modeChanged.connect(self._on_mode)
        vms.conversations.conversationsChanged.connect(self.side.refresh)
        vms.conversations.conversationOpened.connect(lambda opened, _: self.side.set_current(opened))
        self._on_mode(vms.replies.mode)
        self._on_listening(vms.listening.status)
        self.side.refresh()  # opens the history: a problem with it lands in the banner, connected above
        self._show_model()
        self.chat.setFocus()  # not the message box: Space is push-to-talk until the user clicks in there

    # --- construction -------------------------------------------------------------------------------

    def _add_action(self, text: str, keys: QKeySequence, slot: Any) -> QAction:
        action = QAction(text, self)
        action.setShortcut(keys)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    # --- banners and hints ----------------------------------------------------------------------------

    def banner(self, key: str) -> Banner | None:
        return self.banners.get(key)

    def show_error(self, title: str, detail: str) -> None:
        """Unexpected errors (and microphone failures) land here: visible, and dismissible."""
        self.window_banners.show_error(title, detail)

    def show_hint(self, text: str, kind: str = "warn") -> None:
        self.talk_line.show_hint(text, kind)

    def _on_listening(self, status: ListeningStatus) -> None:
        self.listening_bar.show_status(status)
        self.chat.set_hands_free(status.hands_free)

    def _show_model(self, *_: object) -> None:
        """The header: the model's name and state, and in the pill's tooltip who speaks the replies."""
        vms = self.vms
        self.header.show_model(vms.model.label(), vms.config.model.id, vms.model.status)
        self.header.show_voice(vms.model.status, vms.config.speech.enabled, vms.speaker)

    # --- replies, conversations, mode, speech ---------------------------------------------------------

    def _on_reply_chunk(self, turn_no: int, text: str) -> None:
        if self.side.list.current_id != self.vms.conversations.current_conversation_id:
            self.side.refresh()  # the first turn of a new conversation has just created it

    def new_conversation(self) -> None:
        self.vms.conversations.newConversation()

    def set_mode(self, mode: Mode) -> None:
        self.vms.replies.setMode(mode)
        self._on_mode(self.vms.replies.mode)  # in case nothing changed (the buttons must still agree)

    def _on_mode(self, mode: Mode) -> None:
        button = self.mode_buttons.get(mode)
        if button is not None:
            button.setChecked(True)

    # --- message box, side panel, size ----------------------------------------------------------------

    def send_text(self) -> None:
        text = self.composer.text().strip()
        if text and self.vms.replies.sendText(text) is not None:
            self.composer.clear()

    def _on_side_toggled(self, shown: bool) -> None:
        self._side_wanted = shown
        self.side.setVisible(shown)

    def _show_side(self, shown: bool) -> None:
        """Show or hide the list for the window's width, leaving the user's own choice as it was."""
        self.side.setVisible(shown)
        self.side_button.blockSignals(True)
        self.side_button.setChecked(shown)
        self.side_button.blockSignals(False)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        old, new = event.oldSize().width(), event.size().width()
        self.settings_button.setText("⚙" if new < COMPACT_WIDTH else "⚙  Settings")
        if new < SIDE_AUTO_HIDE_WIDTH <= old or (old < 0 and new < SIDE_AUTO_HIDE_WIDTH):
            self._show_side(False)  # too narrow for both; the header button still shows it
        elif old < SIDE_AUTO_HIDE_WIDTH <= new and self._side_wanted:
            self._show_side(True)

    # --- settings, quitting, first paint --------------------------------------------------------------

    def bring_forward(self) -> None:
        """Another launch of the app: show this window instead (restored, raised, focused)."""
        self.setWindowState((self.windowState() & ~Qt.WindowState.WindowMinimized) | Qt.WindowState.WindowActive)
        self.show()
        self.raise_()
        self.activateWindow()

    def open_settings(self) -> Any:
        from voxtral_desktop.ui.settings_dialog import SettingsDialog  # built on demand

        if self.settings_dialog is not None and self.settings_dialog.isVisible():
            self.settings_dialog.raise_()
            return self.settings_dialog
        dialog = SettingsDialog(self.vms.settings, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda *_: setattr(self, "settings_dialog", None))
        self.settings_dialog = dialog
        dialog.open()
        return dialog

    def quit(self) -> None:
        """Quit for real (Ctrl+Q, the tray's Quit), even when closing would only hide the window."""
        self.hide_instead_of_closing = None
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.vms.closed:
            event.accept()
            return
        if not self._shutting_down and self.hide_instead_of_closing and self.hide_instead_of_closing():
            event.ignore()  # hidden to the tray: the app keeps running
            return
        # Hide now (the user asked to quit), then stop generation, audio and threads before really closing.
        event.ignore()
        if not self._shutting_down:
            self._shutting_down = True
            self.talk_line.quit()
            self.hide()
            task = asyncio.ensure_future(self._shutdown())
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _shutdown(self) -> None:
        try:
            await self.vms.shutdown()
        except Exception:
            log.exception("shutdown failed")
        finally:
            self.push_to_talk.detach()
            self.closed.emit()
            self.close()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            QTimer.singleShot(0, self.first_painted.emit)
