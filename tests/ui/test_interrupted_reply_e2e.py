"""What the user heard is what is kept (issue 18), with the real voice: the window's reply (trained tiny Voxtral,
3-word chunks) is spoken by the joe voice on the PulseAudio rig's speaker. Cut short by Esc while still being
written, or talked over once written, it keeps the chunks the voice had begun (in the bubble, the history and
the next turn's memory) and shows the rest as not said; with the voice off, Esc keeps every chunk written."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import pytest
from PySide6.QtCore import Qt
from ui_helpers import Captures, SharedBackend, hold, loud_times, tiny_config, type_message, wait_reply_done

from voxtral_desktop.core.backends.base import GenerationRequest
from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.history import thread as history_thread
from voxtral_desktop.core.model import LoadPhase, VoxtralModel
from voxtral_desktop.core.portaudio import list_output_devices
from voxtral_desktop.testing.missing import missing
from voxtral_desktop.testing.speech import UTTERANCES
from voxtral_desktop.ui.bubbles import NOT_SAID_TIP, ReplyBubble

pytestmark = [pytest.mark.pulseaudio, pytest.mark.integration]

# "The weather is sunny today, with a light breeze from the west." in 3-word chunks: "The weather is" /
# "sunny today," / "with a light" / "breeze from the west."
REPLY = UTTERANCES[0].reply
HELD_AFTER_WORDS = 9  # "... with a light breeze": three chunks are written, then the model seems to think
WRITTEN = " ".join(REPLY.split()[:HELD_AFTER_WORDS])  # what such a reply stopped by the user holds


class RecordingBackend(SharedBackend):
    """The tiny model, keeping every request it is sent (the model's memory is in ``history``). With
    ``held_after_words``, the first reply stops after that many words and waits for the user to stop it: the
    voice speaks its first chunks while it is still being written."""

    def __init__(self, inner, held_after_words: int | None = None) -> None:
        super().__init__(inner)
        self.requests: list[GenerationRequest] = []
        self._held_after = held_after_words

    def stream(self, request: GenerationRequest, stop: threading.Event) -> AsyncIterator[str]:
        self.requests.append(request)
        held = self._held_after if len(self.requests) == 1 else None
        return self._pieces(request, stop, held)

    async def _pieces(self, request: GenerationRequest, stop: threading.Event, held: int | None):
        pieces = self.inner.stream(request, stop)
        text = ""
        try:
            async for piece in pieces:  # type: ignore[attr-defined]
                if held is not None and len((text + piece).split()) > held:
                    while not stop.is_set():
                        await asyncio.sleep(0.02)
                    return
                text += piece
                yield piece
        finally:
            await pieces.aclose()  # type: ignore[attr-defined]


@pytest.fixture
def voiced_app(qtbot, make_app, tiny_model_dir, tiny_backend, utterance_audio, request):
    """make(voice=True, ...) -> (app, backend, chunk indices the voice began): the window on the tiny model
    in 3-word chunks; ``voice``: replies spoken by the joe voice on the rig's speaker (else speech is off)."""

    def make(*, voice: bool = True, held_after_words: int | None = None, max_turns: int = 0):
        config = tiny_config(tiny_model_dir, chunk_size_words=3)
        config.update({"conversation": {"max_turns": max_turns}})
        if voice:
            request.getfixturevalue("pulse_rig")
            joe = request.getfixturevalue("joe_voice")
            if not list_output_devices(refresh=True):
                missing(
                    "PortAudio sees no output device through PulseAudio (is libasound2-plugins installed?)"
                )
            # "mock" only matters if the neural voice failed, and then the test fails on what it hears.
            config.update({"speech": {"voice": str(joe.model_path), "engine": "mock"}})
        else:
            config.update({"speech": {"enabled": False}})
        backend = RecordingBackend(tiny_backend, held_after_words)
        app = make_app(VoxtralModel(config, backend=backend), Captures(utterance_audio["a"]))
        begun: list[int] = []
        if voice:
            speaker = app.vms.speaker
            qtbot.waitUntil(lambda: speaker.status.phase == LoadPhase.READY, timeout=20000)
            assert speaker.neural
            speaker.chunkStarted.connect(lambda index, t: begun.append(index))
        return app, backend, begun

    return make


def results_of(app, turn_no: int) -> list:
    results: list = []
    app.vms.replies.replyFinished.connect(
        lambda turn, result: results.append(result) if turn == turn_no else None
    )
    return results


def stored_reply(qtbot, app, status: ReplyStatus):
    """The conversation's last stored turn (the reply) once it has the given status. Read on the history's own
    thread, after the writes queued there: a read from here could see a write half done (one connection)."""
    history, cid = app.vms.conversations.history, app.vms.conversations.current_conversation_id

    def last():
        return history_thread.submit(history, history.turns, cid).result(timeout=5)[-1]

    qtbot.waitUntil(lambda: last().status == status, timeout=5000)
    return last()


def assert_not_said_after(bubble: ReplyBubble, heard: int) -> None:
    """The bubble shows the first ``heard`` chunks as said and the rest (there is some) greyed as not said."""
    assert bubble.status == ReplyStatus.INTERRUPTED and bubble.heard_chunks == heard
    assert bubble.heard_text == " ".join(bubble.chunks[:heard])
    assert bubble.unheard_text == " ".join(bubble.chunks[heard:]) != ""
    assert bubble.label.toolTip() == NOT_SAID_TIP
    assert "the rest was not said" in bubble.meta.text()


def test_esc_while_the_reply_is_written_keeps_what_the_voice_had_begun(qtbot, pulse_rig, voiced_app):
    app, backend, begun = voiced_app(held_after_words=HELD_AFTER_WORDS, max_turns=2)
    results = results_of(app, 1)
    recorder = pulse_rig.record()
    hold(qtbot, app)
    qtbot.waitUntil(lambda: app.chat.has_reply(1), timeout=30000)
    bubble = app.chat.reply(1)
    # The voice has begun chunk 1 and more is written than it has begun; the reply is still being written.
    qtbot.waitUntil(lambda: 1 in begun and len(bubble.chunks) > len(begun), timeout=30000)
    assert bubble.status == ReplyStatus.STREAMING
    heard = len(begun)
    t_esc = time.monotonic()
    qtbot.keyPress(app.window, Qt.Key.Key_Escape)
    assert not app.vms.speaker.is_speaking

    bubble = wait_reply_done(qtbot, app, 1)
    qtbot.wait(800)
    recording = recorder.stop()
    assert [r.status for r in results] == [ReplyStatus.INTERRUPTED]
    assert results[0].heard_chunks == heard
    assert_not_said_after(bubble, heard)
    assert bubble.text == WRITTEN  # every chunk written is shown (the words held back came with the stop)
    heard_text = " ".join(bubble.chunks[:heard])
    assert stored_reply(qtbot, app, ReplyStatus.INTERRUPTED).text == heard_text
    assert len(loud_times(recording, t_esc - 0.5, t_esc)) > 10, "it was not speaking at the Esc"
    after = loud_times(recording, t_esc, t_esc + 0.8)
    assert len(after) == 0 or after[-1] < t_esc + 0.25, f"sound until {after[-1] - t_esc:.3f} s after the Esc"

    # The next turn remembers the reply as the user heard it.
    type_message(qtbot, app, "And tomorrow?")
    qtbot.waitUntil(lambda: len(backend.requests) == 2, timeout=10000)
    memory = backend.requests[1].history
    assert [turn.assistant_text for turn in memory] == [heard_text]
    wait_reply_done(qtbot, app, 2)


def test_talking_over_a_written_reply_greys_what_was_not_said_yet(qtbot, pulse_rig, voiced_app):
    """And so for the window's next reply: the voice counts each reply's chunks from its first."""
    app, _, begun = voiced_app()
    finished: dict[int, list] = {1: results_of(app, 1), 2: results_of(app, 2)}
    hold(qtbot, app)
    for turn_no in (1, 2):
        bubble = wait_reply_done(qtbot, app, turn_no)
        assert bubble.status == ReplyStatus.COMPLETE and bubble.text == REPLY
        assert stored_reply(qtbot, app, ReplyStatus.COMPLETE).text == REPLY
        # Written in full; the voice is still saying it: it has begun its chunk 1 of the 4.
        qtbot.waitUntil(lambda: len(begun) >= 2, timeout=30000)
        heard = len(begun)
        assert heard < len(bubble.chunks) and app.vms.speaker.is_speaking
        recorder = pulse_rig.record()
        t_press = time.monotonic()
        qtbot.mousePress(app.window.ptt, Qt.MouseButton.LeftButton, pos=app.window.ptt.rect().center())
        assert not app.vms.speaker.is_speaking

        assert [(r.status, r.heard_chunks) for r in finished[turn_no]] == [
            (ReplyStatus.COMPLETE, None),
            (ReplyStatus.INTERRUPTED, heard),
        ]
        # The same bubble, updated in place: one reply bubble per turn, no extra row.
        assert app.chat.reply(turn_no) is bubble and len(app.chat.findChildren(ReplyBubble)) == turn_no
        assert len(app.chat.turns()) == 2 * turn_no
        assert_not_said_after(bubble, heard)
        assert stored_reply(qtbot, app, ReplyStatus.INTERRUPTED).text == " ".join(bubble.chunks[:heard])
        assert begun == list(range(heard))  # the player numbers each reply's chunks from 0
        qtbot.wait(600)
        recording = recorder.stop()
        after = loud_times(recording, t_press, t_press + 0.6)
        assert len(after) == 0 or after[-1] < t_press + 0.25, f"sound until {after[-1] - t_press:.3f} s after"
        if turn_no == 1:  # the user's question, said over the reply, is the next turn
            source = app.vms.recording.capture_source
            qtbot.waitUntil(lambda s=source: s.finished.is_set(), timeout=30000)
            begun.clear()
            qtbot.mouseRelease(app.window.ptt, Qt.MouseButton.LeftButton, pos=app.window.ptt.rect().center())
    app.vms.recording.discardRecording()


def test_with_the_voice_off_esc_keeps_every_chunk_written(qtbot, voiced_app):
    app, _, _ = voiced_app(voice=False, held_after_words=HELD_AFTER_WORDS)
    results = results_of(app, 1)
    hold(qtbot, app)
    # Three chunks shown ("with a light" once the model paused); "breeze" is held for the word after it.
    qtbot.waitUntil(lambda: app.chat.has_reply(1) and len(app.chat.reply(1).chunks) == 3, timeout=30000)
    assert app.chat.reply(1).status == ReplyStatus.STREAMING
    qtbot.keyPress(app.window, Qt.Key.Key_Escape)

    bubble = wait_reply_done(qtbot, app, 1)
    assert [(r.status, r.heard_chunks) for r in results] == [(ReplyStatus.INTERRUPTED, None)]
    assert bubble.status == ReplyStatus.INTERRUPTED and bubble.text == WRITTEN
    assert bubble.heard_text == WRITTEN and bubble.unheard_text == "" and bubble.label.toolTip() == ""
    assert "not said" not in bubble.meta.text()
    assert stored_reply(qtbot, app, ReplyStatus.INTERRUPTED).text == WRITTEN
