"""A scripted back-end for tests of the logic around the model (chunking, errors, cancel, ordering)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from voxtral_desktop.core.backends.base import (
    DEFAULT_CONTEXT_TOKENS,
    Backend,
    GenerationError,
    GenerationRequest,
    ProgressCallback,
)


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
