"""May the user talk now, and what does the line under the talk button say: pure rules, no widgets."""

from __future__ import annotations

from dataclasses import dataclass

from voxtral_desktop.ui.view_models.status import LoadPhase, MicStatus, Mode, ModelStatus

IDLE_HINT = "Hold to talk  ·  or hold Space"
DICTATE_HINT = "Hold to dictate  ·  or hold Space"
SPEAKING_HINT = "Speaking…  ·  Esc or the button stops it"
TALK_TIP = "Hold to talk, release to send (or hold Space)"
NOT_READY = "The model is not ready yet."
NO_MICROPHONE = "No microphone is available."


@dataclass(frozen=True)
class TalkState:
    """Whether the talk button takes presses, the short reason when it does not, and its tooltip."""

    enabled: bool
    reason: str  # one line under the button while talking is off; "" when it is on
    tooltip: str


def talk_state(model: ModelStatus, mic: MicStatus, *, recording: bool = False, quitting: bool = False) -> TalkState:
    """The talk button's state: off while quitting, without a model, or without a microphone.

    A recording in progress keeps the button on whatever happens, so the press can end normally.
    """
    if quitting:
        short = full = "Quitting…"
    elif model.phase == LoadPhase.FAILED:
        short = "Talking is off until the model loads."
        full = "Talking is off until the model loads: see the message above, or choose a model in Settings."
    elif not mic.available and mic.checked:
        short = "Talking is off: no microphone to record from."
        full = f"Talking is off: {mic.message}"
    elif not model.ready:
        short = full = "Talking turns on once the model has loaded."
    elif not mic.available:
        short = full = mic.message
    else:
        short, full = "", ""
    return TalkState(enabled=not short or recording, reason=short, tooltip=full or TALK_TIP)


def idle_hint(talk: TalkState, *, speaking: bool, mode: Mode) -> tuple[str, str]:
    """The line under the button when no transient tip is showing: (text, style kind)."""
    if talk.reason:
        return talk.reason, ""
    if speaking:
        return SPEAKING_HINT, "speaking"
    return (DICTATE_HINT if mode == Mode.TRANSCRIBE else IDLE_HINT), ""


def why_not_record(model: ModelStatus, mic: MicStatus) -> str | None:
    """Why a press cannot start a recording now (the hint the user gets), or None when it can."""
    if not mic.available:
        return mic.message or NO_MICROPHONE
    if not model.ready:
        return NOT_READY
    return None
