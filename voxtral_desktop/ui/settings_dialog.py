"""Settings (Ctrl+,): generation, model and microphone, checked as you type with the config's own messages."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from voxtral_desktop.core.config import ConfigError
from voxtral_desktop.ui import theme
from voxtral_desktop.ui.bridge import Bridge

log = logging.getLogger(__name__)

LABEL_WIDTH = 172  # px: fits the longest label, "Longest reply (tokens)"


@dataclass(frozen=True)
class Field:
    section: str
    key: str
    label: str
    kind: str  # "text", "folder", "int", "float", "choice" or "mic"
    choices: tuple[tuple[str, str], ...] = ()  # (value, label) for "choice"
    help: str = ""

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"


SECTIONS: tuple[tuple[str, tuple[Field, ...]], ...] = (
    (
        "Model",
        (
            Field(
                "model",
                "id",
                "Model",
                "folder",
                help="A Hugging Face id such as mistralai/Voxtral-Mini-3B-2507, or a local folder.\n"
                "Changing the model, device or precision reloads it in the background.",
            ),
            Field(
                "model",
                "device",
                "Device",
                "choice",
                (
                    ("auto", "Automatic (GPU when there is one)"),
                    ("cpu", "CPU"),
                    ("cuda", "NVIDIA GPU (CUDA)"),
                    ("mps", "Apple GPU (MPS)"),
                ),
            ),
            Field(
                "model",
                "dtype",
                "Precision",
                "choice",
                (
                    ("auto", "Automatic"),
                    ("float32", "float32"),
                    ("bfloat16", "bfloat16"),
                    ("float16", "float16"),
                ),
            ),
        ),
    ),
    (
        "Replies",
        (
            Field("streaming", "max_new_tokens", "Longest reply (tokens)", "int"),
            Field(
                "streaming", "temperature", "Temperature", "float", help="0 always picks the likeliest words."
            ),
            Field("streaming", "top_p", "Top-p", "float"),
            Field("streaming", "chunk_size_words", "Words per chunk", "int"),
            Field(
                "streaming",
                "timeout_ms",
                "Give up after (ms)",
                "int",
                help="How long to wait for more words before giving up on a reply.",
            ),
        ),
    ),
    (
        "Microphone",
        (
            Field("audio", "input_device", "Microphone", "mic"),
            Field(
                "audio",
                "speech_threshold",
                "Speech threshold",
                "float",
                help="Input level (RMS, full scale 1.0) that counts as speech.\nRaise it in a noisy room.",
            ),
        ),
    ),
)
FIELDS: tuple[Field, ...] = tuple(f for _, fields in SECTIONS for f in fields)


def parse(field: Field, text: str) -> Any:
    """The typed value for ``text``; unparsable text is passed on as is so the config explains the problem."""
    text = text.strip()
    try:
        if field.kind == "int":
            return int(text)
        if field.kind == "float":
            return float(text)
    except ValueError:
        return text
    return text


class SettingsDialog(QDialog):
    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.setMinimumWidth(560)
        self._initial = bridge.settings_snapshot()
        self.inputs: dict[str, QLineEdit | QComboBox] = {}
        self.errors: dict[str, QLabel] = {}
        self._invalid: set[str] = set()

        outer = QVBoxLayout(self)
        # The dialog grows when an error line appears instead of squeezing fields over each other.
        outer.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
        outer.setContentsMargins(22, 18, 22, 18)
        outer.setSpacing(12)
        for title, fields in SECTIONS:
            heading = QLabel(title)
            heading.setObjectName("sectionTitle")
            outer.addWidget(heading)
            card = QFrame()
            card.setObjectName("settingsCard")
            form = QFormLayout(card)
            form.setContentsMargins(16, 14, 16, 14)
            form.setHorizontalSpacing(16)
            form.setVerticalSpacing(10)
            form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for field in fields:
                label = QLabel(field.label)
                label.setMinimumWidth(LABEL_WIDTH)  # the same column width in every card
                label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                form.addRow(label, self._build(field))
            outer.addWidget(card)

        self.dialog_error = QLabel()
        self.dialog_error.setObjectName("dialogError")
        self.dialog_error.setWordWrap(True)
        self.dialog_error.hide()
        outer.addWidget(self.dialog_error)

        buttons = QHBoxLayout()
        where = QLabel(f"Saved to {bridge.settings_file()}")
        where.setObjectName("fieldHelp")
        where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons.addWidget(where, 1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.reject)
        self.save_button = QPushButton("Save")
        self.save_button.setObjectName("primary")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.save_button)
        outer.addLayout(buttons)

    # --- building -------------------------------------------------------------------------------------

    def _current(self, field: Field) -> Any:
        return getattr(getattr(self._initial, field.section), field.key)

    def _build(self, field: Field) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        row = QHBoxLayout()
        row.setSpacing(8)
        editor: QLineEdit | QComboBox
        if field.kind in ("choice", "mic"):
            editor = QComboBox()
            if field.kind == "choice":
                for value, label in field.choices:
                    editor.addItem(label, value)
                editor.setCurrentIndex(max(0, editor.findData(self._current(field))))
            else:
                self._fill_microphones(editor, refresh=False)
            editor.currentIndexChanged.connect(lambda _=0, f=field: self._validate(f))
        else:
            editor = QLineEdit(str(self._current(field)))
            editor.setCursorPosition(0)  # show where a long path or id begins
            editor.textChanged.connect(lambda _="", f=field: self._validate(f))
        editor.setObjectName(field.name)
        editor.setAccessibleName(field.label)
        row.addWidget(editor, 1)
        if field.kind == "folder":
            browse = QPushButton("Choose folder…")
            browse.clicked.connect(self._browse_model_folder)
            row.addWidget(browse)
        elif field.kind == "mic":
            refresh = QPushButton("Refresh")
            refresh.setToolTip("Look for microphones again (after plugging one in)")
            refresh.clicked.connect(lambda: self._fill_microphones(editor, refresh=True))  # type: ignore[arg-type]
            row.addWidget(refresh)
        lay.addLayout(row)
        # No word wrap in this dialog: wrapped labels do not make a dialog grow, they overlap instead.
        error = QLabel()
        error.setObjectName("fieldError")
        error.hide()
        lay.addWidget(error)
        if field.help:
            help_label = QLabel(field.help)
            help_label.setObjectName("fieldHelp")
            lay.addWidget(help_label)
        self.inputs[field.name] = editor
        self.errors[field.name] = error
        return box

    def _fill_microphones(self, combo: QComboBox, *, refresh: bool) -> None:
        wanted = combo.currentData() if combo.count() else self._current(_field("audio.input_device"))
        combo.blockSignals(True)
        combo.clear()
        combo.addItem("System default", "")
        names, problem = self.bridge.input_devices(refresh=refresh)
        for name in names:
            combo.addItem(name, name)
        if wanted and combo.findData(wanted) < 0:
            combo.addItem(f"{wanted} (not connected)", wanted)
        combo.setCurrentIndex(max(0, combo.findData(wanted or "")))
        combo.setToolTip(problem)
        combo.blockSignals(False)
        self._validate(_field("audio.input_device"))

    def _browse_model_folder(self) -> None:
        current = Path(self.value("model.id")).expanduser()
        start = str(current if current.is_dir() else Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Choose the model folder", start)
        if folder:
            self.inputs["model.id"].setText(folder)  # type: ignore[union-attr]

    # --- values and validation ----------------------------------------------------------------------

    def value(self, name: str) -> Any:
        field = _field(name)
        editor = self.inputs[name]
        if isinstance(editor, QComboBox):
            return editor.currentData()
        return parse(field, editor.text())

    def _validate(self, field: Field) -> None:
        if field.name not in self.errors:
            return  # still building
        message = self.bridge.check_setting(field.section, field.key, self.value(field.name))
        error, editor = self.errors[field.name], self.inputs[field.name]
        if message:
            self._invalid.add(field.name)
            error.setText(message)
            error.show()
        else:
            self._invalid.discard(field.name)
            error.hide()
        editor.setProperty("invalid", bool(message))
        theme.repolish(editor)
        self.save_button.setEnabled(not self._invalid)

    def changes(self) -> dict[str, dict[str, Any]]:
        """Only what differs from the settings the dialog opened with."""
        out: dict[str, dict[str, Any]] = {}
        for field in FIELDS:
            value = self.value(field.name)
            if value != self._current(field):
                out.setdefault(field.section, {})[field.key] = value
        return out

    def save(self) -> None:
        if self._invalid:
            return
        try:
            self.bridge.save_settings(self.changes())
        except ConfigError as e:
            self.dialog_error.setText(str(e))
            self.dialog_error.show()
            return
        self.accept()


def _field(name: str) -> Field:
    return next(f for f in FIELDS if f.name == name)
