"""Where a reply's time went, under its bubble: the stage breakdown behind a Details toggle and a tooltip."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from voxtral_desktop.core.timings import STAGES, Stage
from voxtral_desktop.ui.widgets import DisclosureButton

Timings = Mapping[str, float | None]

STAGE_LABELS = {
    Stage.RECORDING_ENDED: "Recording ended",
    Stage.NORMALISED: "Audio normalised",
    Stage.PROMPT_BUILT: "Prompt and features built",
    Stage.AUDIO_ENCODED: "Audio encoded",
    Stage.FIRST_TOKEN: "First token",
    Stage.FIRST_CHUNK: "First chunk (first words)",
    Stage.LAST_CHUNK: "Last chunk",
    Stage.FIRST_SOUND: "First sound",
}
TYPED_ORIGIN = "Message sent"  # a typed turn's clock starts when it is sent: there is no recording


@dataclass(frozen=True)
class StageRow:
    stage: Stage
    label: str
    ms: float  # since the recording ended
    step: float  # since the row before (0 for the first)


def breakdown(timings: Timings | None, *, from_recording: bool = True) -> list[StageRow]:
    """The stages that happened, in the order they happened (the voice may start before the last chunk);
    ``from_recording``: the user's turn was a recording (else typed: its clock starts when it was sent)."""
    if not timings:
        return []
    marks = []
    for index, stage in enumerate(STAGES):
        value = timings.get(stage.value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            marks.append((float(value), index, stage))
    rows: list[StageRow] = []
    previous: float | None = None
    for ms, _, stage in sorted(marks):
        label = TYPED_ORIGIN if stage == Stage.RECORDING_ENDED and not from_recording else STAGE_LABELS[stage]
        rows.append(StageRow(stage, label, ms, 0.0 if previous is None else ms - previous))
        previous = ms
    return rows


def _ms(value: float) -> str:
    return f"{value:,.0f} ms"


def breakdown_text(rows: list[StageRow]) -> str:
    """Plain lines, one per stage: what a screen reader says and what tests read."""
    return "\n".join(f"{r.label}: {_ms(r.ms)} (+{_ms(r.step)})" for r in rows)


def breakdown_html(rows: list[StageRow]) -> str:
    """A small table: stage, ms since the recording ended, and the step from the stage before."""
    cells = "".join(
        f"<tr><td>{html.escape(r.label)}</td><td align='right'>&nbsp;&nbsp;{_ms(r.ms)}</td>"
        f"<td align='right' style='color:gray'>&nbsp;&nbsp;{'' if i == 0 else '+' + _ms(r.step)}</td></tr>"
        for i, r in enumerate(rows)
    )
    since = "since you sent it" if rows and rows[0].label == TYPED_ORIGIN else "since you stopped"
    head = (
        f"<tr style='color:gray'><td></td><td align='right'>&nbsp;&nbsp;{since}</td>"
        "<td align='right'>&nbsp;&nbsp;step</td></tr>"
    )
    return f"<table cellspacing='0' cellpadding='1'>{head}{cells}</table>"


class TimingsDetails:
    """The Details toggle (next to the footer) and the breakdown it opens (under the footer).

    Keyboard: Tab reaches the toggle, Space or Enter opens and closes it. Hovering the footer or the toggle
    shows the same breakdown as a tooltip.
    """

    def __init__(self, footer: QLabel) -> None:
        self.footer = footer
        self.rows: list[StageRow] = []
        self.from_recording = True
        self.toggle = DisclosureButton("timingsToggle", "Where the time went")
        self.toggle.toggled.connect(self._toggled)
        self.toggle.hide()
        self.panel = QLabel()
        self.panel.setObjectName("timingsDetails")
        self.panel.setTextFormat(Qt.TextFormat.RichText)
        self.panel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.panel.hide()

    def widgets(self) -> tuple[QWidget, QWidget]:
        return self.toggle, self.panel

    def show_timings(self, timings: Timings | None, *, from_recording: bool = True) -> None:
        self.from_recording = from_recording
        self.rows = breakdown(timings, from_recording=from_recording)
        useful = len(self.rows) > 1
        table = breakdown_html(self.rows) if useful else ""
        tip = f"<b>Where the time went</b> (from the end of your turn){table}" if useful else ""
        self.footer.setToolTip(tip)
        self.toggle.setToolTip(tip)
        self.toggle.setAccessibleDescription(breakdown_text(self.rows) if useful else "")
        self.panel.setText(table)
        self.toggle.setVisible(useful)
        self.panel.setVisible(useful and self.toggle.isChecked())

    @property
    def expanded(self) -> bool:
        return not self.panel.isHidden()

    def set_expanded(self, on: bool) -> None:
        self.toggle.setChecked(on)

    def _toggled(self, on: bool) -> None:
        self.panel.setVisible(on and len(self.rows) > 1)
