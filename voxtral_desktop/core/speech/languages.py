"""Which of Voxtral's languages a sentence is in (py3langid, limited to them), and the language of a Piper voice."""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from voxtral_desktop.core.config import VOXTRAL_LANGUAGES

log = logging.getLogger(__name__)

NAMES = {
    "en": "English", "es": "Spanish", "fr": "French", "pt": "Portuguese",
    "hi": "Hindi", "de": "German", "nl": "Dutch", "it": "Italian",
}
# Below this probability (over the eight languages) a sentence keeps the language before it: "Sí, claro."
# alone is too short to tell from Italian or Portuguese, and a reply rarely changes language mid-way.
SURE = 0.6
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
MIN_LETTERS = 4  # fewer letters than this ("OK.", "3.5") say nothing about a language


def voice_language(key_or_code: str) -> str:
    """The two-letter language of a Piper voice key or language code: fr_FR-siwis-medium -> fr, en-us -> en."""
    return key_or_code.replace("-", "_").split("_")[0].lower()


class LanguageDetector:
    """py3langid (BSD-3-Clause, a 4.6 MB model, ~0.05 ms a sentence) restricted to Voxtral's languages.

    Loading takes ~0.5 s: done once, on first use, on the caller's (worker) thread."""

    def __init__(self, languages: tuple[str, ...] = VOXTRAL_LANGUAGES) -> None:
        self.languages = languages
        self._identifier: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model now (~0.5 s), so a reply's first sentence does not wait for it."""
        self._loaded()

    def _loaded(self) -> Any:
        with self._lock:
            if self._identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                identifier.set_languages(list(self.languages))
                self._identifier = identifier
            return self._identifier

    def detect(self, text: str) -> tuple[str, float]:
        """(language, probability); ("", 0.0) for text with too few letters to tell."""
        if len(_LETTERS.findall(text)) < MIN_LETTERS:
            return "", 0.0
        language, probability = self._loaded().classify(text)
        return str(language), float(probability)

    def sentence_language(self, text: str, previous: str) -> str:
        """The language to speak ``text`` in: the detected one when sure, else ``previous``."""
        language, probability = self.detect(text)
        if language and (probability >= SURE or not previous):
            return language
        return previous
