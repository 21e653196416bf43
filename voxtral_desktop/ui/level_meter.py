"""A slim input-level meter: RMS in dBFS, fast attack and slow release so speech reads at a glance."""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from voxtral_desktop.ui import theme

FLOOR_DB = -60.0  # quieter than this shows as empty; room noise sits around -60 to -50 dBFS
RELEASE = 0.82  # per update: how much of the previous level is kept when the new one is lower


def level_fraction(rms: float) -> float:
    """Map an RMS level (full scale 1.0) to [0, 1] on a dB scale."""
    if rms <= 0:
        return 0.0
    db = 20.0 * math.log10(max(rms, 1e-9))
    return max(0.0, min(1.0, (db - FLOOR_DB) / -FLOOR_DB))


class LevelMeter(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("levelMeter")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Input level")
        self._value = 0.0

    def sizeHint(self) -> QSize:
        return QSize(220, 8)

    @property
    def value(self) -> float:
        return self._value

    def set_rms(self, rms: float) -> None:
        target = level_fraction(rms)
        new = target if target >= self._value else max(target, self._value * RELEASE)
        if abs(new - self._value) > 1e-3:
            self._value = new
            self.update()

    def reset(self) -> None:
        self._value = 0.0
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        h = self.height()
        track = QRectF(0, 0, self.width(), h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(theme.BORDER))
        p.drawRoundedRect(track, h / 2, h / 2)
        if self._value > 0.005 and self.isEnabled():
            fill = QRectF(0, 0, max(h, self.width() * self._value), h)
            grad = QLinearGradient(0, 0, self.width(), 0)
            grad.setColorAt(0.0, QColor(theme.SUCCESS))
            grad.setColorAt(0.7, QColor("#8BC34A"))
            grad.setColorAt(0.88, QColor(theme.WARNING))
            grad.setColorAt(1.0, QColor(theme.DANGER))
            p.setBrush(grad)
            p.drawRoundedRect(fill, h / 2, h / 2)
        p.end()
