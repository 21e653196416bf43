"""The UI's door to the microphone: look for it, record while the talk button is held (polling the recorder
for the level meter), and hand the recording to the replies."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from qasync import asyncSlot

from voxtral_desktop.core.capture import CaptureError, CaptureSource, Recorder
from voxtral_desktop.core.config import Config
from voxtral_desktop.ui.view_models.model_vm import ModelViewModel
from voxtral_desktop.ui.view_models.replies_vm import RepliesViewModel
from voxtral_desktop.ui.view_models.status import MicStatus
from voxtral_desktop.ui.view_models.talk_rules import why_not_record
from voxtral_desktop.ui.view_models.workers import Workers

log = logging.getLogger(__name__)

MIN_PRESS_S = 0.3  # shorter presses are accidental taps, not speech
POLL_MS = 33  # level meter and elapsed-time refresh while recording (~30 fps)
SHORT_PRESS_HINT = "Too short: hold the button (or Space) while you speak, then let go."


class RecordingViewModel(QObject):
    """Push-to-talk: ``startRecording`` on press, ``stopRecording`` on release, ``discardRecording`` on Esc."""

    micChanged = Signal(object)  # MicStatus
    recordingChanged = Signal(bool)
    recordingProgress = Signal(float, float)  # input RMS level (full scale 1.0), seconds held
    hint = Signal(str)  # a short, transient tip next to the talk button
    errorOccurred = Signal(str, str)  # title, detail: shown in the window's banner

    def __init__(
        self,
        config: Config,
        workers: Workers,
        model: ModelViewModel,
        replies: RepliesViewModel,
        capture_factory: Callable[[str | None], CaptureSource],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.config = config
        self._workers = workers
        self._model = model
        self._replies = replies
        self._capture_factory = capture_factory
        self._mic = MicStatus()
        self._recorder: Recorder | None = None
        self._pressed_at = 0.0
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._poll_recorder)

    @property
    def mic(self) -> MicStatus:
        return self._mic

    @property
    def is_recording(self) -> bool:
        return self._recorder is not None

    @property
    def capture_source(self) -> CaptureSource | None:
        """The source being recorded from, while recording."""
        return self._recorder.source if self._recorder is not None else None

    @asyncSlot()
    async def probeMicrophone(self) -> None:
        """Check (off the UI thread) that the configured microphone exists; the button follows the answer."""
        wanted = self.config.audio.input_device or None
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._workers.audio_pool, lambda: self._capture_factory(wanted).probe())
        except CaptureError as e:
            self._set_mic(False, str(e))
            return
        self._set_mic(True, "")

    def _set_mic(self, ok: bool, message: str) -> None:
        self._mic = MicStatus(checked=True, available=ok, message=message)
        self.micChanged.emit(self._mic)

    def apply_settings(self, before: Config) -> None:
        """Settings were saved: look for the microphone again when another one was chosen."""
        if before.audio.input_device != self.config.audio.input_device:
            self._workers.track(self.probeMicrophone())

    @Slot()
    def startRecording(self) -> None:
        """Push-to-talk pressed: start capturing (and stop a reply that is still streaming)."""
        if self._recorder is not None or self._workers.closing:
            return
        refusal = why_not_record(self._model.status, self._mic)
        if refusal:
            self.hint.emit(refusal)
            return
        self._replies.barge_in()  # talking over the assistant interrupts it
        self._replies.voice.prepare()  # the reply's first words will not wait for the sound output
        source = self._capture_factory(self.config.audio.input_device or None)
        recorder = Recorder(source, self.config.audio.max_recording_s)
        try:
            recorder.start()
        except CaptureError as e:
            log.warning("could not start recording: %s", e)
            self.errorOccurred.emit("The microphone could not be opened", str(e))
            self._workers.track(self.probeMicrophone())
            return
        self._recorder = recorder
        self._pressed_at = time.monotonic()
        self._poll.start()
        self.recordingChanged.emit(True)

    @Slot()
    def stopRecording(self, released_at: float | None = None) -> None:
        """Push-to-talk released (at ``released_at``, ``time.perf_counter()``, when the let-go was noticed
        earlier than now): send what was recorded, unless the press was too short."""
        if self._recorder is not None:
            self._finish(send=True, released_at=released_at)

    @Slot()
    def discardRecording(self) -> None:
        if self._recorder is not None:
            self._finish(send=False)
            self.hint.emit("Recording discarded.")

    def _poll_recorder(self) -> None:
        recorder = self._recorder
        if recorder is None:
            return
        status = recorder.status()
        self.recordingProgress.emit(status.level_rms, time.monotonic() - self._pressed_at)
        if status.error is not None:
            log.warning("recording failed: %s", status.error)
            self._finish(send=False)
            self.errorOccurred.emit("The microphone stopped working", str(status.error))
            self._workers.track(self.probeMicrophone())  # gone for good, or back? the button follows the answer
        elif status.limit_reached:
            limit = self.config.audio.max_recording_s
            self.hint.emit(f"Recording stopped at the {limit:g} s limit (Settings: audio.max_recording_s).")
            self._finish(send=True)

    def _finish(self, *, send: bool, released_at: float | None = None) -> None:
        recorder, self._recorder = self._recorder, None
        assert recorder is not None
        self._poll.stop()
        # The reply's timings count from the let-go ("first words in X s").
        released = time.perf_counter() if released_at is None else released_at
        held = time.monotonic() - self._pressed_at - (time.perf_counter() - released)
        try:
            recording = recorder.stop()
        finally:
            self.recordingChanged.emit(False)
        if not send:
            return
        if held < MIN_PRESS_S and not recording.limit_reached:
            self.hint.emit(SHORT_PRESS_HINT)
            return
        if recording.audio.size == 0:
            self.hint.emit("Nothing was recorded: check the microphone in Settings.")
            return
        self._replies.sendRecording(recording, ended_at=released)

    def close(self) -> None:
        """Quitting: stop recording at once, sending nothing."""
        self._poll.stop()
        if self._recorder is not None:
            recorder, self._recorder = self._recorder, None
            recorder.stop()
            self.recordingChanged.emit(False)
