"""One thread per HistoryStore for its sqlite calls, so an event loop never waits on a busy or locked database.

The one helper for background history work (as Anki's CollectionOp/QueryOp): ``run`` (a write, or any call)
and ``query`` (a read, its sqlite failure said as HistoryError) awaited from a loop; ``submit`` queues
without waiting (a reply's chunks); ``drain`` waits for the queue before the store closes.

A single thread runs the calls in the order they were submitted: a reply's chunks are written in order and
its final save after them, and sqlite only ever sees one thread at a time per store. Never imports Qt.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import sqlite3
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from voxtral_desktop.core.errors import HistoryError
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


async def query(store: HistoryStore, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A read, as ``run``: a plain sqlite failure comes back as HistoryError naming the file (writes are
    typed already, in transactions.py). The one way the UI and the conversation read the history."""
    try:
        return await run(store, call, *args, **kwargs)
    except sqlite3.Error as e:
        raise HistoryError(f"could not read the history {store.path}: {e}") from e


def drain(store: HistoryStore, timeout: float | None = None) -> None:
    """Wait (blocking) until everything queued for ``store`` has run: before closing it."""
    with _LOCK:
        pool = _THREADS.get(store)
    if pool is not None:
        try:
            pool.submit(lambda: None).result(timeout)
        except concurrent.futures.TimeoutError:
            log.warning("history writes still queued after %s s; closing anyway", timeout)
