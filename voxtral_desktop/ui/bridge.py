"""The UI's only door into the core: Qt signals out, qasync slots in, blocking work on worker threads."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot
from qasync import asyncSlot

from voxtral_desktop.core import chunks as C
from voxtral_desktop.core import paths
from voxtral_desktop.core.backends.base import ModelLoadError
from voxtral_desktop.core.capture import (
    CaptureError,
    CaptureSource,
    InputDevice,
    Recorder,
    Recording,
    SoundDeviceCapture,
    list_input_devices,
)
from voxtral_desktop.core.config import Config, ConfigError, default_config, load_config
from voxtral_desktop.core.conversation import ConversationSession
from voxtral_desktop.core.history import ConversationSummary, HistoryError, HistoryStore
from voxtral_desktop.core.model import VoxtralModel
from voxtral_desktop.ui.speaker import Speaker

log = logging.getLogger(__name__)

# Model states, in the order a load walks through them.
IDLE, DOWNLOADING, LOADING, READY, FAILED = "idle", "downloading", "loading", "ready", "failed"

MIN_PRESS_S = 0.3  # shorter presses are accidental taps, not speech
POLL_MS = 33  # level meter and elapsed-time refresh while recording (~30 fps)
WAVEFORM_BARS = 40
SHORT_PRESS_HINT = "Too short: hold the button (or Space) while you speak, then let go."
MODEL_CHANGE_KEYS = ("id", "device", "dtype")


@dataclass(frozen=True)
class ReplyResult:
    """How a reply ended, for the chat view's footer under the assistant bubble."""

    turn_id: int
    status: str  # "ok", "error" or "cancelled"
    first_chunk_ms: float | None  # time to the first words, None when no words came
    total_ms: float
    text: str = ""  # for errors: the user-facing fallback text
    detail: str = ""  # for errors: what went wrong


def waveform(audio: np.ndarray, bars: int = WAVEFORM_BARS) -> list[float]:
    """Loudness per slice, scaled to [0, 1]: the little picture in the user's bubble."""
    if audio.size == 0:
        return [0.0] * bars
    slices = np.array_split(np.abs(audio.astype(np.float32)), bars)
    rms = np.array([float(np.sqrt(np.mean(np.square(s)))) if s.size else 0.0 for s in slices])
    peak = float(rms.max())
    return [float(v) for v in (rms / peak if peak > 0 else rms)]


def model_label(model_id: str) -> str:
    """ "mistralai/Voxtral-Mini-3B-2507" -> "Voxtral-Mini-3B-2507"; ".../models--org--Name/snapshots/<hash>"
    -> "Name"; ".../tiny-voxtral/<hash>" -> "tiny-voxtral"."""
    parts = [p for p in model_id.replace("\\", "/").split("/") if p]
    while len(parts) > 1 and (parts[-1] == "snapshots" or re.fullmatch(r"[0-9a-f]{16,}", parts[-1])):
        parts.pop()
    name = parts[-1] if parts else model_id
    if name.startswith("models--"):
        name = name.split("--")[-1]
    return name


class Bridge(QObject):
    """Owns the model, the recorder and the settings; widgets talk to it and listen to its signals."""

    modelStateChanged = Signal(str, str, object)  # state, message for users, progress fraction or None
    micStateChanged = Signal(bool, str)  # usable, why not (empty when usable)
    recordingChanged = Signal(bool)
    recordingProgress = Signal(float, float)  # input RMS level (full scale 1.0), seconds held
    hint = Signal(str)  # a short, transient tip next to the talk button
    userTurn = Signal(int, float, object)  # turn id, recording seconds, waveform (list of floats)
    replyStarted = Signal(int)
    replyChunk = Signal(int, str)  # turn id, the chunk's words
    replyFinished = Signal(int, object)  # turn id, ReplyResult
    busyChanged = Signal(bool)  # a reply is streaming
    errorOccurred = Signal(str, str)  # title, detail: unexpected errors, shown in the window's banner
    settingsApplied = Signal()
    userText = Signal(int, str)  # turn id, a typed turn's text
    userTranscript = Signal(int, str)  # turn id, what the user said (the "show what I said" setting)
    modeChanged = Signal(str)  # "conversation" or "transcribe"
    conversationsChanged = Signal()
    conversationOpened = Signal(str, object)  # conversation id, its stored turns (list of TurnRecord)
    speakingChanged = Signal(bool)

    def __init__(
        self,
        config: Config | None = None,
        *,
        model: VoxtralModel | None = None,
        model_factory: Callable[[Config], VoxtralModel] = VoxtralModel,
        capture_factory: Callable[[str | None], CaptureSource] = SoundDeviceCapture,
        device_lister: Callable[..., list[InputDevice]] = list_input_devices,
        history: HistoryStore | None = None,
        speaker: Speaker | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if model is not None:
            self.config = model.config
        else:
            self.config = config if config is not None else load_config()
        self._model_factory = model_factory
        self._model = model if model is not None else model_factory(self.config)
        self._capture_factory = capture_factory
        self._device_lister = device_lister
        # One worker each: loads must not overlap, and PortAudio calls are best kept to one thread.
        self._load_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="voxtral-load")
        self._audio_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="voxtral-audio")
        self._model_state = IDLE
        self._model_message = ""
        self._device: str | None = None
        self._mic_ok = False
        self._mic_checked = False
        self._mic_message = "Checking for a microphone…"
        self._recorder: Recorder | None = None
        self._pressed_at = 0.0
        self._turns = itertools.count(1)
        self._reply_task: asyncio.Future[Any] | None = None
        self._active_replies = 0
        self._load_future: asyncio.Future[Any] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self._started = False
        self._closing = False
        self._closed = False
        self._mode = "conversation"
        self._history = history
        self._session: ConversationSession | None = None  # made on the first turn: no empty conversations
        self._spoken_turn: int | None = None  # the reply whose chunks are being spoken; None once silenced
        self.speaker = speaker if speaker is not None else Speaker(self.config.speech.engine, self)
        self.speaker.speakingChanged.connect(self.speakingChanged)
        self._apply_speech()
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._poll_recorder)

    # --- state for widgets ------------------------------------------------------------------------

    @property
    def model(self) -> VoxtralModel:
        return self._model

    @property
    def model_state(self) -> str:
        return self._model_state

    @property
    def model_message(self) -> str:
        return self._model_message

    @property
    def device(self) -> str | None:
        """Where the model runs once loaded ("cpu", "cuda", ...), when the back-end says."""
        return self._device

    @property
    def mic_available(self) -> bool:
        return self._mic_ok

    @property
    def mic_checked(self) -> bool:
        """False until the first look for a microphone has finished."""
        return self._mic_checked

    @property
    def mic_message(self) -> str:
        return self._mic_message

    @property
    def is_recording(self) -> bool:
        return self._recorder is not None

    @property
    def capture_source(self) -> CaptureSource | None:
        """The source being recorded from, while recording."""
        return self._recorder.source if self._recorder is not None else None

    @property
    def is_busy(self) -> bool:
        return self._reply_task is not None and not self._reply_task.done()

    @property
    def reply_task(self) -> asyncio.Future[Any] | None:
        return self._reply_task

    def model_label(self) -> str:
        """A short name for the model: the hub id's or the folder's last part, skipping cache hashes."""
        return model_label(self.config.model.id)

    # --- start-up -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Load the model and look for a microphone, both in the background. Runs once."""
        if self._started:
            return
        self._started = True
        self._track(self.loadModel())
        self._track(self.probeMicrophone())

    def _track(self, task: Any) -> None:
        # asyncSlot returns the task; keep it so shutdown can wait for it.
        if isinstance(task, asyncio.Future):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _set_model_state(self, state: str, message: str, fraction: float | None = None) -> None:
        self._model_state, self._model_message = state, message
        self.modelStateChanged.emit(state, message, fraction)

    @asyncSlot()
    async def loadModel(self) -> None:
        """Load the current model on the load thread; progress and the outcome come back as signals."""
        model = self._model
        if model.is_initialized:
            self._on_loaded(model)
            return
        loop = asyncio.get_running_loop()

        def progress(phase: str, fraction: float | None) -> None:  # runs on the load thread
            try:
                loop.call_soon_threadsafe(self._on_progress, model, phase, fraction)
            except RuntimeError:  # the loop closed while loading (the app quit): nobody to tell
                pass

        self._device = None
        self._set_model_state(LOADING, f"Loading {self.model_label()}…")
        future = loop.run_in_executor(self._load_pool, model.initialize, progress)
        self._load_future = future
        try:
            await future
        except ModelLoadError as e:
            if model is self._model:
                log.warning("model load failed: %s", e)
                self._set_model_state(FAILED, str(e))
            return
        except Exception as e:
            if model is self._model:
                log.exception("model load failed unexpectedly")
                self._set_model_state(
                    FAILED, f"Unexpected error while loading the model: {type(e).__name__}: {e}"
                )
            return
        finally:
            if self._load_future is future:
                self._load_future = None
        if model is self._model and not self._closing:
            self._on_loaded(model)

    def _on_progress(self, model: VoxtralModel, phase: str, fraction: float | None) -> None:
        if model is not self._model or self._model_state in (READY, FAILED):
            return
        if phase == DOWNLOADING:
            pct = f" {fraction:.0%}" if fraction is not None else ""
            self._set_model_state(DOWNLOADING, f"Downloading {self.model_label()}{pct}", fraction)
        elif phase == LOADING:
            self._set_model_state(LOADING, f"Loading {self.model_label()}…", fraction)

    def _on_loaded(self, model: VoxtralModel) -> None:
        device = getattr(model.backend, "device", None)
        self._device = str(device) if device else None
        if self._device == "cpu":
            message = "Running on the CPU: replies from a full-size model take a while."
        elif self._device:
            message = f"Running on {self._device.upper()}."
        else:
            message = ""
        self._set_model_state(READY, message)

    @asyncSlot()
    async def probeMicrophone(self) -> None:
        """Check (off the UI thread) that the configured microphone exists; the button follows the answer."""
        wanted = self.config.audio.input_device or None
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._audio_pool, lambda: self._capture_factory(wanted).probe())
        except CaptureError as e:
            self._set_mic(False, str(e))
            return
        self._set_mic(True, "")

    def _set_mic(self, ok: bool, message: str) -> None:
        self._mic_ok, self._mic_message, self._mic_checked = ok, message, True
        self.micStateChanged.emit(ok, message)

    # --- recording --------------------------------------------------------------------------------

    @Slot()
    def startRecording(self) -> None:
        """Push-to-talk pressed: start capturing (and stop a reply that is still streaming)."""
        if self._recorder is not None or self._closing:
            return
        if not self._mic_ok:
            self.hint.emit(self._mic_message or "No microphone is available.")
            return
        if self._model_state != READY:
            self.hint.emit("The model is not ready yet.")
            return
        self._barge_in()  # talking over the assistant interrupts it
        source = self._capture_factory(self.config.audio.input_device or None)
        recorder = Recorder(source, self.config.audio.max_recording_s)
        try:
            recorder.start()
        except CaptureError as e:
            log.warning("could not start recording: %s", e)
            self.errorOccurred.emit("The microphone could not be opened", str(e))
            self._track(self.probeMicrophone())
            return
        self._recorder = recorder
        self._pressed_at = time.monotonic()
        self._poll.start()
        self.recordingChanged.emit(True)

    @Slot()
    def stopRecording(self) -> None:
        """Push-to-talk released: send what was recorded, unless the press was too short."""
        if self._recorder is not None:
            self._finish_recording(send=True)

    @Slot()
    def discardRecording(self) -> None:
        if self._recorder is not None:
            self._finish_recording(send=False)
            self.hint.emit("Recording discarded.")

    def _poll_recorder(self) -> None:
        recorder = self._recorder
        if recorder is None:
            return
        status = recorder.status()
        self.recordingProgress.emit(status.level_rms, time.monotonic() - self._pressed_at)
        if status.error is not None:
            log.warning("recording failed: %s", status.error)
            self._finish_recording(send=False)
            self.errorOccurred.emit("The microphone stopped working", str(status.error))
            self._track(self.probeMicrophone())  # gone for good, or back? the button follows the answer
        elif status.limit_reached:
            limit = self.config.audio.max_recording_s
            self.hint.emit(f"Recording stopped at the {limit:g} s limit (Settings: audio.max_recording_s).")
            self._finish_recording(send=True)

    def _finish_recording(self, *, send: bool) -> None:
        recorder, self._recorder = self._recorder, None
        assert recorder is not None
        self._poll.stop()
        held = time.monotonic() - self._pressed_at
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
        self.sendRecording(recording)

    def sendRecording(self, recording: Recording) -> asyncio.Future[Any]:
        """Show the user's turn and stream the reply to it; returns the reply's task."""
        turn_id = next(self._turns)
        self.userTurn.emit(turn_id, recording.duration_s, waveform(recording.audio))
        return self._start_reply(self._reply(turn_id, recording, None))

    def sendText(self, text: str) -> asyncio.Future[Any] | None:
        """A typed turn instead of speech (always conversation mode); returns the reply's task."""
        text = text.strip()
        if not text:
            return None
        if self._model_state != READY:
            self.hint.emit("The model is not ready yet.")
            return None
        self._barge_in()
        turn_id = next(self._turns)
        self.userText.emit(turn_id, text)
        return self._start_reply(self._reply(turn_id, None, text))

    def _start_reply(self, task: Any) -> asyncio.Future[Any]:
        self._reply_task = task
        self._track(task)
        return task

    # --- replies ----------------------------------------------------------------------------------

    @asyncSlot()
    async def _reply(self, turn_id: int, recording: Recording | None, text: str | None) -> None:
        # A reply cancelled by talking over it may still be winding down; the model runs one at a time.
        self._active_replies += 1
        self.replyStarted.emit(turn_id)
        if self._active_replies == 1:
            self.busyChanged.emit(True)
        first_ms: float | None = None
        final: dict[str, Any] | None = None
        session = self._ensure_session()
        mode = self._mode if recording is not None else "conversation"
        self.speaker.stop()  # a previous reply still being spoken gives way to this one
        self._spoken_turn = turn_id if mode == "conversation" else None
        try:
            if recording is not None:
                stream = session.respond(
                    recording.audio, sample_rate=recording.sample_rate, mode=mode, chunk_id=f"turn-{turn_id}"
                )
            else:
                stream = session.respond_text(text or "", chunk_id=f"turn-{turn_id}")
            async for chunk in stream:
                if chunk["success"] and chunk["text"]:
                    if first_ms is None:
                        first_ms = float(chunk["processing_time_ms"])
                    self.replyChunk.emit(turn_id, chunk["text"])
                    if self._spoken_turn == turn_id:
                        self.speaker.say_chunk(chunk["text"])
                if chunk["is_final"]:
                    final = dict(chunk)
        except Exception as e:
            # Shown in the conversation where it happened, and logged with its traceback.
            log.exception("reply %d failed", turn_id)
            result = ReplyResult(turn_id, "error", first_ms, 0.0, C.FALLBACK_TEXT, f"{type(e).__name__}: {e}")
            self.replyFinished.emit(turn_id, result)
            return
        finally:
            self._active_replies -= 1
            if self._active_replies == 0:
                self.busyChanged.emit(False)
            self.conversationsChanged.emit()
        assert final is not None
        total = float(final["processing_time_ms"])
        if C.is_cancelled(final):
            result = ReplyResult(turn_id, "cancelled", first_ms, total)
        elif not final["success"]:
            result = ReplyResult(turn_id, "error", first_ms, total, final["text"], final.get("error", ""))
        else:
            result = ReplyResult(turn_id, "ok", first_ms, total)
        self.replyFinished.emit(turn_id, result)
        if (
            recording is not None
            and mode == "conversation"
            and result.status == "ok"
            and self.config.conversation.show_transcript
            and session.last is not None
        ):
            await self._show_transcript(turn_id, recording, session, session.last.user_turn_id)

    async def _show_transcript(
        self, turn_id: int, recording: Recording, session: ConversationSession, stored_turn_id: int
    ) -> None:
        """Transcribe the user's turn after the reply (so the reply is never delayed) and show it."""
        texts: list[str] = []
        async for chunk in self._model.process_realtime_chunk_streaming(
            recording.audio, f"turn-{turn_id}-transcript", mode="transcribe", sample_rate=recording.sample_rate
        ):
            if not chunk["success"]:
                log.info("no transcript for turn %d: %s", turn_id, chunk.get("error"))
                return
            if chunk["text"]:
                texts.append(chunk["text"])
        transcript = " ".join(texts)
        session.store.set_turn_text(stored_turn_id, transcript)
        session.store.title_from(session.conversation_id, transcript)
        self.userTranscript.emit(turn_id, transcript)
        self.conversationsChanged.emit()

    def _barge_in(self) -> None:
        """Stop the reply in flight and its speech at once; the reply ends marked interrupted."""
        self._spoken_turn = None
        self.speaker.stop()
        if self.is_busy:
            self._model.cancel()

    def cancel(self) -> bool:
        """Esc: discard a recording in progress, else stop the reply that is streaming. True if it did."""
        if self._recorder is not None:
            self.discardRecording()
            return True
        if self.is_busy or self.speaker.is_speaking:
            self._barge_in()
            return True
        return False

    # --- settings -----------------------------------------------------------------------------------

    def settings_file(self) -> Path:
        """Where Settings writes: the user file the config was loaded with, else the default one."""
        return getattr(self.config, "user_file", None) or paths.user_config_file()

    def settings_snapshot(self) -> Config:
        """A copy of the live settings, for the settings dialog to show and edit."""
        return self.config.copy()

    def check_setting(self, section: str, key: str, value: Any) -> str | None:
        """The config's own message when ``value`` is not acceptable, else None."""
        try:
            self.config.copy().update({section: {key: value}} if section else {key: value})
        except ConfigError as e:
            return str(e)
        return None

    def input_devices(self, *, refresh: bool = False) -> tuple[list[str], str]:
        """Names of the input devices (default first), and a message when there are none."""
        try:
            devices = self._device_lister(refresh=refresh)
        except CaptureError as e:
            return [], str(e)
        names = [d.name for d in sorted(devices, key=lambda d: not d.is_default)]
        return names, "" if names else "No microphone found."

    def save_settings(self, changes: Mapping[str, Mapping[str, Any]]) -> None:
        """Apply ``changes`` to the live settings (next reply uses them) and write them to the user's file.

        Only the changed keys are written, so `--model`/`--config` given on the command line are not
        saved behind the user's back. Raises ConfigError, leaving everything as it was.
        """
        # Sections are mappings; a few settings (``backend``) sit at the top level.
        changes = {s: (dict(v) if isinstance(v, Mapping) else v) for s, v in changes.items() if v not in ({}, None)}
        if not changes:
            return
        before = self.config.copy()
        self.config.update(changes)
        user_file = self.settings_file()
        try:
            try:
                stored = load_config()
            except ConfigError as e:  # an unreadable user file is backed up by save(); start from defaults
                log.warning("%s; saving the new settings over defaults", e)
                stored = default_config()
            stored.update(changes)
            stored.save(user_file)
        except (ConfigError, OSError) as e:
            self.config.update(before.to_dict())
            if isinstance(e, OSError):
                raise ConfigError(f"could not save settings to {user_file}: {e}") from e
            raise
        model_changed = (
            any(getattr(before.model, k) != getattr(self.config.model, k) for k in MODEL_CHANGE_KEYS)
            or before.backend != self.config.backend
        )
        if model_changed:
            self._track(self.reloadModel())
        if before.audio.input_device != self.config.audio.input_device:
            self._track(self.probeMicrophone())
        self._apply_speech()
        self.settingsApplied.emit()

    @asyncSlot()
    async def reloadModel(self) -> None:
        """Replace the model by one built from the current settings, loading it in the background."""
        old = self._model
        old.cancel()
        if self._reply_task is not None and not self._reply_task.done():
            await asyncio.gather(self._reply_task, return_exceptions=True)
        self._model = self._model_factory(self.config)
        if self._session is not None:
            self._session.model = self._model
        # Free the old weights before loading new ones: two full-size models rarely fit at once.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._load_pool, old.close)
        await self.loadModel()

    # --- quitting -----------------------------------------------------------------------------------

    async def shutdown(self) -> None:
        """Stop recording and generation, wait for worker threads, release the model. Idempotent."""
        if self._closed:
            return
        self._closing = True
        self._poll.stop()
        if self._recorder is not None:
            recorder, self._recorder = self._recorder, None
            recorder.stop()
            self.recordingChanged.emit(False)
        self._model.cancel()
        self.speaker.stop()
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if self._load_future is not None:
            # A load cannot be interrupted; the window is already gone, so waiting costs the user nothing.
            await asyncio.gather(self._load_future, return_exceptions=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._load_pool, self._model.close)
        self._load_pool.shutdown(wait=True)
        self._audio_pool.shutdown(wait=True)
        if self._history is not None:
            self._history.close()
        self._closed = True
        log.info("shut down cleanly")

    # --- speech, mode and conversations -------------------------------------------------------------

    def _apply_speech(self) -> None:
        sp = self.config.speech
        self.speaker.configure(enabled=sp.enabled, voice=sp.voice, rate=sp.rate, engine=sp.engine)

    @property
    def mode(self) -> str:
        return self._mode

    @Slot(str)
    def setMode(self, mode: str) -> None:
        if mode not in ("conversation", "transcribe"):
            raise ValueError(f"unknown mode {mode!r}")
        if mode != self._mode:
            self._mode = mode
            self.modeChanged.emit(mode)

    @property
    def history(self) -> HistoryStore:
        """The history database, opened on first use; an unusable file falls back to memory, with a warning."""
        if self._history is None:
            try:
                self._history = HistoryStore()
            except HistoryError as e:
                log.error("%s; this session's history is kept in memory only", e)
                self.errorOccurred.emit("History is not being saved", f"{e}. The file was left untouched.")
                self._history = HistoryStore(":memory:")
        return self._history

    def _ensure_session(self) -> ConversationSession:
        if self._session is None:
            self._session = ConversationSession(self._model, self.history)
        return self._session

    @property
    def current_conversation_id(self) -> str:
        return self._session.conversation_id if self._session is not None else ""

    def conversations(self) -> list[ConversationSummary]:
        return self.history.list_conversations()

    @Slot()
    def newConversation(self) -> None:
        """Start fresh: no memory of earlier turns; the conversation is created with its first turn."""
        self._barge_in()
        self._session = None
        self.conversationOpened.emit("", [])
        self.conversationsChanged.emit()

    @Slot(str)
    def openConversation(self, conversation_id: str) -> None:
        """Continue a stored conversation: its turns are shown and remembered (as text, or kept audio)."""
        turns = self.history.turns(conversation_id)
        self._barge_in()
        self._session = ConversationSession(self._model, self.history, conversation_id)
        self.conversationOpened.emit(conversation_id, turns)

    @Slot(str, str)
    def renameConversation(self, conversation_id: str, title: str) -> None:
        self.history.rename(conversation_id, title)
        self.conversationsChanged.emit()

    @Slot(str)
    def deleteConversation(self, conversation_id: str) -> None:
        self.history.delete(conversation_id)
        if conversation_id == self.current_conversation_id:
            self.newConversation()
        else:
            self.conversationsChanged.emit()

    def exportConversation(self, conversation_id: str, fmt: str, path: str | Path) -> Path:
        """Write the conversation as Markdown or JSON; raises ValueError/OSError with a message."""
        text = self.history.export(conversation_id, fmt)
        target = Path(path)
        target.write_text(text + "\n", encoding="utf-8")
        return target

    async def test_connection(self, remote: Mapping[str, Any]) -> tuple[bool, str]:
        """Settings' "Test connection": try the given server settings without applying them."""
        from voxtral_desktop.core.backends import GenerationError, create_backend

        candidate = self.config.copy()
        try:
            candidate.update({"backend": "openai", "remote": dict(remote)})
        except ConfigError as e:
            return False, str(e)
        backend = create_backend(candidate)
        try:
            return True, await backend.check_connection()  # type: ignore[attr-defined]
        except GenerationError as e:
            return False, str(e)
        finally:
            closer = getattr(backend, "aclose", None)
            if closer is not None:
                await closer()
