"""The window's header: conversations toggle, model name and status pill, Conversation/Transcribe switch, Settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QVBoxLayout

from voxtral_desktop.ui import theme
from voxtral_desktop.ui.view_models.status import Mode, ModelStatus
from voxtral_desktop.ui.widgets import ElidedLabel, StatusPill

if TYPE_CHECKING:
    from voxtral_desktop.ui.view_models.speaker import Speaker

MODES = ((Mode.CONVERSATION, "Conversation"), (Mode.TRANSCRIBE, "Transcribe"))
MODE_TIPS = {
    Mode.CONVERSATION: "Talk with Voxtral: it answers, and remembers earlier turns",
    Mode.TRANSCRIBE: "Dictate: Voxtral writes down what you say, word for word",
}


class Header(QFrame):
    """``modeChosen(Mode)`` when a mode button is clicked; the buttons and labels are public for the window."""

    modeChosen = Signal(object)

    def __init__(self, model_label: str, model_id: str) -> None:
        super().__init__()
        self.setObjectName("header")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 12, 14, 12)
        lay.setSpacing(12)
        self.side_button = QToolButton()
        self.side_button.setObjectName("iconButton")
        self.side_button.setIcon(theme.sidebar_icon())
        self.side_button.setIconSize(QSize(20, 20))
        self.side_button.setCheckable(True)
        self.side_button.setChecked(True)
        self.side_button.setToolTip("Show or hide the conversations")
        self.side_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        lay.addWidget(self.side_button, 0, Qt.AlignmentFlag.AlignVCenter)
        titles = QVBoxLayout()
        titles.setSpacing(0)
        title = QLabel("Voxtral")
        title.setObjectName("appTitle")
        self.model_name = ElidedLabel(model_label)
        self.model_name.setObjectName("modelName")
        self.model_name.setToolTip(model_id)
        titles.addWidget(title)
        titles.addWidget(self.model_name)
        lay.addLayout(titles)
        lay.addStretch(1)
        self.mode_switch, self.mode_group, buttons = theme.segmented(self, [label for _, label in MODES])
        self.mode_buttons: dict[Mode, QPushButton] = {}
        for (mode, _), button in zip(MODES, buttons, strict=True):
            button.setToolTip(MODE_TIPS[mode])
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.clicked.connect(lambda _=False, m=mode: self.modeChosen.emit(m))
            self.mode_buttons[mode] = button
        lay.addWidget(self.mode_switch, 0, Qt.AlignmentFlag.AlignVCenter)
        lay.addStretch(1)
        self.status_pill = StatusPill()
        lay.addWidget(self.status_pill)
        self.settings_button = QToolButton()
        self.settings_button.setObjectName("headerButton")
        self.settings_button.setText("⚙  Settings")
        self.settings_button.setToolTip("Settings (Ctrl+,)")
        self.settings_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        lay.addWidget(self.settings_button)

    def show_model(self, label: str, model_id: str, status: ModelStatus) -> None:
        """The model's name under the title, and its state: the pill, and on a CPU how slow replies will be."""
        self.status_pill.show_status(status)
        name = label
        if status.ready and status.device == "cpu":
            # Honest up front: a full-size Voxtral on a CPU takes seconds per reply (measured at load).
            where = "llama.cpp on the CPU" if status.engine == "llama.cpp" else "on the CPU"
            if status.first_words_s is not None and status.first_words_s >= 2:
                name += f"  ·  {where}, first words in ~{status.first_words_s:.0f} s"
            elif status.first_words_s is not None or status.engine == "llama.cpp":
                name += f"  ·  {where}"  # llama.cpp: quantized, a few tokens a second (no probe at load)
            else:
                name += f"  ·  {where}, replies will be slow"
        self.model_name.setText(name)
        self.model_name.setToolTip(f"{model_id}\n{status.message}".strip())

    def show_voice(self, model: ModelStatus, speech_on: bool, speaker: Speaker) -> None:
        """The status pill's tooltip: the model's state, then whether and by whom replies are spoken."""
        lines = [model.message]
        if not speech_on:
            lines.append("Spoken replies are off (Settings).")
        elif not speaker.available:
            lines.append(f"Spoken replies are unavailable: {speaker.error or 'no text-to-speech engine'}.")
        elif speaker.voice:
            kind = "the voice" if speaker.neural else "the system voice"
            lines.append(f"Replies are spoken by {kind} {speaker.voice}.")
        self.status_pill.setToolTip("\n".join(line for line in lines if line))
