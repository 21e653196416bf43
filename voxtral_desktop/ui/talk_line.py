"""The talk button's state and the line under it: a passing tip for a few seconds, else what the rules say now."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from voxtral_desktop.ui.dock import Dock
from voxtral_desktop.ui.view_models.listening_vm import ListeningStatus, ListenState
from voxtral_desktop.ui.push_to_talk import PushToTalk
from voxtral_desktop.ui.view_models.talk_rules import TalkState, idle_hint, talk_state

if TYPE_CHECKING:
    from voxtral_desktop.ui.view_models import ViewModels

HANDS_FREE_HINT = "Hands-free: just talk  ·  the button, Space or Esc pauses listening"
HINT_MS = 4000  # how long a transient hint stays before the idle hint returns


class TalkLine(QObject):
    """Turns the talk button on or off (with the reason) and keeps the dock's hint line in step with the
    model, the microphone, recording, listening, speaking and the mode."""

    def __init__(self, dock: Dock, push_to_talk: PushToTalk, vms: ViewModels, parent: QObject) -> None:
        super().__init__(parent)
        self.dock, self.push_to_talk, self.vms = dock, push_to_talk, vms
        self.talk = TalkState(False, "", "")
        self.quitting = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._reset)
        push_to_talk.refused.connect(self._on_refused)
        vms.model.statusChanged.connect(self.update_button)
        vms.recording.micChanged.connect(self.update_button)
        vms.recording.recordingChanged.connect(self._on_recording)
        vms.recording.recordingProgress.connect(dock.show_progress)
        vms.recording.hint.connect(self.show_hint)
        vms.replies.hint.connect(self.show_hint)
        vms.replies.modeChanged.connect(self._on_mode)
        vms.speaker.speakingChanged.connect(self._on_speaking)
        vms.speaker.unavailable.connect(self._on_speech_unavailable)
        vms.listening.statusChanged.connect(self._on_listening)
        self._on_listening(vms.listening.status)
        self.update_button()

    def show_hint(self, text: str, kind: str = "warn") -> None:
        """A tip under the button for a few seconds; then the line says what it says when idle."""
        self.dock.set_hint(text, kind)
        self._timer.start(HINT_MS)

    def update_button(self, *_: object) -> None:
        """The talk button takes presses only with a model and a microphone (and not while quitting)."""
        vms = self.vms
        self.talk = talk_state(
            vms.model.status, vms.recording.mic, recording=vms.recording.is_recording, quitting=self.quitting
        )
        self.dock.ptt.setEnabled(self.talk.enabled)
        self.dock.ptt.setToolTip(self.talk.tooltip)
        if not self._timer.isActive():
            self._reset()

    def quit(self) -> None:
        """The app is quitting: talking is off, and the line says so."""
        self.quitting = True
        self.update_button()

    def _reset(self) -> None:
        listening, speaking = self.vms.listening.status, self.vms.speaker.is_speaking
        if listening.hands_free and not self.talk.reason and not speaking:
            self.dock.set_hint(HANDS_FREE_HINT if not listening.paused else listening.message, "")
            return
        self.dock.set_hint(*idle_hint(self.talk, speaking=speaking, mode=self.vms.replies.mode))

    def _refresh_unless_busy(self) -> None:
        # A tip showing, or the meter taking the line while recording: the idle hint waits.
        if not self._timer.isActive() and not self.vms.recording.is_recording:
            self._reset()

    def _on_refused(self) -> None:
        self.show_hint(self.talk.reason or self.dock.ptt.toolTip())

    def _on_recording(self, recording: bool) -> None:
        self.dock.show_recording(recording)
        if recording:
            self._timer.stop()
        else:
            self.push_to_talk.reset()
            if not self._timer.isActive():
                self._reset()
        self.update_button()

    def _on_listening(self, status: ListeningStatus) -> None:
        live = status.state != ListenState.OFF and status.hands_free  # the microphone is open
        hearing = status.state == ListenState.HEARING
        self.dock.ptt.set_live(("hearing" if hearing else "listening") if live else "")
        self._refresh_unless_busy()

    def _on_mode(self, mode: object) -> None:
        if not self._timer.isActive():
            self._reset()

    def _on_speaking(self, speaking: bool) -> None:
        self._refresh_unless_busy()

    def _on_speech_unavailable(self, why: str) -> None:
        if self.vms.config.speech.enabled:
            self.show_hint("Replies cannot be spoken aloud: see the status tooltip.", "warn")
