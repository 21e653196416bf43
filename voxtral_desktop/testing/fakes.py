"""A scripted back-end, and the model and "speech" built on it, for tests of the logic around the model."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voxtral_desktop.core.backends.base import (
    DEFAULT_CONTEXT_TOKENS,
    Backend,
    GenerationError,
    GenerationRequest,
    ProgressCallback,
)
from voxtral_desktop.core.config import load_config
from voxtral_desktop.core.conversation import ConversationSession
from voxtral_desktop.core.history import HistoryStore
from voxtral_desktop.core.model import VoxtralModel


@dataclass
class ScriptedBackend(Backend):
    """Streams ``pieces`` with ``delay_s`` between them; raises ``fail_after`` pieces in if set."""

    pieces: list[str] = field(default_factory=list)
    delay_s: float = 0.0
    fail_after: int | None = None
    fail_message: str = "CUDA out of memory"
    loaded: bool = False
    requests: list[GenerationRequest] = field(default_factory=list)
    active: int = 0
    max_active: int = 0
    closed_streams: int = 0
    # Plain fields in place of the interface's properties, so a test can say where the fake "runs".
    device: str | None = None
    context_tokens: int = DEFAULT_CONTEXT_TOKENS

    @property
    def is_loaded(self) -> bool:
        return self.loaded

    def load(self, progress: ProgressCallback | None = None) -> None:
        self.loaded = True

    async def stream(self, request: GenerationRequest, stop: threading.Event) -> AsyncIterator[str]:
        self.requests.append(request)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            for i, piece in enumerate(self.pieces):
                if self.fail_after is not None and i == self.fail_after:
                    raise GenerationError(self.fail_message)
                if stop.is_set():
                    return
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                yield piece
            if self.fail_after is not None and self.fail_after >= len(self.pieces):
                raise GenerationError(self.fail_message)
        finally:
            stop.set()  # as the local back-end does: its thread is told to stop however the stream ends
            self.active -= 1
            self.closed_streams += 1


def tone(seconds: float = 1.0, freq: float = 200.0, amp: float = 0.3, rate: int = 16000) -> np.ndarray:
    """A steady sine, loud enough for the speech detector: "speech" for tests of the logic around the model."""
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def word_pieces(text: str) -> list[str]:
    """``text`` as a back-end streams it: one piece per word, each but the last with its trailing space."""
    words = text.split(" ")
    return [w + " " for w in words[:-1]] + [words[-1]]


def scripted_model(
    pieces: list[str], overrides: dict[str, Any] | None = None, **backend: Any
) -> tuple[VoxtralModel, ScriptedBackend]:
    """An initialized VoxtralModel on a ScriptedBackend streaming ``pieces`` (greedy, shipped settings)."""
    fake = ScriptedBackend(pieces=list(pieces), **backend)
    config = load_config(overrides={"streaming": {"temperature": 0}, **(overrides or {})})
    model = VoxtralModel(config, backend=fake)
    model.initialize()
    return model, fake


def scripted_session(
    store: HistoryStore, conversation_id: str | None = None, *, reply: str, **kw: Any
) -> tuple[ConversationSession, ScriptedBackend]:
    """A ConversationSession saving into ``store`` whose model answers every turn with ``reply``."""
    model, backend = scripted_model(word_pieces(reply), **kw)
    return ConversationSession(model, store, conversation_id), backend


async def exchange(session: ConversationSession, audio: np.ndarray | None = None, **kw: Any) -> list[dict[str, Any]]:
    """Every chunk of one spoken exchange (a tone when no audio is given)."""
    return [c async for c in session.respond(tone() if audio is None else audio, **kw)]
