"""The side list: new, open and continue a conversation, rename in place, delete with confirmation, export."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit
from ui_helpers import (
    Captures,
    bubble_texts,
    hold,
    quiet_model,
    say,
    wait_reply_done,
)

from voxtral_desktop.testing.speech import UTTERANCES

REPLY = {u.key: u.reply for u in UTTERANCES}


def test_side_list_new_open_and_continue(qtbot, make_app):
    app = make_app(quiet_model(["Sure."]))
    window, side = app.window, app.window.side
    assert side.ids() == [] and side.empty.isVisible()
    say(qtbot, app, "First question")
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
    say(qtbot, app, "Second question")
    second = app.vms.conversations.current_conversation_id
    assert second != first
    qtbot.waitUntil(lambda: side.ids() == [second, first], timeout=3000)  # newest first
    assert side.list.current_id == second

    # Clicking the older one rebuilds its bubbles from the history.
    rect = side.list.visualItemRect(side.item(first))
    qtbot.mouseClick(side.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: app.vms.conversations.current_conversation_id == first, timeout=3000)
    assert bubble_texts(app.chat) == ["First question", "Sure."]
    assert side.list.current_id == first
    assert app.chat.replies()[0].meta.text().endswith(" in all")

    # ... and goes on from there: new turns land after the stored ones.
    say(qtbot, app, "Follow-up")
    assert bubble_texts(app.chat) == ["First question", "Sure.", "Follow-up", "Sure."]
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
    say(qtbot, app, "One")
    one = app.vms.conversations.current_conversation_id
    app.window.new_conversation()
    say(qtbot, app, "Two")
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
    assert bubble_texts(app.chat) == ["Two", "Ok."]  # another conversation: the view is untouched

    # Deleting the open conversation starts a new, empty one.
    assert side.delete(two) is True
    qtbot.waitUntil(lambda: side.ids() == [], timeout=3000)
    assert app.chat.turn_count() == 0 and app.vms.conversations.current_conversation_id == ""


def test_export_writes_markdown_and_json_and_shows_failures(qtbot, make_app, monkeypatch, tmp_path):
    app = make_app(quiet_model(["Bonjour ", "à vous."]))
    side = app.window.side
    say(qtbot, app, "Say hello in French")
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
