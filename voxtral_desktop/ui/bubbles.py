"""The bubbles of the chat view: a bubble row, the user's voice or typed turn, and Voxtral's reply as it grows."""

from __future__ import annotations

import html
from collections.abc import Mapping

from PySide6.QtCore import QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.ui import theme
from voxtral_desktop.ui.timings_view import TimingsDetails

BUBBLE_PADDING_X = 2 * 16 + 2  # left and right padding inside a bubble, plus its border
NOT_SAID_TIP = "The greyed words were written but not said: you interrupted the voice before them."


def format_seconds(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def format_duration(seconds: float) -> str:
    """A recording's length: "2.4 s", or "1:05" past a minute."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


class BubbleLabel(QLabel):
    """Word-wrapped text that asks for its natural width, up to its maximum.

    A plain word-wrapped QLabel guesses a narrow width and wraps short replies into tall, thin bubbles.
    """

    _plain = ""  # the words a rich text shows (its markup must not count towards the width)

    def show_text(self, plain: str, rich: str = "") -> None:
        """``plain`` as it is, or its ``rich`` rendering when given (model output itself is never markup)."""
        self._plain = plain
        self.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
        self.setText(rich or plain)

    def _natural_width(self) -> int:
        fm = self.fontMetrics()
        shown = self._plain if self.textFormat() == Qt.TextFormat.RichText else self.text()
        lines = shown.splitlines() or [" "]
        m = self.contentsMargins()
        return max(fm.horizontalAdvance(line) for line in lines) + m.left() + m.right() + 2

    def sizeHint(self) -> QSize:
        width = min(self._natural_width(), self.maximumWidth())
        return QSize(width, self.heightForWidth(width))

    def minimumSizeHint(self) -> QSize:
        # Height comes from heightForWidth at the real width; a tall minimum here (the text wrapped at
        # a sliver) would make the scroll area reserve empty space under the conversation.
        return QSize(min(self._natural_width(), 80), self.fontMetrics().height())


def _text_label(object_name: str) -> BubbleLabel:
    label = BubbleLabel()
    label.setObjectName(object_name)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)  # model output is never markup
    label.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
    )
    label.setCursor(Qt.CursorShape.IBeamCursor)
    label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
    return label


class WaveformView(QWidget):
    """The recorded audio's loudness as rounded bars."""

    BAR, GAP, HEIGHT = 3, 2, 26

    def __init__(self, levels: list[float], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.levels = levels
        self.setFixedSize(self.sizeHint())

    def sizeHint(self) -> QSize:
        return QSize(len(self.levels) * (self.BAR + self.GAP) - self.GAP, self.HEIGHT)

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        color = QColor(theme.ACCENT)
        mid = self.height() / 2
        for i, level in enumerate(self.levels):
            h = max(3.0, level * (self.height() - 2))
            color.setAlphaF(0.45 + 0.55 * min(1.0, level * 1.4))
            p.setBrush(color)
            p.drawRoundedRect(QRectF(i * (self.BAR + self.GAP), mid - h / 2, self.BAR, h), 1.5, 1.5)
        p.end()


class TypingDots(QWidget):
    """Three pulsing dots while the first words are on their way."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._phase = 0
        self._timer = QTimer(self)
        self._timer.setInterval(160)
        self._timer.timeout.connect(self._tick)
        self.setFixedSize(38, 20)

    def showEvent(self, event: object) -> None:  # type: ignore[override]
        self._timer.start()

    def hideEvent(self, event: object) -> None:  # type: ignore[override]
        self._timer.stop()

    def _tick(self) -> None:
        self._phase = (self._phase + 1) % 6
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        for i in range(3):
            color = QColor(theme.FAINT)
            color.setAlphaF(1.0 if (self._phase // 2) == i else 0.35)
            p.setBrush(color)
            p.drawEllipse(QRectF(4 + i * 11, 6, 8, 8))
        p.end()


class Bubble(QWidget):
    """A row: a small speaker name, the bubble(s), and a line of details, aligned left or right."""

    def __init__(self, turn_no: int, speaker: str, right: bool) -> None:
        super().__init__()
        self.turn_no = turn_no
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.column = QWidget()
        self.column.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Minimum)
        self.body = QVBoxLayout(self.column)
        self.body.setContentsMargins(0, 0, 0, 0)
        self.body.setSpacing(4)
        align = Qt.AlignmentFlag.AlignRight if right else Qt.AlignmentFlag.AlignLeft
        self.speaker = QLabel(speaker)
        self.speaker.setObjectName("speaker")
        self.body.addWidget(self.speaker, 0, align)
        if right:
            row.addStretch(1)
        row.addWidget(self.column)
        if not right:
            row.addStretch(1)
        self.align = align

    def set_max_width(self, width: int) -> None:
        self.column.setMaximumWidth(width)
        for label in self.column.findChildren(BubbleLabel):
            label.setMaximumWidth(width - BUBBLE_PADDING_X)


class UserBubble(Bubble):
    """What the user said: a voice message (waveform and length, later perhaps its transcript) or typed text.

    ``from_recording``: the turn was a recording (its reply's timings start when the recording ended), not typed;
    by default, when it has a waveform or a length.
    """

    def __init__(
        self,
        turn_no: int,
        duration_s: float | None = None,
        levels: list[float] | None = None,
        text: str = "",
        *,
        from_recording: bool | None = None,
    ) -> None:
        super().__init__(turn_no, "You", right=True)
        self.duration_s = duration_s
        recorded = levels is not None or duration_s is not None
        self.from_recording = recorded if from_recording is None else from_recording
        bubble = QFrame()
        bubble.setObjectName("userBubble")
        lay = QVBoxLayout(bubble)
        lay.setContentsMargins(14, 9, 14, 9)
        lay.setSpacing(6)
        self.duration: QLabel | None = None
        if levels is not None:
            row = QHBoxLayout()
            row.setContentsMargins(0, 0, 0, 0)
            row.setSpacing(10)
            row.addWidget(WaveformView(levels))
            seconds = duration_s or 0.0
            self.duration = QLabel(format_duration(seconds))
            self.duration.setObjectName("userDuration")
            self.duration.setToolTip(f"Voice message, {seconds:.1f} seconds")
            row.addWidget(self.duration)
            lay.addLayout(row)
        # Typed text, or the transcript of a voice message (smaller, under the waveform).
        self.text_label = _text_label("userText" if levels is None else "userTranscript")
        self.text_label.setText(text)
        lay.addWidget(self.text_label)  # parented first: a parentless widget shown is a window of its own
        self.text_label.setVisible(bool(text))
        if levels is None:
            lay.setContentsMargins(16, 11, 16, 12)
        self.body.addWidget(bubble, 0, self.align)
        self.bubble = bubble

    @property
    def text(self) -> str:
        return self.text_label.text() if self.text_label.property("kind") != "placeholder" else ""

    def set_transcript(self, text: str) -> None:
        self.text_label.setText(text.strip())
        self.text_label.setVisible(bool(text.strip()))
        self.set_max_width(self.column.maximumWidth())


class ReplyBubble(Bubble):
    """Voxtral's reply: dots, then words as chunks arrive, then timings (or an error, or "interrupted")."""

    def __init__(self, turn_no: int, speaker: str = "Voxtral") -> None:
        super().__init__(turn_no, speaker, right=False)
        self.chunks: list[str] = []
        self.status = ReplyStatus.STREAMING
        self.bubble = QFrame()
        self.bubble.setObjectName("assistantBubble")
        lay = QVBoxLayout(self.bubble)
        lay.setContentsMargins(16, 11, 16, 12)
        lay.setSpacing(0)
        self.dots = TypingDots()
        lay.addWidget(self.dots)
        # Before the first words on a slow machine: what the model is doing ("thinking... 12 s").
        self.progress = QLabel()
        self.progress.setObjectName("meta")
        self.progress.hide()
        lay.addWidget(self.progress)
        self.label = _text_label("bubbleText")
        self.label.hide()
        lay.addWidget(self.label)
        self.body.addWidget(self.bubble, 0, self.align)
        self.error_bubble: QFrame | None = None
        # The footer: how the reply ended and its timings, with the breakdown behind a Details toggle.
        self.footer = QWidget()
        row = QHBoxLayout(self.footer)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        self.meta = QLabel()
        self.meta.setObjectName("meta")
        self.meta.hide()
        row.addWidget(self.meta)
        self.details = TimingsDetails(self.meta)
        toggle, panel = self.details.widgets()
        row.addWidget(toggle)
        self.footer.hide()
        self.body.addWidget(self.footer, 0, self.align)
        self.body.addWidget(panel, 0, self.align)
        self.first_ms: float | None = None
        self.total_ms: float | None = None
        self.first_sound_ms: float | None = None
        # A spoken reply the user interrupted: how many of its chunks the voice had begun; None: all count.
        self.heard_chunks: int | None = None

    @property
    def text(self) -> str:
        return " ".join(self.chunks)

    @property
    def heard_text(self) -> str:
        """The words the voice said (the whole reply unless the user cut the voice short)."""
        return " ".join(self.chunks[: self._heard_count()])

    @property
    def unheard_text(self) -> str:
        """The words written but never said: shown greyed; "" when there are none."""
        return " ".join(self.chunks[self._heard_count() :])

    def _heard_count(self) -> int:
        shown = len(self.chunks)
        return shown if self.heard_chunks is None else max(0, min(self.heard_chunks, shown))

    def set_progress(self, text: str) -> None:
        """What the model is doing while no words have come; "" hides it."""
        self.progress.setText(text)
        self.progress.setVisible(bool(text) and not self.chunks and self.status == ReplyStatus.STREAMING)

    def append(self, text: str) -> None:
        if not text:
            return
        self.chunks.append(text)
        if self.label.isHidden():
            self.dots.hide()
            self.progress.hide()
            self.label.show()
        # One label per reply; only its text changes, so only this bubble is laid out again.
        self._show_text()

    def _show_text(self) -> None:
        if self._heard_count() == len(self.chunks):  # every chunk counts (always so while streaming)
            self.label.show_text(self.text)
            self.label.setToolTip("")
            return
        heard, rest = self.heard_text, self.unheard_text
        # The unsaid rest stays readable (it was written) but greyed and slanted: not only colour tells it.
        lead = f"{html.escape(heard)} " if heard else ""
        rich = (
            f"<p style='white-space:pre-wrap; margin:0'>{lead}"
            f"<span style='color:{theme.MUTED}; font-style:italic'>{html.escape(rest)}</span></p>"
        )
        self.label.show_text(self.text, rich)
        self.label.setToolTip(NOT_SAID_TIP)

    def finish(
        self,
        status: ReplyStatus,
        first_ms: float | None,
        total_ms: float | None,
        text: str = "",
        detail: str = "",
        heard_chunks: int | None = None,
    ) -> None:
        """The reply ended: COMPLETE shows its timings, INTERRUPTED says so (and greys the words the voice never
        said, ``heard_chunks`` being how many it began), ERROR adds an error bubble. Called again for a reply
        already finished (the voice was stopped after the last words), it updates the bubble in place."""
        self.status = ReplyStatus(status)
        self.first_ms, self.total_ms = first_ms, total_ms
        self.heard_chunks = heard_chunks if self.status == ReplyStatus.INTERRUPTED else None
        self.dots.hide()
        self.progress.hide()
        self.bubble.setVisible(bool(self.chunks) or self.status != ReplyStatus.ERROR)
        if self.chunks:
            self._show_text()
        self._remove_error()
        if status == ReplyStatus.ERROR:
            self._add_error(text, detail)
            self.meta.setText(f"Failed after {format_seconds(total_ms / 1000)}" if total_ms else "Failed")
        elif status == ReplyStatus.INTERRUPTED:
            if not self.chunks:
                self.label.show_text("…")
                self.label.show()
            took = f" after {format_seconds(total_ms / 1000)}" if total_ms else ""
            self.meta.setText(f"Interrupted{took}{self._unsaid_note()}")
        else:
            if not self.chunks:
                self.label.show_text("(no reply)")
                self.label.show()
            self.meta.setText(self._complete_text())
        self.meta.setObjectName("metaInterrupted" if self.status == ReplyStatus.INTERRUPTED else "meta")
        theme.repolish(self.meta)
        self.meta.setVisible(bool(self.meta.text()))
        self._show_footer()

    def _unsaid_note(self) -> str:
        if not self.unheard_text:
            return ""
        return "  ·  none of it was said" if not self.heard_text else "  ·  the rest was not said"

    def _show_footer(self) -> None:
        self.footer.setVisible(bool(self.meta.text()) or not self.details.toggle.isHidden())

    def _complete_text(self) -> str:
        parts = []
        if self.first_ms is not None:
            parts.append(f"First words in {format_seconds(self.first_ms / 1000)}")
        if self.first_sound_ms is not None:
            parts.append(f"first sound in {format_seconds(self.first_sound_ms / 1000)}")
        if self.total_ms is not None:
            parts.append(f"{format_seconds(self.total_ms / 1000)} in all")
        return "  ·  ".join(parts)

    def set_timings(self, timings: Mapping[str, float | None], *, from_recording: bool = True) -> None:
        """Where the reply's time went (stage -> ms since the user's turn ended; ``from_recording``: that turn
        was a recording, not typed): first words, first sound and the end count from the release of the
        button, and Details opens the whole breakdown. Called again when the first sound comes after the
        last words."""
        first, last, sound = (timings.get(k) for k in ("first_chunk", "last_chunk", "first_sound"))
        self.first_ms = first if first is not None else self.first_ms
        self.total_ms = last if last is not None else self.total_ms
        self.first_sound_ms = sound if sound is not None else self.first_sound_ms
        if self.status == ReplyStatus.COMPLETE:
            self.meta.setText(self._complete_text())
        self.details.show_timings(timings, from_recording=from_recording)
        self._show_footer()

    def _remove_error(self) -> None:
        if self.error_bubble is not None:
            self.body.removeWidget(self.error_bubble)
            self.error_bubble.hide()
            self.error_bubble.setParent(None)  # out of the row now, not at the next turn of the event loop
            self.error_bubble.deleteLater()
            self.error_bubble = None

    def _add_error(self, text: str, detail: str) -> None:
        box = QFrame()
        box.setObjectName("errorBubble")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(16, 11, 16, 12)
        lay.setSpacing(4)
        title = _text_label("errorTitle")
        title.setText(f"⚠  {text}" if text else "⚠  Something went wrong.")
        lay.addWidget(title)
        if detail:
            info = _text_label("errorDetail")
            info.setText(detail)
            lay.addWidget(info)
        self.body.insertWidget(self.body.indexOf(self.footer), box, 0, self.align)
        self.error_bubble = box
        self.set_max_width(self.column.maximumWidth())
