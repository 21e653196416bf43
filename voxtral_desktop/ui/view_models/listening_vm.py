"""The UI's door to hands-free listening: a Listener on the microphone (speech detection on echo-cancelled
audio); its turns go to the replies as spoken turns, and speech over a reply stops it (voice barge-in)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from voxtral_desktop.core.audio import SAMPLE_RATE
from voxtral_desktop.core.capture import CaptureError, CaptureSource, Recording
from voxtral_desktop.core.config import Config
from voxtral_desktop.core.errors import VoxtralError
from voxtral_desktop.core.listening import BargeIn, Event, Listener, SpeechDropped, SpeechStarted, TurnEnded
from voxtral_desktop.ui.view_models.model_vm import ModelViewModel
from voxtral_desktop.ui.view_models.recording_vm import RecordingViewModel
from voxtral_desktop.ui.view_models.replies_vm import RepliesViewModel

log = logging.getLogger(__name__)

NO_ECHO_CANCELLATION = (
    "Hands-free is listening without echo cancellation ({why}). Use a headset: through speakers the "
    "assistant may hear itself."
)
ECHO_OFF = "turned off in Settings"
PAUSED = "Hands-free paused: press the button or Space to listen again."


class ListenState(StrEnum):
    """What the live-microphone indicator shows."""

    OFF = "off"  # the microphone is closed (push-to-talk between presses, or hands-free paused)
    LISTENING = "listening"  # open, waiting for speech
    HEARING = "hearing"  # speech is coming in
    SENDING = "sending"  # the turn ended and goes to the model


@dataclass(frozen=True)
class ListeningStatus:
    """The mode, the microphone's state, and whether echo cancellation runs (a snapshot for the window)."""

    hands_free: bool = False
    state: ListenState = ListenState.OFF
    paused: bool = False  # hands-free, but stopped by Esc or the button until the user resumes
    echo_cancelling: bool = True
    message: str = ""  # why listening is off ("" when all is well)


class ListeningViewModel(QObject):
    """Opens the microphone while it should listen, and closes it otherwise:

    - hands-free: whenever the model is ready and a microphone is there, unless paused (Esc, the button);
    - push-to-talk with ``listening.push_to_talk_barge_in``: only while a reply is generated or spoken
      (and until the speech that interrupted it has become a turn), so the user can talk over it.
    Push-to-talk without it never opens the microphone here: the recording view-model does, while held.
    """

    statusChanged = Signal(object)  # ListeningStatus
    notice = Signal(str)  # once per window: hands-free runs without echo cancellation
    errorOccurred = Signal(str, str)  # title, detail

    def __init__(
        self,
        config: Config,
        model: ModelViewModel,
        recording: RecordingViewModel,
        replies: RepliesViewModel,
        capture_factory: Callable[[str | None], CaptureSource],
        save: Callable[[Mapping[str, Mapping[str, Any]]], None],
        *,
        listener_factory: Callable[..., Listener] = Listener,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.config = config
        self._model = model
        self._recording = recording
        self._replies = replies
        self._capture_factory = capture_factory
        self._save = save
        self._listener_factory = listener_factory
        self._listener: Listener | None = None
        self._paused = False
        self._closed = False
        self._in_speech = False  # a segment is in progress: keep listening until it ends
        self._noticed = False
        self._status = ListeningStatus(hands_free=self.hands_free)
        self.turns_sent = 0  # spoken turns handed to the replies (tests and the benchmark count them)
        model.statusChanged.connect(lambda *_: self._update())
        recording.micChanged.connect(lambda *_: self._update())
        recording.recordingChanged.connect(lambda *_: self._update())
        self._busy = False  # from busyChanged: is_busy still reads True while the reply's task winds down
        replies.busyChanged.connect(self._on_busy)
        replies.speaker.speakingChanged.connect(lambda *_: self._assistant_changed())
        replies.replyChunk.connect(lambda *_: self._sent())
        replies.replyFinished.connect(lambda *_: self._sent())
        # Everything the voice plays is the echo canceller's reference (from the audio thread).
        replies.speaker.add_reference_listener(self._reference)

    # --- state ----------------------------------------------------------------------------------------

    @property
    def status(self) -> ListeningStatus:
        return self._status

    @property
    def hands_free(self) -> bool:
        return self.config.listening.mode == "hands_free"

    @property
    def listener(self) -> Listener | None:
        """The running listener, while the microphone is open here."""
        return self._listener

    @property
    def assistant_active(self) -> bool:
        return self._busy or self._replies.speaker.is_speaking

    def _set(self, state: ListenState, message: str | None = None) -> None:
        listener = self._listener
        status = ListeningStatus(
            hands_free=self.hands_free,
            state=state,
            paused=self._paused,
            echo_cancelling=listener.echo_cancelling if listener is not None else self._status.echo_cancelling,
            message=self._status.message if message is None else message,
        )
        if status != self._status:
            self._status = status
            self.statusChanged.emit(status)

    # --- the user's controls --------------------------------------------------------------------------

    @Slot(bool)
    def setHandsFree(self, on: bool) -> None:
        """The window's or the CLI's switch: saved to ``listening.mode`` (the change applies at once)."""
        self._paused = False
        mode = "hands_free" if on else "push_to_talk"
        if mode == self.config.listening.mode:
            self._update()
            return
        try:
            self._save({"listening": {"mode": mode}})
        except VoxtralError as e:  # could not save: still switch for this session
            log.warning("could not save listening.mode: %s", e)
            self.config.listening.mode = mode
            self._restart()

    @Slot()
    def toggle(self) -> None:
        """Hands-free: the talk button pauses listening, or resumes it."""
        if not self.hands_free:
            return
        self._paused = not self._paused
        self._update()

    def pause(self) -> bool:
        """Esc: stop listening (hands-free stays chosen). True if it was listening."""
        if not self.hands_free or self._paused:
            return False
        self._paused = True
        self._update()
        return True

    def apply_settings(self, before: Config) -> None:
        if before.listening != self.config.listening or before.audio.input_device != self.config.audio.input_device:
            if before.listening.mode != self.config.listening.mode:
                self._paused = False
            self._restart()

    def close(self) -> None:
        """Quitting: close the microphone; no event is handled afterwards."""
        self._closed = True
        self._stop_listener()

    # --- opening and closing the microphone -----------------------------------------------------------

    def _wanted(self) -> bool:
        if self._closed or not self._model.status.ready or not self._recording.mic.available:
            return False
        if self._recording.is_recording:
            return False  # the push-to-talk recording has the microphone
        if self.hands_free:
            return not self._paused
        cfg = self.config.listening
        return cfg.push_to_talk_barge_in and cfg.barge_in and (self.assistant_active or self._in_speech)

    def _update(self) -> None:
        wanted = self._wanted()
        if wanted and self._listener is None:
            self._start_listener()
        elif not wanted and self._listener is not None:
            self._stop_listener()
        if self._listener is None:
            message = PAUSED if self.hands_free and self._paused else ""
            self._set(ListenState.OFF, message)

    def _restart(self) -> None:
        self._stop_listener()
        self._update()

    def _start_listener(self) -> None:
        loop = asyncio.get_event_loop()
        source = self._capture_factory(self.config.audio.input_device or None)

        def on_event(event: Event) -> None:  # the listener's worker thread
            loop.call_soon_threadsafe(self._on_event, listener, event)

        def on_error(error: Exception) -> None:
            loop.call_soon_threadsafe(self._on_error, listener, error)

        listener = self._listener_factory(source, self.config.listening, on_event, on_error=on_error)
        listener.assistant_active = self.assistant_active
        try:
            listener.start()
        except CaptureError as e:
            log.warning("could not start listening: %s", e)
            self._paused = self.hands_free
            self.errorOccurred.emit("The microphone could not be opened", str(e))
            return
        self._listener = listener
        self._in_speech = False
        log.info("listening (%s, echo cancellation %s)", self.config.listening.mode, listener.echo_cancelling)
        self._set(ListenState.LISTENING, "")
        if self.hands_free and not listener.echo_cancelling and not self._noticed:
            self._noticed = True
            self.notice.emit(NO_ECHO_CANCELLATION.format(why=listener.echo_unavailable_reason or ECHO_OFF))

    def _stop_listener(self) -> None:
        listener, self._listener = self._listener, None
        self._in_speech = False
        if listener is not None:
            listener.stop()
            log.info("stopped listening")

    def _reference(self, samples: Any, sample_rate: int, t_play: float) -> None:
        listener = self._listener  # read once: the audio thread races with start and stop
        if listener is not None:
            listener.add_reference(samples, sample_rate, t_play)

    def _on_busy(self, busy: bool) -> None:
        self._busy = busy
        self._assistant_changed()

    def _assistant_changed(self) -> None:
        if self._listener is not None:
            self._listener.assistant_active = self.assistant_active
        self._update()

    # --- events (on the event loop) -------------------------------------------------------------------

    def _on_event(self, listener: Listener, event: Event) -> None:
        if listener is not self._listener:
            return  # from a listener already stopped
        if isinstance(event, SpeechStarted):
            self._in_speech = True
            self._replies.voice.prepare()  # a turn is coming: its reply's voice finds the output open
            self._set(ListenState.HEARING)
        elif isinstance(event, BargeIn):
            log.info("voice barge-in %.0f ms after the speech began", (event.at - event.onset) * 1000)
            self._replies.barge_in()
        elif isinstance(event, SpeechDropped):
            self._in_speech = False
            self._set(ListenState.LISTENING)
            self._update()
        elif isinstance(event, TurnEnded):
            self._in_speech = False
            self._send(event)

    def _send(self, turn: TurnEnded) -> None:
        if not self._model.status.ready:
            self._set(ListenState.LISTENING)
            return
        self._set(ListenState.SENDING)
        self.turns_sent += 1
        # The audio lives in this Recording only; the conversation stores it just with keep_audio on.
        # The reply's timings count from the end of turn (turn.wall: monotonic; the timings: perf_counter).
        ended_at = time.perf_counter() - (time.monotonic() - turn.wall) if turn.wall else None
        self._replies.sendRecording(Recording(turn.audio, SAMPLE_RATE, limit_reached=False), ended_at=ended_at)
        self._update()

    def _sent(self) -> None:
        if self._status.state == ListenState.SENDING:
            self._set(ListenState.LISTENING if self._listener is not None else ListenState.OFF)

    def _on_error(self, listener: Listener, error: Exception) -> None:
        if listener is not self._listener:
            return
        self._stop_listener()
        self._paused = self.hands_free
        self.errorOccurred.emit("Listening stopped", str(error))
        self._update()
        self._recording.probeMicrophone()
