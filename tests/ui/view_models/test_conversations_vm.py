"""Conversations: memory within one, none after "new", memory again when an old one is opened; a corrupt history."""

from __future__ import annotations

from ui_helpers import (
    LOCKED_STALL_LIMIT_S,
    bubble_texts,
    history_waits_for_locks,
    hold,
    locked_stall,
    quiet_model,
    say,
    scripted_model,
    type_message,
    wait_reply_done,
)

from voxtral_desktop.core.chunks import ReplyStatus

REPLY_PIECES = ["The ", "weather ", "is ", "sunny ", "today, ", "with ", "a ", "light ", "breeze ", "from ",
                "the ", "west."]


def test_memory_new_and_open_conversation(qtbot, make_app):
    model = scripted_model(REPLY_PIECES)
    app = make_app(model)
    hold(qtbot, app)
    wait_reply_done(qtbot, app, 1)
    hold(qtbot, app)
    wait_reply_done(qtbot, app, 2)
    requests = model.backend.requests
    assert len(requests[1].history) == 1 and requests[1].history[0].assistant_text == "".join(REPLY_PIECES)
    first_id = app.vms.conversations.current_conversation_id

    opened: list[str] = []
    app.vms.conversations.conversationOpened.connect(lambda cid, turns: opened.append(cid))
    app.vms.conversations.newConversation()
    hold(qtbot, app)
    wait_reply_done(qtbot, app, 3)
    assert requests[2].history == ()
    assert len(app.vms.conversations.conversations()) == 2

    app.vms.conversations.openConversation(first_id)
    qtbot.waitUntil(lambda: app.vms.conversations.current_conversation_id == first_id, timeout=5000)
    hold(qtbot, app)
    wait_reply_done(qtbot, app, 4)
    # Audio was not kept (the default), so the earlier spoken turns are not memory; nothing breaks.
    assert opened == ["", first_id]
    assert app.vms.conversations.current_conversation_id == first_id
    assert len(app.vms.conversations.history.turns(first_id)) == 6


def test_a_corrupt_history_file_is_reported_and_left_alone(qtbot, make_app, isolated_home):
    from voxtral_desktop.core.history import default_path

    path = default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"garbage" * 200)
    app = make_app(scripted_model(REPLY_PIECES))
    qtbot.waitUntil(lambda: app.window.banner("error") is not None, timeout=3000)
    assert app.window.banner("error").title.text() == "History is not being saved"
    hold(qtbot, app)
    assert wait_reply_done(qtbot, app, 1).status == ReplyStatus.COMPLETE  # replies go on, kept in memory only
    assert path.read_bytes() == b"garbage" * 200
    assert app.vms.model.status.ready


def test_a_conversation_started_while_another_program_locks_the_history_never_stalls_the_window(
    qtbot, make_app, monkeypatch
):
    history_waits_for_locks(monkeypatch)
    app = make_app(quiet_model(["Ok."]))
    say(qtbot, app, "One")
    app.window.new_conversation()
    # Its first turn creates the conversation: a write, which waits for the lock.
    stall, waited = locked_stall(
        qtbot, lambda: type_message(qtbot, app, "Two"), while_locked=lambda: not app.chat.reply(2).text
    )
    assert stall < LOCKED_STALL_LIMIT_S
    assert waited  # the reply waited for its turn to be saved (and the window did not)
    reply = wait_reply_done(qtbot, app, 2)
    assert reply.status == ReplyStatus.COMPLETE and reply.text == "Ok."
    conversations = app.vms.conversations
    two = conversations.current_conversation_id
    assert [t.text for t in conversations.history.turns(two)] == ["Two", "Ok."]
    side = app.window.side
    qtbot.waitUntil(lambda: len(side.ids()) == 2 and side.list.current_id == two, timeout=5000)
    assert app.window.banner("history") is None


def test_opening_a_conversation_that_is_gone_says_so_and_keeps_the_one_shown(qtbot, make_app):
    app = make_app(quiet_model(["Ok."]))
    say(qtbot, app, "One")
    shown = app.vms.conversations.current_conversation_id
    task = app.vms.conversations.openConversation("deleted-by-another-copy")
    qtbot.waitUntil(task.done, timeout=5000)
    assert task.result() is False
    banner = app.window.banner("error")
    assert banner is not None and banner.title.text() == "Could not open the conversation"
    assert "deleted-by-another-copy" in banner.text.text()
    assert app.vms.conversations.current_conversation_id == shown and bubble_texts(app.chat) == ["One", "Ok."]
