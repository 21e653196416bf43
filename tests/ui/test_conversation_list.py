"""The side list: new, open and continue a conversation, rename in place, delete with confirmation, export."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit
from ui_helpers import (
    LOCKED_STALL_LIMIT_S,
    Captures,
    StallProbe,
    bubble_texts,
    history_waits_for_locks,
    hold,
    locked_stall,
    quiet_model,
    say,
    wait_reply_done,
)

from voxtral_desktop.testing.speech import UTTERANCES

REPLY = {u.key: u.reply for u in UTTERANCES}


def finished(qtbot, task):
    """What a panel action's task gave, once it has run (the history is used off the event loop)."""
    assert task is not None
    qtbot.waitUntil(task.done, timeout=5000)
    return task.result()


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
    assert side.rename(one, "   ") is None  # blank titles are not sent

    # Delete asks first; "no" keeps it.
    asked: list[str] = []
    monkeypatch.setattr(side, "confirm_delete", lambda summary: asked.append(summary.title) or False)
    assert side.delete(one) is None
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
    assert finished(qtbot, side.delete(one)) is True
    qtbot.waitUntil(lambda: side.ids() == [two], timeout=3000)
    assert bubble_texts(app.chat) == ["Two", "Ok."]  # another conversation: the view is untouched

    # Deleting the open conversation starts a new, empty one.
    assert finished(qtbot, side.delete(two)) is True
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
    assert finished(qtbot, side.export(cid, "md")) == str(tmp_path / "out.md")
    markdown = (tmp_path / "out.md").read_text(encoding="utf-8")
    assert "Say hello in French" in markdown and "Bonjour à vous." in markdown
    assert app.window.hint.text() == f"Exported to {tmp_path / 'out.md'}"

    # From the row's menu, as a user would.
    menu = side.build_menu(cid)
    json_action = next(a for a in menu.actions() if a.text() == "Export as JSON…")
    json_action.trigger()
    qtbot.waitUntil(lambda: app.window.hint.text() == f"Exported to {tmp_path / 'out.json'}", timeout=5000)
    data = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert [t["text"] for t in data["turns"]] == ["Say hello in French", "Bonjour à vous."]
    assert picked == [(cid, "md"), (cid, "json")]

    # Cancelled: nothing written. Failed: the message is shown.
    monkeypatch.setattr(side, "choose_export_path", lambda summary, fmt: "")
    assert side.export(cid, "md") is None
    monkeypatch.setattr(side, "choose_export_path", lambda summary, fmt: str(tmp_path / "missing" / "x.md"))
    assert finished(qtbot, side.export(cid, "md")) == ""
    banner = app.window.banner("error")
    assert banner is not None and banner.title.text() == "Could not export to Markdown"
    assert "No such file or directory" in banner.text.text()


# --- another program holds the history's lock: the window never waits for it --------------------------------


def two_conversations(qtbot, make_app, monkeypatch):
    """A window with two saved conversations, "One" (listed second) and "Two" (open)."""
    history_waits_for_locks(monkeypatch)
    app = make_app(quiet_model(["Ok."]))
    say(qtbot, app, "One")
    one = app.vms.conversations.current_conversation_id
    app.window.new_conversation()
    say(qtbot, app, "Two")
    two = app.vms.conversations.current_conversation_id
    qtbot.waitUntil(lambda: app.window.side.ids() == [two, one], timeout=3000)
    return app, app.window.side, one, two


def title_of(side, conversation_id: str) -> str:
    item = side.item(conversation_id)
    return item.text() if item is not None else ""


def test_a_rename_waits_for_a_locked_history_off_the_event_loop_and_lands_once_it_is_free(
    qtbot, make_app, monkeypatch
):
    app, side, one, _ = two_conversations(qtbot, make_app, monkeypatch)
    stall, waited = locked_stall(
        qtbot, lambda: side.rename(one, "Trip to Lyon"), while_locked=lambda: title_of(side, one) == "One"
    )
    assert stall < LOCKED_STALL_LIMIT_S
    assert waited  # the action waited for the lock (and the window did not)
    qtbot.waitUntil(lambda: title_of(side, one) == "Trip to Lyon", timeout=5000)
    assert app.window.banner("error") is None


def test_a_delete_waits_for_a_locked_history_off_the_event_loop_and_lands_once_it_is_free(
    qtbot, make_app, monkeypatch
):
    app, side, one, two = two_conversations(qtbot, make_app, monkeypatch)
    monkeypatch.setattr(side, "confirm_delete", lambda summary: True)
    stall, waited = locked_stall(qtbot, lambda: side.delete(one), while_locked=lambda: one in side.ids())
    assert stall < LOCKED_STALL_LIMIT_S
    assert waited  # the action waited for the lock (and the window did not)
    qtbot.waitUntil(lambda: side.ids() == [two], timeout=5000)
    assert not app.vms.conversations.history.exists(one) and bubble_texts(app.chat) == ["Two", "Ok."]


# Opening and exporting only read, and a read of a locked file waits only behind a write in flight on the same
# connection: the rename here (in use, a reply's saves, say). On the event loop it waits as long as that write.


def test_opening_one_while_a_rename_waits_for_the_locked_history_never_stalls_the_window(
    qtbot, make_app, monkeypatch
):
    app, side, one, two = two_conversations(qtbot, make_app, monkeypatch)

    def rename_then_click_the_other() -> None:
        side.rename(two, "Shopping")
        row = side.list.visualItemRect(side.item(one))
        qtbot.mouseClick(side.list.viewport(), Qt.MouseButton.LeftButton, pos=row.center())

    stall, waited = locked_stall(
        qtbot, rename_then_click_the_other, while_locked=lambda: bubble_texts(app.chat) == ["Two", "Ok."]
    )
    assert stall < LOCKED_STALL_LIMIT_S
    assert waited  # the action waited for the lock (and the window did not)
    qtbot.waitUntil(lambda: app.vms.conversations.current_conversation_id == one, timeout=5000)
    assert bubble_texts(app.chat) == ["One", "Ok."] and side.list.current_id == one
    qtbot.waitUntil(lambda: title_of(side, two) == "Shopping", timeout=5000)
    assert app.window.banner("error") is None


def test_an_export_while_a_rename_waits_for_the_locked_history_never_stalls_the_window(
    qtbot, make_app, monkeypatch, tmp_path
):
    app, side, one, _ = two_conversations(qtbot, make_app, monkeypatch)
    out = tmp_path / "one.md"
    monkeypatch.setattr(side, "choose_export_path", lambda summary, fmt: str(out))

    def rename_then_export() -> None:
        side.rename(one, "Trip to Lyon")
        side.export(one, "md")

    stall, waited = locked_stall(qtbot, rename_then_export, while_locked=lambda: not out.exists())
    assert stall < LOCKED_STALL_LIMIT_S
    assert waited  # the action waited for the lock (and the window did not)
    qtbot.waitUntil(lambda: app.window.hint.text() == f"Exported to {out}", timeout=5000)
    markdown = out.read_text(encoding="utf-8")
    assert "Trip to Lyon" in markdown  # in the order asked: renamed first
    assert "One" in markdown and "Ok." in markdown and "Two" not in markdown


def test_a_rename_the_locked_history_refuses_is_said_and_changes_nothing(qtbot, make_app):
    from voxtral_desktop.core.history import default_path
    from voxtral_desktop.testing.small_disk import locked_by_another_process

    app = make_app(quiet_model(["Ok."]))
    side = app.window.side
    say(qtbot, app, "One")
    one = app.vms.conversations.current_conversation_id
    qtbot.waitUntil(lambda: side.ids() == [one], timeout=3000)
    with locked_by_another_process(default_path()):  # held past the history's own wait (0.25 s)
        probe = StallProbe()
        side.rename(one, "Trip to Lyon")
        qtbot.waitUntil(lambda: app.window.banner("error") is not None, timeout=5000)
        stall = probe.stop()
    print(f"\nlongest event-loop stall while the locked history refused a rename: {stall * 1000:.0f} ms")
    banner = app.window.banner("error")
    assert banner.title.text() == "Could not rename the conversation"
    assert "locked by another program" in banner.text.text()
    assert stall < LOCKED_STALL_LIMIT_S
    assert title_of(side, one) == "One" and app.vms.conversations.history.get_summary(one).title == "One"


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
    qtbot.waitUntil(lambda: app.chat.turn_count() == 2, timeout=5000)
    user, reply = app.chat.user_turns()[0], app.chat.replies()[0]
    assert user.text_label.text().startswith("(spoken, ") and reply.text == REPLY["a"]
    assert reply.meta.text().startswith("First words in ")
