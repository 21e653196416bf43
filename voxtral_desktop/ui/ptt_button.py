"""The large round push-to-talk button: press and hold to record, release to send."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen, QRadialGradient
from PySide6.QtWidgets import QSizePolicy, QWidget

from voxtral_desktop.ui import theme

DIAMETER = 84  # px: big enough to find without looking
HALO = 18  # px around the circle for the level ring while recording


class PushToTalkButton(QWidget):
    """Emits ``held`` on press and ``let_go`` on release; shows recording state and the input level.

    Not a QAbstractButton on purpose: those react to Space themselves and end a press when the pointer
    slides off, while here Space belongs to the window and a press lasts until the button is released.
    """

    held = Signal()
    let_go = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pttButton")
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setAttribute(Qt.WidgetAttribute.WA_Hover)
        self.setAccessibleName("Push to talk")
        self._recording = False
        self._level = 0.0
        self._mouse_down = False
        self._live = ""  # hands-free: "listening" (open microphone) or "hearing" (speech coming in); "" = not live

    def sizeHint(self) -> QSize:
        side = DIAMETER + 2 * HALO
        return QSize(side, side)

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    @property
    def recording(self) -> bool:
        return self._recording

    def set_recording(self, recording: bool) -> None:
        self._recording = recording
        if not recording:
            self._level = 0.0
        self.update()

    @property
    def live(self) -> str:
        return self._live

    def set_live(self, state: str) -> None:
        """Hands-free: "listening" shows an open microphone (green, ringed), "hearing" a wider ring; "" ends it."""
        if state != self._live:
            self._live = state
            self.update()

    def set_level(self, fraction: float) -> None:
        """Input level in [0, 1]: the halo grows with it while recording."""
        self._level = max(0.0, min(1.0, fraction))
        if self._recording:
            self.update()

    def _hit(self, pos: QPointF) -> bool:
        c = QPointF(self.width() / 2, self.height() / 2)
        return math.hypot(pos.x() - c.x(), pos.y() - c.y()) <= DIAMETER / 2 + 6

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.isEnabled() and self._hit(event.position()):
            self._mouse_down = True
            self.update()
            self.held.emit()
            event.accept()
            return
        event.ignore()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self._mouse_down:
            self._mouse_down = False
            self.update()
            self.let_go.emit()
            event.accept()
            return
        event.ignore()

    def changeEvent(self, event: object) -> None:  # type: ignore[override]
        super().changeEvent(event)  # type: ignore[arg-type]
        if not self.isEnabled() and self._mouse_down:
            # Disabled while held (the microphone vanished): end the press so nothing stays stuck.
            self._mouse_down = False
            self.let_go.emit()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        center = QPointF(self.width() / 2, self.height() / 2)
        r = DIAMETER / 2
        enabled = self.isEnabled()
        hovered = self.underMouse() and enabled

        if self._recording:
            # Halo: a soft ring that breathes with the voice.
            halo = r + 5 + self._level * (HALO - 6)
            ring = QColor(theme.RECORD)
            ring.setAlpha(45)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(ring)
            p.drawEllipse(center, halo, halo)
            ring.setAlpha(70)
            p.setBrush(ring)
            p.drawEllipse(center, r + 4, r + 4)
            base, light = QColor(theme.RECORD), QColor("#F2676B")
        elif not enabled:
            base, light = QColor(theme.DISABLED), QColor("#DEDEE3")
        elif self._live:
            # Hands-free: a green open microphone, ringed; the ring widens while speech comes in.
            ring = QColor(theme.SUCCESS)
            p.setPen(Qt.PenStyle.NoPen)
            for extra, alpha in ((HALO - 4 if self._live == "hearing" else 9, 40), (4, 80)):
                ring.setAlpha(alpha)
                p.setBrush(ring)
                p.drawEllipse(center, r + extra, r + extra)
            base, light = QColor("#23875A" if self._mouse_down else theme.SUCCESS), QColor("#4CC08A")
        else:
            base = QColor(theme.ACCENT_DARK if self._mouse_down else theme.ACCENT)
            light = QColor(theme.ACCENT_LIGHT if hovered else "#FB6A34")
            # A faint drop shadow so the button sits above the dock.
            for i, alpha in enumerate((26, 16, 8)):
                shadow = QColor(0, 0, 0, alpha)
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(shadow)
                p.drawEllipse(center + QPointF(0, 2 + i), r + 1 + i, r + 1 + i)

        grad = QRadialGradient(center - QPointF(r * 0.35, r * 0.45), r * 1.6)
        grad.setColorAt(0.0, light)
        grad.setColorAt(1.0, base)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(grad)
        p.drawEllipse(center, r, r)

        if self._recording:
            self._draw_stop(p, center, r)
        else:
            self._draw_mic(p, center, r)
        p.end()

    @staticmethod
    def _draw_mic(p: QPainter, c: QPointF, r: float) -> None:
        s = r / 42.0  # drawn for a 42 px radius, scaled
        white = QColor("white")
        p.setBrush(white)
        p.setPen(Qt.PenStyle.NoPen)
        capsule = QRectF(c.x() - 7 * s, c.y() - 19 * s, 14 * s, 24 * s)
        p.drawRoundedRect(capsule, 7 * s, 7 * s)
        pen = QPen(white, 3.2 * s, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        cup = QPainterPath()
        cup.moveTo(c.x() - 13 * s, c.y() - 3 * s)
        cup.cubicTo(
            c.x() - 13 * s, c.y() + 13 * s, c.x() + 13 * s, c.y() + 13 * s, c.x() + 13 * s, c.y() - 3 * s
        )
        p.drawPath(cup)
        p.drawLine(QPointF(c.x(), c.y() + 9 * s), QPointF(c.x(), c.y() + 17 * s))
        p.drawLine(QPointF(c.x() - 7 * s, c.y() + 17 * s), QPointF(c.x() + 7 * s, c.y() + 17 * s))

    @staticmethod
    def _draw_stop(p: QPainter, c: QPointF, r: float) -> None:
        # While recording, the glyph turns into sound bars: "listening".
        s = r / 42.0
        p.setPen(QPen(QColor("white"), 4.5 * s, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        for dx, h in ((-12, 8), (-4, 16), (4, 11), (12, 6)):
            p.drawLine(QPointF(c.x() + dx * s, c.y() - h * s), QPointF(c.x() + dx * s, c.y() + h * s))
