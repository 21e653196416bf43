"""The window's banners: the model, the voice, the microphone, a slow computer, the replies' troubles, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from voxtral_desktop.ui.view_models.status import LoadPhase, MicStatus, ModelStatus, VoiceStatus
from voxtral_desktop.ui.widgets import BannerStack

if TYPE_CHECKING:
    from voxtral_desktop.ui.view_models import ViewModels

SLOW_FIRST_WORDS_S = 10.0  # s: from this estimated wait for the first words, say so before the user talks


class WindowBanners(QObject):
    """Keeps the banner stack in step with the view-models, one banner per trouble; ``open_settings`` is what
    a banner's "Open Settings" button does."""

    def __init__(
        self, banners: BannerStack, vms: ViewModels, open_settings: Callable[[], object], parent: QObject
    ) -> None:
        super().__init__(parent)  # methods, not lambdas, are connected: they go when the window goes
        self.banners = banners
        self.vms = vms
        self._open_settings = open_settings
        vms.errorOccurred.connect(self.show_error)
        vms.model.statusChanged.connect(self._on_model_status)
        vms.recording.micChanged.connect(self._on_mic)
        vms.listening.notice.connect(self._on_echo_notice)
        vms.replies.trouble.connect(self._on_trouble)
        vms.replies.troubleCleared.connect(self._on_trouble_cleared)
        vms.speaker.statusChanged.connect(self._on_voice_status)
        vms.speaker.fallback.connect(self._on_voice_fallback)
        self._on_model_status(vms.model.status)

    def show_error(self, title: str, detail: str) -> None:
        """Unexpected errors (and microphone failures) land here: visible, and dismissible."""
        self.banners.set("error", "error", title, detail)

    def _on_echo_notice(self, text: str) -> None:
        self.banners.set("echo", "warning", "No echo cancellation", text)

    def _on_trouble(self, key: str, title: str, text: str) -> None:
        self.banners.set(key, "warning", title, text)

    def _on_trouble_cleared(self, key: str) -> None:
        self.banners.clear(key)

    def _on_model_status(self, status: ModelStatus) -> None:
        if status.phase == LoadPhase.FAILED:
            self.banners.set(
                "model",
                "error",
                "The model could not be loaded",
                status.message[:1].upper() + status.message[1:],
                [("Open Settings", self._open_settings), ("Retry", self.vms.model.load)],
                details=status.detail,
            )
        else:
            self.banners.clear("model")
        if status.ready and (status.first_words_s or 0) >= SLOW_FIRST_WORDS_S:
            # Said before the user talks, once per load: a long wait is expected, not a hang.
            self.banners.set("cost", "info", "Replies take a while on this computer", status.message)
        else:
            self.banners.clear("cost")

    def _on_mic(self, mic: MicStatus) -> None:
        if mic.available:
            self.banners.clear("mic")
        else:
            settings = [("Open Settings", self._open_settings)]
            self.banners.set("mic", "warning", "No microphone", mic.message, settings)

    def _on_voice_status(self, status: VoiceStatus) -> None:
        """A first use downloads the voice: its progress shows like the model's, in a banner until it is done."""
        current = self.banners.get("voice")
        if status.phase == LoadPhase.DOWNLOADING:
            if current is None or current.property("kind") != "info":
                current = self.banners.set("voice", "info", "Getting the voice", status.message)
            current.text.setText(status.message)
        elif status.phase != LoadPhase.FAILED and current is not None and current.property("kind") == "info":
            self.banners.clear("voice")

    def _on_voice_fallback(self, why: str) -> None:
        """Said once: no neural voice, so replies are spoken by the system voice."""
        if self.vms.config.speech.enabled:
            # Set for a voice the hub could not give: then ``why`` says it all.
            speaker = self.vms.speaker
            detail = speaker.status.detail
            self.banners.set(
                "voice",
                "warning",
                speaker.fallback_title,
                why if detail or speaker.fallback_whole else f"The natural voice is not available: {why}",
                [("Open Settings", self._open_settings)],
                details=detail,
            )
