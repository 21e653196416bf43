"""Fixtures shared by the core tests."""

from __future__ import annotations

import pytest

from voxtral_desktop.core.history import HistoryStore


@pytest.fixture
def store(tmp_path):
    """A fresh history database, closed after the test."""
    with HistoryStore(tmp_path / "h.sqlite3") as s:
        yield s
