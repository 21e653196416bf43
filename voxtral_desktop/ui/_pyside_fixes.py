"""Work-arounds for bugs in the PySide6 build at hand, applied once by the app before its first window."""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)

_applied: bool | None = None


def guard_singletons_against_refcount_bug() -> bool:
    """Work around PySide6 6.12.0 on CPython 3.11 returning None/True/False without a new reference.

    That build treats the three singletons as immortal (as they are from Python 3.12 on), so every void
    Qt call and every signal emit steals one reference; after some thousands the interpreter aborts with
    "Fatal Python error: none_dealloc" (or bool_dealloc). The singletons are never freed anyway, so giving
    them references to spare is harmless. Detected by measurement, not by version number; idempotent.
    Returns True when the work-around is in place.
    """
    global _applied
    if _applied is None:
        _applied = _measure_and_guard()
    return _applied


def _measure_and_guard() -> bool:
    if (
        sys.version_info >= (3, 12)
        or sys.implementation.name != "cpython"
        or hasattr(sys, "gettotalrefcount")
    ):
        return False  # immortal singletons, another runtime, or a debug build (refcount not first)
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(64):
        probe.setObjectName("refcount-probe")
    if before - sys.getrefcount(None) < 32:
        return False
    import ctypes

    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += 1 << 40
    log.info("PySide6 leaks references to None/True/False on this Python; applied the work-around")
    return True
