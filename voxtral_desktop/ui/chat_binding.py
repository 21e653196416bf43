"""The chat view bound to the replies and conversations view-models: each turn's bubbles follow their signals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from voxtral_desktop.ui.chat_view import ChatView
from voxtral_desktop.ui.view_models.status import Mode, ReplyResult

if TYPE_CHECKING:
    from voxtral_desktop.ui.view_models.conversations_vm import ConversationsViewModel
    from voxtral_desktop.ui.view_models.replies_vm import RepliesViewModel


class ChatBinding(QObject):
    """The chat view's one link to the replies.

    A signal about a turn this view shows no bubble for is dropped, here and only here: a reply to a
    conversation that is no longer open may still be winding down (opening one rebuilds the view, and turn ids
    are never reused, so its late chunks find no bubble).
    """

    def __init__(
        self, chat: ChatView, replies: RepliesViewModel, conversations: ConversationsViewModel
    ) -> None:
        super().__init__(chat)
        self.chat = chat
        replies.userTurn.connect(self._on_user_turn)
        replies.userText.connect(self._on_user_text)
        replies.userTranscript.connect(self._on_user_transcript)
        replies.replyStarted.connect(self._on_reply_started)
        replies.replyChunk.connect(self._on_reply_chunk)
        replies.replyProgress.connect(self._on_reply_progress)
        replies.replyFinished.connect(self._on_reply_finished)
        replies.timingsChanged.connect(self._on_reply_timings)
        replies.modeChanged.connect(chat.set_mode)
        conversations.conversationOpened.connect(self._on_conversation_opened)
        chat.set_mode(replies.mode)

    def _on_user_turn(self, turn_no: int, duration_s: float, levels: object) -> None:
        self.chat.add_user_turn(turn_no, duration_s, list(levels))  # type: ignore[call-overload]

    def _on_user_text(self, turn_no: int, text: str) -> None:
        self.chat.add_user_text(turn_no, text)

    def _on_user_transcript(self, turn_no: int, text: str) -> None:
        if self.chat.has_turn(turn_no):
            self.chat.set_user_transcript(turn_no, text)

    def _on_reply_started(self, turn_no: int, mode: Mode) -> None:
        if self.chat.has_turn(turn_no):
            self.chat.begin_reply(turn_no, mode)

    def _on_reply_chunk(self, turn_no: int, text: str) -> None:
        if self.chat.has_turn(turn_no):
            self.chat.append_chunk(turn_no, text)

    def _on_reply_progress(self, turn_no: int, text: str) -> None:
        if self.chat.has_turn(turn_no):
            self.chat.set_reply_progress(turn_no, text)

    def _on_reply_finished(self, turn_no: int, result: ReplyResult) -> None:
        # Also for a reply already finished (its voice was stopped after the last words): updated in place.
        if self.chat.has_turn(turn_no):
            self.chat.finish_reply(
                turn_no,
                result.status,
                result.first_chunk_ms,
                result.total_ms,
                result.text,
                result.detail,
                result.heard_chunks,
            )
            self.chat.set_reply_timings(turn_no, result.timings)

    def _on_reply_timings(self, turn_no: int, timings: dict[str, float | None]) -> None:
        if self.chat.has_turn(turn_no):  # the first sound came after the last words
            self.chat.set_reply_timings(turn_no, timings)

    def _on_conversation_opened(self, conversation_id: str, turns: object) -> None:
        self.chat.load_turns(list(turns or []))  # type: ignore[call-overload]
