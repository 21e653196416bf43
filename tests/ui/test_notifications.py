"""A reply that finishes while the window is hidden is shown as one desktop notification (its first ~200
characters); clicking it brings the window back on that conversation. A test org.freedesktop.Notifications
service on a private session bus receives the real D-Bus calls."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ui_helpers import quiet_model

from voxtral_desktop.testing.desktop_services import DesktopServices, desktop_services
from voxtral_desktop.ui.notifications import preview
from voxtral_desktop.ui.view_models.status import ReplyStatus

LONG_REPLY = [f"Sentence number {i} of a long answer that goes on. " for i in range(12)]  # ~600 characters


@pytest.fixture
def services(tmp_path, monkeypatch) -> Iterator[DesktopServices]:
    with desktop_services(tmp_path) as bus:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.address)
        monkeypatch.delenv("DISPLAY", raising=False)  # no global shortcuts needed here
        yield bus


def reply_to(qtbot, app, text: str) -> None:
    finished: list[int] = []
    app.vms.replies.replyFinished.connect(lambda turn_no, result: finished.append(result.status))
    assert app.vms.replies.sendText(text) is not None
    qtbot.waitUntil(lambda: bool(finished), timeout=10000)
    assert finished == [ReplyStatus.COMPLETE]


def test_a_reply_finished_while_hidden_is_notified_once_and_clicking_it_opens_that_conversation(
    services, make_app, make_desktop, qtbot
):
    app = make_app(quiet_model(LONG_REPLY))
    make_desktop(app)
    reply_to(qtbot, app, "while you can see me")
    conversation = app.vms.conversations.current_conversation_id
    app.window.hide()

    reply_to(qtbot, app, "tell me a long story")
    qtbot.waitUntil(lambda: bool(services.find("notified")), timeout=5000)
    app.vms.conversations.newConversation()  # the user moved on meanwhile (e.g. from the tray's menu)

    (shown,) = services.find("notified")
    assert shown["summary"] == "Voxtral replied"
    assert shown["body"] == preview("".join(LONG_REPLY))
    assert shown["body"].startswith("Sentence number 0 of a long answer") and shown["body"].endswith("…")
    assert 150 <= len(shown["body"]) <= 201
    assert shown["actions"][:1] == ["default"]  # clicking the notification itself is the action

    services.send(f"click {shown['id']}")
    qtbot.waitUntil(app.window.isVisible, timeout=5000)
    qtbot.waitUntil(lambda: app.vms.conversations.current_conversation_id == conversation, timeout=5000)
    # Only the reply that finished while hidden was notified.
    assert len(services.find("notified")) == 1


def test_no_notification_when_the_setting_is_off(services, make_app, make_desktop, qtbot):
    app = make_app(quiet_model(["Short reply."]))
    make_desktop(app)
    app.vms.config.desktop.notifications = False
    app.window.hide()

    reply_to(qtbot, app, "hello")
    app.vms.config.desktop.notifications = True
    reply_to(qtbot, app, "hello again")
    qtbot.waitUntil(lambda: bool(services.find("notified")), timeout=5000)

    assert len(services.find("notified")) == 1  # the second reply's only


def test_a_preview_is_cut_at_a_word():
    assert preview("short  reply\n") == "short reply"
    cut = preview("word " * 100)
    assert cut.endswith("word…") and len(cut) <= 201
