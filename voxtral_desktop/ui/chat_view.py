"""The conversation: the user's voice turns on the right, Voxtral's replies growing chunk by chunk on the left."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.history import TurnRecord
from voxtral_desktop.ui import theme
from voxtral_desktop.ui.bubbles import Bubble, ReplyBubble, UserBubble, format_duration
from voxtral_desktop.ui.view_models.status import Mode

BUBBLE_WIDTH_SHARE = 0.78  # of the visible width
BUBBLE_MAX_WIDTH = 640  # px: long lines are hard to read
BOTTOM_SLACK = 24  # px: "at the bottom" even when a few pixels short, so tiny scrolls don't unstick it


EMPTY_TEXT = {
    Mode.CONVERSATION: (
        "Hold to talk",
        (
            "Press and hold the button below (or the Space bar), ask your question, and let go,\n"
            "or type a message. Voxtral's answer appears here as it is spoken."
        ),
    ),
    Mode.TRANSCRIBE: (
        "Hold to dictate",
        (
            "Press and hold the button below (or the Space bar) and speak; let go when you are done.\n"
            "What you said appears here as text, ready to copy."
        ),
    ),
}
# Hands-free: nothing to hold; what to do, and how a turn ends, instead.
HANDS_FREE_EMPTY_TEXT = {
    Mode.CONVERSATION: (
        "Just talk",
        (
            "Hands-free is on: the microphone is listening. Ask your question and pause: "
            "it is sent after a moment of silence. Talk over a reply to interrupt it. "
            "The button, Space or Esc pauses listening."
        ),
    ),
    Mode.TRANSCRIBE: (
        "Just dictate",
        (
            "Hands-free is on: the microphone is listening. Speak, and pause: "
            "each stretch of speech appears here as text. The button, Space or Esc pauses listening."
        ),
    ),
}
REPLY_SPEAKER = {Mode.CONVERSATION: "Voxtral", Mode.TRANSCRIBE: "Transcript"}


class _EmptyState(QWidget):
    def __init__(self) -> None:
        super().__init__()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 90, 24, 24)
        lay.setSpacing(8)
        self.title = QLabel()
        self.title.setObjectName("emptyTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = QLabel()
        self.text.setObjectName("emptyText")
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setWordWrap(True)
        lay.addWidget(self.title)
        lay.addWidget(self.text)
        self.mode: str = Mode.CONVERSATION
        self.hands_free = False
        self.set_mode(Mode.CONVERSATION)

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        texts = HANDS_FREE_EMPTY_TEXT if self.hands_free else EMPTY_TEXT
        title, text = texts.get(mode, texts[Mode.CONVERSATION])
        self.title.setText(title)
        self.text.setText(text)

    def set_hands_free(self, on: bool) -> None:
        self.hands_free = on
        self.set_mode(self.mode)


class ChatView(QScrollArea):
    """A scrolling column of turns that follows new text only while the user is at the bottom."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatScroll")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        container = QWidget()
        container.setObjectName("chatContainer")
        self._layout = QVBoxLayout(container)
        self._layout.setContentsMargins(28, 20, 24, 20)
        self._layout.setSpacing(14)
        self._empty = _EmptyState()
        self._layout.addWidget(self._empty)
        self._layout.addStretch(1)
        self.setWidget(container)
        self._turns: list[Bubble] = []
        self._replies: dict[int, ReplyBubble] = {}
        self._users: dict[int, UserBubble] = {}
        self._stick = True
        self.mode: str = Mode.CONVERSATION
        bar = self.verticalScrollBar()
        bar.setSingleStep(24)
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range_changed)

    # --- scrolling ----------------------------------------------------------------------------------

    def is_at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - BOTTOM_SLACK

    def _on_scrolled(self, value: int) -> None:
        self._stick = self.is_at_bottom()

    def _on_range_changed(self, lo: int, hi: int) -> None:
        # Grown content keeps the view pinned to the newest words, unless the user scrolled up to read.
        if self._stick:
            self.verticalScrollBar().setValue(hi)

    def scroll_to_bottom(self) -> None:
        self._stick = True
        self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    # --- content ------------------------------------------------------------------------------------

    def _bubble_width(self) -> int:
        return max(200, min(BUBBLE_MAX_WIDTH, int(self.viewport().width() * BUBBLE_WIDTH_SHARE)))

    def _add(self, turn: Bubble) -> None:
        self._empty.hide()
        turn.set_max_width(self._bubble_width())
        self._layout.insertWidget(self._layout.count() - 1, turn)
        self._turns.append(turn)

    def set_mode(self, mode: str) -> None:
        """Replies from now on are labelled for ``mode`` ("Transcript" when transcribing)."""
        self.mode = mode
        self._empty.set_mode(mode)

    def set_hands_free(self, on: bool) -> None:
        """The empty conversation explains hands-free (just talk) instead of holding the button."""
        self._empty.set_hands_free(on)

    @property
    def empty_text(self) -> tuple[str, str]:
        """(title, text) the empty conversation shows."""
        return self._empty.title.text(), self._empty.text.text()

    def add_user_turn(self, turn_no: int, duration_s: float, levels: list[float]) -> UserBubble:
        turn = UserBubble(turn_no, duration_s, levels)
        self._users[turn_no] = turn
        self.scroll_to_bottom()  # the user just spoke: show their turn and what follows
        self._add(turn)
        return turn

    def add_user_text(self, turn_no: int, text: str) -> UserBubble:
        """A typed turn: the user's words in their bubble, no waveform."""
        turn = UserBubble(turn_no, text=text)
        self._users[turn_no] = turn
        self.scroll_to_bottom()
        self._add(turn)
        return turn

    def set_user_transcript(self, turn_no: int, text: str) -> None:
        """What the user said, under the waveform of their voice message (the "show what I said" setting)."""
        turn = self._users.get(turn_no)
        if turn is not None:
            turn.set_transcript(text)

    def begin_reply(self, turn_no: int, mode: str | None = None) -> ReplyBubble:
        """A reply bubble labelled for the ``mode`` it answers in (default: the view's mode)."""
        turn = ReplyBubble(turn_no, REPLY_SPEAKER.get(mode or self.mode, "Voxtral"))
        self._replies[turn_no] = turn
        self._add(turn)
        return turn

    def clear(self) -> None:
        """Empty the view (a new conversation, or one about to be rebuilt from the history)."""
        for turn in self._turns:
            self._layout.removeWidget(turn)
            turn.hide()
            turn.deleteLater()
        self._turns.clear()
        self._replies.clear()
        self._users.clear()
        self._empty.show()
        self._stick = True

    def load_turns(self, records: Iterable[TurnRecord]) -> None:
        """Rebuild the view from stored turns (``TurnRecord``s), oldest first, and show the newest.

        Stored turns are keyed by their negative database id, so they never collide with the live turns
        that follow when the conversation goes on.
        """
        self.clear()
        self.setUpdatesEnabled(False)
        asked: UserBubble | None = None  # the turn the next reply answers
        try:
            for rec in records:
                key = -int(rec.id)
                if rec.role == "user":
                    asked = self._add_stored_user(key, rec)
                else:
                    reply = self._add_stored_reply(key, rec)
                    if rec.timings:
                        reply.set_timings(rec.timings, from_recording=asked is None or asked.from_recording)
        finally:
            self.setUpdatesEnabled(True)
        self.scroll_to_bottom()

    def _add_stored_user(self, key: int, rec: TurnRecord) -> UserBubble:
        text = (rec.text or "").strip()
        duration = rec.duration_s
        if text:
            turn = UserBubble(key, duration, text=text)
            if duration:
                turn.text_label.setToolTip(f"Spoken, {format_duration(duration)}")
        else:  # a voice message kept without its words (or its length)
            placeholder = f"(spoken, {format_duration(duration or 0.0)})"
            turn = UserBubble(key, duration, text=placeholder, from_recording=True)
            turn.text_label.setProperty("kind", "placeholder")
            theme.repolish(turn.text_label)
        self._users[key] = turn
        self._add(turn)
        return turn

    def _add_stored_reply(self, key: int, rec: TurnRecord) -> ReplyBubble:
        turn = ReplyBubble(key, REPLY_SPEAKER.get(rec.mode, "Voxtral"))
        chunks = list(rec.chunks) if rec.chunks else ([rec.text] if rec.text else [])
        for chunk in chunks:
            turn.append(chunk)
        # The stored text is the truth; chunks are only how it arrived. It may be "": a spoken reply cut short
        # before its first word was heard keeps nothing.
        if turn.text != rec.text:
            turn.chunks = [rec.text] if rec.text else []
            turn.label.show_text(rec.text)
        self._replies[key] = turn
        self._add(turn)
        status = ReplyStatus(rec.status)
        if status == ReplyStatus.ERROR:
            turn.finish(status, rec.first_chunk_ms, rec.total_ms or 0.0, "The reply failed.", rec.error or "")
        elif status in (ReplyStatus.INTERRUPTED, ReplyStatus.STREAMING):
            # Still "streaming" in the history: the app stopped before the reply ended.
            turn.finish(ReplyStatus.INTERRUPTED, rec.first_chunk_ms, rec.total_ms or 0.0)
        else:
            first = rec.first_chunk_ms if rec.total_ms is not None else None
            turn.finish(status, first, rec.total_ms)
        return turn

    def append_chunk(self, turn_no: int, text: str) -> None:
        reply = self._replies.get(turn_no) or self.begin_reply(turn_no)
        reply.append(text)

    def set_reply_progress(self, turn_no: int, text: str) -> None:
        """What the model is doing before a reply's first words ("listening to your 2 s question... 14 s")."""
        reply = self._replies.get(turn_no)
        if reply is not None:
            reply.set_progress(text)

    def finish_reply(
        self,
        turn_no: int,
        status: ReplyStatus,
        first_ms: float | None,
        total_ms: float,
        text: str = "",
        detail: str = "",
        heard_chunks: int | None = None,
    ) -> None:
        """How the reply ended (again, for one already finished: its bubble is updated, never doubled);
        ``heard_chunks``: an interrupted spoken reply's chunks the voice began (the rest shows as not said)."""
        reply = self._replies.get(turn_no) or self.begin_reply(turn_no)
        reply.finish(status, first_ms, total_ms, text, detail, heard_chunks)

    def set_reply_timings(self, turn_no: int, timings: Mapping[str, float | None] | None) -> None:
        """A reply's stage times (stage -> ms since the user's turn ended): the footer's figures and breakdown,
        counted from the recording's end or, for a typed turn, from when it was sent (as its bubble shows)."""
        reply = self._replies.get(turn_no)
        if reply is not None and timings:
            asked = self._users.get(turn_no)
            reply.set_timings(timings, from_recording=asked is None or asked.from_recording)

    def reply(self, turn_no: int) -> ReplyBubble:
        return self._replies[turn_no]

    def replies(self) -> list[ReplyBubble]:
        return list(self._replies.values())

    def user_turns(self) -> list[UserBubble]:
        return list(self._users.values())

    def has_turn(self, turn_no: int) -> bool:
        """This view shows the user's side of ``turn_no`` (so its reply belongs here)."""
        return turn_no in self._users

    def turns(self) -> list[UserBubble | ReplyBubble]:
        """Every bubble row, oldest first."""
        return list(self._turns)  # type: ignore[arg-type]

    def turn_count(self) -> int:
        return len(self._turns)

    def has_reply(self, turn_no: int) -> bool:
        return turn_no in self._replies

    def is_empty(self) -> bool:
        """No turns: the view shows how to start instead."""
        return not self._empty.isHidden()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        width = self._bubble_width()
        for turn in self._turns:
            turn.set_max_width(width)
