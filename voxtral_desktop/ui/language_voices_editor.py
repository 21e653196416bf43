"""Settings > Voice, "Voice per language": one list per language Voxtral speaks, edited as `speech.language_voices`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QWidget

from voxtral_desktop.core.config import VOXTRAL_LANGUAGES
from voxtral_desktop.core.speech.languages import NAMES
from voxtral_desktop.ui.view_models.settings_vm import VoiceChoice

ChoicesFor = Callable[[str], list[VoiceChoice]]


class LanguageVoicesEditor(QWidget):
    """A list per language (automatic, its installed voices, the hub's with sizes); ``value()`` is the
    setting's list of "language=voice" for the languages given a voice."""

    changed = Signal()

    def __init__(self, choices_for: ChoicesFor, current: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._choices_for = choices_for
        self.combos: dict[str, QComboBox] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(4)
        wanted = dict(entry.partition("=")[::2] for entry in current)
        for row, language in enumerate(VOXTRAL_LANGUAGES):
            combo = QComboBox()
            combo.setObjectName(f"languageVoice_{language}")
            combo.setAccessibleName(f"Voice for {NAMES[language]}")
            grid.addWidget(QLabel(NAMES[language]), row, 0)
            grid.addWidget(combo, row, 1)
            self.combos[language] = combo
            self._fill(language, wanted.get(language, ""))
            combo.currentIndexChanged.connect(lambda _=0: self.changed.emit())
        grid.setColumnStretch(1, 1)

    def _fill(self, language: str, wanted: str) -> None:
        combo = self.combos[language]
        combo.blockSignals(True)
        combo.clear()
        for choice in self._choices_for(language):
            combo.addItem(choice.label, choice.value)
        if wanted and combo.findData(wanted) < 0:
            combo.addItem(f"{wanted} (not found)", wanted)
        combo.setCurrentIndex(max(0, combo.findData(wanted)))
        combo.blockSignals(False)

    def refill(self) -> None:
        """List the voices again (the hub's list was fetched, a voice was installed), keeping each choice."""
        for language, combo in self.combos.items():
            self._fill(language, combo.currentData() or "")

    def value(self) -> list[str]:
        return [f"{language}={combo.currentData()}" for language, combo in self.combos.items() if combo.currentData()]
