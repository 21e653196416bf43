"""The UI's door to the model: load it (and reload it when its settings change) off the UI thread, and publish
where that stands as a ``ModelStatus`` snapshot."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from qasync import asyncSlot

from voxtral_desktop.core.capture import Recording
from voxtral_desktop.core.config import Config
from voxtral_desktop.core.errors import HubUnreachable, ModelLoadError
from voxtral_desktop.core.model import LoadPhase, Mode, VoxtralModel
from voxtral_desktop.ui.view_models.status import ModelStatus, model_label
from voxtral_desktop.ui.view_models.workers import Workers

log = logging.getLogger(__name__)

MODEL_CHANGE_KEYS = ("id", "device", "dtype")  # model settings that need the model loaded again


class ModelViewModel(QObject):
    """Owns the ``VoxtralModel``. Replies borrow it (``lend``) so that a reload waits for them to wind down."""

    statusChanged = Signal(object)  # ModelStatus
    modelReplaced = Signal(object)  # the new VoxtralModel, after a settings change

    def __init__(
        self,
        config: Config,
        workers: Workers,
        *,
        model: VoxtralModel | None = None,
        model_factory: Callable[[Config], VoxtralModel] = VoxtralModel.from_config,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.config = config
        self._workers = workers
        self._factory = model_factory
        self._model = model if model is not None else model_factory(config)
        self._status = ModelStatus()
        self._load_future: asyncio.Future[Any] | None = None
        self._borrowers: set[asyncio.Future[Any]] = set()

    @property
    def model(self) -> VoxtralModel:
        return self._model

    @property
    def status(self) -> ModelStatus:
        return self._status

    def label(self) -> str:
        """A short name for the model: the hub id's or the folder's last part, skipping cache hashes."""
        return model_label(self.config.model.id)

    def lend(self, task: asyncio.Future[Any]) -> None:
        """``task`` uses the current model until it ends; replacing the model waits for it."""
        self._borrowers.add(task)
        task.add_done_callback(self._borrowers.discard)

    async def transcribe(self, recording: Recording, chunk_id: str) -> str | None:
        """What the user said in ``recording`` (transcribe mode), or None when the model could not tell."""
        texts: list[str] = []
        async for chunk in self._model.process_realtime_chunk_streaming(
            recording.audio, chunk_id, mode=Mode.TRANSCRIBE, sample_rate=recording.sample_rate
        ):
            if not chunk["success"]:
                log.info("no transcript for %s: %s", chunk_id, chunk.get("error"))
                return None
            if chunk["text"]:
                texts.append(chunk["text"])
        return " ".join(texts)

    def _publish(self, phase: LoadPhase, message: str, fraction: float | None = None, detail: str = "") -> None:
        ready = phase == LoadPhase.READY
        device = self._model.device if ready else None
        first_words_s = self._model.first_words_s if ready else None
        engine = self._model.engine_name if ready else ""
        self._status = ModelStatus(phase, message, fraction, device, detail, first_words_s, engine)
        self.statusChanged.emit(self._status)

    @asyncSlot()
    async def load(self) -> None:
        """Load the current model on the load thread; progress and the outcome come back as statusChanged."""
        model = self._model
        if model.is_initialized:
            self._on_loaded()
            return
        loop = asyncio.get_running_loop()

        def progress(phase: LoadPhase, fraction: float | None) -> None:  # runs on the load thread
            try:
                loop.call_soon_threadsafe(self._on_progress, model, phase, fraction)
            except RuntimeError:  # the loop closed while loading (the app quit): nobody to tell
                pass

        self._publish(LoadPhase.LOADING, f"Loading {self.label()}…")
        future = loop.run_in_executor(self._workers.load_pool, model.initialize, progress)
        self._load_future = future
        try:
            await future
        except HubUnreachable as e:  # offline: the message says what to do, the library's words go to Details
            if model is self._model:  # (and to the log file: core/hub.py logged the exception at INFO)
                log.warning("model load failed: %s", e)
                self._publish(LoadPhase.FAILED, str(e), detail=e.cause)
            return
        except ModelLoadError as e:
            if model is self._model:
                log.warning("model load failed: %s", e)
                self._publish(LoadPhase.FAILED, str(e))
            return
        except Exception as e:
            if model is self._model:
                log.exception("model load failed unexpectedly")
                self._publish(LoadPhase.FAILED, f"Unexpected error while loading the model: {type(e).__name__}: {e}")
            return
        finally:
            if self._load_future is future:
                self._load_future = None
        if model is self._model and not self._workers.closing:
            self._on_loaded()

    def _on_progress(self, model: VoxtralModel, phase: LoadPhase, fraction: float | None) -> None:
        if model is not self._model or self._status.phase in (LoadPhase.READY, LoadPhase.FAILED):
            return
        if phase == LoadPhase.DOWNLOADING:
            pct = f" {fraction:.0%}" if fraction is not None else ""
            self._publish(LoadPhase.DOWNLOADING, f"Downloading {self.label()}{pct}", fraction)
        elif phase == LoadPhase.LOADING:
            self._publish(LoadPhase.LOADING, f"Loading {self.label()}…", fraction)

    def _on_loaded(self) -> None:
        device = self._model.device
        if device == "cpu":  # what a reply will cost here, measured at load (core/backends/cost.py)
            message = self._model.load_notice or "Running on the CPU: replies from a full-size model take a while."
        elif device:
            message = f"Running on {device.upper()}."
        else:
            message = ""
        self._publish(LoadPhase.READY, message)

    @asyncSlot()
    async def reload(self) -> None:
        """Replace the model by one built from the current settings, loading it in the background."""
        old = self._model
        old.cancel()
        if self._borrowers:
            await asyncio.gather(*self._borrowers, return_exceptions=True)
        self._model = self._factory(self.config)
        self.modelReplaced.emit(self._model)
        # Free the old weights before loading new ones: two full-size models rarely fit at once.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._workers.load_pool, old.close)
        await self.load()

    def apply_settings(self, before: Config) -> None:
        """Settings were saved: reload when the model, its device or precision, or the engine changed."""
        model_changed = (
            any(getattr(before.model, k) != getattr(self.config.model, k) for k in MODEL_CHANGE_KEYS)
            or before.backend != self.config.backend
        )
        if model_changed:
            self._workers.track(self.reload())

    def cancel(self) -> None:
        """Stop the reply the model is generating, if any."""
        self._model.cancel()

    async def close(self) -> None:
        """Wait for a load in progress (it cannot be interrupted), then release the model."""
        if self._load_future is not None:
            # The window is already gone, so waiting costs the user nothing.
            await asyncio.gather(self._load_future, return_exceptions=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._workers.load_pool, self._model.close)
