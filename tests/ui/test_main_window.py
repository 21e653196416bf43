"""The window as a whole: typed turns in the message box, the mode switch, the hint under the talk button, banners."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from ui_helpers import (
    hold,
    quiet_model,
    say,
    scripted_model,
    type_message,
    wait_reply_done,
)

from voxtral_desktop.core.chunks import ReplyStatus
from voxtral_desktop.ui.view_models.talk_rules import DICTATE_HINT, IDLE_HINT, SPEAKING_HINT


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
    type_message(qtbot, app, "What is the capital of France?")
    assert not app.vms.recording.is_recording
    reply = wait_reply_done(qtbot, app, 1)
    user = app.chat.user_turns()[0]
    assert user.text == "What is the capital of France?" and user.duration is None
    assert [type(t).__name__ for t in app.chat.turns()] == ["UserBubble", "ReplyBubble"]
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
    say(qtbot, app, "Hi")
    assert app.chat.replies()[-1].speaker.text() == "Voxtral"

    app.vms.replies.setMode("conversation")  # from elsewhere: the switch follows
    assert window.mode_buttons["conversation"].isChecked() and window.hint.text() == IDLE_HINT
    hold(qtbot, app)
    assert wait_reply_done(qtbot, app, 3).speaker.text() == "Voxtral"  # the spoken turn's own reply


def test_speaking_shows_in_the_hint_and_a_corrupt_history_in_the_banner(qtbot, make_app):
    from voxtral_desktop.core.history import default_path

    path = default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"garbage" * 200)
    app = make_app(scripted_model())
    banner = app.window.banner("error")
    assert banner is not None and banner.title.text() == "History is not being saved"
    # The speaker is the one owner of "speaking": the hint follows it (the mock engine speaks on timers).
    app.vms.speaker.say_chunk("A reply long enough to be heard speaking for a moment or two.")
    qtbot.waitUntil(lambda: app.vms.speaker.is_speaking, timeout=3000)
    assert app.window.hint.text() == SPEAKING_HINT
    app.vms.speaker.stop()
    qtbot.waitUntil(lambda: not app.vms.speaker.is_speaking, timeout=3000)
    assert app.window.hint.text() == IDLE_HINT


def test_long_banners_are_never_clipped_and_the_models_comes_first(qtbot, make_app, tmp_path, monkeypatch):
    """A first start offline (the tests run with HF_HUB_OFFLINE=1): the model's and the voice's banners are long;
    in a 760x700 window each shows its whole text (the banner area scrolls instead), the model's on top."""
    from huggingface_hub import constants

    from voxtral_desktop.core.config import load_config

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))  # never the developer's cache
    config = load_config(overrides={"speech": {"voice": "en_GB-alan-low", "engine": "mock"}})
    app = make_app(config=config, wait_ready=False)
    window = app.window
    window.resize(760, 700)
    qtbot.waitUntil(lambda: window.banner("model") is not None and window.banner("voice") is not None, timeout=20000)
    model, voice = window.banner("model"), window.banner("voice")
    assert window.banners.indexOf(model) < window.banners.indexOf(voice)
    qtbot.wait(200)  # the layout settles
    for banner in (model, voice):
        label = banner.text
        assert label.height() >= label.heightForWidth(label.width()), (banner.title.text(), label.height())
    assert model.visibleRegion().boundingRect().height() >= model.height() - 1  # the model's is in full view
