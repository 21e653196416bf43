"""Settings (Ctrl+,): the fields of settings_fields.py on a few pages, checked as you type with the config's own
messages, saved through the settings view-model."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
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
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from voxtral_desktop.core.config import ConfigError
from voxtral_desktop.core.errors import KeyringUnavailable
from voxtral_desktop.ui import theme
from voxtral_desktop.ui.language_voices_editor import LanguageVoicesEditor
from voxtral_desktop.ui.settings_fields import (
    ANY_SERVER,
    FIELDS,
    LOCAL_ENGINES,
    PAGES,
    SECTIONS,
    SERVER_ONLY,
    Field,
    field_named,
    parse,
)
from voxtral_desktop.ui.view_models.settings_vm import SettingsViewModel

log = logging.getLogger(__name__)

LABEL_WIDTH = 172  # px: fits the longest label, "Longest reply (tokens)"
RATE_STEPS = 10  # slider steps per unit of speech rate: -1.0 .. 1.0 in tenths
Editor = QLineEdit | QComboBox | QCheckBox | QSlider | LanguageVoicesEditor


def rate_text(rate: float) -> str:
    if abs(rate) < 0.05:
        return "Normal"
    return f"{'Faster' if rate > 0 else 'Slower'} ({rate:+.1f})"


def fill_names(combo: QComboBox, default: str, names: Sequence[str], wanted: str, missing: str) -> None:
    """``default`` (value "") then ``names``; a wanted name that is not there stays listed, marked ``missing``."""
    combo.addItem(default, "")
    for name in names:
        combo.addItem(name, name)
    if wanted and combo.findData(wanted) < 0:
        combo.addItem(f"{wanted} ({missing})", wanted)
    combo.setCurrentIndex(max(0, combo.findData(wanted or "")))


def _result_label(lay: QVBoxLayout) -> QLabel:
    """A hidden, selectable line under a field, for what a button found out."""
    label = QLabel()
    label.setObjectName("fieldHelp")
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.hide()
    lay.addWidget(label)
    return label


class SettingsDialog(QDialog):
    def __init__(self, settings: SettingsViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._speech = settings.speech_info()
        self.setWindowTitle("Settings")
        self.setObjectName("settingsDialog")
        self.setMinimumWidth(560)
        self._initial = settings.snapshot()
        self.inputs: dict[str, Editor] = {}
        self.errors: dict[str, QLabel] = {}
        self._invalid: set[str] = set()
        self._rows: dict[str, tuple[QFormLayout, QWidget]] = {}

        outer = QVBoxLayout(self)
        # The dialog grows when an error line appears instead of squeezing fields over each other.
        outer.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
        outer.setContentsMargins(22, 18, 22, 18)
        outer.setSpacing(12)
        self._page_of: dict[str, int] = {}
        tabs, self._page_group, self.page_buttons = theme.segmented(self, [title for title, _ in PAGES])
        self.pages = QStackedWidget()
        sections = dict(SECTIONS)
        for index, (button, (_, section_titles)) in enumerate(zip(self.page_buttons, PAGES)):
            button.setChecked(index == 0)
            button.clicked.connect(lambda _=False, i=index: self.show_page(i))
            page = QWidget()
            page_lay = QVBoxLayout(page)
            page_lay.setContentsMargins(0, 0, 0, 0)
            page_lay.setSpacing(12)
            for title in section_titles:
                self._add_section(page_lay, title, sections[title], index)
            page_lay.addStretch(1)
            self.pages.addWidget(page)
        outer.addWidget(tabs, 0, Qt.AlignmentFlag.AlignHCenter)
        outer.addWidget(self.pages)

        self.dialog_error = QLabel()
        self.dialog_error.setObjectName("dialogError")
        self.dialog_error.setWordWrap(True)
        self.dialog_error.hide()
        outer.addWidget(self.dialog_error)

        buttons = QHBoxLayout()
        where = QLabel(f"Saved to {settings.settings_file()}")
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
        self.inputs["backend"].currentIndexChanged.connect(self._show_engine)  # type: ignore[union-attr]
        self.inputs["remote.base_url"].editingFinished.connect(self._show_engine)  # type: ignore[union-attr]
        self.inputs["llamacpp.quantization"].currentIndexChanged.connect(self._show_engine)  # type: ignore[union-attr]
        self._show_engine()

    # --- building -------------------------------------------------------------------------------------

    def _add_section(self, lay: QVBoxLayout, title: str, fields: tuple[Field, ...], page: int) -> None:
        heading = QLabel(title)
        heading.setObjectName("sectionTitle")
        lay.addWidget(heading)
        card = QFrame()
        card.setObjectName("settingsCard")
        form = QFormLayout(card)
        form.setContentsMargins(16, 14, 16, 14)
        form.setHorizontalSpacing(16)
        form.setVerticalSpacing(10)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        for field in fields:
            self._page_of[field.name] = page
            label = QLabel(field.label)
            label.setMinimumWidth(LABEL_WIDTH)  # the same column width in every card
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            box = self._build(field)
            form.addRow(label, box)
            self._rows[field.name] = (form, box)
        lay.addWidget(card)

    def _server_backend(self) -> str:
        """The server the Server fields describe: Mistral's API when chosen, else one's own (openai)."""
        return "mistral" if self.value("backend") == "mistral" else "openai"

    def _show_engine(self, *_: object) -> None:
        """Mistral's API needs only the key: the fields of a server of one's own hide while it is chosen, and
        every server field hides while Voxtral runs on this computer."""
        mistral = self._server_backend() == "mistral"
        local = self.value("backend") in LOCAL_ENGINES
        for name in (*SERVER_ONLY, *ANY_SERVER):
            form, box = self._rows[name]
            form.setRowVisible(box, not local and (name in ANY_SERVER or not mistral))
        base_url = str(self.value("remote.base_url"))
        source = self.settings.key_source(self._server_backend(), base_url)
        self.inputs["remote.api_key"].setPlaceholderText(  # type: ignore[union-attr]
            "none stored" if source == "none" else f"a key is set (from {source}); type to replace it"
        )
        note = self.settings.audio_form_note(self._server_backend(), base_url)
        self.audio_form_note.setText(note)
        self.audio_form_note.setVisible(bool(note) and not mistral and not local)
        engine = self.settings.engine_note(
            {"backend": self.value("backend"), "llamacpp": {"quantization": self.value("llamacpp.quantization")}}
        )
        self.engine_note.setText(engine)
        self.engine_note.setVisible(bool(engine))

    def show_page(self, index: int) -> None:
        self.pages.setCurrentIndex(index)
        self.page_buttons[index].setChecked(True)

    def page_of(self, name: str) -> int:
        return self._page_of[name]

    def _current(self, field: Field) -> Any:
        if field.kind == "secret":
            return ""  # a key is never read back into the dialog
        owner = getattr(self._initial, field.section) if field.section else self._initial
        return getattr(owner, field.key)

    def _build(self, field: Field) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        row = QHBoxLayout()
        row.setSpacing(8)
        editor: Editor
        if field.kind in ("choice", "mic", "voice", "speaker"):
            editor = QComboBox()
            if field.kind == "choice":
                for value, label in field.choices:
                    editor.addItem(label, value)
                editor.setCurrentIndex(max(0, editor.findData(self._current(field))))
            elif field.kind == "voice":
                self._fill_voices(editor)
            elif field.kind == "speaker":
                self._fill_outputs(editor, refresh=False)
            else:
                self._fill_microphones(editor, refresh=False)
            editor.currentIndexChanged.connect(lambda _=0, f=field: self._validate(f))
        elif field.kind == "language_voices":
            editor = LanguageVoicesEditor(self.settings.language_voice_choices, self._current(field))
            editor.changed.connect(lambda f=field: self._validate(f))
        elif field.kind == "bool":
            editor = QCheckBox(field.check_text)
            editor.setChecked(bool(self._current(field)))
            editor.toggled.connect(lambda _=False, f=field: self._validate(f))
        elif field.kind == "rate":
            editor = QSlider(Qt.Orientation.Horizontal)
            editor.setRange(-RATE_STEPS, RATE_STEPS)
            editor.setPageStep(2)
            editor.setValue(round(float(self._current(field)) * RATE_STEPS))
            editor.setProperty("initial", editor.value())
            shown = QLabel(rate_text(self._current(field)))
            shown.setObjectName("fieldHelp")
            shown.setMinimumWidth(96)
            editor.valueChanged.connect(lambda _=0, f=field, s=shown: self._on_rate(f, s))
        else:
            editor = QLineEdit(str(self._current(field)))
            editor.setCursorPosition(0)  # show where a long path or id begins
            editor.textChanged.connect(lambda _="", f=field: self._validate(f))
            if field.kind == "secret":
                editor.setEchoMode(QLineEdit.EchoMode.Password)
        editor.setObjectName(field.name)
        editor.setAccessibleName(field.label)
        row.addWidget(editor, 1)
        if field.kind == "secret":  # on the key's row: the one server field both engines show
            test = QPushButton("Test connection")
            test.setObjectName("testConnection")
            test.clicked.connect(self.test_connection)
            row.addWidget(test)
            self.test_button = test
        if field.kind == "folder":
            browse = QPushButton("Choose folder…")
            browse.clicked.connect(self._browse_model_folder)
            row.addWidget(browse)
        elif field.kind == "mic":
            refresh = QPushButton("Refresh")
            refresh.setToolTip("Look for microphones again (after plugging one in)")
            refresh.clicked.connect(lambda: self._fill_microphones(editor, refresh=True))  # type: ignore[arg-type]
            row.addWidget(refresh)
        elif field.kind == "speaker":
            refresh = QPushButton("Refresh")
            refresh.setToolTip("Look for sound outputs again (after plugging one in)")
            refresh.clicked.connect(lambda: self._fill_outputs(editor, refresh=True))  # type: ignore[arg-type]
            row.addWidget(refresh)
        elif field.kind == "voice":
            self.try_button = QPushButton("Try it")
            self.try_button.setObjectName("tryVoice")
            self.try_button.setToolTip("Speak a sample with this voice on the chosen speaker")
            self.try_button.clicked.connect(self.try_voice)
            row.addWidget(self.try_button)
            more = QPushButton("More voices…")
            more.setToolTip("Fetch the list of voices to download")
            more.clicked.connect(self.refresh_voices)
            row.addWidget(more)
        elif field.kind == "rate":
            row.addWidget(shown)
        lay.addLayout(row)
        # No word wrap in this dialog: wrapped labels do not make a dialog grow, they overlap instead.
        error = QLabel()
        error.setObjectName("fieldError")
        error.hide()
        lay.addWidget(error)
        help_text = field.help
        if field.name == "speech.enabled":
            help_text = self._speech_note()
        if field.kind == "voice":
            self.voice_result = _result_label(lay)
            self.settings.tryProgress.connect(self._show_voice_result)
        if field.kind == "secret":
            self.connection_result = _result_label(lay)
        if field.name == "remote.audio_format":
            self.audio_form_note = _result_label(lay)  # the audio form found to work with this server
        if field.name == "backend":  # which engine runs, why, its download and memory: before any download
            self.engine_note = _result_label(lay)
        if help_text:
            help_label = QLabel(help_text)
            help_label.setObjectName("fieldHelp")
            lay.addWidget(help_label)
            if field.name == "speech.enabled":
                self.speech_note = help_label
                if not self._speech.available:
                    help_label.setProperty("kind", "warn")
                    help_label.setToolTip(self._speech.error)
        self.inputs[field.name] = editor
        self.errors[field.name] = error
        return box

    def _speech_note(self) -> str:
        if not self._speech.available:
            return "Not available on this computer: no working text-to-speech engine."
        if self._speech.engine == "piper":
            return "Spoken by a natural voice, on this computer."
        if self._speech.engine == "mistral":
            return "Spoken by Mistral's Voxtral TTS through its API (billed per character)."
        return f"Spoken by the “{self._speech.engine}” text-to-speech engine." if self._speech.engine else ""

    def _fill_voices(self, combo: QComboBox) -> None:
        wanted = combo.currentData() if combo.count() else self._current(field_named("speech.voice"))
        combo.blockSignals(True)
        combo.clear()
        for choice in self.settings.voice_choices():
            combo.addItem(choice.label, choice.value)
        if wanted and combo.findData(wanted) < 0:
            combo.addItem(f"{wanted} (not found)", wanted)
        combo.setCurrentIndex(max(0, combo.findData(wanted or "")))
        combo.blockSignals(False)

    def _fill_outputs(self, combo: QComboBox, *, refresh: bool) -> None:
        wanted = combo.currentData() if combo.count() else self._current(field_named("speech.output_device"))
        combo.blockSignals(True)
        combo.clear()
        names, problem = self.settings.output_devices(refresh=refresh)
        fill_names(combo, "System default", names, wanted, "not connected")
        combo.setToolTip(problem)
        combo.blockSignals(False)
        self._validate(field_named("speech.output_device"))

    def _show_voice_result(self, text: str, kind: str = "") -> None:
        self.voice_result.setText(text)
        self.voice_result.setProperty("kind", kind)
        theme.repolish(self.voice_result)
        self.voice_result.show()

    def try_voice(self) -> asyncio.Future[Any]:
        """Speak a sample with the voice and speaker chosen in the dialog (a new voice downloads first)."""
        self.try_button.setEnabled(False)

        async def run() -> None:
            try:
                ok, message = await self.settings.try_voice(
                    self.value("speech.voice"), self.value("speech.output_device")
                )
            finally:
                self.try_button.setEnabled(True)
            self._show_voice_result(message if ok else "✗ " + message, "" if ok else "warn")
            if ok:
                self._fill_voices(self.inputs["speech.voice"])  # type: ignore[arg-type]  # now installed

        return asyncio.ensure_future(run())

    def refresh_voices(self) -> asyncio.Future[Any]:
        """Fetch the hub's voice list, then show it."""
        self._show_voice_result("Fetching the list of voices…")

        async def run() -> None:
            problem = await self.settings.refresh_voices()
            self._fill_voices(self.inputs["speech.voice"])  # type: ignore[arg-type]
            self.inputs["speech.language_voices"].refill()  # type: ignore[union-attr]
            self._show_voice_result("✗ " + problem if problem else "The voices to download are listed.",
                                    "warn" if problem else "")

        return asyncio.ensure_future(run())

    def _on_rate(self, field: Field, shown: QLabel) -> None:
        shown.setText(rate_text(self.value(field.name)))
        self._validate(field)

    def _fill_microphones(self, combo: QComboBox, *, refresh: bool) -> None:
        wanted = combo.currentData() if combo.count() else self._current(field_named("audio.input_device"))
        combo.blockSignals(True)
        combo.clear()
        names, problem = self.settings.input_devices(refresh=refresh)
        fill_names(combo, "System default", names, wanted, "not connected")
        combo.setToolTip(problem)
        combo.blockSignals(False)
        self._validate(field_named("audio.input_device"))

    def _browse_model_folder(self) -> None:
        current = Path(self.value("model.id")).expanduser()
        start = str(current if current.is_dir() else Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Choose the model folder", start)
        if folder:
            self.inputs["model.id"].setText(folder)  # type: ignore[union-attr]

    # --- values and validation ----------------------------------------------------------------------

    def value(self, name: str) -> Any:
        field = field_named(name)
        editor = self.inputs[name]
        if isinstance(editor, QComboBox):
            return editor.currentData()
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if isinstance(editor, LanguageVoicesEditor):
            return editor.value()
        if isinstance(editor, QSlider):
            if editor.value() == editor.property("initial"):
                return self._current(field)  # untouched: exactly what it was, not a rounded copy
            return round(editor.value() / RATE_STEPS, 2)
        return parse(field, editor.text())

    def _validate(self, field: Field) -> None:
        if field.name not in self.errors or field.kind == "secret":
            return  # still building; a key is not a setting (any text may be one)
        message = self.settings.check(field.section, field.key, self.value(field.name))
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
        # A page holding a problem says so, since Save stays off until it is fixed.
        bad_pages = {self._page_of.get(name, 0) for name in self._invalid}
        for index, button in enumerate(getattr(self, "page_buttons", [])):
            bad = index in bad_pages
            if bool(button.property("invalid")) != bad:
                button.setProperty("invalid", bad)
                button.setToolTip("A setting on this page needs fixing" if bad else "")
                theme.repolish(button)

    def changes(self) -> dict[str, dict[str, Any]]:
        """Only what differs from the settings the dialog opened with."""
        out: dict[str, dict[str, Any]] = {}
        for field in FIELDS:
            if field.kind == "secret":
                continue  # goes to the keyring, not the settings file (save)
            value = self.value(field.name)
            if value != self._current(field):
                if field.section:
                    out.setdefault(field.section, {})[field.key] = value
                else:
                    out[field.key] = value  # a top-level setting such as `backend`
        return out

    def test_connection(self) -> asyncio.Future[Any]:
        """Try the server settings as they stand in the dialog, without saving them."""
        remote = {f.key: self.value(f.name) for f in FIELDS if f.section == "remote" and f.kind != "secret"}
        key = str(self.value("remote.api_key"))
        self.test_button.setEnabled(False)
        self.connection_result.setText("Connecting…")
        self.connection_result.setProperty("kind", "")
        self.connection_result.show()

        async def run() -> None:
            try:
                ok, message = await self.settings.test_connection(
                    remote, backend=self._server_backend(), api_key=key
                )
            finally:
                self.test_button.setEnabled(True)
            self.connection_result.setText(("✓ " if ok else "✗ ") + message)
            self.connection_result.setProperty("kind", "ok" if ok else "warn")
            theme.repolish(self.connection_result)

        return asyncio.ensure_future(run())

    def save(self) -> None:
        if self._invalid:
            return
        key = str(self.value("remote.api_key"))
        try:
            if key:
                self.settings.store_api_key(self._server_backend(), str(self.value("remote.base_url")), key)
            self.settings.save(self.changes())
        except (ConfigError, KeyringUnavailable) as e:
            self.dialog_error.setText(str(e))
            self.dialog_error.show()
            return
        self.accept()

