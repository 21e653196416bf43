"""When talking is allowed and what the line under the talk button says, without a window."""

from __future__ import annotations

from voxtral_desktop.core.model import LoadPhase, Mode
from voxtral_desktop.ui.view_models.status import MicStatus, ModelStatus
from voxtral_desktop.ui.view_models.talk_rules import (
    DICTATE_HINT,
    IDLE_HINT,
    NOT_READY,
    SPEAKING_HINT,
    TALK_TIP,
    idle_hint,
    talk_state,
    why_not_record,
)

READY = ModelStatus(LoadPhase.READY)
LOADING = ModelStatus(LoadPhase.LOADING, "Loading tiny-voxtral…")
FAILED = ModelStatus(LoadPhase.FAILED, "model folder /x does not exist")
MIC = MicStatus(checked=True, available=True, message="")
NO_MIC = MicStatus(checked=True, available=False, message="No microphone found.")
LOOKING = MicStatus()  # the first look has not finished


def test_a_loaded_model_and_a_microphone_let_the_user_talk():
    state = talk_state(READY, MIC)
    assert state.enabled and state.reason == "" and state.tooltip == TALK_TIP
    assert why_not_record(READY, MIC) is None
    assert idle_hint(state, speaking=False, mode=Mode.CONVERSATION) == (IDLE_HINT, "")
    assert idle_hint(state, speaking=False, mode=Mode.TRANSCRIBE) == (DICTATE_HINT, "")
    assert idle_hint(state, speaking=True, mode=Mode.CONVERSATION) == (SPEAKING_HINT, "speaking")


def test_each_reason_to_stay_silent_is_said_in_order_of_importance():
    failed = talk_state(FAILED, NO_MIC)  # the model's failure comes first: a microphone alone would not help
    assert not failed.enabled and failed.reason == "Talking is off until the model loads."
    assert "choose a model in Settings" in failed.tooltip
    no_mic = talk_state(LOADING, NO_MIC)
    assert no_mic.reason == "Talking is off: no microphone to record from."
    assert no_mic.tooltip == "Talking is off: No microphone found."
    loading = talk_state(LOADING, MIC)
    assert not loading.enabled and loading.reason == loading.tooltip == "Talking turns on once the model has loaded."
    looking = talk_state(READY, LOOKING)
    assert not looking.enabled and looking.reason == "Checking for a microphone…"
    quitting = talk_state(READY, MIC, quitting=True)
    assert not quitting.enabled and quitting.reason == "Quitting…"
    # The reason takes the line under the button, even while a reply is being spoken.
    assert idle_hint(no_mic, speaking=True, mode=Mode.CONVERSATION) == (no_mic.reason, "")


def test_a_recording_in_progress_keeps_the_button_on():
    state = talk_state(READY, NO_MIC, recording=True)  # the microphone vanished mid-press
    assert state.enabled and state.reason


def test_a_press_that_cannot_record_says_why():
    assert why_not_record(READY, NO_MIC) == "No microphone found."
    assert why_not_record(READY, MicStatus(checked=True, available=False, message="")) == "No microphone is available."
    assert why_not_record(LOADING, MIC) == NOT_READY
    assert why_not_record(LOADING, NO_MIC) == "No microphone found."  # the microphone is checked first

