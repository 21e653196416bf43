"""Where a reply's time went: the stages in the order they happened with the step between them, behind a
Details toggle a keyboard reaches, and in the footer's tooltip."""

from __future__ import annotations

from PySide6.QtCore import Qt

from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.ui.bubbles import ReplyBubble
from voxtral_desktop.ui.timings_view import breakdown, breakdown_text

SPOKEN = {
    "recording_ended": 0.0, "normalised": 2.5, "prompt_built": 40.0, "audio_encoded": 180.0,
    "first_token": 260.0, "first_chunk": 300.0, "last_chunk": 1900.0, "first_sound": 520.0,
}  # fmt: skip


def test_stages_are_listed_as_they_happened_with_the_step_from_the_one_before():
    rows = breakdown(SPOKEN)
    assert [r.label for r in rows] == [
        "Recording ended", "Audio normalised", "Prompt and features built", "Audio encoded", "First token",
        "First chunk (first words)", "First sound", "Last chunk",
    ]  # fmt: skip  (the voice starts speaking before the last chunk is written)
    assert [r.ms for r in rows] == sorted(r.ms for r in rows)
    assert [r.step for r in rows] == [0.0, 2.5, 37.5, 140.0, 80.0, 40.0, 220.0, 1380.0]
    assert breakdown_text(rows).splitlines()[3] == "Audio encoded: 180 ms (+140 ms)"


def test_a_typed_turn_starts_when_it_was_sent_and_skips_the_stages_it_has_not():
    typed = {"recording_ended": 0.0, "normalised": 0.1, "prompt_built": 3.0, "audio_encoded": None,
             "first_token": 50.0, "first_chunk": 70.0, "last_chunk": 400.0, "first_sound": None}  # fmt: skip
    labels = [r.label for r in breakdown(typed, from_recording=False)]
    assert labels[0] == "Message sent" and "Audio encoded" not in labels and "First sound" not in labels
    assert breakdown(None) == [] and breakdown({}) == []


def test_the_footer_counts_from_the_release_and_details_open_from_the_keyboard(qtbot):
    reply = ReplyBubble(1)
    qtbot.addWidget(reply)
    reply.show()
    reply.append("Sunny today.")
    reply.finish(ReplyStatus.COMPLETE, 151.0, 1234.0)  # the model's own figures, before the timings come
    assert reply.details.toggle.isHidden()
    reply.set_timings(SPOKEN)
    assert reply.meta.text() == "First words in 0.30 s  ·  first sound in 0.52 s  ·  1.90 s in all"
    assert "Audio encoded" in reply.meta.toolTip() and reply.details.toggle.toolTip() == reply.meta.toolTip()
    assert not reply.details.toggle.isHidden() and not reply.details.expanded
    reply.details.toggle.setFocus()
    qtbot.waitUntil(reply.details.toggle.hasFocus, timeout=2000)
    qtbot.keyClick(reply.details.toggle, Qt.Key.Key_Space)
    assert reply.details.expanded and "Prompt and features built" in reply.details.panel.text()
    qtbot.keyClick(reply.details.toggle, Qt.Key.Key_Space)
    assert not reply.details.expanded
    # Enter too: in the window Space is push-to-talk, whichever widget has the focus.
    qtbot.keyClick(reply.details.toggle, Qt.Key.Key_Return)
    assert reply.details.expanded and reply.details.toggle.text() == "Details ▾"
    qtbot.keyClick(reply.details.toggle, Qt.Key.Key_Enter)
    assert not reply.details.expanded and reply.details.toggle.text() == "Details ▸"


def test_a_reply_without_timings_offers_no_details(qtbot):
    reply = ReplyBubble(1)
    qtbot.addWidget(reply)
    reply.finish(ReplyStatus.INTERRUPTED, None, 300.0)
    reply.set_timings({"recording_ended": 0.0})
    assert reply.details.toggle.isHidden() and reply.meta.toolTip() == ""
    assert reply.meta.text() == "Interrupted after 0.30 s"
