"""Push-to-talk from the mouse and the Space bar: one press at a time, as ``pressed`` and ``released``."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

from voxtral_desktop.ui.ptt_button import PushToTalkButton

# X11 auto-repeats a held key as KeyRelease+KeyPress pairs sent together (same server timestamp). Qt marks a
# pair as a repeat only if the press is already queued when it handles the release; on a loaded machine it
# often is not, and the pair arrives as a real release and a real press (most 2.5 s holds at load 4 on 2
# cores; the press came up to 14 ms after its release). So a release of Space is final only when no press
# follows within this grace. Qt does not expose the server's repeat settings (under xcb its style hint says
# 30 Hz whatever the server does; Xvfb repeats at 25 Hz): 150 ms is ten times the worst lag measured and
# over three repeat intervals at the usual 25-30 Hz (a lost pair is followed by the next one). The reply's
# timings still count from the let-go. A window busy past the grace is fine too: Qt delivers a press that
# came meanwhile before it runs the overdue timer (tests/ui/test_push_to_talk_x11.py stalls it to check).
RELEASE_GRACE_MS = 150


def typing_in_a_field() -> bool:
    """The keyboard focus is in a text field, where Space types a space."""
    focus = QApplication.focusWidget()
    if isinstance(focus, (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox)):
        return True
    return isinstance(focus, QComboBox) and focus.isEditable()


class PushToTalk(QObject):
    """An application-wide event filter for ``window``'s keys, plus the talk button's mouse presses.

    Holding the button or Space emits ``pressed`` once and letting go emits ``released`` once; a second
    press while one is held, and the auto-repeat of a held key, are ignored. Letting go of Space counts once
    no press has followed for ``RELEASE_GRACE_MS`` (until then it may be an auto-repeat Qt did not recognise).
    Space pressed while the button is disabled emits ``refused`` instead (the window says why). Esc calls
    ``cancel``, which returns whether there was something to stop; otherwise Esc goes on to the widget
    (closing a popup, say).
    """

    pressed = Signal()
    released = Signal(float)  # time.perf_counter() of the let-go (for Space, before its grace)
    refused = Signal()

    def __init__(self, window: QWidget, button: PushToTalkButton, cancel: Callable[[], bool]) -> None:
        super().__init__(window)
        self._window = window
        self._button = button
        self._cancel = cancel
        self._mouse_held = False
        self._space_held = False
        self._space_let_go_at = 0.0  # perf_counter() of the release waiting out its grace
        self._grace = QTimer(self)
        self._grace.setSingleShot(True)
        self._grace.timeout.connect(self._on_grace_over)
        button.held.connect(self._on_mouse_held)
        button.let_go.connect(self._on_mouse_let_go)
        # Application-wide, so Space and Esc work whichever of our widgets has focus (buttons would
        # otherwise take Space as a click); events for other windows, like Settings, pass through.
        QApplication.instance().installEventFilter(self)  # type: ignore[union-attr]

    @property
    def held(self) -> bool:
        return self._mouse_held or self._space_held

    def reset(self) -> None:
        """The recording ended on its own (limit, error, Esc): the press in progress is over."""
        self._grace.stop()
        self._mouse_held = self._space_held = False

    def detach(self) -> None:
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)

    def _on_mouse_held(self) -> None:
        if self.held:
            return
        self._mouse_held = True
        self.pressed.emit()

    def _on_mouse_let_go(self) -> None:
        if self._mouse_held:
            self._mouse_held = False
            self.released.emit(time.perf_counter())

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        etype = event.type()
        if etype not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            return False
        if not isinstance(obj, QWidget) or obj.window() is not self._window:
            return False
        key = event.key()  # type: ignore[attr-defined]
        if key == Qt.Key.Key_Space and not typing_in_a_field():
            self._on_space(etype == QEvent.Type.KeyPress, event)  # type: ignore[arg-type]
            return True
        return key == Qt.Key.Key_Escape and etype == QEvent.Type.KeyPress and self._cancel()

    def _on_space(self, pressed: bool, event: QKeyEvent) -> None:
        if pressed and self._grace.isActive():
            self._grace.stop()  # the release just before was an auto-repeat after all: still held
            return
        if event.isAutoRepeat():
            return  # a held key repeats presses and releases; only the real ones count
        if pressed:
            if self.held:
                return
            if not self._button.isEnabled():
                self.refused.emit()
                return
            self._space_held = True
            self.pressed.emit()
        elif self._space_held and not self._grace.isActive():
            self._space_let_go_at = time.perf_counter()
            self._grace.start(RELEASE_GRACE_MS)

    def _on_grace_over(self) -> None:
        if self._space_held:
            self._space_held = False
            self.released.emit(self._space_let_go_at)
