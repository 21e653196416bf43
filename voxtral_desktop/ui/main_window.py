"""The main window: header with the mode and the model's state, the conversation list at the side, banners, the
chat view, and the dock with the push-to-talk button and a box to type a message."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSize, Qt, QTimer, Signal
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
from voxtral_desktop.ui.conversation_list import ConversationList
from voxtral_desktop.ui.level_meter import LevelMeter
from voxtral_desktop.ui.ptt_button import PushToTalkButton

log = logging.getLogger(__name__)

IDLE_HINT = "Hold to talk  ·  or hold Space"
DICTATE_HINT = "Hold to dictate  ·  or hold Space"
SPEAKING_HINT = "Speaking…  ·  Esc or the button stops it"
IDLE_SHORTCUTS = "Esc stops a reply  ·  Ctrl+N new conversation  ·  Ctrl+, settings  ·  Ctrl+Q quits"
MODES = (("conversation", "Conversation"), ("transcribe", "Transcribe"))
MODE_TIPS = {
    "conversation": "Talk with Voxtral: it answers, and remembers earlier turns",
    "transcribe": "Dictate: Voxtral writes down what you say, word for word",
}
COMPOSER_MAX_WIDTH = 620  # px
SIDE_AUTO_HIDE_WIDTH = 720  # px: narrower windows hide the conversation list (the header button shows it)
COMPACT_WIDTH = 860  # px: narrower windows show the Settings button as an icon only
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


class Composer(QLineEdit):
    """The "Type a message…" box. Esc with nothing to stop hands the keyboard back to push-to-talk."""

    def __init__(self, leave: Any) -> None:
        super().__init__()
        self._leave = leave

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self._leave()
            event.accept()
            return
        super().keyPressEvent(event)


class MainWindow(QMainWindow):
    """Widgets only: everything that touches the model, the microphone or the settings goes via ``bridge``."""

    closed = Signal()  # after a clean shutdown
    first_painted = Signal()

    def __init__(self, bridge: Bridge) -> None:
        super().__init__()
        self.bridge = bridge
        self.setWindowTitle("Voxtral")
        self.resize(1060, 780)
        self.setMinimumSize(480, 520)
        self._banners: dict[str, Banner] = {}
        self._space_held = False
        self._mouse_held = False
        self._shutting_down = False
        self._painted = False
        self._off_reason = ""
        self._speaking = False
        self._side_wanted = True  # the user's choice; narrow windows hide the list regardless
        self._live_turns: set[int] = set()  # turns shown in this view (late signals of others are dropped)
        self._typed_turns: set[int] = set()  # typed turns: answered as a conversation whatever the mode
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
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(0)
        self.side = ConversationList(bridge)
        self.side.error.connect(self.show_error)
        self.side.notice.connect(lambda text: self.show_hint(text, "info"))
        body.addWidget(self.side)
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        self._banner_box = QVBoxLayout()
        self._banner_box.setContentsMargins(16, 0, 16, 0)
        self._banner_box.setSpacing(8)
        column.addLayout(self._banner_box)
        self.chat = ChatView()
        column.addWidget(self.chat, 1)
        column.addWidget(self._build_dock())
        body.addLayout(column, 1)
        root.addLayout(body, 1)
        self.setCentralWidget(central)

        self._add_action("New conversation", QKeySequence("Ctrl+N"), self.new_conversation)
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
        b.userText.connect(self._on_user_text)
        b.userTranscript.connect(self._on_user_transcript)
        b.replyStarted.connect(self._on_reply_started)
        b.replyChunk.connect(self._on_reply_chunk)
        b.replyFinished.connect(self._on_reply_finished)
        b.errorOccurred.connect(self.show_error)
        b.settingsApplied.connect(self._on_settings_applied)
        b.modeChanged.connect(self._on_mode)
        b.conversationsChanged.connect(self.side.refresh)
        b.conversationOpened.connect(self._on_conversation_opened)
        b.speakingChanged.connect(self._on_speaking)
        b.speaker.unavailable.connect(self._on_speech_unavailable)
        self._on_mode(b.mode)
        self.side.refresh()  # opens the history: a problem with it lands in the banner, connected above
        self._on_model_state(b.model_state, b.model_message, None)
        self._update_button()
        self._update_speech_tip()
        self.chat.setFocus()  # not the message box: Space is push-to-talk until the user clicks in there

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
        lay.setContentsMargins(12, 12, 14, 12)
        lay.setSpacing(12)
        self.side_button = QToolButton()
        self.side_button.setObjectName("iconButton")
        self.side_button.setIcon(theme.sidebar_icon())
        self.side_button.setIconSize(QSize(20, 20))
        self.side_button.setCheckable(True)
        self.side_button.setChecked(True)
        self.side_button.setToolTip("Show or hide the conversations")
        self.side_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.side_button.toggled.connect(self._on_side_toggled)
        lay.addWidget(self.side_button, 0, Qt.AlignmentFlag.AlignVCenter)
        titles = QVBoxLayout()
        titles.setSpacing(0)
        title = QLabel("Voxtral")
        title.setObjectName("appTitle")
        self.model_name = ElidedLabel(self.bridge.model_label())
        self.model_name.setObjectName("modelName")
        self.model_name.setToolTip(self.bridge.config.model.id)
        titles.addWidget(title)
        titles.addWidget(self.model_name)
        lay.addLayout(titles)
        lay.addStretch(1)
        lay.addWidget(self._build_mode_switch(), 0, Qt.AlignmentFlag.AlignVCenter)
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

    def _build_mode_switch(self) -> QWidget:
        box, self.mode_group, buttons = theme.segmented(self, [label for _, label in MODES])
        self.mode_buttons: dict[str, QPushButton] = {}
        for (mode, _), button in zip(MODES, buttons):
            button.setToolTip(MODE_TIPS[mode])
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.clicked.connect(lambda _=False, m=mode: self.set_mode(m))
            self.mode_buttons[mode] = button
        self.mode_switch = box
        return box

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

        compose = QHBoxLayout()
        compose.setContentsMargins(0, 8, 0, 8)
        compose.setSpacing(8)
        self.composer = Composer(self._leave_composer)
        self.composer.setObjectName("composer")
        self.composer.setPlaceholderText("Type a message…")
        self.composer.setAccessibleName("Message")
        self.composer.setMaximumWidth(COMPOSER_MAX_WIDTH)
        self.composer.setClearButtonEnabled(False)
        self.composer.returnPressed.connect(self.send_text)
        self.send_button = QPushButton("Send")
        self.composer.textChanged.connect(lambda text: self.send_button.setEnabled(bool(text.strip())))
        self.send_button.setObjectName("send")
        self.send_button.setToolTip("Send the message (Enter)")
        self.send_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.send_button.setEnabled(False)
        self.send_button.clicked.connect(self.send_text)
        compose.addStretch(1)
        compose.addWidget(self.composer, 100)
        compose.addWidget(self.send_button)
        compose.addStretch(1)
        lay.addLayout(compose)

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

    def show_hint(self, text: str, kind: str = "warn") -> None:
        self.hint.setText(text)
        self.hint.setProperty("kind", kind)
        theme.repolish(self.hint)
        self._hint_timer.start(HINT_MS)

    def _idle_hint(self) -> tuple[str, str]:
        if self._off_reason:
            return self._off_reason, ""
        if self._speaking:
            return SPEAKING_HINT, "speaking"
        return (DICTATE_HINT if self.bridge.mode == "transcribe" else IDLE_HINT), ""

    def _reset_hint(self) -> None:
        text, kind = self._idle_hint()
        self.hint.setText(text)
        self.hint.setProperty("kind", kind)
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
        self._update_speech_tip()
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
            self._reset_hint()

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
        self._live_turns.add(turn_id)
        self.chat.add_user_turn(turn_id, duration_s, list(levels))  # type: ignore[call-overload]

    def _on_user_text(self, turn_id: int, text: str) -> None:
        self._live_turns.add(turn_id)
        self._typed_turns.add(turn_id)
        self.chat.add_user_text(turn_id, text)

    def _on_user_transcript(self, turn_id: int, text: str) -> None:
        if turn_id in self._live_turns:
            self.chat.set_user_transcript(turn_id, text)

    def _on_reply_started(self, turn_id: int) -> None:
        if turn_id in self._live_turns:
            self.chat.begin_reply(turn_id, "conversation" if turn_id in self._typed_turns else None)

    def _on_reply_chunk(self, turn_id: int, text: str) -> None:
        if turn_id not in self._live_turns:
            return  # a reply to a conversation that is no longer shown, winding down
        self.chat.append_chunk(turn_id, text)
        if self.side.list.current_id != self.bridge.current_conversation_id:
            self.side.refresh()  # the first turn of a new conversation has just created it

    def _on_reply_finished(self, turn_id: int, result: ReplyResult) -> None:
        if turn_id not in self._live_turns:
            return
        self.chat.finish_reply(
            turn_id, result.status, result.first_chunk_ms, result.total_ms, result.text, result.detail
        )

    # --- conversations, mode, speech ------------------------------------------------------------------

    def new_conversation(self) -> None:
        self.bridge.newConversation()

    def _on_conversation_opened(self, conversation_id: str, turns: object) -> None:
        self._live_turns.clear()
        self._typed_turns.clear()
        self.chat.load_turns(list(turns or []))  # type: ignore[call-overload]
        self.side.set_current(conversation_id)

    def set_mode(self, mode: str) -> None:
        self.bridge.setMode(mode)
        self._on_mode(self.bridge.mode)  # in case nothing changed (the buttons must still agree)

    def _on_mode(self, mode: str) -> None:
        button = self.mode_buttons.get(mode)
        if button is not None:
            button.setChecked(True)
        self.chat.set_mode(mode)
        if not self._hint_timer.isActive():
            self._reset_hint()

    def _on_speaking(self, speaking: bool) -> None:
        self._speaking = speaking
        if not self._hint_timer.isActive() and not self.bridge.is_recording:
            self._reset_hint()

    def _on_speech_unavailable(self, why: str) -> None:
        self._update_speech_tip()
        if self.bridge.config.speech.enabled:
            self.show_hint("Replies cannot be spoken aloud: see the status tooltip.", "warn")

    def _update_speech_tip(self) -> None:
        speaker = self.bridge.speaker
        lines = [self.bridge.model_message]
        if not self.bridge.config.speech.enabled:
            lines.append("Spoken replies are off (Settings).")
        elif not speaker.available:
            lines.append(f"Spoken replies are unavailable: {speaker.error or 'no text-to-speech engine'}.")
        self.status_pill.setToolTip("\n".join(line for line in lines if line))

    # --- message box and side panel -------------------------------------------------------------------

    def send_text(self) -> None:
        text = self.composer.text().strip()
        if not text:
            return
        if self.bridge.sendText(text) is not None:
            self.composer.clear()

    def _leave_composer(self) -> None:
        self.chat.setFocus()

    def _on_side_toggled(self, shown: bool) -> None:
        self._side_wanted = shown
        self.side.setVisible(shown)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        old, new = event.oldSize().width(), event.size().width()
        self.settings_button.setText("⚙" if new < COMPACT_WIDTH else "⚙  Settings")
        if new < SIDE_AUTO_HIDE_WIDTH <= old or (old < 0 and new < SIDE_AUTO_HIDE_WIDTH):
            self.side.hide()  # too narrow for both; the header button still shows it
            self.side_button.blockSignals(True)
            self.side_button.setChecked(False)
            self.side_button.blockSignals(False)
        elif old < SIDE_AUTO_HIDE_WIDTH <= new and self._side_wanted:
            self.side.show()
            self.side_button.blockSignals(True)
            self.side_button.setChecked(True)
            self.side_button.blockSignals(False)

    def _on_settings_applied(self) -> None:
        self._update_model_name()
        self._update_speech_tip()

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
