"""Test desktop services on a private session bus: a StatusNotifierWatcher, a Notifications server and the
GlobalShortcuts portal, written from their published interfaces; run as a child process driven by stdin.

``python -m voxtral_desktop.testing.desktop_services`` (with DBUS_SESSION_BUS_ADDRESS set) prints one JSON
line per thing an app did to it (``{"event": "ready"}`` first), and takes commands on stdin, one a line:
``activate ID`` / ``deactivate ID`` (the portal's signals for a bound shortcut), ``rebind ID TRIGGER``
(the user changed it in the desktop's settings), ``click N`` (the user clicks
notification N), ``quit``. ``DesktopServices`` starts the bus and the child for a test.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

WATCHER = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
NOTIFICATIONS = "org.freedesktop.Notifications"
NOTIFICATIONS_PATH = "/org/freedesktop/Notifications"
PORTAL = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"

# The interfaces as their specifications publish them (the parts an app calls), for Introspect: Qt's
# QDBusInterface reads properties only through the introspected description.
INTROSPECTION = {
    WATCHER_PATH: """<node><interface name="org.kde.StatusNotifierWatcher">
  <method name="RegisterStatusNotifierItem"><arg name="service" type="s" direction="in"/></method>
  <method name="RegisterStatusNotifierHost"><arg name="service" type="s" direction="in"/></method>
  <property name="RegisteredStatusNotifierItems" type="as" access="read"/>
  <property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
  <property name="ProtocolVersion" type="i" access="read"/>
  <signal name="StatusNotifierItemRegistered"><arg type="s"/></signal>
  <signal name="StatusNotifierItemUnregistered"><arg type="s"/></signal>
  <signal name="StatusNotifierHostRegistered"/>
</interface></node>""",
    NOTIFICATIONS_PATH: """<node><interface name="org.freedesktop.Notifications">
  <method name="GetCapabilities"><arg type="as" direction="out"/></method>
  <method name="Notify">
    <arg name="app_name" type="s" direction="in"/><arg name="replaces_id" type="u" direction="in"/>
    <arg name="app_icon" type="s" direction="in"/><arg name="summary" type="s" direction="in"/>
    <arg name="body" type="s" direction="in"/><arg name="actions" type="as" direction="in"/>
    <arg name="hints" type="a{sv}" direction="in"/><arg name="expire_timeout" type="i" direction="in"/>
    <arg type="u" direction="out"/>
  </method>
  <method name="CloseNotification"><arg name="id" type="u" direction="in"/></method>
  <method name="GetServerInformation">
    <arg type="s" direction="out"/><arg type="s" direction="out"/>
    <arg type="s" direction="out"/><arg type="s" direction="out"/>
  </method>
  <signal name="NotificationClosed"><arg type="u"/><arg type="u"/></signal>
  <signal name="ActionInvoked"><arg type="u"/><arg type="s"/></signal>
</interface></node>""",
    PORTAL_PATH: """<node><interface name="org.freedesktop.portal.GlobalShortcuts">
  <method name="CreateSession">
    <arg type="a{sv}" name="options" direction="in"/><arg type="o" name="handle" direction="out"/>
  </method>
  <method name="BindShortcuts">
    <arg type="o" name="session_handle" direction="in"/><arg type="a(sa{sv})" name="shortcuts" direction="in"/>
    <arg type="s" name="parent_window" direction="in"/><arg type="a{sv}" name="options" direction="in"/>
    <arg type="o" name="request_handle" direction="out"/>
  </method>
  <method name="ListShortcuts">
    <arg type="o" name="session_handle" direction="in"/><arg type="a{sv}" name="options" direction="in"/>
    <arg type="o" name="request_handle" direction="out"/>
  </method>
  <signal name="Activated">
    <arg type="o" name="session_handle"/><arg type="s" name="shortcut_id"/>
    <arg type="t" name="timestamp"/><arg type="a{sv}" name="options"/>
  </signal>
  <signal name="Deactivated">
    <arg type="o" name="session_handle"/><arg type="s" name="shortcut_id"/>
    <arg type="t" name="timestamp"/><arg type="a{sv}" name="options"/>
  </signal>
  <signal name="ShortcutsChanged">
    <arg type="o" name="session_handle"/><arg type="a(sa{sv})" name="shortcuts"/>
  </signal>
  <property name="version" type="u" access="read"/>
</interface></node>""",
}


def say(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


class Services:
    """The three services on one connection; ``handle`` answers each method call."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.items: list[str] = []
        self.notification_ids = 0
        self.sessions: dict[str, str] = {}  # session handle -> the app's unique name
        self.bound: dict[str, list[str]] = {}  # session handle -> shortcut ids

    def properties(self, path: str) -> tuple[str, dict[str, tuple[str, Any]]]:
        if path == WATCHER_PATH:
            return WATCHER, {
                "RegisteredStatusNotifierItems": ("as", list(self.items)),
                "IsStatusNotifierHostRegistered": ("b", True),
                "ProtocolVersion": ("i", 0),
            }
        if path == PORTAL_PATH:
            return SHORTCUTS, {"version": ("u", 1)}
        return "", {}

    def handle(self, msg: Any) -> tuple[str, tuple] | None:
        """(signature, body) of the reply, or None for an error reply."""
        from jeepney import HeaderFields

        fields = msg.header.fields
        path, member = fields.get(HeaderFields.path), fields.get(HeaderFields.member)
        iface, sender = fields.get(HeaderFields.interface), fields.get(HeaderFields.sender)
        body = msg.body
        if member == "Introspect" and path in INTROSPECTION:
            return "s", (INTROSPECTION[path],)
        if iface == "org.freedesktop.DBus.Properties":
            _, props = self.properties(path)
            if member == "GetAll":
                return "a{sv}", (props,)
            if member == "Get" and body[1] in props:
                return "v", (props[body[1]],)
            return None
        if member == "RegisterStatusNotifierItem":
            # A service name, or (as Qt and others send) an object path on the caller's connection.
            item = body[0] if not body[0].startswith("/") else sender
            self.items.append(item)
            say(
                "item_registered",
                service=item,
                path=body[0] if body[0].startswith("/") else "/StatusNotifierItem",
            )
            self.emit(WATCHER_PATH, WATCHER, "StatusNotifierItemRegistered", "s", (item,))
            return "", ()
        if member == "RegisterStatusNotifierHost":
            return "", ()
        if member == "GetCapabilities":
            return "as", (["actions", "body"],)
        if member == "GetServerInformation":
            return "ssss", ("test-notifications", "voxtral-tests", "1", "1.2")
        if member == "Notify":
            self.notification_ids += 1
            app, _, _icon, summary, text, actions, _hints, _timeout = body
            say("notified", id=self.notification_ids, app=app, summary=summary, body=text, actions=actions)
            return "u", (self.notification_ids,)
        if member == "CloseNotification":
            return "", ()
        if member == "CreateSession":
            options = body[0]
            token = options.get("session_handle_token", ("s", "s"))[1]
            request = self.request_path(sender, options.get("handle_token", ("s", "r"))[1])
            session = f"{PORTAL_PATH}/session/{self.sender_part(sender)}/{token}"
            self.sessions[session] = sender
            say("session_created", session=session)
            self.respond_later(request, {"session_handle": ("s", session)})
            return "o", (request,)
        if member == "BindShortcuts":
            session, shortcuts, _parent, options = body
            request = self.request_path(sender, options.get("handle_token", ("s", "b"))[1])
            self.bound[session] = [sid for sid, _ in shortcuts]
            described = [
                {"id": sid, **{key: value[1] for key, value in props.items()}} for sid, props in shortcuts
            ]
            say("shortcuts_bound", session=session, shortcuts=described)
            result = [
                (
                    sid,
                    {
                        "description": props.get("description", ("s", sid)),
                        "trigger_description": ("s", props.get("preferred_trigger", ("s", ""))[1]),
                    },
                )
                for sid, props in shortcuts
            ]
            self.respond_later(request, {"shortcuts": ("a(sa{sv})", result)})
            return "o", (request,)
        return None

    @staticmethod
    def sender_part(sender: str) -> str:
        return sender.lstrip(":").replace(".", "_")

    def request_path(self, sender: str, token: str) -> str:
        return f"{PORTAL_PATH}/request/{self.sender_part(sender)}/{token}"

    def respond_later(self, request: str, results: dict) -> None:
        # After the method's reply, as a portal does once the user has answered its dialog.
        asyncio.get_running_loop().call_later(
            0.05, self.emit, request, "org.freedesktop.portal.Request", "Response", "ua{sv}", (0, results)
        )

    def emit(self, path: str, iface: str, member: str, signature: str, body: tuple) -> None:
        from jeepney import DBusAddress, new_signal

        msg = new_signal(DBusAddress(path, interface=iface), member, signature, body)
        asyncio.ensure_future(self.conn.send(msg))

    def command(self, line: str) -> None:
        verb, _, arg = line.strip().partition(" ")
        if verb in ("activate", "deactivate"):
            for session, ids in self.bound.items():
                if arg in ids:
                    member = "Activated" if verb == "activate" else "Deactivated"
                    stamp = int(time.monotonic() * 1000)
                    self.emit(PORTAL_PATH, SHORTCUTS, member, "osta{sv}", (session, arg, stamp, {}))
                    say(verb + "d", id=arg)
                    return
            say("unknown_shortcut", id=arg)
        elif verb == "rebind":  # rebind ID TRIGGER: the user picks another trigger in the desktop's settings
            sid, _, trigger = arg.partition(" ")
            for session, ids in self.bound.items():
                if sid in ids:
                    changed = [(s, {"trigger_description": ("s", trigger if s == sid else "")}) for s in ids]
                    self.emit(PORTAL_PATH, SHORTCUTS, "ShortcutsChanged", "oa(sa{sv})", (session, changed))
                    say("rebound", id=sid, trigger=trigger)
        elif verb == "click":
            self.emit(NOTIFICATIONS_PATH, NOTIFICATIONS, "ActionInvoked", "us", (int(arg), "default"))
            self.emit(NOTIFICATIONS_PATH, NOTIFICATIONS, "NotificationClosed", "uu", (int(arg), 2))
            say("clicked", id=int(arg))


async def serve() -> int:
    from jeepney import MessageType, new_error, new_method_return
    from jeepney.bus_messages import message_bus
    from jeepney.io.asyncio import open_dbus_connection

    conn = await open_dbus_connection(bus="SESSION")
    services = Services(conn)
    for name in (WATCHER, NOTIFICATIONS, PORTAL):
        await conn.send(message_bus.RequestName(name))
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str] = asyncio.Queue()
    threading.Thread(
        target=lambda: [loop.call_soon_threadsafe(lines.put_nowait, line) for line in sys.stdin] and None,
        daemon=True,
    ).start()

    async def commands() -> None:
        while (line := await lines.get()).strip() != "quit":
            services.command(line)
        raise SystemExit(0)

    command_task = asyncio.ensure_future(commands())
    # The name requests' replies arrive first; after them everything is in place.
    say("ready", unique_name=conn.unique_name)
    while not command_task.done():
        receive = asyncio.ensure_future(conn.receive())
        done, _ = await asyncio.wait({receive, command_task}, return_when=asyncio.FIRST_COMPLETED)
        if receive not in done:
            receive.cancel()
            break
        msg = receive.result()
        if msg.header.message_type != MessageType.method_call:
            continue
        answer = services.handle(msg)
        if answer is None:
            await conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))
        else:
            await conn.send(new_method_return(msg, *answer))
    return 0


class DesktopServices:
    """A private session bus (``address``) with the test services on it; ``events`` holds what they saw."""

    def __init__(self, tmp_path: Path) -> None:
        from voxtral_desktop.testing.missing import missing

        if shutil.which("dbus-daemon") is None:
            missing("dbus-daemon is not installed (apt-get install dbus)")
        self._bus = subprocess.Popen(
            ["dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address"],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.address = self._bus.stdout.readline().strip()  # type: ignore[union-attr]
        env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": self.address}
        with (tmp_path / "desktop_services.log").open("wb") as log:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "voxtral_desktop.testing.desktop_services"],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        self._events: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("ready", timeout_s=30)

    def _read(self) -> None:
        for line in self._child.stdout:  # type: ignore[union-attr]
            self._events.put(json.loads(line))

    def wait_for(self, event: str, timeout_s: float = 20, **fields: Any) -> dict:
        """The next event named ``event`` (with these fields); earlier others are kept in ``seen``."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                got = self._events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {event} {fields} within {timeout_s} s; saw {self.seen}") from None
            self.seen.append(got)
            if got["event"] == event and all(got.get(k) == v for k, v in fields.items()):
                return got

    def find(self, event: str, **fields: Any) -> list[dict]:
        """The events named ``event`` (with these fields) seen so far, without waiting: for a test whose
        own event loop must keep running meanwhile (qtbot.waitUntil)."""
        return [
            e for e in self.pump() if e["event"] == event and all(e.get(k) == v for k, v in fields.items())
        ]

    def pump(self) -> list[dict]:
        """Everything seen so far (the events not yet waited for included)."""
        while not self._events.empty():
            self.seen.append(self._events.get())
        return self.seen

    def send(self, command: str) -> None:
        self._child.stdin.write(command + "\n")  # type: ignore[union-attr]
        self._child.stdin.flush()  # type: ignore[union-attr]

    def close(self) -> None:
        for proc in (self._child, self._bus):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)


@contextmanager
def desktop_services(tmp_path: Path) -> Iterator[DesktopServices]:
    services = DesktopServices(tmp_path)
    try:
        yield services
    finally:
        services.close()


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(serve()))
    except SystemExit as e:
        sys.exit(e.code)
