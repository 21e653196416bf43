"""Builds the six view-models around one config and model, starts them, and shuts them down in order."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from voxtral_desktop.core.capture import CaptureSource
from voxtral_desktop.core.config import Config, load_config
from voxtral_desktop.core.history import HistoryStore
from voxtral_desktop.core.model import VoxtralModel
from voxtral_desktop.core.portaudio import InputDevice, SoundDeviceCapture, list_input_devices
from voxtral_desktop.ui.view_models.conversations_vm import ConversationsViewModel
from voxtral_desktop.ui.view_models.listening_vm import ListeningViewModel
from voxtral_desktop.ui.view_models.model_vm import ModelViewModel
from voxtral_desktop.ui.view_models.recording_vm import RecordingViewModel
from voxtral_desktop.ui.view_models.replies_vm import RepliesViewModel
from voxtral_desktop.ui.view_models.settings_vm import SettingsViewModel
from voxtral_desktop.ui.view_models.speaker import Speaker
from voxtral_desktop.ui.view_models.workers import Workers

log = logging.getLogger(__name__)


class ViewModels(QObject):
    """Everything the window talks to: ``model``, ``recording``, ``replies``, ``conversations``, ``settings``,
    ``listening`` (hands-free and voice barge-in).

    They share one live ``Config`` (a saved change applies to the next reply) and one set of workers.
    The factories are seams for tests: a scripted model, a WAV file as the microphone, no PortAudio.
    """

    errorOccurred = Signal(str, str)  # title, detail: any view-model's, and uncaught exceptions (app.py)

    def __init__(
        self,
        config: Config | None = None,
        *,
        model: VoxtralModel | None = None,
        model_factory: Callable[[Config], VoxtralModel] = VoxtralModel.from_config,
        capture_factory: Callable[[str | None], CaptureSource] = SoundDeviceCapture,
        device_lister: Callable[..., list[InputDevice]] = list_input_devices,
        history: HistoryStore | None = None,
        speaker: Speaker | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if model is not None:
            config = model.config
        self.config = config if config is not None else load_config()
        self.workers = Workers()
        self._started = False
        self._closed = False
        if speaker is None:
            sp = self.config.speech
            speaker = Speaker(
                self,
                voice=sp.voice,
                output_device=sp.output_device,
                engine=sp.engine,
                enabled=sp.enabled,
                config=self.config,
            )
        self.model = ModelViewModel(self.config, self.workers, model=model, model_factory=model_factory, parent=self)
        self.conversations = ConversationsViewModel(self.model, history, self)
        self.replies = RepliesViewModel(self.config, self.workers, self.model, self.conversations, speaker, self)
        self.recording = RecordingViewModel(
            self.config, self.workers, self.model, self.replies, capture_factory, self
        )
        self.settings = SettingsViewModel(self.config, speaker, device_lister, self)
        self.listening = ListeningViewModel(
            self.config, self.model, self.recording, self.replies, capture_factory, self.settings.save, parent=self
        )
        self.settings.applied.connect(self.listening.apply_settings)
        self.listening.errorOccurred.connect(self.errorOccurred)
        for vm in (self.model, self.recording, self.replies):
            self.settings.applied.connect(vm.apply_settings)
        self.conversations.errorOccurred.connect(self.errorOccurred)
        self.recording.errorOccurred.connect(self.errorOccurred)

    @property
    def speaker(self) -> Speaker:
        return self.replies.speaker

    @property
    def closed(self) -> bool:
        """True once shutdown() has finished."""
        return self._closed

    def start(self) -> None:
        """Load the model and the voice and look for a microphone, all in the background. Runs once."""
        if self._started:
            return
        self._started = True
        self.workers.track(self.model.load())
        self.workers.track(self.recording.probeMicrophone())
        self.replies.voice.load()

    def cancel(self) -> bool:
        """Esc: discard a recording in progress, else stop the reply streaming or being spoken, else stop
        listening hands-free. True if it did."""
        if self.recording.is_recording:
            self.recording.discardRecording()
            return True
        return self.replies.interrupt() or self.listening.pause()

    def talk_pressed(self) -> None:
        """The talk button or Space: records in push-to-talk; pauses or resumes listening hands-free."""
        if self.listening.hands_free:
            self.listening.toggle()
        else:
            self.recording.startRecording()

    def talk_released(self, released_at: float | None = None) -> None:
        """``released_at``: ``time.perf_counter()`` at the let-go; the reply's timings count from it."""
        if not self.listening.hands_free:
            self.recording.stopRecording(released_at)

    async def shutdown(self) -> None:
        """Stop recording and generation, wait for worker threads, release the model. Idempotent."""
        if self._closed:
            return
        self.workers.closing = True
        self.listening.close()
        self.recording.close()
        self.model.cancel()
        self.replies.close()
        await self.workers.drain()
        await self.model.close()
        self.workers.shutdown()
        self.conversations.close()
        self._closed = True
        log.info("shut down cleanly")

