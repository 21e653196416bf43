"""Text -> IPA phonemes through the espeak-ng program, sentence by sentence, as Piper voices expect them.

espeak-ng (GPL-3.0) runs as a separate program, never linked into this process: that keeps the app's
Apache-2.0 licence intact and lets the bundle rely on the system's espeak-ng (see docs/licenses.md).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass

from voxtral_desktop.core.errors import SpeechError

log = logging.getLogger(__name__)

ESPEAK_APT_PACKAGE = "espeak-ng"
# espeak-ng ends a clause at these marks when a space or the end follows; Piper voices were trained with
# the mark kept after the clause's phonemes, so it is put back (it shapes the pause and the intonation).
_CLAUSE_END = re.compile(r"([.,;:!?])(?=\s|$)")
_SENTENCE_END = {".", "!", "?"}
_LANGUAGE_SWITCH = re.compile(r"\([^)]+\)")  # "(fr)" marks around words espeak took from another language


@dataclass(frozen=True)
class Clause:
    text: str
    mark: str  # the punctuation that ended it; "" when the text just stopped


def split_clauses(text: str) -> list[Clause]:
    """Cut text where espeak-ng ends its clauses, keeping the mark that ended each."""
    parts = _CLAUSE_END.split(text)
    clauses = [Clause(parts[i].strip(), parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
    if parts[-1].strip():
        clauses.append(Clause(parts[-1].strip(), ""))
    return [c for c in clauses if c.text]


class EspeakPhonemizer:
    """Runs `espeak-ng -q --ipa` once per text; about 6-12 ms a call here."""

    def __init__(self, language: str = "en-us") -> None:
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise SpeechError(
                "the neural voice needs the espeak-ng program to read text; install it "
                f"(e.g. `apt-get install {ESPEAK_APT_PACKAGE}`, `brew install espeak-ng`)"
            )
        self._binary = binary
        self.language = language

    def sentences(self, text: str) -> list[str]:
        """Phonemes of each sentence of ``text`` (punctuation kept, as Piper voices were trained)."""
        clauses = split_clauses(text)
        if not clauses:
            return []
        lines = self._espeak(" ".join(text.split()))
        if len(lines) == len(clauses):
            pairs = [(line, c.mark) for line, c in zip(lines, clauses, strict=True)]
        else:
            # espeak-ng cut the text differently (an abbreviation, a very long clause): keep its cut and
            # only the final mark.
            log.debug("espeak-ng gave %d clauses for %d: %r", len(lines), len(clauses), text)
            pairs = [(line, "") for line in lines[:-1]] + [(lines[-1], clauses[-1].mark)] if lines else []
        sentences: list[str] = []
        current = ""
        for phonemes, mark in pairs:
            current += _LANGUAGE_SWITCH.sub("", phonemes) + mark
            if mark in _SENTENCE_END:
                sentences.append(current)
                current = ""
            else:
                current += " "
        if current.strip():
            sentences.append(current.rstrip())
        return [unicodedata.normalize("NFD", s) for s in sentences]

    def _espeak(self, text: str) -> list[str]:
        """One line of phonemes per clause, in order."""
        try:
            done = subprocess.run(
                [self._binary, "-q", "--ipa", "-v", self.language, "-b", "1", "--stdin"],
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SpeechError(f"espeak-ng could not read the text: {e}") from e
        if done.returncode != 0:
            err = done.stderr.decode("utf-8", "replace").strip()
            raise SpeechError(f"espeak-ng failed (exit {done.returncode}): {err or 'no message'}")
        return [line.strip() for line in done.stdout.decode("utf-8", "replace").splitlines() if line.strip()]
