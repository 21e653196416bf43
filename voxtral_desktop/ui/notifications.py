"""Desktop notifications (org.freedesktop.Notifications over D-Bus): a finished reply while the window is hidden."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from PySide6.QtCore import QObject, Signal

from voxtral_desktop.ui.session_bus import BusUnavailable, SessionBus

log = logging.getLogger(__name__)

SERVICE = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
PREVIEW_CHARS = 200  # the first ~200 characters; the rest is one click away
APP_NAME = "Voxtral"


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """The reply's first ``limit`` characters, cut at a word, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip(" ,;:") + "…"


class Notifier(QObject):
    """Sends notifications (through ui/session_bus.py); a click on one emits ``clicked(conversation id)``. Without a notification service it says
    why once in the log and sends nothing."""

    clicked = Signal(object)  # the conversation id the notification was about

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bus = SessionBus()
        self._router: Any = None
        self._listen: asyncio.Task[None] | None = None
        self._sent: dict[int, object] = {}  # notification id -> conversation id
        self._unavailable = False

    async def _connect(self) -> bool:
        from jeepney import MatchRule

        if self._router is not None:
            return True
        if self._unavailable:
            return False
        try:
            self._router = await self._bus.open()
        except BusUnavailable as e:
            log.warning("notifications are off: %s", e)
            self._unavailable = True
            return False
        rule = MatchRule(type="signal", interface=SERVICE, member="ActionInvoked", path=PATH)
        self._filter = await self._bus.subscribe(rule, bufsize=16)
        self._listen = asyncio.ensure_future(self._listen_to(self._filter.queue))
        return True

    async def notify(self, title: str, text: str, conversation_id: object) -> int | None:
        """Show one notification; clicking it opens ``conversation_id``. Its id, or None if none was sent."""
        from jeepney import DBusAddress, MessageType, new_method_call

        if not await self._connect():
            return None
        call = new_method_call(
            DBusAddress(PATH, bus_name=SERVICE, interface=SERVICE),
            "Notify",
            "susssasa{sv}i",
            (
                APP_NAME,
                0,
                "voxtral-desktop",
                title,
                preview(text),
                ["default", "Open"],
                {"desktop-entry": ("s", "voxtral-desktop")},
                -1,
            ),
        )
        try:
            reply = await asyncio.wait_for(self._router.send_and_get_reply(call), 10)
        except TimeoutError:
            log.warning("the notification service did not answer")
            return None
        if reply.header.message_type == MessageType.error:
            log.warning("no notification: %s", reply.body[0] if reply.body else "the service refused it")
            return None
        (nid,) = reply.body
        self._sent[nid] = conversation_id
        return int(nid)

    async def _listen_to(self, queue: Any) -> None:
        while True:
            message = await queue.get()
            nid, action = message.body
            if action == "default" and nid in self._sent:
                self.clicked.emit(self._sent.pop(nid))

    async def close(self) -> None:
        if self._listen is not None:
            self._listen.cancel()
            self._listen = None
        await self._bus.close()
        self._router = None
