"""The app on the desktop, beyond its window: global shortcuts, the tray icon, notifications and autostart."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt

from voxtral_desktop.core import autostart
from voxtral_desktop.core.config import Config
from voxtral_desktop.ui.global_keys import HANDS_FREE, PUSH_TO_TALK, GlobalKeys
from voxtral_desktop.ui.notifications import Notifier
from voxtral_desktop.ui.view_models.status import ReplyStatus
from voxtral_desktop.ui.tray import Tray, tray_state

if TYPE_CHECKING:
    from voxtral_desktop.ui.main_window import MainWindow
    from voxtral_desktop.ui.view_models import ViewModels

log = logging.getLogger(__name__)

HIDDEN_TITLE = "Voxtral keeps running in the tray"
HIDDEN_TEXT = (
    "Closing the window hid it: the shortcuts and the tray icon still work. Quit from the tray's menu "
    "(or turn off “Keep running in the tray” in Settings)."
)
NO_TRAY = "There is no tray on this desktop, so closing the window quits."


class Desktop(QObject):
    """Wires the global shortcuts to the same view-model calls as the window's Space, keeps the tray icon's
    state and menu current, notifies finished replies while the window is hidden, and keeps the autostart
    entry in step with the setting. The window asks ``hide_instead_of_closing()`` when it is closed."""

    def __init__(self, window: MainWindow, vms: ViewModels, parent: QObject | None = None) -> None:
        super().__init__(parent or window)
        self.window, self.vms = window, vms
        self.keys = GlobalKeys(vms.config, self)
        self.keys.pressed.connect(self._on_pressed)
        self.keys.released.connect(self._on_released)
        self.keys.statusChanged.connect(self._on_keys_status)
        self.notifier = Notifier(self)
        self.notifier.clicked.connect(self._open_conversation)
        self.tray: Tray | None = Tray(self) if Tray.available() else None
        self._error = False
        self._told_hidden = False
        self._reply_chunks: dict[int, list[str]] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        replies = vms.replies
        if self.tray is not None:
            tray = self.tray
            tray.talk.connect(self._talk_from_tray)
            tray.handsFree.connect(vms.listening.setHandsFree)
            tray.showWindow.connect(self.show_window)
            tray.newConversation.connect(vms.conversations.newConversation)
            tray.quit.connect(window.quit)
            for changed in (vms.recording.recordingChanged, replies.busyChanged, vms.speaker.speakingChanged):
                changed.connect(self._update_state)
            vms.listening.statusChanged.connect(self._on_listening)
            vms.errorOccurred.connect(self._on_error)
            self._on_listening(vms.listening.status)
            tray.show()
        vms.recording.recordingChanged.connect(lambda on: on and self._clear_error())
        replies.replyChunk.connect(self._on_chunk)
        replies.replyFinished.connect(self._on_finished)
        vms.settings.applied.connect(self._on_settings)
        window.hide_instead_of_closing = self.hide_instead_of_closing

    # --- starting and stopping ------------------------------------------------------------------------

    def start(self) -> None:
        self._track(self.keys.start())
        self._sync_autostart(None)

    async def close(self) -> None:
        await self.keys.close()
        await self.notifier.close()
        if self.tray is not None:
            self.tray.close()

    def _track(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            log.error("desktop integration failed", exc_info=error)
            self.vms.errorOccurred.emit("Desktop integration failed", f"{type(error).__name__}: {error}")

    # --- global shortcuts -----------------------------------------------------------------------------

    def _on_pressed(self, action: str) -> None:
        if action == PUSH_TO_TALK:
            self.vms.talk_pressed()  # what holding Space in the window does
        elif action == HANDS_FREE:
            self.vms.listening.setHandsFree(not self.vms.listening.hands_free)

    def _on_released(self, action: str, released_at: float) -> None:
        if action == PUSH_TO_TALK:
            self.vms.talk_released(released_at)

    def _on_keys_status(self, text: str, trouble: bool) -> None:
        if trouble:
            self.window.banners.set("shortcuts", "warning", "Global shortcuts", text)
        else:
            self.window.banners.clear("shortcuts")

    # --- the tray -------------------------------------------------------------------------------------

    def _talk_from_tray(self) -> None:
        if self.vms.recording.is_recording and not self.vms.listening.hands_free:
            self.vms.talk_released()
        else:
            self.vms.talk_pressed()

    def _on_listening(self, status: Any) -> None:
        if self.tray is not None:
            self.tray.show_mode(status)
        self._update_state()

    def _on_error(self, *_: object) -> None:
        self._error = True
        self._update_state()

    def _clear_error(self) -> None:
        self._error = False
        self._update_state()

    def _update_state(self, *_: object) -> None:
        if self.tray is None:
            return
        vms = self.vms
        self.tray.show_state(
            tray_state(
                recording=vms.recording.is_recording,
                thinking=vms.replies.is_busy,
                speaking=vms.speaker.is_speaking,
                listening=vms.listening.status,
                error=self._error,
            )
        )

    def show_window(self) -> None:
        self.window.bring_forward()

    # --- hiding to the tray ---------------------------------------------------------------------------

    def hide_instead_of_closing(self) -> bool:
        """Closing the window: hide it when the setting says so and a tray can bring it back."""
        if not self.vms.config.desktop.hide_to_tray:
            return False
        if self.tray is None:
            log.warning(NO_TRAY)
            return False
        self.window.hide()
        if not self._told_hidden:  # said the first time only: the user knows from then on
            self._told_hidden = True
            self.tray.say(HIDDEN_TITLE, HIDDEN_TEXT)
        return True

    # --- notifications --------------------------------------------------------------------------------

    def _on_chunk(self, turn_no: int, text: str) -> None:
        self._reply_chunks.setdefault(turn_no, []).append(text)
        if self.tray is not None and self._error:
            self._clear_error()

    def _on_finished(self, turn_no: int, result: Any) -> None:
        chunks = self._reply_chunks.pop(turn_no, [])
        if result.status == ReplyStatus.ERROR:
            self._on_error()
            return
        hidden = not self.window.isVisible() or bool(
            self.window.windowState() & Qt.WindowState.WindowMinimized
        )
        if not hidden or not self.vms.config.desktop.notifications or result.status != ReplyStatus.COMPLETE:
            return
        text = " ".join(chunks if result.heard_chunks is None else chunks[: result.heard_chunks])
        if text.strip():
            conversation = self.vms.conversations.current_conversation_id
            self._track(self.notifier.notify("Voxtral replied", text, conversation))

    def _open_conversation(self, conversation_id: object) -> None:
        self.show_window()
        if conversation_id and conversation_id != self.vms.conversations.current_conversation_id:
            self.vms.conversations.openConversation(str(conversation_id))

    # --- settings -------------------------------------------------------------------------------------

    def _on_settings(self, before: Config | None) -> None:
        self._track(self.keys.apply_settings())
        self._sync_autostart(before)

    def _sync_autostart(self, before: Config | None) -> None:
        wanted = self.vms.config.desktop.autostart
        if before is not None and before.desktop.autostart == wanted:
            return
        if before is None and not wanted:
            return  # at start, an entry only needs writing (the path to this installation may have moved)
        why = autostart.apply(wanted)
        if why is not None:
            self.window.banners.set("autostart", "warning", "Starting with the session", why)
