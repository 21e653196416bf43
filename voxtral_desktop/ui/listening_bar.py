"""The row above the talk button: the push-to-talk / hands-free switch and the live-microphone indicator."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from voxtral_desktop.ui import theme
from voxtral_desktop.ui.view_models.listening_vm import ListeningStatus, ListenState
from voxtral_desktop.ui.widgets import StatusDot

MODES = (("push_to_talk", "Push to talk"), ("hands_free", "Hands-free"))
MODE_TIPS = {
    "push_to_talk": "Hold the button (or Space) while you speak",
    "hands_free": "The microphone stays open: just talk, your turn is sent when you stop",
}
# What the indicator says and its dot's colour, per state; None hides it (the microphone is closed).
INDICATOR = {
    ListenState.LISTENING: ("Microphone on · listening", theme.SUCCESS),
    ListenState.HEARING: ("Microphone on · hearing you…", theme.RECORD),
    ListenState.SENDING: ("Sending…", theme.ACCENT),
}
PAUSED_TEXT = ("Microphone off · paused (the button or Space listens again)", theme.FAINT)
INTERRUPT_TEXT = "Microphone on · speak to interrupt"  # push-to-talk, listening over a reply
NO_ECHO_SUFFIX = " · no echo cancellation"


class ListeningBar(QWidget):
    """Widgets only: ``modeChosen(hands_free)`` when the user flips the switch; ``show_status`` updates it."""

    modeChosen = Signal(bool)

    def __init__(self) -> None:
        super().__init__()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 6)
        row.setSpacing(12)
        row.addStretch(1)
        box, self.group, buttons = theme.segmented(self, [label for _, label in MODES])
        self.switch = box
        self.buttons = dict(zip((mode for mode, _ in MODES), buttons))
        for mode, button in self.buttons.items():
            button.setToolTip(MODE_TIPS[mode])
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.clicked.connect(lambda _=False, m=mode: self.modeChosen.emit(m == "hands_free"))
        row.addWidget(box, 0, Qt.AlignmentFlag.AlignVCenter)
        self.indicator = QWidget()
        ind = QHBoxLayout(self.indicator)
        ind.setContentsMargins(0, 0, 0, 0)
        ind.setSpacing(6)
        self.dot = StatusDot()
        self.label = QLabel()
        self.label.setObjectName("micIndicator")
        self.label.setAccessibleName("Microphone")
        ind.addWidget(self.dot, 0, Qt.AlignmentFlag.AlignVCenter)
        ind.addWidget(self.label, 0, Qt.AlignmentFlag.AlignVCenter)
        row.addWidget(self.indicator, 0, Qt.AlignmentFlag.AlignVCenter)
        row.addStretch(1)
        self.show_status(ListeningStatus())

    def show_status(self, status: ListeningStatus) -> None:
        self.buttons["hands_free" if status.hands_free else "push_to_talk"].setChecked(True)
        if status.state == ListenState.OFF:
            shown = PAUSED_TEXT if status.paused else None
        elif status.state == ListenState.LISTENING and not status.hands_free:
            shown = (INTERRUPT_TEXT, theme.SUCCESS)
        else:
            shown = INDICATOR[status.state]
        self.indicator.setVisible(shown is not None)
        if shown is None:
            return
        text, color = shown
        if status.state != ListenState.OFF and not status.echo_cancelling:
            text += NO_ECHO_SUFFIX
        self.label.setText(text)
        self.label.setToolTip(status.message)
        self.dot.set_color(color)
