"""How a reply ended, read from its last chunk; the strings are the ones the history database stores."""

from __future__ import annotations

import pytest

from voxtral_desktop.core import chunks as C
from voxtral_desktop.core.chunks import ReplyStatus, status_of


@pytest.mark.parametrize(
    ("last", "status"),
    [
        (None, ReplyStatus.STREAMING),
        (C.text_chunk("Hello there", 0, 5.0, final=False), ReplyStatus.STREAMING),
        (C.text_chunk("the end.", 3, 9.0, final=True), ReplyStatus.COMPLETE),
        (C.text_chunk("", 3, 9.0, final=True), ReplyStatus.COMPLETE),
        (C.error_chunk(C.FALLBACK_TEXT, "GenerationError: out of memory", 2, 9.0), ReplyStatus.ERROR),
        (C.error_chunk(C.CANCELLED_TEXT, C.CANCELLED_ERROR, 2, 9.0), ReplyStatus.INTERRUPTED),
    ],
    ids=["nothing-yet", "mid-reply", "complete", "complete-empty-last", "error", "cancelled"],
)
def test_status_of_the_last_chunk(last, status):
    assert status_of(last) is status


def test_reply_statuses_are_the_stored_strings():
    assert [s.value for s in ReplyStatus] == ["streaming", "complete", "error", "interrupted"]
    assert ReplyStatus.COMPLETE == "complete" and ReplyStatus("interrupted") is ReplyStatus.INTERRUPTED


def test_an_error_chunk_is_always_final_and_says_what_went_wrong():
    chunk = C.error_chunk(C.NO_SPEECH_TEXT, "no speech detected", 0, 1.5)
    assert chunk == {
        "success": False,
        "text": C.NO_SPEECH_TEXT,
        "is_final": True,
        "chunk_index": 0,
        "processing_time_ms": 1.5,
        "error": "no speech detected",
    }
    assert not C.is_cancelled(chunk) and C.is_cancelled(C.error_chunk("", C.CANCELLED_ERROR, 0, 0.0))
