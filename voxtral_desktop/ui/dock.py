"""The dock under the conversation: the talk button, one line under it (a hint, or the level meter while
recording), the message box with its Send button, and the keyboard shortcuts."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from voxtral_desktop.ui import theme
from voxtral_desktop.ui.level_meter import LevelMeter
from voxtral_desktop.ui.ptt_button import PushToTalkButton
from voxtral_desktop.ui.widgets import Composer

IDLE_SHORTCUTS = "Esc stops a reply  ·  Ctrl+N new conversation  ·  Ctrl+, settings  ·  Ctrl+Q quits"
RECORDING_SHORTCUTS = "Listening: release to send  ·  Esc discards"
COMPOSER_MAX_WIDTH = 620  # px
LINE_HEIGHT = 26  # px: the hint line and the meter line swap places without moving anything


class Dock(QFrame):
    """Widgets only; the window connects them. ``leave_composer`` runs when Esc is pressed in the message box."""

    def __init__(self, leave_composer: QWidget) -> None:
        super().__init__()
        self.setObjectName("dock")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 4, 20, 12)
        lay.setSpacing(0)
        self.ptt = PushToTalkButton()
        lay.addWidget(self.ptt, 0, Qt.AlignmentFlag.AlignHCenter)

        self.hint = QLabel()
        self.hint.setObjectName("hint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setMinimumHeight(LINE_HEIGHT)
        lay.addWidget(self.hint)
        self.meter_box = QWidget()
        meter_row = QHBoxLayout(self.meter_box)
        meter_row.setContentsMargins(0, 0, 0, 0)
        meter_row.setSpacing(10)
        meter_row.addStretch(1)
        self.level_meter = LevelMeter()
        self.level_meter.setFixedWidth(200)
        self.elapsed = QLabel("0:00.0")
        self.elapsed.setObjectName("elapsed")
        meter_row.addWidget(self.level_meter, 0, Qt.AlignmentFlag.AlignVCenter)
        meter_row.addWidget(self.elapsed, 0, Qt.AlignmentFlag.AlignVCenter)
        meter_row.addStretch(1)
        self.meter_box.setFixedHeight(LINE_HEIGHT)
        self.meter_box.hide()
        lay.addWidget(self.meter_box)

        compose = QHBoxLayout()
        compose.setContentsMargins(0, 8, 0, 8)
        compose.setSpacing(8)
        self.composer = Composer(leave_composer.setFocus)
        self.composer.setObjectName("composer")
        self.composer.setPlaceholderText("Type a message…")
        self.composer.setAccessibleName("Message")
        self.composer.setMaximumWidth(COMPOSER_MAX_WIDTH)
        self.composer.setClearButtonEnabled(False)
        self.send_button = QPushButton("Send")
        self.composer.textChanged.connect(lambda text: self.send_button.setEnabled(bool(text.strip())))
        self.send_button.setObjectName("send")
        self.send_button.setToolTip("Send the message (Enter)")
        self.send_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.send_button.setEnabled(False)
        compose.addStretch(1)
        compose.addWidget(self.composer, 100)
        compose.addWidget(self.send_button)
        compose.addStretch(1)
        lay.addLayout(compose)

        self.shortcuts = QLabel(IDLE_SHORTCUTS)
        self.shortcuts.setObjectName("shortcuts")
        self.shortcuts.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.shortcuts)

    def set_hint(self, text: str, kind: str) -> None:
        self.hint.setText(text)
        self.hint.setProperty("kind", kind)
        theme.repolish(self.hint)

    def show_recording(self, recording: bool) -> None:
        """While recording, the meter and the elapsed time take the hint's line."""
        self.ptt.set_recording(recording)
        self.meter_box.setVisible(recording)
        self.hint.setVisible(not recording)
        self.shortcuts.setText(RECORDING_SHORTCUTS if recording else IDLE_SHORTCUTS)
        if recording:
            self.level_meter.reset()
            self.elapsed.setText("0:00.0")

    def show_progress(self, level: float, elapsed_s: float) -> None:
        """The input level (RMS, full scale 1.0) and the time held, while recording."""
        self.level_meter.set_rms(level)
        self.ptt.set_level(self.level_meter.value)
        self.elapsed.setText(f"{int(elapsed_s // 60)}:{elapsed_s % 60:04.1f}")
