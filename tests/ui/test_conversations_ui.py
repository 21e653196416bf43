"""Conversations in the window: typed turns, the mode switch, the side list (open, rename, delete, export),
stored turns rebuilt in the chat view, and the new settings."""

from __future__ import annotations

import json

import pytest
import yaml
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit
from ui_helpers import Captures, hold, scripted_model, wait_reply_done

from voxtral_desktop.core import paths
from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.core.history import TurnRecord
from voxtral_desktop.testing.speech import UTTERANCES
from voxtral_desktop.ui.chat_view import ChatView
from voxtral_desktop.ui.talk_rules import DICTATE_HINT, IDLE_HINT, SPEAKING_HINT

REPLY = {u.key: u.reply for u in UTTERANCES}


def quiet_model(pieces: list[str]):
    """A scripted model whose replies are not spoken (speech has tests of its own)."""
    model = scripted_model(pieces)
    model.config.speech.enabled = False
    return model


def _type(qtbot, app, text: str) -> None:
    """Click in the message box, type, press Enter."""
    box = app.window.composer
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(box.hasFocus, timeout=3000)
    qtbot.keyClicks(box, text)
    qtbot.keyClick(box, Qt.Key.Key_Return)


def _say(qtbot, app, text: str) -> int:
    """A typed exchange; returns its turn id once the reply is done."""
    before = _reply_ids(app.chat)
    _type(qtbot, app, text)
    qtbot.waitUntil(lambda: bool(_reply_ids(app.chat) - before), timeout=5000)
    (turn_id,) = _reply_ids(app.chat) - before
    wait_reply_done(qtbot, app, turn_id, timeout_ms=10000)
    return turn_id


def _reply_ids(chat: ChatView) -> set[int]:
    return {reply.turn_id for reply in chat.replies()}


def _bubble_texts(chat: ChatView) -> list[str]:
    out = []
    for turn in chat.turns():
        out.append(turn.text_label.text() if hasattr(turn, "text_label") else turn.label.text())
    return out


def test_a_typed_turn_shows_its_text_then_the_reply(qtbot, make_app):
    model = quiet_model(["Paris is ", "the capital."])
    app = make_app(model)
    window = app.window
    assert QApplication.focusWidget() is not window.composer  # Space is push-to-talk at start

    # Empty text does nothing, with Enter or the (disabled) Send button.
    qtbot.mouseClick(window.composer, Qt.MouseButton.LeftButton)
    qtbot.keyClick(window.composer, Qt.Key.Key_Return)
    assert not window.send_button.isEnabled()
    qtbot.wait(50)
    assert app.chat.turn_count() == 0 and model.backend.requests == []

    # Space typed in the box is a space, not push-to-talk.
    _type(qtbot, app, "What is the capital of France?")
    assert not app.vms.recording.is_recording
    reply = wait_reply_done(qtbot, app, 1)
    user = app.chat.user_turns()[0]
    assert user.text == "What is the capital of France?" and user.duration is None
    assert [type(t).__name__ for t in app.chat.turns()] == ["UserTurn", "AssistantTurn"]
    assert reply.status == ReplyStatus.COMPLETE and reply.text == "Paris is the capital."
    assert reply.speaker.text() == "Voxtral"
    assert window.composer.text() == ""
    assert model.backend.requests[-1].text == "What is the capital of France?"

    # The Send button works too; Esc in the box hands the keyboard back to push-to-talk.
    window.composer.setText("And of Italy?")
    assert window.send_button.isEnabled()
    qtbot.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
    wait_reply_done(qtbot, app, 2)
    assert app.chat.user_turns()[1].text == "And of Italy?"
    qtbot.keyClick(window.composer, Qt.Key.Key_Escape)
    assert not window.composer.hasFocus()
    qtbot.keyPress(window, Qt.Key.Key_Space)
    assert app.vms.recording.is_recording
    app.vms.recording.discardRecording()
    qtbot.keyRelease(window, Qt.Key.Key_Space)


def test_the_mode_switch_sets_the_mode_and_labels_transcripts(qtbot, make_app):
    app = make_app(quiet_model(["hello ", "world"]))
    window = app.window
    assert window.mode_buttons["conversation"].isChecked() and window.hint.text() == IDLE_HINT
    changes: list[str] = []
    app.vms.replies.modeChanged.connect(changes.append)

    qtbot.mouseClick(window.mode_buttons["transcribe"], Qt.MouseButton.LeftButton)
    assert app.vms.replies.mode == "transcribe" and changes == ["transcribe"]
    assert window.mode_buttons["transcribe"].isChecked()
    assert window.hint.text() == DICTATE_HINT
    hold(qtbot, app)
    reply = wait_reply_done(qtbot, app, 1)
    assert reply.speaker.text() == "Transcript"
    # A typed message is answered as a conversation, whatever the mode.
    _say(qtbot, app, "Hi")
    assert app.chat.replies()[-1].speaker.text() == "Voxtral"

    app.vms.replies.setMode("conversation")  # from elsewhere: the switch follows
    assert window.mode_buttons["conversation"].isChecked() and window.hint.text() == IDLE_HINT
    hold(qtbot, app)
    assert app.chat.replies()[-1].speaker.text() == "Voxtral"


def test_side_list_new_open_and_continue(qtbot, make_app):
    app = make_app(quiet_model(["Sure."]))
    window, side = app.window, app.window.side
    assert side.ids() == [] and side.empty.isVisible()
    _say(qtbot, app, "First question")
    first = app.vms.conversations.current_conversation_id
    qtbot.waitUntil(lambda: side.ids() == [first], timeout=3000)
    assert side.list.current_id == first and side.list.currentItem().data(Qt.ItemDataRole.UserRole) == first
    assert "2 messages" in side.item(first).data(Qt.ItemDataRole.UserRole + 1)
    assert not side.empty.isVisible()

    # Ctrl+N: a fresh, empty view; the conversation appears in the list with its first turn.
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert app.chat.turn_count() == 0 and app.chat.is_empty()
    assert app.vms.conversations.current_conversation_id == "" and side.list.currentItem() is None
    _say(qtbot, app, "Second question")
    second = app.vms.conversations.current_conversation_id
    assert second != first
    qtbot.waitUntil(lambda: side.ids() == [second, first], timeout=3000)  # newest first
    assert side.list.current_id == second

    # Clicking the older one rebuilds its bubbles from the history.
    rect = side.list.visualItemRect(side.item(first))
    qtbot.mouseClick(side.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: app.vms.conversations.current_conversation_id == first, timeout=3000)
    assert _bubble_texts(app.chat) == ["First question", "Sure."]
    assert side.list.current_id == first
    assert app.chat.replies()[0].meta.text().endswith(" in all")

    # ... and goes on from there: new turns land after the stored ones.
    _say(qtbot, app, "Follow-up")
    assert _bubble_texts(app.chat) == ["First question", "Sure.", "Follow-up", "Sure."]
    assert [t.text for t in app.vms.conversations.history.turns(first)] == [
        "First question",
        "Sure.",
        "Follow-up",
        "Sure.",
    ]
    qtbot.waitUntil(lambda: side.ids() == [first, second], timeout=3000)


def test_rename_inline_and_delete_with_confirmation(qtbot, make_app, monkeypatch):
    app = make_app(quiet_model(["Ok."]))
    side = app.window.side
    _say(qtbot, app, "One")
    one = app.vms.conversations.current_conversation_id
    app.window.new_conversation()
    _say(qtbot, app, "Two")
    two = app.vms.conversations.current_conversation_id
    qtbot.waitUntil(lambda: len(side.ids()) == 2, timeout=3000)

    # Rename in place: the editor opens over the row; Enter saves.
    side.start_rename(one)
    editor = side.list.findChild(QLineEdit, "renameEditor")
    qtbot.waitUntil(lambda: editor is not None and editor.isVisible(), timeout=3000)
    editor.selectAll()
    qtbot.keyClicks(editor, "Trip to Lyon")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(
        lambda: side.item(one) is not None and side.item(one).text() == "Trip to Lyon", timeout=3000
    )
    assert app.vms.conversations.history.get_summary(one).title == "Trip to Lyon"
    assert side.rename(one, "   ") is False  # blank titles are not sent

    # Delete asks first; "no" keeps it.
    asked: list[str] = []
    monkeypatch.setattr(side, "confirm_delete", lambda summary: asked.append(summary.title) or False)
    assert side.delete(one) is False
    assert asked == ["Trip to Lyon"] and one in side.ids()
    side.list.setCurrentItem(side.item(one))  # the Delete key asks too
    qtbot.keyClick(side.list, Qt.Key.Key_Delete)
    assert asked == ["Trip to Lyon"] * 2 and one in side.ids()
    # The row's "⋯" button opens its menu.
    more = side.list.delegate.more_rect(side.list.visualItemRect(side.item(one)))
    with qtbot.waitSignal(side.list.menu_requested, timeout=2000) as menu:
        qtbot.mousePress(side.list.viewport(), Qt.MouseButton.LeftButton, pos=more.center())
    assert menu.args[0] == one
    monkeypatch.setattr(side, "confirm_delete", lambda summary: True)
    assert side.delete(one) is True
    qtbot.waitUntil(lambda: side.ids() == [two], timeout=3000)
    assert _bubble_texts(app.chat) == ["Two", "Ok."]  # another conversation: the view is untouched

    # Deleting the open conversation starts a new, empty one.
    assert side.delete(two) is True
    qtbot.waitUntil(lambda: side.ids() == [], timeout=3000)
    assert app.chat.turn_count() == 0 and app.vms.conversations.current_conversation_id == ""


def test_export_writes_markdown_and_json_and_shows_failures(qtbot, make_app, monkeypatch, tmp_path):
    app = make_app(quiet_model(["Bonjour ", "à vous."]))
    side = app.window.side
    _say(qtbot, app, "Say hello in French")
    cid = app.vms.conversations.current_conversation_id
    qtbot.waitUntil(lambda: side.ids() == [cid], timeout=3000)

    picked: list[tuple[str, str]] = []

    def pick(summary, fmt):
        picked.append((summary.id, fmt))
        return str(tmp_path / f"out.{fmt}")

    monkeypatch.setattr(side, "choose_export_path", pick)
    assert side.export(cid, "md") == str(tmp_path / "out.md")
    markdown = (tmp_path / "out.md").read_text(encoding="utf-8")
    assert "Say hello in French" in markdown and "Bonjour à vous." in markdown
    assert app.window.hint.text() == f"Exported to {tmp_path / 'out.md'}"

    # From the row's menu, as a user would.
    menu = side.build_menu(cid)
    json_action = next(a for a in menu.actions() if a.text() == "Export as JSON…")
    json_action.trigger()
    data = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert [t["text"] for t in data["turns"]] == ["Say hello in French", "Bonjour à vous."]
    assert picked == [(cid, "md"), (cid, "json")]

    # Cancelled: nothing written. Failed: the message is shown.
    monkeypatch.setattr(side, "choose_export_path", lambda summary, fmt: "")
    assert side.export(cid, "md") == ""
    monkeypatch.setattr(side, "choose_export_path", lambda summary, fmt: str(tmp_path / "missing" / "x.md"))
    assert side.export(cid, "md") == ""
    banner = app.window.banner("error")
    assert banner is not None and banner.title.text() == "Could not export to Markdown"
    assert "No such file or directory" in banner.text.text()


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


def test_speaking_shows_in_the_hint_and_a_corrupt_history_in_the_banner(qtbot, make_app):
    from voxtral_desktop.core.history import default_path

    path = default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"garbage" * 200)
    app = make_app(scripted_model())
    banner = app.window.banner("error")
    assert banner is not None and banner.title.text() == "History is not being saved"
    app.vms.replies.speakingChanged.emit(True)
    assert app.window.hint.text() == SPEAKING_HINT
    app.vms.replies.speakingChanged.emit(False)
    assert app.window.hint.text() == IDLE_HINT


def test_new_settings_round_trip(qtbot, make_app):
    app = make_app(scripted_model())
    dialog = app.window.open_settings()
    turns = dialog.inputs["conversation.max_turns"]
    assert turns.text() == "6"
    assert dialog.pages.currentIndex() == 0 and dialog.page_of("conversation.max_turns") == 1
    turns.setText("-2")
    assert dialog.errors["conversation.max_turns"].text() == "conversation.max_turns must be >= 0, got -2"
    assert not dialog.save_button.isEnabled()
    assert dialog.page_buttons[1].property("invalid") and not dialog.page_buttons[0].property("invalid")
    qtbot.mouseClick(dialog.page_buttons[1], Qt.MouseButton.LeftButton)
    assert dialog.pages.currentIndex() == 1 and dialog.errors["conversation.max_turns"].isVisible()
    turns.setText("many")
    assert "must be an integer" in dialog.errors["conversation.max_turns"].text()
    turns.setText("3")
    assert dialog.save_button.isEnabled() and not dialog.page_buttons[1].property("invalid")

    voice = dialog.inputs["speech.voice"]
    assert voice.itemText(0) == "Default" and voice.currentData() == ""
    assert dialog.inputs["speech.enabled"].isChecked()
    dialog.inputs["speech.enabled"].setChecked(False)
    dialog.inputs["speech.rate"].setValue(5)
    dialog.inputs["conversation.keep_audio"].setChecked(True)
    dialog.inputs["conversation.show_transcript"].setChecked(True)
    assert dialog.changes() == {
        "conversation": {"max_turns": 3, "keep_audio": True, "show_transcript": True},
        "speech": {"enabled": False, "rate": 0.5},
    }
    dialog.save()
    qtbot.waitUntil(lambda: app.window.settings_dialog is None, timeout=3000)
    on_disk = yaml.safe_load(paths.user_config_file().read_text())
    assert on_disk == {
        "conversation": {"max_turns": 3, "keep_audio": True, "show_transcript": True},
        "speech": {"enabled": False, "rate": 0.5},
    }
    cfg = app.vms.config
    assert (cfg.conversation.max_turns, cfg.speech.enabled, cfg.speech.rate) == (3, False, 0.5)
    assert not app.vms.speaker.enabled  # applied at once
    assert "Spoken replies are off" in app.window.status_pill.toolTip()

    again = app.window.open_settings()
    assert again.inputs["conversation.max_turns"].text() == "3"
    assert again.inputs["conversation.keep_audio"].isChecked()
    assert again.inputs["speech.rate"].value() == 5 and not again.inputs["speech.enabled"].isChecked()
    assert again.changes() == {}  # untouched: nothing to save
    again.reject()


@pytest.mark.integration
def test_a_spoken_turn_with_the_tiny_model_is_rebuilt_from_the_list(
    qtbot, make_app, tiny_model, utterance_audio
):
    app = make_app(tiny_model, Captures(utterance_audio["a"]))
    hold(qtbot, app)
    assert wait_reply_done(qtbot, app, 1).text == REPLY["a"]
    cid = app.vms.conversations.current_conversation_id
    side = app.window.side
    qtbot.waitUntil(lambda: side.ids() == [cid], timeout=3000)
    app.window.new_conversation()
    assert app.chat.turn_count() == 0
    side.open(cid)
    user, reply = app.chat.user_turns()[0], app.chat.replies()[0]
    assert user.text_label.text().startswith("(spoken, ") and reply.text == REPLY["a"]
    assert reply.meta.text().startswith("First words in ")
