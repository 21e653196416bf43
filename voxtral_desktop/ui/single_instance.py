"""One window per user and settings folder: a second launch asks the running app to come forward and exits,
instead of opening a second window on the same history database and microphone."""

from __future__ import annotations

import getpass
import hashlib
import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from voxtral_desktop.core import paths

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_MS = 1000
SHOW = b"show\n"


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

    def claim(self) -> bool:
        if self._ask_running_instance():
            return False
        # Nobody answered: a socket left by a crashed instance is stale, remove it before listening.
        QLocalServer.removeServer(self.name)
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            # Still one window is better than none: run, but say why a later launch may open a second.
            log.warning("cannot listen for other launches on %s: %s", self.name, server.errorString())
            return True
        server.newConnection.connect(self._on_connection)
        self._server = server
        log.info("listening for other launches on %s", self.name)
        return True

    def _ask_running_instance(self) -> bool:
        socket = QLocalSocket()
        socket.connectToServer(self.name)
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
