"""Text -> IPA phonemes through a resident espeak-ng program, sentence by sentence, as Piper voices expect them.

espeak-ng (GPL-3.0) runs as a separate program, never linked into this process: that keeps the app's
Apache-2.0 licence intact and lets the bundle rely on the system's espeak-ng (see docs/licenses.md).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
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
# Written after each text to the resident espeak-ng: its phonemes (learnt at start) end that text's answer.
# Seven nines, so no clause of a reply is likely to read the same.
_SENTINEL = "9 9 9 9 9 9 9"


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
    """One long-lived `espeak-ng` child per voice reads a line of text on stdin and answers a line of phonemes
    per clause: ~1 ms a text instead of ~7 ms for a process per text. ``resident=False`` starts one process
    per text (the old way; the benchmark compares the two). A child that dies is started again."""

    def __init__(self, language: str = "en-us", *, resident: bool = True) -> None:
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise SpeechError(
                "the neural voice needs the espeak-ng program to read text; install it "
                f"(e.g. `apt-get install {ESPEAK_APT_PACKAGE}`, `brew install espeak-ng`)"
            )
        self._binary = binary
        self.language = language
        self.resident = resident
        self._child: subprocess.Popen[bytes] | None = None
        self._sentinel = ""  # the sentinel's phonemes in this language
        self._lock = threading.Lock()  # one text at a time through the child

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
        if not self.resident:
            return self._espeak_once(text)
        with self._lock:
            try:
                return self._ask_child(text)
            except (OSError, ValueError) as e:  # the child died or broke its pipe: a fresh one, once
                log.warning("espeak-ng stopped (%s); starting it again", e)
                self._stop_child()
                try:
                    return self._ask_child(text)
                except (OSError, ValueError) as again:
                    self._stop_child()
                    raise SpeechError(f"espeak-ng could not read the text: {again}") from again

    def _ask_child(self, text: str) -> list[str]:
        child = self._child or self._start_child()
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(f"{text}\n{_SENTINEL}\n".encode())
        child.stdin.flush()
        lines: list[str] = []
        while True:
            raw = child.stdout.readline()
            if not raw:
                raise OSError(f"espeak-ng exited ({child.poll()})")
            line = raw.decode("utf-8", "replace").strip()
            if line == self._sentinel:
                return lines
            if line:
                lines.append(line)

    def _start_child(self) -> subprocess.Popen[bytes]:
        # -q: no sound; --ipa: phonemes on stdout; -b 1: UTF-8 in; no text argument: lines from stdin, each
        # answered at once (espeak-ng flushes per line).
        child = subprocess.Popen(
            [self._binary, "-q", "--ipa", "-v", self.language, "-b", "1"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(f"{_SENTINEL}\n".encode())
        child.stdin.flush()
        first = child.stdout.readline()
        if not first:
            child.wait(5)
            raise OSError(f"espeak-ng -v {self.language} exited at once ({child.returncode})")
        self._sentinel = first.decode("utf-8", "replace").strip()
        self._child = child
        return child

    def _stop_child(self) -> None:
        child, self._child = self._child, None
        if child is None:
            return
        try:
            if child.stdin is not None:
                child.stdin.close()
            child.wait(2)
        except (OSError, subprocess.TimeoutExpired):
            child.kill()
            child.wait(2)
        finally:
            if child.stdout is not None:
                child.stdout.close()

    @property
    def child_pid(self) -> int | None:
        """The resident espeak-ng's process id; None before the first text, or when it is not resident."""
        child = self._child
        return child.pid if child is not None and child.poll() is None else None

    def close(self) -> None:
        """Let the espeak-ng child go (it also ends when this process does: its stdin closes)."""
        with self._lock:
            self._stop_child()

    def _espeak_once(self, text: str) -> list[str]:
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
