"""The chat view on its own: growing replies, states, scrolling that follows only at the bottom, copyable text,
and stored turns rebuilt as the live view shows them."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.history import TurnRecord
from voxtral_desktop.ui.chat_view import ChatView


def _view(qtbot) -> ChatView:
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(640, 420)
    view.show()
    qtbot.waitExposed(view)
    return view


def _conversation(view: ChatView, turns: int, words: int = 12) -> None:
    for i in range(1, turns + 1):
        view.add_user_turn(i, 1.5, [0.5] * 40)
        view.begin_reply(i)
        for j in range(0, words, 4):
            view.append_chunk(i, " ".join(f"w{i}-{k}" for k in range(j, j + 4)))
        view.finish_reply(i, ReplyStatus.COMPLETE, 120.0, 480.0)


def test_a_reply_grows_chunk_by_chunk_then_shows_its_timings(qtbot):
    view = _view(qtbot)
    view.add_user_turn(1, 2.34, [0.1, 0.9, 0.4] * 10)
    reply = view.begin_reply(1)
    assert not reply.dots.isHidden() and reply.label.isHidden()
    view.append_chunk(1, "The weather is")
    assert reply.label.text() == "The weather is" and reply.dots.isHidden() and not reply.label.isHidden()
    view.append_chunk(1, "sunny today.")
    assert reply.label.text() == "The weather is sunny today."
    view.finish_reply(1, ReplyStatus.COMPLETE, 151.0, 1234.0)
    assert reply.meta.text() == "First words in 0.15 s  ·  1.23 s in all"
    assert view.user_turns()[0].duration.text() == "2.3 s"


def test_interrupted_and_failed_replies_look_different(qtbot):
    view = _view(qtbot)
    view.begin_reply(1)
    view.append_chunk(1, "Half a")
    view.finish_reply(1, ReplyStatus.INTERRUPTED, 90.0, 300.0)
    cancelled = view.reply(1)
    assert (
        cancelled.meta.objectName() == "metaInterrupted"
        and cancelled.meta.text() == "Interrupted after 0.30 s"
    )
    assert cancelled.error_bubble is None

    view.begin_reply(2)
    view.finish_reply(2, ReplyStatus.ERROR, None, 50.0, "Sorry, I didn't understand that.", "GenerationError: boom")
    failed = view.reply(2)
    assert failed.error_bubble is not None and failed.bubble.isHidden()
    assert failed.meta.text() == "Failed after 0.05 s"


def test_scrolling_follows_new_text_only_at_the_bottom(qtbot):
    view = _view(qtbot)
    _conversation(view, 12)
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum())

    view.begin_reply(99)
    for i in range(10):
        view.append_chunk(99, f"more words number {i} arriving")
    qtbot.waitUntil(lambda: bar.value() == bar.maximum())  # followed while at the bottom

    bar.setValue(0)  # the user scrolls up to reread
    assert not view.is_at_bottom()
    for i in range(10):
        view.append_chunk(99, f"and still more words {i} to read later")
    qtbot.wait(50)
    assert bar.value() == 0  # left where the user put it

    bar.setValue(bar.maximum())  # back at the bottom: following again
    view.append_chunk(99, "the end.")
    qtbot.waitUntil(lambda: bar.value() == bar.maximum())


def test_reply_text_can_be_selected_and_copied(qtbot):
    view = _view(qtbot)
    view.begin_reply(1)
    view.append_chunk(1, "Copy me, please.")
    label = view.reply(1).label
    assert label.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    label.setSelection(0, len(label.text()))
    assert label.selectedText() == "Copy me, please."
    label.setFocus()
    qtbot.keyClick(label, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == "Copy me, please."


def test_long_conversations_stay_cheap_to_grow(qtbot):
    view = _view(qtbot)
    _conversation(view, 300)
    qtbot.wait(50)
    view.begin_reply(1000)
    started = time.perf_counter()
    for i in range(40):
        view.append_chunk(1000, f"chunk {i} of a long reply")
        qtbot.wait(0)  # let the layout run, as the event loop would between chunks
    per_chunk_ms = (time.perf_counter() - started) * 1000 / 40
    # Only catches a relayout of every bubble per chunk (seconds); the figure itself is benchmarks/ui.py's.
    assert per_chunk_ms < 250, f"{per_chunk_ms:.1f} ms per chunk with 600 bubbles"


def _record(id_: int, role: str, text: str = "", status: str = "complete", **kw) -> TurnRecord:
    base = {
        "id": id_, "role": role, "mode": "conversation", "text": text, "status": status, "error": None,
        "duration_s": None, "first_chunk_ms": None, "total_ms": None, "created_at": 0.0, "has_audio": False,
        "chunks": [],
    }  # fmt: skip
    base.update(kw)
    return TurnRecord(**base)


def test_stored_turns_are_rebuilt_as_the_live_view_shows_them(qtbot):
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(640, 480)
    view.show()
    view.begin_reply(1)
    view.append_chunk(1, "live words")
    records = [
        _record(10, "user", duration_s=1.23),
        _record(
            11, "assistant", "Sunny today.", first_chunk_ms=120.0, total_ms=480.0, chunks=["Sunny", "today."]
        ),
        _record(12, "user", "What about tomorrow?", duration_s=2.0),
        _record(13, "assistant", "Rain, then", status="interrupted", total_ms=300.0),
        _record(14, "user", "Typed question"),
        _record(15, "assistant", "", status="error", error="GenerationError: boom", total_ms=50.0),
        _record(16, "user", "Dictated words", mode="transcribe", duration_s=1.0),
        _record(17, "assistant", "dictated words", mode="transcribe", total_ms=200.0),
    ]
    view.load_turns(records)
    assert view.turn_count() == 8 and not view.is_empty()
    users, replies = view.user_turns(), view.replies()
    assert users[0].text_label.text() == "(spoken, 1.2 s)" and users[0].text == ""
    assert users[1].text == "What about tomorrow?" and users[2].text == "Typed question"
    assert replies[0].text == "Sunny today." and replies[0].label.text() == "Sunny today."
    assert replies[0].meta.text() == "First words in 0.12 s  ·  0.48 s in all"
    assert (
        replies[1].meta.objectName() == "metaInterrupted"
        and replies[1].meta.text() == "Interrupted after 0.30 s"
    )
    assert (
        replies[2].status == "error" and replies[2].error_bubble is not None and replies[2].bubble.isHidden()
    )
    assert "GenerationError: boom" in [
        lbl.text() for lbl in replies[2].error_bubble.findChildren(type(replies[2].label))
    ]
    assert replies[3].speaker.text() == "Transcript"

    # Stored turns never collide with live turn ids that follow.
    view.add_user_text(11, "next")
    view.begin_reply(11)
    view.append_chunk(11, "fresh")
    assert view.reply(11).text == "fresh" and view.reply(-11).text == "Sunny today."

    view.clear()
    assert view.turn_count() == 0 and view.is_empty() and view.replies() == []


def test_a_stored_reply_cut_short_shows_only_what_was_heard(qtbot):
    # A spoken reply cut short is stored as what the user heard; its chunks are all that was written.
    view = _view(qtbot)
    view.load_turns([
        _record(1, "user", duration_s=1.0),
        _record(2, "assistant", "Sunny today,", status="interrupted", total_ms=900.0,
                chunks=["Sunny today,", "with a breeze."]),
        _record(3, "user", duration_s=1.0),
        _record(4, "assistant", "", status="interrupted", total_ms=400.0, chunks=["Rain,", "then sun."]),
    ])  # fmt: skip
    some, none = view.replies()
    assert some.text == "Sunny today," and some.label.text() == "Sunny today,"
    assert none.text == "" and none.label.text() == "…"  # the voice was cut before its first word
    assert none.meta.text() == "Interrupted after 0.40 s"


def test_transcript_of_a_spoken_turn_goes_under_its_waveform(qtbot):
    view = ChatView()
    qtbot.addWidget(view)
    view.show()
    user = view.add_user_turn(1, 1.5, [0.4] * 40)
    assert user.text_label.isHidden() and user.duration.text() == "1.5 s"
    view.set_user_transcript(1, "What's the weather like?")
    assert not user.text_label.isHidden() and user.text_label.objectName() == "userTranscript"
    assert user.text == "What's the weather like?"
    view.set_user_transcript(99, "nobody")  # unknown turn: ignored


def test_stored_replies_show_the_timings_saved_with_them(qtbot):
    view = _view(qtbot)
    spoken = {"recording_ended": 0.0, "normalised": 3.0, "prompt_built": 41.0, "audio_encoded": 170.0,
              "first_token": 240.0, "first_chunk": 260.0, "last_chunk": 900.0, "first_sound": 410.0}  # fmt: skip
    typed = {**spoken, "audio_encoded": None, "first_sound": None}
    view.load_turns([
        _record(1, "user", duration_s=1.5),
        _record(2, "assistant", "Sunny.", first_chunk_ms=250.0, total_ms=890.0, timings=spoken),
        _record(3, "user", "And tomorrow?"),
        _record(4, "assistant", "Rain.", first_chunk_ms=250.0, total_ms=890.0, timings=typed),
        _record(5, "user", duration_s=1.0),
        _record(6, "assistant", "Old reply.", first_chunk_ms=120.0, total_ms=480.0),  # saved before timings
    ])  # fmt: skip
    first, second, old = view.replies()
    # From the release of the button (the stored stages), not the model's own start.
    assert first.meta.text() == "First words in 0.26 s  ·  first sound in 0.41 s  ·  0.90 s in all"
    assert [r.label for r in first.details.rows][0] == "Recording ended"
    assert [r.label for r in second.details.rows][0] == "Message sent"
    assert second.meta.text() == "First words in 0.26 s  ·  0.90 s in all"
    assert old.meta.text() == "First words in 0.12 s  ·  0.48 s in all" and old.details.toggle.isHidden()
