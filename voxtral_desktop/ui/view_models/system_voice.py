"""The system voice (QtTextToSpeech: speech-dispatcher on Linux): what the speaker falls back to when no neural
voice can be had, or what the user picks ("system" in Settings)."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


class SystemVoice(QObject):
    """Queues each chunk on the engine the moment it arrives, so speech starts with the first few words.

    QtTextToSpeech lives in PySide6's Addons; without it (or with a broken engine) the voice reports
    itself unavailable and the app stays silent rather than failing.
    """

    chunkQueued = Signal(str)  # a chunk handed to the engine, in order
    speakingChanged = Signal(bool)
    unavailable = Signal(str)  # why speech cannot work (shown once)

    def __init__(self, engine: str = "", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.enabled = True
        self._tts = None
        self._engine_name = engine
        self.error = ""
        self._speaking = False
        self._create(engine)

    def _create(self, engine: str) -> None:
        try:
            from PySide6.QtTextToSpeech import QTextToSpeech
        except ImportError as e:
            self._fail(f"text to speech needs PySide6's Addons ({e})")
            return
        engines = QTextToSpeech.availableEngines()
        if engine and engine not in engines:
            self._fail(f"text-to-speech engine '{engine}' is not available; found: {', '.join(engines) or 'none'}")
            return
        self._tts = QTextToSpeech(engine, self) if engine else QTextToSpeech(self)
        self._engine_name = self._tts.engine()
        self._tts.stateChanged.connect(self._on_state)
        self._tts.errorOccurred.connect(lambda reason, text: self._fail(f"text to speech failed: {text}"))
        if self._tts.state() == QTextToSpeech.State.Error:
            self._fail(f"text to speech failed: {self._tts.errorString() or 'engine error'}")

    def _fail(self, why: str) -> None:
        self.error = why
        log.warning("%s", why)
        self.unavailable.emit(why)

    @property
    def available(self) -> bool:
        return self._tts is not None and not self.error

    @property
    def engine(self) -> str:
        return self._engine_name

    @property
    def is_speaking(self) -> bool:
        return self._speaking

    @property
    def voice(self) -> str:
        """The name of the voice the engine speaks with ("" without an engine)."""
        return self._tts.voice().name() if self._tts is not None else ""

    @property
    def rate(self) -> float:
        """Speech rate, -1.0 (slowest) to 1.0 (fastest); 0.0 is normal."""
        return float(self._tts.rate()) if self._tts is not None else 0.0

    def voices(self) -> list[str]:
        return [v.name() for v in self._tts.availableVoices()] if self._tts is not None else []

    def configure(self, *, enabled: bool, voice: str = "", rate: float = 0.0, engine: str = "") -> None:
        if engine and engine != self._engine_name:
            self.stop()
            if self._tts is not None:
                self._tts.deleteLater()
            self._tts, self.error = None, ""
            self._create(engine)
        self.enabled = enabled
        if self._tts is None:
            return
        self._tts.setRate(rate)
        if voice:
            match = [v for v in self._tts.availableVoices() if v.name() == voice]
            if match:
                self._tts.setVoice(match[0])
            else:
                log.warning("voice %r not found; using %s", voice, self._tts.voice().name())

    def say_chunk(self, text: str) -> None:
        """Queue one chunk; the engine speaks queued chunks back to back."""
        if not (self.enabled and self.available and text.strip()):
            return
        self._tts.enqueue(text)  # type: ignore[union-attr]
        self.chunkQueued.emit(text)

    def stop(self) -> None:
        """Silence now: the utterance in progress and everything queued."""
        if self._tts is None:
            return
        from PySide6.QtTextToSpeech import QTextToSpeech

        self._tts.stop(QTextToSpeech.BoundaryHint.Immediate)

    def _on_state(self, state: object) -> None:
        from PySide6.QtTextToSpeech import QTextToSpeech

        speaking = state in (QTextToSpeech.State.Speaking, QTextToSpeech.State.Synthesizing)
        if speaking != self._speaking:
            self._speaking = speaking
            self.speakingChanged.emit(speaking)
