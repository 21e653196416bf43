"""The tray icon: what the assistant is doing (idle, listening, recording, thinking, speaking, error) and its menu."""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from voxtral_desktop.ui.view_models.listening_vm import ListeningStatus, ListenState


class TrayState(StrEnum):
    IDLE = "idle"
    LISTENING = "listening"  # hands-free, the microphone open
    RECORDING = "recording"
    THINKING = "thinking"  # the model is working on a reply
    SPEAKING = "speaking"
    ERROR = "error"  # the last turn failed, or something went wrong; until the next turn starts


WORDS = {
    TrayState.IDLE: "Ready",
    TrayState.LISTENING: "Listening (hands-free)",
    TrayState.RECORDING: "Recording…",
    TrayState.THINKING: "Thinking…",
    TrayState.SPEAKING: "Speaking…",
    TrayState.ERROR: "Something went wrong: open the window to see what",
}
COLOURS = {
    TrayState.IDLE: "#6b7280",
    TrayState.LISTENING: "#2563eb",
    TrayState.RECORDING: "#dc2626",
    TrayState.THINKING: "#d97706",
    TrayState.SPEAKING: "#16a34a",
    TrayState.ERROR: "#7f1d1d",
}


def tray_state(
    *, recording: bool, thinking: bool, speaking: bool, listening: ListeningStatus, error: bool
) -> TrayState:
    """One word for the icon; what the user is doing first (recording), then the assistant, then the mic."""
    if recording or listening.state == ListenState.HEARING:
        return TrayState.RECORDING
    if speaking:
        return TrayState.SPEAKING
    if thinking or listening.state == ListenState.SENDING:
        return TrayState.THINKING
    if error:
        return TrayState.ERROR
    if listening.hands_free and listening.state == ListenState.LISTENING:
        return TrayState.LISTENING
    return TrayState.IDLE


def state_icon(state: TrayState, size: int = 64) -> QIcon:
    """A microphone (an exclamation mark for an error) on a disc of the state's colour (drawn: the same on
    every icon theme)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setBrush(QColor(COLOURS[state]))
    p.setPen(Qt.PenStyle.NoPen)
    p.drawEllipse(QRectF(2, 2, size - 4, size - 4))
    s = size / 64
    if state == TrayState.ERROR:  # an exclamation mark: told apart from recording by shape, not only colour
        p.setBrush(QColor("white"))
        p.drawRoundedRect(QRectF(28 * s, 12 * s, 8 * s, 28 * s), 4 * s, 4 * s)
        p.drawEllipse(QRectF(27.5 * s, 44 * s, 9 * s, 9 * s))
        p.end()
        return QIcon(pixmap)
    body = QPainterPath()
    body.addRoundedRect(QRectF(25 * s, 12 * s, 14 * s, 26 * s), 7 * s, 7 * s)
    p.setBrush(QColor("white"))
    p.drawPath(body)
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.setPen(QPen(QColor("white"), 3.5 * s))
    p.drawArc(QRectF(19 * s, 22 * s, 26 * s, 24 * s), 180 * 16, 180 * 16)
    p.drawLine(int(32 * s), int(46 * s), int(32 * s), int(53 * s))
    p.end()
    return QIcon(pixmap)


class Tray(QObject):
    """The icon (StatusNotifierItem where the desktop has a watcher, the X11 tray otherwise: Qt picks) and
    its menu. Menu choices come out as signals; ``show_state`` and ``show_mode`` keep it current."""

    talk = Signal()  # push-to-talk: start, or stop and send; hands-free: pause or resume listening
    handsFree = Signal(bool)
    showWindow = Signal()
    newConversation = Signal()
    quit = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = TrayState.IDLE
        self._hands_free = False
        self._paused = False
        self.icon = QSystemTrayIcon(state_icon(TrayState.IDLE), self)
        self.menu = QMenu()
        self.talk_action = self._action("Talk", self.talk.emit)
        self.hands_free_action = self._action(
            "Hands-free", lambda: self.handsFree.emit(self.hands_free_action.isChecked())
        )
        self.hands_free_action.setCheckable(True)
        self.menu.addSeparator()
        self.show_action = self._action("Show the window", self.showWindow.emit)
        self.new_action = self._action("New conversation", self.newConversation.emit)
        self.menu.addSeparator()
        self.quit_action = self._action("Quit", self.quit.emit)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._on_activated)
        self.show_state(TrayState.IDLE)

    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def _action(self, text: str, slot: object) -> QAction:
        action = QAction(text, self.menu)
        action.triggered.connect(slot)
        self.menu.addAction(action)
        return action

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def show_state(self, state: TrayState) -> None:
        self.state = state
        self.icon.setIcon(state_icon(state))
        self.icon.setToolTip(f"Voxtral: {WORDS[state]}")
        self._label_talk()

    def show_mode(self, listening: ListeningStatus) -> None:
        self._hands_free, self._paused = listening.hands_free, listening.paused
        self.hands_free_action.setChecked(listening.hands_free)
        self._label_talk()

    def _label_talk(self) -> None:
        if self._hands_free:
            text = "Resume listening" if self._paused else "Pause listening"
        else:
            text = "Stop and send" if self.state == TrayState.RECORDING else "Talk"
        self.talk_action.setText(text)

    def _on_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:  # a left click: the window
            self.showWindow.emit()

    def say(self, title: str, text: str) -> None:
        """A one-off message from the icon (the desktop's notification, or Qt's balloon)."""
        self.icon.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 8000)

    def close(self) -> None:
        self.icon.hide()
        self.menu.deleteLater()
