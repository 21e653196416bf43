"""Replies: errors in their own bubble, chunks spoken as they arrive, barge-in (a new press silences speech and stops
generation at once), typed turns, and the transcript of what was said."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt
from ui_helpers import Captures, StallProbe, hold, scripted_model, tiny_config, wait_reply_done

from voxtral_desktop.core import chunks as C
from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.model import VoxtralModel
from voxtral_desktop.testing.speech import UTTERANCES

REPLY_PIECES = ["The ", "weather ", "is ", "sunny ", "today, ", "with ", "a ", "light ", "breeze ", "from ",
                "the ", "west."]


def generation_threads() -> int:
    return sum(t.name == "voxtral-generate" for t in threading.enumerate())


def test_generation_error_shows_a_distinct_error_bubble(qtbot, make_app):
    model = scripted_model(["One ", "two ", "three ", "four ", "five ", "six "], fail_after=5)
    app = make_app(model)
    hold(qtbot, app)
    reply = wait_reply_done(qtbot, app, 1)
    assert reply.status == ReplyStatus.ERROR
    assert reply.error_bubble is not None and reply.error_bubble.objectName() == "errorBubble"
    texts = [label.text() for label in reply.error_bubble.findChildren(type(reply.label))]
    assert any(C.FALLBACK_TEXT in t for t in texts)
    assert any("CUDA out of memory" in t for t in texts)
    assert reply.text.startswith("One two three")  # words shown before the failure stay


def test_silence_gets_the_no_speech_error_bubble(qtbot, make_app):
    model = scripted_model()
    app = make_app(model, Captures(np.zeros(16000, dtype=np.float32)))
    hold(qtbot, app)
    reply = wait_reply_done(qtbot, app, 1)
    assert reply.status == ReplyStatus.ERROR and reply.bubble.isHidden()
    assert model.backend.requests == []


def test_chunks_reach_the_speech_engine_in_order_before_the_reply_is_complete(qtbot, make_app):
    app = make_app(scripted_model(REPLY_PIECES, delay_s=0.06))
    queued: list[tuple[str, float]] = []
    finished: list[float] = []
    app.vms.speaker.chunkQueued.connect(lambda text: queued.append((text, time.perf_counter())))
    app.vms.replies.replyFinished.connect(lambda *_: finished.append(time.perf_counter()))
    hold(qtbot, app)
    reply = wait_reply_done(qtbot, app, 1)
    assert [text for text, _ in queued] == reply.chunks
    assert len(queued) >= 3
    assert queued[0][1] < finished[0] - 0.2  # the first words were spoken well before the reply ended
    qtbot.waitUntil(lambda: app.vms.speaker.is_speaking, timeout=2000)


def test_transcribe_mode_is_not_spoken(qtbot, make_app):
    app = make_app(scripted_model(REPLY_PIECES))
    queued: list[str] = []
    app.vms.speaker.chunkQueued.connect(queued.append)
    app.vms.replies.setMode("transcribe")
    hold(qtbot, app)
    wait_reply_done(qtbot, app, 1)
    assert queued == []


def test_speech_off_in_settings_is_silent(qtbot, make_app):
    app = make_app(scripted_model(REPLY_PIECES))
    app.vms.settings.save({"speech": {"enabled": False}})
    queued: list[str] = []
    app.vms.speaker.chunkQueued.connect(queued.append)
    hold(qtbot, app)
    wait_reply_done(qtbot, app, 1)
    assert queued == []


def test_barge_in_stops_generation_and_speech_and_the_next_turn_works(
    qtbot, make_app, tiny_model_dir, tiny_backend, utterance_audio
):
    """The real tiny model, forced to talk on, is interrupted by a new press mid-reply."""
    from ui_helpers import SharedBackend

    original = tiny_backend.generate_kwargs
    tiny_backend.generate_kwargs = lambda r: {**original(r), "min_new_tokens": 400, "max_new_tokens": 400}
    model = VoxtralModel(tiny_config(tiny_model_dir), backend=SharedBackend(tiny_backend))
    app = make_app(model, Captures(utterance_audio["a"]))
    try:
        hold(qtbot, app)
        qtbot.waitUntil(lambda: app.chat.has_reply(1) and len(app.chat.reply(1).chunks) >= 1, timeout=20000)
        qtbot.waitUntil(lambda: app.vms.speaker.is_speaking, timeout=3000)
        assert generation_threads() == 1

        qtbot.mousePress(app.window.ptt, Qt.MouseButton.LeftButton, pos=app.window.ptt.rect().center())
        # Silenced and stopped long before the 400 forced tokens could end (how fast: benchmarks/ui.py).
        qtbot.waitUntil(lambda: not app.vms.speaker.is_speaking and generation_threads() == 0, timeout=5000)
        assert app.vms.recording.is_recording
    finally:
        del tiny_backend.generate_kwargs
    assert wait_reply_done(qtbot, app, 1).status == ReplyStatus.INTERRUPTED
    source = app.vms.recording.capture_source
    qtbot.waitUntil(lambda: source.finished.is_set(), timeout=30000)
    qtbot.mouseRelease(app.window.ptt, Qt.MouseButton.LeftButton, pos=app.window.ptt.rect().center())
    assert wait_reply_done(qtbot, app, 2).text == UTTERANCES[0].reply
    turns = app.vms.conversations.history.turns(app.vms.conversations.current_conversation_id)
    assert [t.status for t in turns if t.role == "assistant"] == [ReplyStatus.INTERRUPTED, ReplyStatus.COMPLETE]


def test_esc_while_only_speaking_silences(qtbot, make_app):
    app = make_app(scripted_model(REPLY_PIECES))
    hold(qtbot, app)
    wait_reply_done(qtbot, app, 1)
    qtbot.waitUntil(lambda: app.vms.speaker.is_speaking, timeout=2000)
    qtbot.keyClick(app.window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not app.vms.speaker.is_speaking, timeout=500)


def test_typed_turn_gets_a_reply_and_is_stored(qtbot, make_app):
    app = make_app(scripted_model(REPLY_PIECES))
    texts: list[tuple[int, str]] = []
    app.vms.replies.userText.connect(lambda turn, text: texts.append((turn, text)))
    app.vms.replies.sendText("  what's the weather?  ")
    reply = wait_reply_done(qtbot, app, 1)
    assert texts == [(1, "what's the weather?")]
    assert reply.text == "".join(REPLY_PIECES)
    user, assistant = app.vms.conversations.history.turns(app.vms.conversations.current_conversation_id)
    assert user.text == "what's the weather?" and assistant.text == reply.text


def test_show_what_i_said_puts_the_transcript_in_the_user_turn(
    qtbot, make_app, tiny_model, utterance_audio
):
    tiny_model.config.conversation.show_transcript = True
    app = make_app(tiny_model, Captures(utterance_audio["b"]))
    said: list[tuple[int, str]] = []
    app.vms.replies.userTranscript.connect(lambda turn, text: said.append((turn, text)))
    hold(qtbot, app)
    assert wait_reply_done(qtbot, app, 1).text == UTTERANCES[1].reply
    qtbot.waitUntil(lambda: bool(said), timeout=20000)
    assert said == [(1, UTTERANCES[1].spoken)]
    # Shown at once; saved by the history's thread just after (the write is queued, not awaited).
    history, conversation = app.vms.conversations.history, app.vms.conversations.current_conversation_id
    qtbot.waitUntil(lambda: history.turns(conversation)[0].text == UTTERANCES[1].spoken, timeout=10000)
    assert app.vms.conversations.conversations()[0].title == UTTERANCES[1].spoken  # named after what was said


# --- trouble shown while replies go on: history not saved, model busy ---------------------------------------


def test_a_locked_history_shows_once_while_the_reply_streams_and_clears_once_saved(qtbot, make_app):
    from ui_helpers import say, type_message

    from voxtral_desktop.core.history import default_path
    from voxtral_desktop.testing.small_disk import locked_by_another_process

    model = scripted_model([w + " " for w in "one two three four five six seven eight nine ten".split()], 0.05)
    model.config.speech.enabled = False
    app = make_app(model)
    say(qtbot, app, "first")  # the history exists, with one saved exchange
    shown: list[str] = []
    app.vms.replies.trouble.connect(lambda key, title, text: shown.append(key))
    with locked_by_another_process(default_path()):
        probe = StallProbe()
        type_message(qtbot, app, "second")
        # Said while the reply is still coming, not after it.
        qtbot.waitUntil(lambda: app.window.banner("history") is not None, timeout=10000)
        assert app.chat.reply(2).status == ReplyStatus.STREAMING
        banner = app.window.banner("history")
        assert banner.title.text() == "This conversation could not be saved"
        assert "locked by another program" in banner.text.text() and "The reply still comes" in banner.text.text()
        reply = wait_reply_done(qtbot, app, 2)
        assert reply.status == ReplyStatus.COMPLETE and reply.text.startswith("one two three")
        say(qtbot, app, "third")  # still locked: the banner stays, and is not said again
        stall = probe.stop()
    print(f"\nlongest event-loop stall with the history locked: {stall * 1000:.0f} ms")
    assert shown == ["history"]
    assert stall < 1.5  # bounded: SQLite's default busy wait alone is 5 s a call
    say(qtbot, app, "fourth")  # the lock is gone: saved again, and the banner goes
    assert app.window.banner("history") is None
    stored = app.vms.conversations.history.turns(app.vms.conversations.current_conversation_id)
    assert [t.text for t in stored if t.role == "user"] == ["first", "fourth"]  # nothing saved earlier was lost


def test_a_busy_model_is_said_in_a_banner_and_the_next_reply_clears_it(qtbot, make_app):
    from ui_helpers import say

    from voxtral_desktop.core.errors import ModelBusy

    model = scripted_model(["All ", "good ", "now."])
    model.config.speech.enabled = False
    backend = model.backend
    real_stream = backend.stream
    stuck = [True]

    async def stream(request, stop):
        if stuck[0]:
            raise ModelBusy("the model is still busy with an earlier reply that stopped responding")
        async for piece in real_stream(request, stop):
            yield piece

    backend.stream = stream
    app = make_app(model)
    turn = say(qtbot, app, "hello")
    assert app.chat.reply(turn).status == ReplyStatus.ERROR
    banner = app.window.banner("busy")
    assert banner is not None and banner.title.text() == "The model is still busy"
    assert "stopped responding" in banner.text.text()
    stuck[0] = False
    turn = say(qtbot, app, "hello again")
    assert app.chat.reply(turn).text == "All good now."
    assert app.window.banner("busy") is None


@pytest.mark.integration
def test_a_spoken_reply_shows_where_its_time_went_from_the_release_and_keeps_it(
    qtbot, make_app, tiny_model, utterance_audio
):
    from voxtral_desktop.core.timings import STAGES

    app = make_app(tiny_model, Captures(utterance_audio["a"]))
    first_chunk_at: list[float] = []
    app.vms.replies.replyChunk.connect(lambda *_: first_chunk_at.append(time.perf_counter()))
    ptt = app.window.ptt
    qtbot.mousePress(ptt, Qt.MouseButton.LeftButton, pos=ptt.rect().center())
    qtbot.waitUntil(lambda: app.vms.recording.is_recording, timeout=3000)
    source = app.vms.recording.capture_source
    qtbot.waitUntil(lambda: source.finished.is_set(), timeout=30000)
    before_release = time.perf_counter()
    qtbot.mouseRelease(ptt, Qt.MouseButton.LeftButton, pos=ptt.rect().center())
    reply = wait_reply_done(qtbot, app, 1)
    assert reply.status == ReplyStatus.COMPLETE

    stored = app.vms.conversations.history.turns(app.vms.conversations.current_conversation_id)[-1]
    timings = stored.timings
    assert timings is not None and timings["recording_ended"] == 0.0
    # "First words in X s" counts from the release of the button: no later than the words reached the window.
    first_words = timings["first_chunk"]
    assert 0 < first_words <= (first_chunk_at[0] - before_release) * 1000
    assert reply.meta.text().startswith(f"First words in {first_words / 1000:.2f} s  ·  ")
    assert "first sound" not in reply.meta.text()  # the mock voice makes no sound
    # The breakdown: every model stage, in order, never going back in time.
    rows = reply.details.rows
    assert [r.stage for r in rows] == [s for s in STAGES if s.value != "first_sound"]
    assert all(r.step >= 0 for r in rows) and [r.ms for r in rows] == sorted(r.ms for r in rows)
    assert not reply.details.toggle.isHidden() and "First token" in reply.meta.toolTip()
    footer, labels = reply.meta.text(), [r.label for r in rows]

    # Reopened from the history: the same figures and the same breakdown.
    cid = app.vms.conversations.current_conversation_id
    app.window.new_conversation()
    app.vms.conversations.openConversation(cid)
    qtbot.waitUntil(lambda: len(app.chat.replies()) == 1, timeout=5000)
    again = app.chat.replies()[0]
    assert again.meta.text() == footer and [r.label for r in again.details.rows] == labels


def test_a_first_sound_after_the_last_words_is_shown_and_saved(qtbot, make_app):
    app = make_app(scripted_model(REPLY_PIECES))
    sounds: list[tuple[int, float]] = []
    app.vms.replies.firstSound.connect(lambda turn, ms: sounds.append((turn, ms)))
    hold(qtbot, app)
    reply = wait_reply_done(qtbot, app, 1)
    assert "first sound" not in reply.meta.text()
    # The speaker reports its first audible sample (what the neural voice's audio thread does; the mock
    # system voice makes no sound, and sound is not the point here: tests/ui/test_spoken_reply_e2e.py).
    app.vms.speaker.firstSound.emit(time.monotonic())
    assert sounds and sounds[0][0] == 1
    assert "first sound in" in reply.meta.text()
    assert [r.label for r in reply.details.rows][-1] == "First sound"
    history, cid = app.vms.conversations.history, app.vms.conversations.current_conversation_id
    qtbot.waitUntil(lambda: (history.turns(cid)[-1].timings or {}).get("first_sound") is not None, timeout=5000)
    assert history.turns(cid)[-1].timings["first_sound"] == sounds[0][1]
    footer = reply.meta.text()  # the bubble goes with the conversation it is in
    app.window.new_conversation()
    app.vms.conversations.openConversation(cid)
    qtbot.waitUntil(lambda: len(app.chat.replies()) == 1, timeout=5000)
    assert app.chat.replies()[0].meta.text() == footer
