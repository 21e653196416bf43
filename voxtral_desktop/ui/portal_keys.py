"""Global shortcuts through the XDG desktop portal (org.freedesktop.portal.GlobalShortcuts): Wayland's way."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from typing import Any

from PySide6.QtCore import QObject, Signal

from voxtral_desktop.core.shortcuts import Shortcut
from voxtral_desktop.ui.session_bus import BusUnavailable, SessionBus

log = logging.getLogger(__name__)

PORTAL = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"
REQUEST = "org.freedesktop.portal.Request"
SESSION = "org.freedesktop.portal.Session"
DESCRIPTIONS = {
    "push_to_talk": "Push to talk (hold to record, let go to send)",
    "hands_free": "Hands-free on/off",
}
ANSWER_TIMEOUT_S = 600.0  # the desktop shows the user a dialog: give them time
_tokens = itertools.count(1)


class PortalUnavailable(Exception):
    """No desktop portal with global shortcuts on this session bus; the message says why."""


class PortalRefused(Exception):
    """The portal (or the user, in its dialog) did not bind the shortcuts; the message says why."""


class PortalKeys(QObject):
    """One portal session with the app's shortcuts bound; ``pressed(action)`` / ``released(action, t)`` from
    its Activated / Deactivated signals. ``bind`` is a coroutine: the desktop may ask the user first."""

    pressed = Signal(str)
    released = Signal(str, float)
    changed = Signal()  # ``bound`` changed: the user rebound a shortcut in the desktop's settings

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bus = SessionBus()
        self._router: Any = None
        self._session = ""
        self._listen: asyncio.Task[None] | None = None
        self._signals: Any = None
        self.bound: dict[str, str] = {}  # action -> the trigger as the desktop describes it

    async def connect_bus(self) -> None:
        from jeepney import DBusAddress, Properties

        try:
            self._router = await self._bus.open()
        except BusUnavailable as e:
            raise PortalUnavailable(str(e)) from e
        portal = DBusAddress(PORTAL_PATH, bus_name=PORTAL, interface=SHORTCUTS)
        try:
            reply = await asyncio.wait_for(self._call(Properties(portal).get("version")), 10)
        except TimeoutError as e:
            raise PortalUnavailable("the desktop portal did not answer") from e
        except PortalRefused as e:
            raise PortalUnavailable(
                "the desktop portal has no global shortcuts here (xdg-desktop-portal 1.17+ with a KDE Plasma 5.27+"
                " or GNOME 48+ back-end provides them)"
            ) from e
        log.info("portal: GlobalShortcuts version %s", reply[0][1])

    async def bind(self, shortcuts: dict[str, Shortcut]) -> dict[str, str]:
        """Bind ``shortcuts`` (action -> preferred trigger) in a new session; returns the bound ones with the
        trigger the desktop chose (the user may have changed it). PortalRefused when none were bound."""
        from jeepney import DBusAddress, MatchRule, new_method_call

        if self._router is None:
            await self.connect_bus()
        await self.close_session()
        portal = DBusAddress(PORTAL_PATH, bus_name=PORTAL, interface=SHORTCUTS)
        token = f"voxtral{os.getpid()}_{next(_tokens)}"
        results = await self._request(
            token,
            new_method_call(
                portal,
                "CreateSession",
                "a{sv}",
                ({"handle_token": ("s", token), "session_handle_token": ("s", token)},),
            ),
        )
        self._session = str(results["session_handle"][1])
        if self._listen is None:
            rule = MatchRule(type="signal", interface=SHORTCUTS, path=PORTAL_PATH)
            self._signals = await self._bus.subscribe(rule, bufsize=64)
            self._listen = asyncio.ensure_future(self._listen_to(self._signals.queue))
        wanted = [
            (
                action,
                {
                    "description": ("s", DESCRIPTIONS.get(action, action)),
                    "preferred_trigger": ("s", shortcut.xdg_trigger()),
                },
            )
            for action, shortcut in shortcuts.items()
        ]
        bind_token = f"{token}b"
        results = await self._request(
            bind_token,
            new_method_call(
                portal,
                "BindShortcuts",
                "oa(sa{sv})sa{sv}",
                (
                    self._session,
                    wanted,
                    "",
                    {"handle_token": ("s", bind_token)},
                ),
            ),
        )
        self.bound = self._triggers(results.get("shortcuts", ("", []))[1])
        if not self.bound:
            raise PortalRefused(
                "the desktop bound none of the shortcuts (they may be turned off in its settings)"
            )
        log.info("portal: bound %s", self.bound)
        return self.bound

    async def _request(self, token: str, call: Any) -> dict[str, Any]:
        """A portal call whose answer comes later as its Request's Response signal (subscribed first)."""
        from jeepney import MatchRule

        sender = self._bus.unique_name.lstrip(":").replace(".", "_")
        path = f"{PORTAL_PATH}/request/{sender}/{token}"
        rule = MatchRule(type="signal", interface=REQUEST, member="Response", path=path)
        with await self._bus.subscribe(rule) as queue:
            await self._call(call)
            try:
                message = await asyncio.wait_for(queue.get(), ANSWER_TIMEOUT_S)
            except TimeoutError as e:
                raise PortalRefused("the desktop portal never answered") from e
        code, results = message.body
        if code == 1:
            raise PortalRefused("the shortcuts were declined in the desktop's dialog")
        if code != 0:
            raise PortalRefused("the desktop portal refused the shortcuts")
        return dict(results)

    async def _call(self, message: Any) -> tuple:
        from jeepney import MessageType

        reply = await self._router.send_and_get_reply(message)
        if reply.header.message_type == MessageType.error:
            raise PortalRefused(f"the desktop portal said: {reply.body[0] if reply.body else 'error'}")
        return tuple(reply.body)

    @staticmethod
    def _triggers(shortcuts: list) -> dict[str, str]:
        """The portal's a(sa{sv}) answer: action -> the trigger as the desktop describes it."""
        return {sid: str(props.get("trigger_description", ("s", ""))[1]) for sid, props in shortcuts}

    async def _listen_to(self, queue: Any) -> None:
        from jeepney import HeaderFields

        while True:
            message = await queue.get()
            member = message.header.fields.get(HeaderFields.member)
            if message.body[0] != self._session:
                continue
            if member == "ShortcutsChanged":  # the user picked other keys in the desktop's settings
                self.bound = self._triggers(message.body[1])
                log.info("portal: the desktop changed the shortcuts: %s", self.bound)
                self.changed.emit()
                continue
            action = message.body[1]
            if action not in self.bound:
                continue
            if member == "Activated":
                self.pressed.emit(action)
            elif member == "Deactivated":
                self.released.emit(action, time.perf_counter())

    async def close_session(self) -> None:
        from jeepney import DBusAddress, new_method_call

        if self._session and self._bus.connected:
            session = DBusAddress(self._session, bus_name=PORTAL, interface=SESSION)
            try:
                await asyncio.wait_for(self._router.send_and_get_reply(new_method_call(session, "Close")), 5)
            except (TimeoutError, OSError) as e:
                log.info("portal: closing the old session: %s", e)
        self._session = ""
        self.bound = {}

    async def close(self) -> None:
        await self.close_session()
        if self._listen is not None:
            self._listen.cancel()
            self._listen = None
        await self._bus.close()
        self._router = None
