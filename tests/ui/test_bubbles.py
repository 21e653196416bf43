"""The bubbles' own text: durations as people read them."""

from __future__ import annotations

from voxtral_desktop.ui.bubbles import format_duration


def test_durations_read_naturally():
    assert format_duration(2.34) == "2.3 s"
    assert format_duration(65.4) == "1:05"
