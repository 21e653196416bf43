"""The main window: header with the mode and the model's state, the conversation list at the side, banners, the
chat view, and the dock with the push-to-talk button and a box to type a message."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QMainWindow, QVBoxLayout, QWidget

from voxtral_desktop.ui.chat_view import ChatView
from voxtral_desktop.ui.conversation_list import ConversationList
from voxtral_desktop.ui.dock import Dock
from voxtral_desktop.ui.header import Header
from voxtral_desktop.ui.listening_bar import ListeningBar
from voxtral_desktop.ui.listening_vm import ListeningStatus, ListenState
from voxtral_desktop.ui.push_to_talk import PushToTalk
from voxtral_desktop.ui.status import LoadPhase, MicStatus, Mode, ModelStatus, ReplyResult, VoiceStatus
from voxtral_desktop.ui.talk_rules import TalkState, idle_hint, talk_state
from voxtral_desktop.ui.view_models import ViewModels
from voxtral_desktop.ui.widgets import Banner, BannerArea, BannerStack

log = logging.getLogger(__name__)

SIDE_AUTO_HIDE_WIDTH = 720  # px: narrower windows hide the conversation list (the header button shows it)
COMPACT_WIDTH = 860  # px: narrower windows show the Settings button as an icon only
HANDS_FREE_HINT = "Hands-free: just talk  ·  the button, Space or Esc pauses listening"
HINT_MS = 4000  # how long a transient hint stays before the idle hint returns
SLOW_FIRST_WORDS_S = 10.0  # s: from this estimated wait for the first words, the window says so before one talks


class MainWindow(QMainWindow):
    """Widgets only: everything that touches the model, the microphone or the settings goes via ``vms``."""

    closed = Signal()  # after a clean shutdown
    first_painted = Signal()

    def __init__(self, vms: ViewModels) -> None:
        super().__init__()
        self.vms = vms
        self.setWindowTitle("Voxtral")
        self.resize(1060, 780)
        self.setMinimumSize(480, 520)
        self._shutting_down = False
        self._painted = False
        self._talk = TalkState(False, "", "")
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
        self.header = Header(vms.model.label(), vms.config.model.id)
        self.header.modeChosen.connect(self.set_mode)
        self.header.side_button.toggled.connect(self._on_side_toggled)
        self.header.settings_button.clicked.connect(self.open_settings)
        # The header's widgets by name, as the dock's below.
        self.side_button, self.model_name, self.status_pill = (
            self.header.side_button, self.header.model_name, self.header.status_pill
        )
        self.settings_button, self.mode_buttons = self.header.settings_button, self.header.mode_buttons
        root.addWidget(self.header)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(0)
        self.side = ConversationList(vms.conversations)
        self.side.error.connect(self.show_error)
        self.side.notice.connect(lambda text: self.show_hint(text, "info"))
        body.addWidget(self.side)
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        self.banners = BannerStack()
        self.chat = ChatView()
        column.addWidget(BannerArea(self.banners, below=self.chat))
        column.addWidget(self.chat, 1)
        self.dock = Dock(self.chat)
        # The dock's widgets by name, for the window's own use and for tests and scripts driving it.
        self.ptt, self.hint, self.composer = self.dock.ptt, self.dock.hint, self.dock.composer
        self.send_button, self.meter_box = self.dock.send_button, self.dock.meter_box
        self.level_meter, self.elapsed = self.dock.level_meter, self.dock.elapsed
        self.listening_bar = ListeningBar()
        self.dock.layout().insertWidget(0, self.listening_bar)
        self.composer.returnPressed.connect(self.send_text)
        self.send_button.clicked.connect(self.send_text)
        column.addWidget(self.dock)
        body.addLayout(column, 1)
        root.addLayout(body, 1)
        self.setCentralWidget(central)

        self._add_action("New conversation", QKeySequence("Ctrl+N"), self.new_conversation)
        self._add_action("Settings…", QKeySequence("Ctrl+,"), self.open_settings)
        self._add_action("Quit", QKeySequence("Ctrl+Q"), self.close)
        self.push_to_talk = PushToTalk(self, self.ptt, vms.cancel)
        self.push_to_talk.pressed.connect(vms.talk_pressed)
        self.push_to_talk.released.connect(vms.talk_released)
        listening = vms.listening
        self.listening_bar.modeChosen.connect(listening.setHandsFree)
        listening.statusChanged.connect(self._on_listening)
        listening.notice.connect(lambda text: self.banners.set("echo", "warning", "No echo cancellation", text))
        self.push_to_talk.refused.connect(lambda: self.show_hint(self._talk.reason or self.ptt.toolTip()))

        vms.errorOccurred.connect(self.show_error)
        vms.model.statusChanged.connect(self._on_model_status)
        vms.recording.micChanged.connect(self._on_mic)
        vms.recording.recordingChanged.connect(self._on_recording)
        vms.recording.recordingProgress.connect(self.dock.show_progress)
        vms.recording.hint.connect(self.show_hint)
        replies = vms.replies
        replies.hint.connect(self.show_hint)
        replies.userTurn.connect(self._on_user_turn)
        replies.userText.connect(self._on_user_text)
        replies.userTranscript.connect(self._on_user_transcript)
        replies.replyStarted.connect(self._on_reply_started)
        replies.replyChunk.connect(self._on_reply_chunk)
        replies.replyProgress.connect(self.chat.set_reply_progress)
        replies.replyFinished.connect(self._on_reply_finished)
        replies.timingsChanged.connect(self._on_reply_timings)
        replies.trouble.connect(lambda key, title, text: self.banners.set(key, "warning", title, text))
        replies.troubleCleared.connect(self.banners.clear)
        replies.modeChanged.connect(self._on_mode)
        replies.speakingChanged.connect(self._on_speaking)
        replies.speaker.unavailable.connect(self._on_speech_unavailable)
        replies.speaker.statusChanged.connect(self._on_voice_status)
        replies.speaker.fallback.connect(self._on_voice_fallback)
        vms.settings.applied.connect(self._on_settings_applied)
        vms.conversations.conversationsChanged.connect(self.side.refresh)
        vms.conversations.conversationOpened.connect(self._on_conversation_opened)
        self._on_mode(replies.mode)
        self._on_listening(listening.status)
        self.side.refresh()  # opens the history: a problem with it lands in the banner, connected above
        self._on_model_status(vms.model.status)
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

    # --- banners and hints ----------------------------------------------------------------------------

    def banner(self, key: str) -> Banner | None:
        return self.banners.get(key)

    def show_error(self, title: str, detail: str) -> None:
        """Unexpected errors (and microphone failures) land here: visible, and dismissible."""
        self.banners.set("error", "error", title, detail)

    def show_hint(self, text: str, kind: str = "warn") -> None:
        self.dock.set_hint(text, kind)
        self._hint_timer.start(HINT_MS)

    def _reset_hint(self) -> None:
        listening = self.vms.listening.status
        if listening.hands_free and not self._talk.reason and not self._speaking:
            self.dock.set_hint(HANDS_FREE_HINT if not listening.paused else listening.message, "")
            return
        self.dock.set_hint(*idle_hint(self._talk, speaking=self._speaking, mode=self.vms.replies.mode))

    def _on_listening(self, status: ListeningStatus) -> None:
        self.listening_bar.show_status(status)
        self.chat.set_hands_free(status.hands_free)
        live = status.state != ListenState.OFF and status.hands_free  # the microphone is open
        self.ptt.set_live(("hearing" if status.state == ListenState.HEARING else "listening") if live else "")
        if not self._hint_timer.isActive() and not self.vms.recording.is_recording:
            self._reset_hint()

    # --- model, microphone, recording -----------------------------------------------------------------

    def _on_model_status(self, status: ModelStatus) -> None:
        self.status_pill.show_status(status)
        self._update_speech_tip()
        self._update_model_name()
        if status.phase == LoadPhase.FAILED:
            self.banners.set(
                "model",
                "error",
                "The model could not be loaded",
                status.message[:1].upper() + status.message[1:],
                [("Open Settings", self.open_settings), ("Retry", self.vms.model.load)],
                details=status.detail,
            )
        else:
            self.banners.clear("model")
        if status.ready and (status.first_words_s or 0) >= SLOW_FIRST_WORDS_S:
            # Said before the user talks, once per load: a long wait is expected, not a hang.
            self.banners.set("cost", "info", "Replies take a while on this computer", status.message)
        else:
            self.banners.clear("cost")
        self._update_button()

    def _on_mic(self, mic: MicStatus) -> None:
        if mic.available:
            self.banners.clear("mic")
        else:
            self.banners.set("mic", "warning", "No microphone", mic.message, [("Open Settings", self.open_settings)])
        self._update_button()

    def _update_button(self) -> None:
        vms = self.vms
        self._talk = talk_state(
            vms.model.status, vms.recording.mic, recording=vms.recording.is_recording, quitting=self._shutting_down
        )
        self.ptt.setEnabled(self._talk.enabled)
        self.ptt.setToolTip(self._talk.tooltip)
        if not self._hint_timer.isActive():
            self._reset_hint()

    def _on_recording(self, recording: bool) -> None:
        self.dock.show_recording(recording)
        if recording:
            self._hint_timer.stop()
        else:
            self.push_to_talk.reset()
            if not self._hint_timer.isActive():
                self._reset_hint()
        self._update_button()

    # --- turns and replies ------------------------------------------------------------------------------

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

    def _on_reply_started(self, turn_id: int, mode: Mode) -> None:
        if turn_id in self._live_turns:
            self.chat.begin_reply(turn_id, mode)

    def _on_reply_chunk(self, turn_id: int, text: str) -> None:
        if turn_id not in self._live_turns:
            return  # a reply to a conversation that is no longer shown, winding down
        self.chat.append_chunk(turn_id, text)
        if self.side.list.current_id != self.vms.conversations.current_conversation_id:
            self.side.refresh()  # the first turn of a new conversation has just created it

    def _on_reply_finished(self, turn_id: int, result: ReplyResult) -> None:
        if turn_id in self._live_turns:
            self.chat.finish_reply(
                turn_id, result.status, result.first_chunk_ms, result.total_ms, result.text, result.detail
            )
            self.chat.set_reply_timings(turn_id, result.timings, spoken=turn_id not in self._typed_turns)

    def _on_reply_timings(self, turn_id: int, timings: dict[str, float | None]) -> None:
        if turn_id in self._live_turns:  # the first sound came after the last words
            self.chat.set_reply_timings(turn_id, timings, spoken=turn_id not in self._typed_turns)

    # --- conversations, mode, speech ------------------------------------------------------------------

    def new_conversation(self) -> None:
        self.vms.conversations.newConversation()

    def _on_conversation_opened(self, conversation_id: str, turns: object) -> None:
        self._live_turns.clear()
        self._typed_turns.clear()
        self.chat.load_turns(list(turns or []))  # type: ignore[call-overload]
        self.side.set_current(conversation_id)

    def set_mode(self, mode: Mode) -> None:
        self.vms.replies.setMode(mode)
        self._on_mode(self.vms.replies.mode)  # in case nothing changed (the buttons must still agree)

    def _on_mode(self, mode: Mode) -> None:
        button = self.mode_buttons.get(mode)
        if button is not None:
            button.setChecked(True)
        self.chat.set_mode(mode)
        if not self._hint_timer.isActive():
            self._reset_hint()

    def _on_speaking(self, speaking: bool) -> None:
        self._speaking = speaking
        if not self._hint_timer.isActive() and not self.vms.recording.is_recording:
            self._reset_hint()

    def _on_speech_unavailable(self, why: str) -> None:
        self._update_speech_tip()
        if self.vms.config.speech.enabled:
            self.show_hint("Replies cannot be spoken aloud: see the status tooltip.", "warn")

    def _on_voice_status(self, status: VoiceStatus) -> None:
        """A first use downloads the voice: its progress shows like the model's, in a banner until it is done."""
        if status.phase == LoadPhase.DOWNLOADING:
            banner = self.banners.get("voice")
            if banner is None or banner.property("kind") != "info":
                banner = self.banners.set("voice", "info", "Getting the voice", status.message)
            banner.text.setText(status.message)
        elif status.phase != LoadPhase.FAILED and self.banners.get("voice") is not None:
            if self.banners.get("voice").property("kind") == "info":  # type: ignore[union-attr]
                self.banners.clear("voice")
        self._update_speech_tip()

    def _on_voice_fallback(self, why: str) -> None:
        """Said once: no neural voice, so replies are spoken by the system voice."""
        if self.vms.config.speech.enabled:
            detail = self.vms.speaker.status.detail  # set for a voice the hub could not give: ``why`` says it all
            self.banners.set(
                "voice",
                "warning",
                "Replies use the system voice",
                why if detail else f"The natural voice is not available: {why}",
                [("Open Settings", self.open_settings)],
                details=detail,
            )

    def _update_speech_tip(self) -> None:
        speaker = self.vms.speaker
        lines = [self.vms.model.status.message]
        if not self.vms.config.speech.enabled:
            lines.append("Spoken replies are off (Settings).")
        elif not speaker.available:
            lines.append(f"Spoken replies are unavailable: {speaker.error or 'no text-to-speech engine'}.")
        elif speaker.voice:
            kind = "the voice" if speaker.neural else "the system voice"
            lines.append(f"Replies are spoken by {kind} {speaker.voice}.")
        self.status_pill.setToolTip("\n".join(line for line in lines if line))

    # --- message box, side panel, size ----------------------------------------------------------------

    def send_text(self) -> None:
        text = self.composer.text().strip()
        if text and self.vms.replies.sendText(text) is not None:
            self.composer.clear()

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

    def _on_settings_applied(self, before: object) -> None:
        self._update_model_name()
        self._update_speech_tip()

    def _update_model_name(self) -> None:
        name = self.vms.model.label()
        status = self.vms.model.status
        if status.ready and status.device == "cpu":
            # Honest up front: a full-size Voxtral on a CPU takes seconds per reply (measured at load).
            if status.first_words_s is None:
                name += "  ·  on the CPU, replies will be slow"
            elif status.first_words_s >= 2:
                name += f"  ·  on the CPU, first words in ~{status.first_words_s:.0f} s"
            else:
                name += "  ·  on the CPU"
        self.model_name.setText(name)
        self.model_name.setToolTip(f"{self.vms.config.model.id}\n{status.message}".strip())

    # --- settings, quitting, first paint --------------------------------------------------------------

    def bring_forward(self) -> None:
        """Another launch of the app: show this window instead (restored, raised, focused)."""
        self.setWindowState((self.windowState() & ~Qt.WindowState.WindowMinimized) | Qt.WindowState.WindowActive)
        self.show()
        self.raise_()
        self.activateWindow()

    def open_settings(self) -> Any:
        from voxtral_desktop.ui.settings_dialog import SettingsDialog  # built on demand

        if self.settings_dialog is not None and self.settings_dialog.isVisible():
            self.settings_dialog.raise_()
            return self.settings_dialog
        dialog = SettingsDialog(self.vms.settings, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda *_: setattr(self, "settings_dialog", None))
        self.settings_dialog = dialog
        dialog.open()
        return dialog

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.vms.closed:
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

    async def _shutdown(self) -> None:
        try:
            await self.vms.shutdown()
        except Exception:
            log.exception("shutdown failed")
        finally:
            self.push_to_talk.detach()
            self.closed.emit()
            self.close()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            QTimer.singleShot(0, self.first_painted.emit)
