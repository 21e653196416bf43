"""The main window: header with the model's state, banners, the chat view, and the push-to-talk dock."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QColor, QKeyEvent, QKeySequence, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from voxtral_desktop.ui import theme
from voxtral_desktop.ui.bridge import DOWNLOADING, FAILED, LOADING, READY, Bridge, ReplyResult
from voxtral_desktop.ui.chat_view import ChatView
from voxtral_desktop.ui.level_meter import LevelMeter
from voxtral_desktop.ui.ptt_button import PushToTalkButton

log = logging.getLogger(__name__)

IDLE_HINT = "Hold to talk  ·  or hold Space"
IDLE_SHORTCUTS = "Esc stops a reply  ·  Ctrl+, settings  ·  Ctrl+Q quits"
RECORDING_SHORTCUTS = "Listening: release to send  ·  Esc discards"
LINE_HEIGHT = 26  # px: the hint line and the meter line swap places without moving anything
HINT_MS = 4000  # how long a transient hint stays before the idle hint returns
STATE_COLORS = {
    LOADING: theme.WARNING,
    DOWNLOADING: theme.INFO,
    READY: theme.SUCCESS,
    FAILED: theme.DANGER,
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


class MainWindow(QMainWindow):
    """Widgets only: everything that touches the model, the microphone or the settings goes via ``bridge``."""

    closed = Signal()  # after a clean shutdown
    first_painted = Signal()

    def __init__(self, bridge: Bridge) -> None:
        super().__init__()
        self.bridge = bridge
        self.setWindowTitle("Voxtral")
        self.resize(780, 760)
        self.setMinimumSize(480, 520)
        self._banners: dict[str, Banner] = {}
        self._space_held = False
        self._mouse_held = False
        self._shutting_down = False
        self._painted = False
        self._off_reason = ""
        self.settings_dialog: Any = None
        self._hint_timer = QTimer(self)
        self._hint_timer.setSingleShot(True)
        self._hint_timer.timeout.connect(self._reset_hint)

        central = QWidget()
        central.setObjectName("central")
        root = QVBoxLayout(central)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)
        root.addWidget(self._build_header())
        self._banner_box = QVBoxLayout()
        self._banner_box.setContentsMargins(16, 0, 16, 0)
        self._banner_box.setSpacing(8)
        root.addLayout(self._banner_box)
        self.chat = ChatView()
        root.addWidget(self.chat, 1)
        root.addWidget(self._build_dock())
        self.setCentralWidget(central)

        self._add_action("Settings…", QKeySequence("Ctrl+,"), self.open_settings)
        self._add_action("Quit", QKeySequence("Ctrl+Q"), self.close)
        QApplication.instance().installEventFilter(self)  # type: ignore[union-attr]

        b = bridge
        b.modelStateChanged.connect(self._on_model_state)
        b.micStateChanged.connect(self._on_mic_state)
        b.recordingChanged.connect(self._on_recording)
        b.recordingProgress.connect(self._on_progress)
        b.hint.connect(self.show_hint)
        b.userTurn.connect(self._on_user_turn)
        b.replyStarted.connect(self.chat.begin_reply)
        b.replyChunk.connect(self.chat.append_chunk)
        b.replyFinished.connect(self._on_reply_finished)
        b.errorOccurred.connect(self.show_error)
        b.settingsApplied.connect(self._on_settings_applied)
        self._on_model_state(b.model_state, b.model_message, None)
        self._update_button()

    # --- construction -------------------------------------------------------------------------------

    def _add_action(self, text: str, keys: QKeySequence, slot: Any) -> QAction:
        action = QAction(text, self)
        action.setShortcut(keys)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _build_header(self) -> QWidget:
        header = QFrame()
        header.setObjectName("header")
        lay = QHBoxLayout(header)
        lay.setContentsMargins(20, 12, 14, 12)
        lay.setSpacing(12)
        titles = QVBoxLayout()
        titles.setSpacing(0)
        title = QLabel("Voxtral")
        title.setObjectName("appTitle")
        self.model_name = QLabel(self.bridge.model_label())
        self.model_name.setObjectName("modelName")
        self.model_name.setToolTip(self.bridge.config.model.id)
        titles.addWidget(title)
        titles.addWidget(self.model_name)
        lay.addLayout(titles)
        lay.addStretch(1)

        pill = QFrame()
        pill.setObjectName("statusPill")
        pl = QHBoxLayout(pill)
        pl.setContentsMargins(10, 4, 12, 4)
        pl.setSpacing(7)
        self.status_dot = StatusDot()
        self.status_text = QLabel("Starting…")
        self.status_text.setObjectName("statusText")
        self.progress = QProgressBar()
        self.progress.setFixedSize(70, 6)
        self.progress.setTextVisible(False)
        self.progress.hide()
        pl.addWidget(self.status_dot)
        pl.addWidget(self.status_text)
        pl.addWidget(self.progress)
        self.status_pill = pill
        lay.addWidget(pill)

        self.settings_button = QToolButton()
        self.settings_button.setObjectName("headerButton")
        self.settings_button.setText("⚙  Settings")
        self.settings_button.setToolTip("Settings (Ctrl+,)")
        self.settings_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.settings_button.clicked.connect(self.open_settings)
        lay.addWidget(self.settings_button)
        return header

    def _build_dock(self) -> QWidget:
        dock = QFrame()
        dock.setObjectName("dock")
        lay = QVBoxLayout(dock)
        lay.setContentsMargins(20, 4, 20, 12)
        lay.setSpacing(0)

        self.ptt = PushToTalkButton()
        self.ptt.held.connect(self._on_mouse_held)
        self.ptt.let_go.connect(self._on_mouse_let_go)
        lay.addWidget(self.ptt, 0, Qt.AlignmentFlag.AlignHCenter)

        # One line under the button: the hint when idle, the level meter and time while recording.
        self.hint = QLabel(IDLE_HINT)
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

        self.shortcuts = QLabel(IDLE_SHORTCUTS)
        self.shortcuts.setObjectName("shortcuts")
        self.shortcuts.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.shortcuts)
        return dock

    def _set_meter_visible(self, visible: bool) -> None:
        self.meter_box.setVisible(visible)
        self.hint.setVisible(not visible)
        self.shortcuts.setText(RECORDING_SHORTCUTS if visible else IDLE_SHORTCUTS)

    # --- banners and hints ----------------------------------------------------------------------------

    def set_banner(
        self, key: str, kind: str, title: str, text: str, actions: list[tuple[str, Any]] | None = None
    ) -> Banner:
        self.clear_banner(key)
        banner = Banner(kind, title, text, actions)
        banner.destroyed.connect(lambda *_: self._forget_banner(key, banner))
        self._banners[key] = banner
        self._banner_box.setContentsMargins(16, 12, 16, 0)
        self._banner_box.addWidget(banner)
        return banner

    def _forget_banner(self, key: str, banner: Banner) -> None:
        # Closed with its own button: the slot is free again (unless a newer banner already took it).
        if self._banners.get(key) is banner:
            del self._banners[key]

    def clear_banner(self, key: str) -> None:
        banner = self._banners.pop(key, None)
        if banner is not None:
            banner.hide()
            banner.deleteLater()

    def banner(self, key: str) -> Banner | None:
        return self._banners.get(key)

    def show_error(self, title: str, detail: str) -> None:
        """Unexpected errors (and microphone failures) land here: visible, and dismissible."""
        self.set_banner("error", "error", title, detail)

    def show_hint(self, text: str) -> None:
        self.hint.setText(text)
        self.hint.setProperty("kind", "warn")
        theme.repolish(self.hint)
        self._hint_timer.start(HINT_MS)

    def _reset_hint(self) -> None:
        self.hint.setText(self._off_reason or IDLE_HINT)
        self.hint.setProperty("kind", "")
        theme.repolish(self.hint)

    # --- bridge signals -----------------------------------------------------------------------------

    def _on_model_state(self, state: str, message: str, fraction: object) -> None:
        self.status_dot.set_color(STATE_COLORS.get(state, theme.FAINT))
        label = {
            LOADING: "Loading model…",
            DOWNLOADING: "Downloading model…",
            READY: "Ready",
            FAILED: "Model not loaded",
        }.get(state, "Starting…")
        if state == READY and self.bridge.device:
            label = f"Ready · {self.bridge.device.upper()}"
        self.status_text.setText(label)
        self.status_pill.setToolTip(message)
        if state == DOWNLOADING and isinstance(fraction, float):
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(fraction * 1000))
            self.progress.show()
        elif state in (DOWNLOADING, LOADING):
            self.progress.setRange(0, 0)  # busy indicator
            self.progress.show()
        else:
            self.progress.hide()
        self._update_model_name()
        if state == FAILED:
            self.set_banner(
                "model",
                "error",
                "The model could not be loaded",
                message[:1].upper() + message[1:],
                [("Open Settings", self.open_settings), ("Retry", self.bridge.loadModel)],
            )
        else:
            self.clear_banner("model")
        self._update_button()

    def _on_mic_state(self, ok: bool, message: str) -> None:
        if ok:
            self.clear_banner("mic")
        else:
            self.set_banner(
                "mic", "warning", "No microphone", message, [("Open Settings", self.open_settings)]
            )
        self._update_button()

    def _update_button(self) -> None:
        b = self.bridge
        # (a short line under the button, the full story in its tooltip)
        if self._shutting_down:
            short = full = "Quitting…"
        elif b.model_state == FAILED:
            short = "Talking is off until the model loads."
            full = (
                "Talking is off until the model loads: see the message above, or choose a model in Settings."
            )
        elif not b.mic_available and b.mic_checked:
            short = "Talking is off: no microphone to record from."
            full = f"Talking is off: {b.mic_message}"
        elif b.model_state != READY:
            short = full = "Talking turns on once the model has loaded."
        elif not b.mic_available:
            short = full = b.mic_message
        else:
            short, full = "", ""
        self._off_reason = short
        self.ptt.setEnabled(not short or b.is_recording)
        self.ptt.setToolTip(full or "Hold to talk, release to send (or hold Space)")
        if not self._hint_timer.isActive():
            self.hint.setText(short or IDLE_HINT)

    def _on_recording(self, recording: bool) -> None:
        self.ptt.set_recording(recording)
        self._set_meter_visible(recording)
        if recording:
            self.level_meter.reset()
            self.elapsed.setText("0:00.0")
            self._hint_timer.stop()
        else:
            self._mouse_held = self._space_held = False
            if not self._hint_timer.isActive():
                self._reset_hint()
        self._update_button()

    def _on_progress(self, level: float, elapsed_s: float) -> None:
        self.level_meter.set_rms(level)
        self.ptt.set_level(self.level_meter.value)
        self.elapsed.setText(f"{int(elapsed_s // 60)}:{elapsed_s % 60:04.1f}")

    def _on_user_turn(self, turn_id: int, duration_s: float, levels: object) -> None:
        self.chat.add_user_turn(turn_id, duration_s, list(levels))  # type: ignore[call-overload]

    def _on_reply_finished(self, turn_id: int, result: ReplyResult) -> None:
        self.chat.finish_reply(
            turn_id, result.status, result.first_chunk_ms, result.total_ms, result.text, result.detail
        )

    def _on_settings_applied(self) -> None:
        self._update_model_name()

    def _update_model_name(self) -> None:
        name = self.bridge.model_label()
        if self.bridge.model_state == READY and self.bridge.device == "cpu":
            # Honest up front: a full-size Voxtral on a CPU takes seconds per reply.
            name += "  ·  on the CPU, replies will be slow"
        self.model_name.setText(name)
        self.model_name.setToolTip(f"{self.bridge.config.model.id}\n{self.bridge.model_message}".strip())

    # --- push to talk: mouse and Space ----------------------------------------------------------------

    def _on_mouse_held(self) -> None:
        if self._space_held:
            return
        self._mouse_held = True
        self.bridge.startRecording()

    def _on_mouse_let_go(self) -> None:
        if self._mouse_held:
            self._mouse_held = False
            self.bridge.stopRecording()

    def _typing(self) -> bool:
        focus = QApplication.focusWidget()
        if isinstance(focus, (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox)):
            return True
        return isinstance(focus, QComboBox) and focus.isEditable()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        # Application-wide, so Space and Esc work whichever of our widgets has focus (buttons would
        # otherwise take Space as a click); events for other windows, like Settings, pass through.
        etype = event.type()
        if etype not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            return False
        if not isinstance(obj, QWidget) or obj.window() is not self:
            return False
        key = event.key()  # type: ignore[attr-defined]
        if key == Qt.Key.Key_Space and not self._typing():
            self._on_space(etype == QEvent.Type.KeyPress, event)  # type: ignore[arg-type]
            return True
        # Esc is ours only when there is something to stop; otherwise it goes on (closing a popup, say).
        return key == Qt.Key.Key_Escape and etype == QEvent.Type.KeyPress and self.bridge.cancel()

    def _on_space(self, pressed: bool, event: QKeyEvent) -> None:
        if event.isAutoRepeat():
            return  # a held key repeats presses and releases; only the real ones count
        if pressed:
            if self._mouse_held or self._space_held:
                return
            if not self.ptt.isEnabled():
                self.show_hint(self._off_reason or self.ptt.toolTip())
                return
            self._space_held = True
            self.bridge.startRecording()
        elif self._space_held:
            self._space_held = False
            self.bridge.stopRecording()

    # --- settings, quitting, first paint --------------------------------------------------------------

    def open_settings(self) -> Any:
        from voxtral_desktop.ui.settings_dialog import SettingsDialog  # built on demand

        if self.settings_dialog is not None and self.settings_dialog.isVisible():
            self.settings_dialog.raise_()
            return self.settings_dialog
        dialog = SettingsDialog(self.bridge, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda *_: setattr(self, "settings_dialog", None))
        self.settings_dialog = dialog
        dialog.open()
        return dialog

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.bridge_closed():
            event.accept()
            return
        # Hide now (the user asked to quit), then stop generation, audio and threads before really closing.
        event.ignore()
        if not self._shutting_down:
            self._shutting_down = True
            self._update_button()
            self.hide()
            task = asyncio.ensure_future(self._shutdown())
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def bridge_closed(self) -> bool:
        return getattr(self.bridge, "_closed", False)

    async def _shutdown(self) -> None:
        try:
            await self.bridge.shutdown()
        except Exception:
            log.exception("shutdown failed")
        finally:
            app = QApplication.instance()
            if app is not None:
                app.removeEventFilter(self)
            self.closed.emit()
            self.close()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            QTimer.singleShot(0, self.first_painted.emit)
