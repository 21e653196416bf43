"""The chat view bound to the replies: bubbles follow the view-model's signals, a turn the view does not show is
dropped, a reply's mode is the one replyStarted names, and a reply finished twice is updated in place."""

from __future__ import annotations

from PySide6.QtCore import QMetaMethod, QObject, Signal

from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.ui.chat_binding import ChatBinding
from voxtral_desktop.ui.chat_view import ChatView
from voxtral_desktop.ui.view_models.conversations_vm import ConversationsViewModel
from voxtral_desktop.ui.view_models.replies_vm import RepliesViewModel
from voxtral_desktop.ui.view_models.status import Mode, ReplyResult

TYPED = {"recording_ended": 0.0, "first_chunk": 70.0, "last_chunk": 400.0}


class FakeReplies(QObject):
    """The replies view-model's signals and mode, nothing behind them (the test says what happened)."""

    userTurn = Signal(int, float, object)
    userText = Signal(int, str)
    userTranscript = Signal(int, str)
    replyStarted = Signal(int, object)
    replyChunk = Signal(int, str)
    replyProgress = Signal(int, str)
    replyFinished = Signal(int, object)
    timingsChanged = Signal(int, object)
    modeChanged = Signal(object)
    mode = Mode.CONVERSATION


class FakeConversations(QObject):
    conversationOpened = Signal(str, object)


def _signals(cls: type[QObject]) -> set[str]:
    meta = cls.staticMetaObject
    return {
        bytes(meta.method(i).methodSignature().data()).decode()
        for i in range(meta.methodOffset(), meta.methodCount())
        if meta.method(i).methodType() == QMetaMethod.MethodType.Signal
    }


def test_the_fakes_carry_the_view_models_own_signals():
    assert _signals(FakeReplies) <= _signals(RepliesViewModel)
    assert _signals(FakeConversations) <= _signals(ConversationsViewModel)


def _bound(qtbot) -> tuple[ChatView, FakeReplies, FakeConversations]:
    chat, replies, conversations = ChatView(), FakeReplies(), FakeConversations()
    qtbot.addWidget(chat)
    chat.resize(640, 480)
    chat.show()
    ChatBinding(chat, replies, conversations)
    return chat, replies, conversations


def _result(turn_no: int, status: ReplyStatus, heard: int | None = None, **kw) -> ReplyResult:
    return ReplyResult(turn_no, status, 120.0, 900.0, heard_chunks=heard, **kw)


def test_chunks_of_a_turn_the_view_does_not_show_are_dropped(qtbot):
    chat, replies, conversations = _bound(qtbot)
    replies.userText.emit(1, "What is the capital of France?")
    replies.replyStarted.emit(1, Mode.CONVERSATION)
    replies.replyChunk.emit(1, "Paris is")
    replies.replyChunk.emit(7, "a turn this view never showed")  # no bubble of its own: dropped
    replies.replyProgress.emit(7, "thinking… 3 s")
    replies.replyFinished.emit(7, _result(7, ReplyStatus.COMPLETE))
    assert chat.turn_count() == 2 and not chat.has_reply(7)

    # Another conversation opens (empty): the reply to the old one winds down unseen.
    conversations.conversationOpened.emit("", [])
    replies.replyChunk.emit(1, "the capital.")
    replies.replyFinished.emit(1, _result(1, ReplyStatus.INTERRUPTED))
    replies.timingsChanged.emit(1, TYPED)
    assert chat.is_empty() and chat.turn_count() == 0 and chat.replies() == []


def test_a_reply_answers_in_the_mode_reply_started_names(qtbot):
    chat, replies, _ = _bound(qtbot)
    replies.modeChanged.emit(Mode.TRANSCRIBE)
    assert chat.mode == Mode.TRANSCRIBE
    # A typed turn while transcribing: the view-model says it is answered as a conversation.
    replies.userText.emit(1, "Hi")
    replies.replyStarted.emit(1, Mode.CONVERSATION)
    replies.replyChunk.emit(1, "Hello!")
    replies.replyFinished.emit(1, _result(1, ReplyStatus.COMPLETE, timings=TYPED))
    # A recording in the same mode: a transcript.
    replies.userTurn.emit(2, 1.5, [0.4] * 40)
    replies.replyStarted.emit(2, Mode.TRANSCRIBE)
    replies.replyChunk.emit(2, "hello")
    replies.replyFinished.emit(2, _result(2, ReplyStatus.COMPLETE, timings=TYPED))
    typed, dictated = chat.reply(1), chat.reply(2)
    assert typed.speaker.text() == "Voxtral" and dictated.speaker.text() == "Transcript"
    # The timings count from what the user's bubble was: a message sent, or a recording's end.
    assert typed.details.rows[0].label == "Message sent"
    assert dictated.details.rows[0].label == "Recording ended"


def test_a_reply_finished_again_is_updated_not_doubled(qtbot):
    chat, replies, _ = _bound(qtbot)
    replies.userTurn.emit(1, 2.0, [0.5] * 40)
    replies.replyStarted.emit(1, Mode.CONVERSATION)
    chunks = ["One.", "Two.", "Three.", "Four.", "Five."]
    for chunk in chunks:
        replies.replyChunk.emit(1, chunk)
    replies.replyFinished.emit(1, _result(1, ReplyStatus.COMPLETE))
    reply = chat.reply(1)
    assert reply.meta.text() == "First words in 0.12 s  ·  0.90 s in all" and reply.unheard_text == ""

    # The user talks over the voice after the last words: the same reply, now interrupted after two chunks.
    replies.replyFinished.emit(1, _result(1, ReplyStatus.INTERRUPTED, heard=2))
    replies.timingsChanged.emit(1, {"recording_ended": 0.0, "first_chunk": 120.0, "first_sound": 300.0})
    assert chat.turn_count() == 2 and chat.replies() == [reply]
    assert reply.status == ReplyStatus.INTERRUPTED and reply.meta.objectName() == "metaInterrupted"
    assert reply.meta.text() == "Interrupted after 0.90 s  ·  the rest was not said"
    assert reply.heard_text == "One. Two." and reply.unheard_text == "Three. Four. Five."
    assert reply.text == " ".join(chunks)
