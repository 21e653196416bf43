"""The threads and tasks the view-models share, so that quitting can wait for every one of them."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any


class Workers:
    """One load thread, one audio thread, and the asyncio tasks still running.

    One worker each: loads must not overlap, and PortAudio calls are best kept to one thread.
    """

    def __init__(self) -> None:
        self.load_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="voxtral-load")
        self.audio_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="voxtral-audio")
        self.closing = False  # set once quitting has begun: nothing new starts
        self._tasks: set[asyncio.Future[Any]] = set()

    def track(self, task: Any) -> Any:
        """Keep a task (what an asyncSlot returns) so quitting can wait for it; returns it."""
        if isinstance(task, asyncio.Future):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Wait for every tracked task, whatever it raises."""
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def shutdown(self) -> None:
        """Wait for the threads to finish their work and end them."""
        self.load_pool.shutdown(wait=True)
        self.audio_pool.shutdown(wait=True)
