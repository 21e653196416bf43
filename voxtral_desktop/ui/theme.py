"""Colours, fonts and the style sheet: one calm light theme with an orange accent."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

from PySide6.QtCore import QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QApplication, QButtonGroup, QFrame, QHBoxLayout, QPushButton, QWidget

log = logging.getLogger(__name__)

ACCENT = "#F0561D"
ACCENT_DARK = "#D8460F"
ACCENT_LIGHT = "#FF7A45"
ACCENT_SOFT = "#FFF1EA"
ACCENT_BORDER = "#FBD5C3"
RECORD = "#E5484D"
BG = "#F5F5F7"
SURFACE = "#FFFFFF"
BORDER = "#E5E5EA"
TEXT = "#1D1D22"
MUTED = "#6F6F7A"
FAINT = "#A1A1AA"
SUCCESS = "#2F9E68"
WARNING = "#C98512"
DANGER = "#D93D42"
DANGER_SOFT = "#FFF2F2"
DANGER_BORDER = "#F5C6C8"
INFO = "#3E63DD"
INFO_SOFT = "#EEF2FF"
INFO_BORDER = "#C9D4FB"
WARNING_SOFT = "#FFF8EB"
WARNING_BORDER = "#F3DDAE"
DISABLED = "#D4D4DA"

BASE_POINT_SIZE = 10.5

STYLE_SHEET = f"""
QMainWindow, QDialog {{ background: {BG}; }}
QWidget {{ color: {TEXT}; }}
QToolTip {{ background: {TEXT}; color: white; border: none; padding: 5px 8px; border-radius: 6px; }}

#header {{ background: {SURFACE}; border-bottom: 1px solid {BORDER}; }}
#appTitle {{ font-size: 15pt; font-weight: 600; }}
#modelName {{ color: {MUTED}; }}
#statusPill {{ background: {BG}; border: 1px solid {BORDER}; border-radius: 13px; }}
#statusText {{ color: {TEXT}; font-size: 9.5pt; }}
#deviceNote {{ color: {MUTED}; font-size: 9pt; }}

#chatScroll, #chatContainer {{ background: {BG}; border: none; }}
#emptyTitle {{ font-size: 14pt; font-weight: 600; color: {TEXT}; }}
#emptyText {{ color: {MUTED}; }}
#assistantBubble {{ background: {SURFACE}; border: 1px solid {BORDER}; border-radius: 18px;
    border-top-left-radius: 6px; }}
#userBubble {{ background: {ACCENT_SOFT}; border: 1px solid {ACCENT_BORDER}; border-radius: 18px;
    border-top-right-radius: 6px; }}
#errorBubble {{ background: {DANGER_SOFT}; border: 1px solid {DANGER_BORDER}; border-radius: 18px;
    border-top-left-radius: 6px; }}
#bubbleText {{ font-size: 11pt; color: {TEXT}; }}
#errorTitle {{ font-size: 11pt; color: {DANGER}; font-weight: 600; }}
#errorDetail {{ font-size: 9pt; color: {MUTED}; }}
#userDuration {{ color: #9C4A22; font-size: 9.5pt; font-weight: 600; }}
#meta {{ color: {FAINT}; font-size: 8.5pt; }}
#metaInterrupted {{ color: {WARNING}; font-size: 8.5pt; }}
QToolButton#timingsToggle {{ background: transparent; border: 1px solid transparent; border-radius: 5px;
    color: {MUTED}; font-size: 8.5pt; padding: 0px 4px; }}
QToolButton#timingsToggle:hover, QToolButton#timingsToggle:focus {{ border-color: {BORDER}; color: {TEXT}; }}
#timingsDetails {{ background: {SURFACE}; border: 1px solid {BORDER}; border-radius: 8px; padding: 6px 10px;
    color: {MUTED}; font-size: 8.5pt; }}
#speaker {{ color: {MUTED}; font-size: 8.5pt; font-weight: 600; }}
#userText {{ font-size: 11pt; color: {TEXT}; }}
#userText[kind="placeholder"] {{ color: #9C4A22; font-style: italic; }}
#userTranscript {{ font-size: 10pt; color: #5A3A2A; }}
#userMeta {{ color: {FAINT}; font-size: 8.5pt; }}

#sidePanel {{ background: {SURFACE}; border-right: 1px solid {BORDER}; }}
#sideTitle {{ color: {MUTED}; font-size: 8.5pt; font-weight: 600; }}
#sideEmpty {{ color: {FAINT}; font-size: 9pt; }}
QListWidget#conversationList {{ background: transparent; border: none; outline: none; }}
QListWidget#conversationList QLineEdit {{ padding: 2px 6px; min-height: 16px; }}
QPushButton#newConversation {{ text-align: left; padding: 7px 12px; font-weight: 600; }}

#segmented {{ background: {BG}; border: 1px solid {BORDER}; border-radius: 9px; }}
QPushButton#segment {{ background: transparent; border: 1px solid transparent; border-radius: 7px;
    padding: 4px 14px; color: {MUTED}; font-size: 9.5pt; }}
QPushButton#segment:hover {{ color: {TEXT}; }}
QPushButton#segment:checked {{ background: {SURFACE}; border-color: {BORDER}; color: {TEXT}; }}
QPushButton#segment[invalid="true"] {{ color: {DANGER}; }}
QToolButton#iconButton {{ background: transparent; border: 1px solid transparent; border-radius: 8px;
    padding: 4px; }}
QToolButton#iconButton:hover {{ background: {BG}; border-color: {BORDER}; }}
QToolButton#iconButton:checked {{ background: {BG}; }}

QLineEdit#composer {{ border-radius: 16px; padding: 6px 14px; min-height: 20px; }}
QPushButton#send {{ border-radius: 16px; padding: 6px 18px; min-height: 20px; background: {ACCENT_SOFT};
    border-color: {ACCENT_BORDER}; color: {ACCENT_DARK}; font-weight: 600; }}
QPushButton#send:hover {{ background: #FFE6D9; border-color: {ACCENT_LIGHT}; }}
QPushButton#send:disabled {{ background: {SURFACE}; border-color: {BORDER}; color: {FAINT}; font-weight: 400; }}
#speaking {{ color: {INFO}; font-size: 9.5pt; }}

#dock {{ background: {SURFACE}; border-top: 1px solid {BORDER}; }}
#elapsed {{ color: {MUTED}; font-size: 10pt; font-family: "DejaVu Sans Mono", monospace; }}
#hint {{ color: {MUTED}; font-size: 9.5pt; }}
#hint[kind="warn"] {{ color: {WARNING}; }}
#hint[kind="info"] {{ color: {SUCCESS}; }}
#hint[kind="speaking"] {{ color: {INFO}; }}
#shortcuts {{ color: {FAINT}; font-size: 8.5pt; }}

#banner {{ border-radius: 10px; }}
#banner[kind="error"] {{ background: {DANGER_SOFT}; border: 1px solid {DANGER_BORDER}; }}
#banner[kind="warning"] {{ background: {WARNING_SOFT}; border: 1px solid {WARNING_BORDER}; }}
#banner[kind="info"] {{ background: {INFO_SOFT}; border: 1px solid {INFO_BORDER}; }}
#bannerTitle {{ font-weight: 600; }}
#bannerText {{ color: {TEXT}; }}
QToolButton#bannerDetailsToggle {{ background: transparent; border: 1px solid transparent; border-radius: 5px;
    color: {MUTED}; font-size: 8.5pt; padding: 0px 4px; }}
QToolButton#bannerDetailsToggle:hover, QToolButton#bannerDetailsToggle:focus {{ border-color: {BORDER};
    color: {TEXT}; }}
QScrollArea#bannerArea, #bannerAreaInner {{ background: transparent; }}
#bannerDetails {{ background: {SURFACE}; border: 1px solid {BORDER}; border-radius: 8px; padding: 2px 6px;
    color: {MUTED}; font-family: monospace; font-size: 8.5pt; }}

QPushButton {{ background: {SURFACE}; border: 1px solid {BORDER}; border-radius: 8px; padding: 6px 14px; }}
QPushButton:hover {{ background: #FAFAFB; border-color: #D3D3DA; }}
QPushButton:pressed {{ background: #F0F0F3; }}
QPushButton:disabled {{ color: {FAINT}; }}
QPushButton#primary {{ background: {ACCENT}; color: white; border: 1px solid {ACCENT}; font-weight: 600; }}
QPushButton#primary:hover {{ background: {ACCENT_LIGHT}; border-color: {ACCENT_LIGHT}; }}
QPushButton#primary:disabled {{ background: {DISABLED}; border-color: {DISABLED}; color: white; }}
QToolButton#headerButton {{ background: transparent; border: 1px solid transparent; border-radius: 8px;
    padding: 5px 10px; color: {MUTED}; }}
QToolButton#headerButton:hover {{ background: {BG}; border-color: {BORDER}; color: {TEXT}; }}
QToolButton#bannerClose {{ background: transparent; border: none; color: {MUTED}; font-size: 12pt; }}

QMenu {{ background: {SURFACE}; border: 1px solid {BORDER}; border-radius: 8px; padding: 4px; }}
QMenu::item {{ padding: 6px 22px 6px 14px; border-radius: 5px; }}
QMenu::item:selected {{ background: {ACCENT_SOFT}; color: {TEXT}; }}
QMenu::item:disabled {{ color: {FAINT}; }}
QMenu::separator {{ height: 1px; background: {BORDER}; margin: 4px 8px; }}
QCheckBox {{ spacing: 8px; }}
QSlider::groove:horizontal {{ height: 4px; background: {BORDER}; border-radius: 2px; }}
QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {SURFACE}; border: 1px solid #C8C8D0; width: 14px; height: 14px;
    margin: -6px 0; border-radius: 8px; }}
QSlider::handle:horizontal:hover {{ border-color: {ACCENT}; }}
QLineEdit, QComboBox {{ background: {SURFACE}; border: 1px solid {BORDER}; border-radius: 7px;
    padding: 5px 8px; min-height: 18px; }}
QLineEdit:focus, QComboBox:focus {{ border-color: {ACCENT}; }}
QLineEdit[invalid="true"] {{ border-color: {DANGER}; background: {DANGER_SOFT}; }}
#fieldError {{ color: {DANGER}; font-size: 9pt; }}
#fieldHelp {{ color: {MUTED}; font-size: 9pt; }}
#fieldHelp[kind="warn"] {{ color: {WARNING}; }}
#fieldHelp[kind="ok"] {{ color: {SUCCESS}; }}
#sectionTitle {{ font-size: 11pt; font-weight: 600; padding-top: 6px; }}
#settingsCard {{ background: {SURFACE}; border: 1px solid {BORDER}; border-radius: 12px; }}
#dialogError {{ color: {DANGER}; }}

QScrollBar:vertical {{ background: transparent; width: 10px; margin: 4px 2px 4px 0; }}
QScrollBar::handle:vertical {{ background: #CFCFD6; border-radius: 4px; min-height: 36px; }}
QScrollBar::handle:vertical:hover {{ background: #B4B4BE; }}
QScrollBar::add-line:vertical, QScrollBar::sub-line:vertical {{ height: 0; }}
QScrollBar::add-page:vertical, QScrollBar::sub-page:vertical {{ background: transparent; }}
"""


def _chevron_file() -> str:
    """A small down-arrow for combo boxes, drawn once: a styled QComboBox otherwise shows no usable arrow."""
    from voxtral_desktop.core import paths

    target = paths.user_cache_dir() / "ui" / "chevron-v1.png"
    # An empty or broken file (a full disk cut an older version's save short) is drawn again.
    if QImage(str(target)).isNull():
        target.parent.mkdir(parents=True, exist_ok=True)
        image = QImage(24, 24, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        p = QPainter(image)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(
            QPen(
                QColor(MUTED), 2.6, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin
            )
        )
        p.drawPolyline([QPointF(6, 9), QPointF(12, 15), QPointF(18, 9)])
        p.end()
        # Saved beside it, read back, then renamed: a full disk leaves no half-written arrow for the next
        # start to use (Qt's save() can report success for a file the disk had no room for).
        partial = target.with_name(f".{target.name}.partial")
        if image.save(str(partial), "PNG") and not QImage(str(partial)).isNull():
            os.replace(partial, target)
        else:
            partial.unlink(missing_ok=True)
            raise OSError(f"could not write {target}")
    return target.as_posix()


def combo_style() -> str:
    return f"""
QComboBox {{ padding-right: 26px; }}
QComboBox::drop-down {{ subcontrol-origin: padding; subcontrol-position: center right; width: 24px;
    border: none; }}
QComboBox::down-arrow {{ image: url("{_chevron_file()}"); width: 12px; height: 12px; }}
QComboBox QAbstractItemView {{ background: {SURFACE}; border: 1px solid {BORDER}; border-radius: 6px;
    selection-background-color: {ACCENT_SOFT}; selection-color: {TEXT}; outline: none; padding: 4px; }}
"""


def apply_theme(app: QApplication) -> None:
    """Font, palette and style sheet for the whole application."""
    app.setStyle("Fusion")  # the same look on every platform, and one that honours the style sheet fully
    font = QFont(app.font())
    font.setPointSizeF(BASE_POINT_SIZE)
    app.setFont(font)
    palette = app.palette()
    palette.setColor(QPalette.ColorRole.Window, QColor(BG))
    palette.setColor(QPalette.ColorRole.Base, QColor(SURFACE))
    palette.setColor(QPalette.ColorRole.Text, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.WindowText, QColor(TEXT))
    palette.setColor(QPalette.ColorRole.Highlight, QColor(ACCENT))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor("white"))
    app.setPalette(palette)
    try:
        extra = combo_style()
    except OSError as e:  # a read-only or full cache folder costs the arrow, not the app
        log.warning("combo boxes drawn without their arrow: %s", e)
        extra = ""
    app.setStyleSheet(STYLE_SHEET + extra)


def sidebar_icon(size: int = 20) -> QIcon:
    """A window with its left pane marked: the button that shows or hides the conversation list."""
    image = QImage(size * 2, size * 2, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.scale(2, 2)
    pen = QPen(QColor(MUTED), 1.6)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    m = size * 0.16
    p.drawRoundedRect(QRectF(m, m + 1, size - 2 * m, size - 2 * m - 2), 3, 3)
    x = m + (size - 2 * m) * 0.36
    p.drawLine(QPointF(x, m + 1), QPointF(x, size - m - 1))
    p.end()
    image.setDevicePixelRatio(2)
    return QIcon(QPixmap.fromImage(image))


def repolish(widget: QWidget) -> None:
    """Re-apply the style sheet after a dynamic property the sheet selects on has changed."""
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()


def segmented(owner: QObject, labels: Sequence[str]) -> tuple[QFrame, QButtonGroup, list[QPushButton]]:
    """Exclusive toggle buttons drawn as one control (the header's mode switch, the Settings pages)."""
    box = QFrame()
    box.setObjectName("segmented")
    row = QHBoxLayout(box)
    row.setContentsMargins(3, 3, 3, 3)
    row.setSpacing(2)
    group = QButtonGroup(owner)
    group.setExclusive(True)
    buttons: list[QPushButton] = []
    for label in labels:
        button = QPushButton(label.replace("&", "&&"))  # a lone & would underline the next letter
        button.setObjectName("segment")
        button.setCheckable(True)
        button.ensurePolished()
        button.setMinimumWidth(button.sizeHint().width())  # never squeezed into clipped words
        group.addButton(button)
        row.addWidget(button)
        buttons.append(button)
    return box, group, buttons
