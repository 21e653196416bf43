"""The bubbles' own text: durations as people read them, and an interrupted spoken reply's unsaid rest greyed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QFrame

from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.ui import theme
from voxtral_desktop.ui.bubbles import ReplyBubble, format_duration


def test_durations_read_naturally():
    assert format_duration(2.34) == "2.3 s"
    assert format_duration(65.4) == "1:05"


CHUNKS = ["The weather is", "sunny today,", "with a light breeze", "from the west", "and no rain."]


def _reply(qtbot, chunks: list[str]) -> ReplyBubble:
    reply = ReplyBubble(1)
    qtbot.addWidget(reply)
    reply.show()
    for chunk in chunks:
        reply.append(chunk)
    return reply


def _shown(reply: ReplyBubble) -> list[tuple[str, bool]]:
    """The reply's words as the label draws them: (text, greyed) runs, greyed being the muted slanted kind."""
    doc = QTextDocument()
    if reply.label.textFormat() == Qt.TextFormat.RichText:
        doc.setHtml(reply.label.text())
    else:
        doc.setPlainText(reply.label.text())
    runs: list[tuple[str, bool]] = []
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            fmt = fragment.charFormat()
            greyed = fmt.fontItalic() and fmt.foreground().color().name().lower() == theme.MUTED.lower()
            runs.append((fragment.text(), greyed))
            it += 1
        block = block.next()
    return runs


def test_an_interrupted_spoken_reply_greys_the_words_never_said(qtbot):
    reply = _reply(qtbot, CHUNKS)
    reply.finish(ReplyStatus.INTERRUPTED, 120.0, 2400.0, heard_chunks=2)
    runs = _shown(reply)
    assert "".join(text for text, _ in runs) == " ".join(CHUNKS)  # every word written stays readable
    assert "".join(text for text, greyed in runs if not greyed).strip() == "The weather is sunny today,"
    assert "".join(text for text, greyed in runs if greyed) == "with a light breeze from the west and no rain."
    assert reply.heard_text == "The weather is sunny today," and reply.text == " ".join(CHUNKS)
    assert reply.meta.text() == "Interrupted after 2.40 s  ·  the rest was not said"
    assert "not said" in reply.label.toolTip()


def test_a_reply_heard_in_full_or_not_at_all_says_so(qtbot):
    whole = _reply(qtbot, CHUNKS)
    whole.finish(ReplyStatus.INTERRUPTED, 120.0, 2400.0, heard_chunks=5)  # the voice had begun every chunk
    assert _shown(whole) == [(" ".join(CHUNKS), False)] and whole.meta.text() == "Interrupted after 2.40 s"
    assert whole.label.toolTip() == ""

    silent = _reply(qtbot, CHUNKS[:2])
    silent.finish(ReplyStatus.INTERRUPTED, 120.0, 800.0, heard_chunks=0)
    assert _shown(silent) == [("The weather is sunny today,", True)]
    assert silent.meta.text() == "Interrupted after 0.80 s  ·  none of it was said"


def test_a_failed_reply_finished_again_keeps_one_error_bubble(qtbot):
    reply = _reply(qtbot, [])
    reply.finish(ReplyStatus.ERROR, None, 50.0, "The reply failed.", "GenerationError: boom")
    reply.finish(ReplyStatus.ERROR, None, 60.0, "The reply failed.", "GenerationError: boom")
    assert len(reply.findChildren(QFrame, "errorBubble")) == 1
    assert reply.meta.text() == "Failed after 0.06 s" and reply.bubble.isHidden()
