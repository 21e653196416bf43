"""One connection to the D-Bus session bus on the app's asyncio loop (jeepney), opened and closed cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

log = logging.getLogger(__name__)

# Why jeepney and not QtDBus: the portal takes and answers arrays of structs (a(sa{sv})) and notifications
# take unsigned ints, and PySide6's QtDBus only marshals types registered from C++ (its QDBusArgument aborts
# the process on an unregistered struct). jeepney (MIT, pure Python, already installed with keyring) speaks
# D-Bus on the asyncio loop the app runs on (qasync).


class BusUnavailable(Exception):
    """No session bus to talk to; the message says why."""


class SessionBus:
    """``router`` (a jeepney DBusRouter) once ``open()`` has run; ``unique_name`` is this connection's."""

    def __init__(self) -> None:
        self.router: Any = None
        self._conn: Any = None

    @property
    def unique_name(self) -> str:
        return str(self._conn.unique_name) if self._conn is not None else ""

    async def open(self) -> Any:
        from jeepney.io.asyncio import DBusRouter, open_dbus_connection

        if self.router is not None:
            return self.router
        if not os.environ.get("DBUS_SESSION_BUS_ADDRESS") and not os.environ.get("XDG_RUNTIME_DIR"):
            raise BusUnavailable("there is no D-Bus session bus")
        try:
            self._conn = await open_dbus_connection(bus="SESSION")
        except (OSError, KeyError, ValueError) as e:  # no bus socket, or an address jeepney cannot read
            raise BusUnavailable(f"the D-Bus session bus cannot be reached ({e})") from e
        self.router = DBusRouter(self._conn)
        # The bus going away ends the router's receiving task with EOFError: say so in the log rather than
        # leave asyncio to report an exception nobody retrieved (the app's hook would show it as a crash).
        self.router._rcv_task.add_done_callback(self._receiver_ended)
        return self.router

    @property
    def connected(self) -> bool:
        return self.router is not None and not self.router._rcv_task.done()

    @staticmethod
    def _receiver_ended(task: asyncio.Future[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("the D-Bus session bus connection ended: %r", task.exception())

    async def subscribe(self, rule: Any, bufsize: int = 1) -> Any:
        """Ask the bus for messages matching ``rule``; a filter handle (its ``queue``, a context manager)."""
        from jeepney.bus_messages import message_bus

        await self.router.send_and_get_reply(message_bus.AddMatch(rule))
        return self.router.filter(rule, bufsize=bufsize)

    async def close(self) -> None:
        if self.router is not None:
            task = self.router._rcv_task
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._conn is not None:
            with contextlib.suppress(OSError):
                await self._conn.close()
        self.router = self._conn = None
