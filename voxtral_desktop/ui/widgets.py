"""Small widgets of the main window: the model's status pill, a label that elides, banners, the message box."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, QPoint, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QKeyEvent, QPainter, QPaintEvent, QResizeEvent, QShowEvent, QTextOption
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from voxtral_desktop.ui import theme
from voxtral_desktop.ui.view_models.status import LoadPhase, ModelStatus

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


class DisclosureButton(QToolButton):
    """The one "Details ▸" / "Details ▾" toggle (a banner's library words, a reply's timings): checkable,
    reached with Tab, opened and closed with Enter and Return too, since in the main window Space belongs to
    push-to-talk whichever widget has the focus."""

    def __init__(self, object_name: str, accessible_name: str) -> None:
        super().__init__()
        self.setObjectName(object_name)
        self.setText("Details ▸")
        self.setCheckable(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAccessibleName(accessible_name)
        self.toggled.connect(lambda on: self.setText("Details ▾" if on else "Details ▸"))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.isCheckable():
            self.toggle()
            event.accept()
            return
        super().keyPressEvent(event)


class Banner(QFrame):
    """A message across the top of the window: title, text, optional action buttons, and a close box.

    ``details`` (the library's own words for a failure) sit behind a "Details" toggle, closed at first:
    Tab reaches the toggle, and Enter (or Space outside the main window, as a reply's Details) opens it.
    """

    DETAILS_LINES = 5  # the details box's height; longer text scrolls

    def __init__(
        self, kind: str, title: str, text: str, actions: list[tuple[str, Any]] | None = None, details: str = ""
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
        self.details_toggle: DisclosureButton | None = None
        self.details: QPlainTextEdit | None = None
        # With details (long, technical failures) the buttons sit on a row under the text, beside the toggle,
        # so that the message keeps the banner's whole width.
        row: QHBoxLayout | None = None
        if details:
            row = QHBoxLayout()
            row.setSpacing(8)
            self.details_toggle, self.details = self._details_widgets(details)
            row.addWidget(self.details_toggle, 0, Qt.AlignmentFlag.AlignVCenter)
            row.addStretch(1)
            texts.addSpacing(6)
            texts.addLayout(row)
        self.buttons: dict[str, QPushButton] = {}
        for label, slot in actions or []:
            button = QPushButton(label)
            button.clicked.connect(slot)
            (row if row is not None else lay).addWidget(button, 0, Qt.AlignmentFlag.AlignVCenter)
            self.buttons[label] = button
        if self.details is not None:
            texts.addSpacing(4)
            texts.addWidget(self.details)
        lay.insertLayout(0, texts, 1)
        close = QToolButton()
        close.setObjectName("bannerClose")
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.clicked.connect(self.deleteLater)
        lay.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)

    def _details_widgets(self, details: str) -> tuple[DisclosureButton, QPlainTextEdit]:
        toggle = DisclosureButton("bannerDetailsToggle", "Details")
        toggle.setAccessibleDescription("Shows the error as the library reported it")
        box = QPlainTextEdit(details)
        box.setObjectName("bannerDetails")
        box.setReadOnly(True)
        box.setTabChangesFocus(True)  # Tab moves on, as everywhere else in the window
        # URLs and paths have no spaces: break them anywhere rather than widen the window.
        box.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        box.setFixedHeight(box.fontMetrics().lineSpacing() * self.DETAILS_LINES + 16)
        box.hide()
        toggle.toggled.connect(self._show_details)
        return toggle, box

    def _show_details(self, on: bool) -> None:
        assert self.details_toggle is not None and self.details is not None
        self.details.setVisible(on)
        if on:
            QTimer.singleShot(0, self._reveal_details)  # once the layout has made room for them

    def _reveal_details(self) -> None:
        """Scroll the banner area (when it scrolls) so that the opened details are in view."""
        area = self.parentWidget()
        while area is not None and not isinstance(area, QScrollArea):
            area = area.parentWidget()
        inner = area.widget() if area is not None else None
        if area is None or inner is None or self.details is None or not self.details.isVisible():
            return
        # By hand: QScrollArea.ensureWidgetVisible left a grandchild of its widget out of view here.
        top = self.details.mapTo(inner, QPoint(0, 0)).y()
        bottom = top + self.details.height() + 8
        bar, view = area.verticalScrollBar(), area.viewport().height()
        if bottom > bar.value() + view:
            bar.setValue(min(bottom - view, top))


class BannerStack(QVBoxLayout):
    """The banners above the conversation, at most one per key ("model", "mic", "error"); the model's first,
    since nothing works without it, the others in the order they came."""

    FIRST = ("model",)

    def __init__(self) -> None:
        super().__init__()
        self.setContentsMargins(16, 0, 16, 0)
        self.setSpacing(8)
        self._banners: dict[str, Banner] = {}

    def set(
        self,
        key: str,
        kind: str,
        title: str,
        text: str,
        actions: list[tuple[str, Any]] | None = None,
        details: str = "",
    ) -> Banner:
        """Show a banner under ``key``, replacing the one there; ``details`` go behind a Details toggle."""
        self.clear(key)
        banner = Banner(kind, title, text, actions, details)
        banner.destroyed.connect(lambda *_: self._forget(key, banner))
        self._banners[key] = banner
        self.setContentsMargins(16, 12, 16, 0)
        self.insertWidget(0 if key in self.FIRST else self.count(), banner)
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


class BannerArea(QScrollArea):
    """The banner stack above the conversation. Each banner keeps its whole height (a long message is never
    clipped); when together they would take more than ``MAX_SHARE`` of the room they share with ``below``
    (the conversation), the area scrolls."""

    MAX_SHARE = 0.7

    def __init__(self, stack: BannerStack, below: QWidget) -> None:
        super().__init__()
        self._below = below
        self.setObjectName("bannerArea")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        inner = QWidget()
        inner.setObjectName("bannerAreaInner")
        inner.setLayout(stack)
        self.setWidget(inner)
        self.viewport().setAutoFillBackground(False)
        inner.installEventFilter(self)  # a banner added, removed or opened: fit again
        self.setFixedHeight(0)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LayoutRequest or (obj is self.window() and event.type() == QEvent.Type.Resize):
            QTimer.singleShot(0, self._fit)
        return False

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.window().installEventFilter(self)  # a shorter window leaves the banners less room
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._fit()

    def _fit(self) -> None:
        inner = self.widget()
        if inner is None:
            return
        needed = inner.heightForWidth(self.viewport().width()) if inner.hasHeightForWidth() else -1
        if needed < 0:
            needed = inner.sizeHint().height()
        if inner.layout() is not None and inner.layout().count() == 0:
            needed = 0
        cap = int((self.height() + self._below.height()) * self.MAX_SHARE)
        self.setFixedHeight(max(0, min(needed, cap)))


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
