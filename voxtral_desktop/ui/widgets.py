"""Small widgets of the main window: the model's status pill, a label that elides, banners, the message box."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QKeyEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from voxtral_desktop.ui import theme
from voxtral_desktop.ui.status import LoadPhase, ModelStatus

PHASE_COLORS = {
    LoadPhase.LOADING: theme.WARNING,
    LoadPhase.DOWNLOADING: theme.INFO,
    LoadPhase.READY: theme.SUCCESS,
    LoadPhase.FAILED: theme.DANGER,
}
PHASE_TEXTS = {
    LoadPhase.LOADING: "Loading model…",
    LoadPhase.DOWNLOADING: "Downloading model…",
    LoadPhase.READY: "Ready",
    LoadPhase.FAILED: "Model not loaded",
}


class StatusDot(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setFixedSize(10, 10)
        self.color = QColor(theme.FAINT)

    def set_color(self, color: str) -> None:
        self.color = QColor(color)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(self.color)
        p.drawEllipse(1, 1, 8, 8)
        p.end()


class StatusPill(QFrame):
    """The model's state in the header: a coloured dot, a few words, and a bar while it downloads or loads."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("statusPill")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 4, 12, 4)
        lay.setSpacing(7)
        self.dot = StatusDot()
        self.text = QLabel("Starting…")
        self.text.setObjectName("statusText")
        self.progress = QProgressBar()
        self.progress.setFixedSize(70, 6)
        self.progress.setTextVisible(False)
        self.progress.hide()
        lay.addWidget(self.dot)
        lay.addWidget(self.text)
        lay.addWidget(self.progress)

    def show_status(self, status: ModelStatus) -> None:
        self.dot.set_color(PHASE_COLORS.get(status.phase, theme.FAINT))
        label = PHASE_TEXTS.get(status.phase, "Starting…")
        if status.ready and status.device:
            label = f"Ready · {status.device.upper()}"
        self.text.setText(label)
        if status.phase == LoadPhase.DOWNLOADING and isinstance(status.fraction, float):
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(status.fraction * 1000))
            self.progress.show()
        elif status.phase in (LoadPhase.DOWNLOADING, LoadPhase.LOADING):
            self.progress.setRange(0, 0)  # busy indicator
            self.progress.show()
        else:
            self.progress.hide()


class ElidedLabel(QLabel):
    """A one-line label that gives way in a narrow window, ending in "…" rather than pushing others out."""

    def minimumSizeHint(self) -> QSize:
        return QSize(60, super().minimumSizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setPen(self.palette().color(self.foregroundRole()))
        text = self.fontMetrics().elidedText(
            self.text(), Qt.TextElideMode.ElideRight, self.contentsRect().width()
        )
        p.drawText(self.contentsRect(), int(self.alignment()), text)
        p.end()


class Banner(QFrame):
    """A message across the top of the window: title, text, optional action buttons, and a close box."""

    def __init__(
        self, kind: str, title: str, text: str, actions: list[tuple[str, Any]] | None = None
    ) -> None:
        super().__init__()
        self.setObjectName("banner")
        self.setProperty("kind", kind)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(14, 10, 8, 10)
        lay.setSpacing(12)
        texts = QVBoxLayout()
        texts.setSpacing(2)
        self.title = QLabel(title)
        self.title.setObjectName("bannerTitle")
        self.text = QLabel(text)
        self.text.setObjectName("bannerText")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        texts.addWidget(self.title)
        texts.addWidget(self.text)
        lay.addLayout(texts, 1)
        self.buttons: dict[str, QPushButton] = {}
        for label, slot in actions or []:
            button = QPushButton(label)
            button.clicked.connect(slot)
            lay.addWidget(button, 0, Qt.AlignmentFlag.AlignVCenter)
            self.buttons[label] = button
        close = QToolButton()
        close.setObjectName("bannerClose")
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.clicked.connect(self.deleteLater)
        lay.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)


class BannerStack(QVBoxLayout):
    """The banners above the conversation, at most one per key ("model", "mic", "error")."""

    def __init__(self) -> None:
        super().__init__()
        self.setContentsMargins(16, 0, 16, 0)
        self.setSpacing(8)
        self._banners: dict[str, Banner] = {}

    def set(self, key: str, kind: str, title: str, text: str, actions: list[tuple[str, Any]] | None = None) -> Banner:
        """Show a banner under ``key``, replacing the one there."""
        self.clear(key)
        banner = Banner(kind, title, text, actions)
        banner.destroyed.connect(lambda *_: self._forget(key, banner))
        self._banners[key] = banner
        self.setContentsMargins(16, 12, 16, 0)
        self.addWidget(banner)
        return banner

    def _forget(self, key: str, banner: Banner) -> None:
        # Closed with its own button: the slot is free again (unless a newer banner already took it).
        if self._banners.get(key) is banner:
            del self._banners[key]

    def clear(self, key: str) -> None:
        banner = self._banners.pop(key, None)
        if banner is not None:
            banner.hide()
            banner.deleteLater()

    def get(self, key: str) -> Banner | None:
        return self._banners.get(key)


class Composer(QLineEdit):
    """The "Type a message…" box. Esc with nothing to stop hands the keyboard back to push-to-talk."""

    def __init__(self, leave: Callable[[], None]) -> None:
        super().__init__()
        self._leave = leave

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self._leave()
            event.accept()
            return
        super().keyPressEvent(event)
