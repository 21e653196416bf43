"""SpeechError until core/errors.py (one exception tree) lands on this branch."""

from __future__ import annotations


class SpeechError(RuntimeError):
    """Voice / audio output trouble; the message says what to do."""
