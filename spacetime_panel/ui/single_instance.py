"""One panel per user and management port: a second start brings the first to the front.

The first panel listens on a QLocalServer; a second one connects, says "show",
and exits without launching Godot twice.
"""

from __future__ import annotations

import getpass

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

SHOW = b"show\n"


def instance_key(api_port: int) -> str:
    """The local-socket name: per user and per management port (one panel per project)."""
    return f"spacetime-panel-{getpass.getuser()}-{api_port}"


class SingleInstance(QObject):
    """Claim the name, or ask the panel that holds it to show itself."""

    show_requested = Signal()

    def __init__(self, key: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self._server: QLocalServer | None = None

    def ask_running_panel_to_show(self, timeout_ms: int = 1000) -> bool:
        """True if another panel answered (and was asked to come to the front)."""
        socket = QLocalSocket()
        socket.connectToServer(self.key)
        if not socket.waitForConnected(timeout_ms):
            return False
        socket.write(SHOW)
        socket.flush()
        socket.waitForBytesWritten(timeout_ms)
        socket.disconnectFromServer()
        return True

    def claim(self) -> bool:
        """Listen under the key; False if another live panel holds it."""
        if self.ask_running_panel_to_show():
            return False
        QLocalServer.removeServer(self.key)  # a stale name left by a crashed panel
        server = QLocalServer(self)
        if not server.listen(self.key):
            return False
        server.newConnection.connect(self._on_connection)
        self._server = server
        return True

    def _on_connection(self) -> None:
        assert self._server is not None
        while (socket := self._server.nextPendingConnection()) is not None:
            socket.readyRead.connect(lambda s=socket: self._on_message(s))

    def _on_message(self, socket: QLocalSocket) -> None:
        if bytes(socket.readAll().data()).startswith(SHOW.strip()):
            self.show_requested.emit()
        socket.disconnectFromServer()

    def release(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
