"""Render resources/voxtral-desktop.svg to resources/voxtral-desktop.png (256x256) with Qt, offscreen.

Run after editing the SVG: `QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/render_icon.py`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

RESOURCES = Path(__file__).resolve().parents[1] / "resources"


def render(svg: Path, png: Path, size: int = 256) -> None:
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    if not image.save(str(png), "PNG"):
        raise SystemExit(f"could not write {png}")
    print(f"wrote {png} ({size}x{size})")


if __name__ == "__main__":
    app = QGuiApplication(sys.argv[:1])
    render(RESOURCES / "voxtral-desktop.svg", RESOURCES / "voxtral-desktop.png")
