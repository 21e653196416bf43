"""One thread per HistoryStore for its sqlite calls, so an event loop never waits on a busy or locked database.

A single thread runs the calls in the order they were submitted: a reply's chunks are written in order and
its final save after them, and sqlite only ever sees one thread at a time per store. Never imports Qt.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from voxtral_desktop.core.history.store import HistoryStore

T = TypeVar("T")
log = logging.getLogger(__name__)

_LOCK = threading.Lock()
_THREADS: weakref.WeakKeyDictionary[HistoryStore, concurrent.futures.ThreadPoolExecutor] = (
    weakref.WeakKeyDictionary()
)


def _executor(store: HistoryStore) -> concurrent.futures.ThreadPoolExecutor:
    with _LOCK:
        pool = _THREADS.get(store)
        if pool is None:
            pool = _THREADS[store] = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="history")
            # The thread ends with the store; queued writes still run first (shutdown waits for them).
            weakref.finalize(store, pool.shutdown, wait=False)
        return pool


def submit(store: HistoryStore, call: Callable[..., T], *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
    """Queue ``call(*args, **kwargs)`` on the store's thread; it runs after everything queued before it."""
    return _executor(store).submit(functools.partial(call, *args, **kwargs))


async def run(store: HistoryStore, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call`` on the store's thread, awaited. Cancelling the await does not cancel a queued write: it runs."""
    return await asyncio.shield(asyncio.wrap_future(submit(store, call, *args, **kwargs)))


def drain(store: HistoryStore, timeout: float | None = None) -> None:
    """Wait (blocking) until everything queued for ``store`` has run: before closing it."""
    with _LOCK:
        pool = _THREADS.get(store)
    if pool is not None:
        try:
            pool.submit(lambda: None).result(timeout)
        except concurrent.futures.TimeoutError:
            log.warning("history writes still queued after %s s; closing anyway", timeout)
