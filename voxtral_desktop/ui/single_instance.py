"""One window per user and settings folder: a second launch asks the running app to come forward and exits,
instead of opening a second window on the same history database and microphone."""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
import socket as os_socket
import sys

from PySide6.QtCore import QDir, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from voxtral_desktop.core import paths

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_MS = 1000
SHOW = b"show\n"


def socket_path(address: str) -> str:
    """The file a QLocalServer listening at ``address`` makes (Unix): a bare name goes in Qt's temp folder."""
    return address if os.path.isabs(address) else os.path.join(QDir.tempPath(), address)


def _why_not(server: QLocalServer, path: str) -> str:
    """Why ``server`` could not listen at ``path``, in the system's words (Qt says "Unknown error 28" when
    the disk is full)."""
    if sys.platform == "win32":  # a named pipe there, not a file a probe could make
        return server.errorString()
    probe = os_socket.socket(os_socket.AF_UNIX)
    try:
        probe.bind(path)
    except OSError as e:
        return e.strerror or str(e)
    else:
        os.unlink(path)  # the probe's own socket file: it could be made after all
    finally:
        probe.close()
    return server.errorString()


def server_name() -> str:
    """Keyed by user and settings folder (VOXTRAL_DESKTOP_HOME): separate homes are separate apps."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = "?"
    key = f"{user}\0{paths.user_config_dir().resolve()}"
    return "voxtral-desktop-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


class SingleInstance(QObject):
    """``claim()`` once at start: True if this is the only instance (it then listens for later launches and
    emits ``activated`` when one asks), False if another instance is running and was asked to come forward."""

    activated = Signal()

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name or server_name()
        self._server: QLocalServer | None = None

    def addresses(self) -> list[str]:
        """Where the socket may be: Qt's temporary folder, else (when that is full or read-only) the user's
        runtime folder. Every launch looks in both, so either one finds the running app."""
        found = [self.name]
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if runtime and os.path.isdir(runtime):
            found.append(os.path.join(runtime, self.name))
        return found

    def claim(self) -> bool:
        if any(self._ask_running_instance(address) for address in self.addresses()):
            return False
        failures = []
        for address in self.addresses():
            # Nobody answered: a socket left by a crashed instance is stale, remove it before listening.
            QLocalServer.removeServer(address)
            server = QLocalServer()
            server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
            if server.listen(address):
                server.setParent(self)
                server.newConnection.connect(self._on_connection)
                self._server = server
                log.info("listening for other launches on %s", server.fullServerName())
                return True
            path = socket_path(address)
            failures.append(f"{path} ({_why_not(server, path)})")
        # Still one window is better than none: run, but say why a later launch may open a second.
        log.warning("a second launch will open a second window: cannot listen at %s", " or ".join(failures))
        return True

    def _ask_running_instance(self, address: str) -> bool:
        socket = QLocalSocket()
        socket.connectToServer(address)
        if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
            return False
        socket.write(SHOW)
        socket.flush()
        socket.waitForBytesWritten(CONNECT_TIMEOUT_MS)
        socket.disconnectFromServer()
        return True

    def _on_connection(self) -> None:
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            socket.readyRead.connect(lambda s=socket: self._on_message(s))
            socket.disconnected.connect(socket.deleteLater)
            if socket.bytesAvailable():
                self._on_message(socket)

    def _on_message(self, socket: QLocalSocket) -> None:
        if bytes(socket.readAll().data()).startswith(SHOW.strip()):
            log.info("another launch asked for the window: bringing it forward")
            self.activated.emit()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
