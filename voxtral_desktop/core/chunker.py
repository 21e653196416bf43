"""Cuts a stream of text pieces into chunks of whole words that end, where they can, at a clause boundary."""

from __future__ import annotations

import re

# A word "ends a clause" when its last letter-ish character is one of these (closing quotes and brackets
# after it do not count), so "said," and "home.)" both end one.
_CLAUSE_END = re.compile(r"[.,;:!?…][\"'”’)\]]*$")
_WORD = re.compile(r"\S+")


def ends_clause(word: str) -> bool:
    return bool(_CLAUSE_END.search(word))


class WordChunker:
    """Turns text pieces (any split: tokens, words, bytes of a word) into chunks of whole words.

    A chunk normally holds ``size`` words. It ends one word early when that word ends a clause, and
    stretches one word late to reach a clause end, so chunks read naturally (3-5 words for size 4).
    Deciding the stretch needs word ``size + 1``, so a plain chunk goes out when that word arrives.
    Chunk texts keep the reply's own spacing between words and are stripped at the ends;
    ``" ".join(chunks)`` rejoins them to the reply (with its runs of whitespace at chunk edges as one space).
    """

    def __init__(self, size: int = 4) -> None:
        if size < 1:
            raise ValueError(f"chunk size must be >= 1 word, got {size}")
        self.size = size
        self._text = ""  # everything received and not yet released; may end inside a word

    def push(self, piece: str) -> list[str]:
        """Add a piece of text; return the chunks it completes (often none)."""
        if not piece:
            return []
        self._text += piece
        out: list[str] = []
        while (chunk := self._next_chunk()) is not None:
            out.append(chunk)
        return out

    def flush(self) -> str | None:
        """Release every complete word held (the model is slow); a word still being spelled stays."""
        words = self._complete_words()
        if not words:
            return None
        return self._cut(words[-1].end())

    def finish(self) -> list[str]:
        """The stream ended: every word is now complete; cut what is left by the same rules (maybe [])."""
        self._text += " "
        out: list[str] = []
        while (chunk := self._next_chunk()) is not None:
            out.append(chunk)
        if rest := self._text.strip():
            out.append(rest)
        self._text = ""
        return out

    @property
    def pending_words(self) -> int:
        return len(self._complete_words())

    def _complete_words(self) -> list[re.Match[str]]:
        # A word is complete once whitespace follows it: a piece may stop halfway through a word.
        words = list(_WORD.finditer(self._text))
        if words and words[-1].end() == len(self._text):
            words.pop()
        return words

    def _next_chunk(self) -> str | None:
        words = self._complete_words()
        n = self.size
        short = max(n - 1, 1)
        for i, w in enumerate(words[: n + 1], start=1):
            if i >= short and ends_clause(w.group()):
                return self._cut(w.end())
        if len(words) > n:
            return self._cut(words[n - 1].end())
        return None

    def _cut(self, end: int) -> str:
        chunk, self._text = self._text[:end].strip(), self._text[end:]
        return chunk
