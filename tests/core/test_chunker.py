"""The word chunker: 3-5 word chunks at natural boundaries, and nothing lost, duplicated or split."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from voxtral_desktop.core.chunker import WordChunker, ends_clause


def run(pieces: list[str], size: int = 4) -> list[str]:
    chunker = WordChunker(size)
    out: list[str] = []
    for p in pieces:
        out += chunker.push(p)
    return out + chunker.finish()


def streamer_like(text: str) -> list[str]:
    """What TextIteratorStreamer does: a word at each space, many empty strings, the last word at the end."""
    words = text.split(" ")
    return [p for w in words[:-1] for p in ("", w + " ", "")] + [words[-1]]


def test_plain_text_is_cut_every_four_words():
    text = "one two three four five six seven eight nine ten"
    assert run(streamer_like(text)) == ["one two three four", "five six seven eight", "nine ten"]


def test_chunk_ends_one_word_early_at_a_clause_end():
    assert run(streamer_like("It was cold. Then it warmed up nicely"))[0] == "It was cold."
    assert run(streamer_like("It is sunny, with a light breeze."))[0] == "It is sunny,"


def test_chunk_stretches_one_word_to_reach_a_clause_end():
    assert run(streamer_like("Here is the answer: it works well"))[0] == "Here is the answer:"
    assert run(streamer_like("I think that we agree. Yes"))[0] == "I think that we agree."


def test_chunks_are_three_to_five_words_except_the_last():
    text = "The weather is sunny today, with a light breeze from the west. Here is one: the chicken crossed the road."
    chunks = run(streamer_like(text))
    assert all(3 <= len(c.split()) <= 5 for c in chunks[:-1])
    assert " ".join(chunks) == text


def test_quotes_and_brackets_after_punctuation_still_end_a_clause():
    assert ends_clause('home."') and ends_clause("(yes!)") and ends_clause("so,")
    assert not ends_clause("e.g") and not ends_clause("well")


def test_words_split_across_pieces_are_never_split_across_chunks():
    pieces = ["He", "llo th", "ere my ", "fri", "end how ", "are", " you"]
    chunks = run(pieces)
    assert chunks == ["Hello there my friend", "how are you"]


def test_flush_releases_complete_words_but_not_a_word_in_progress():
    chunker = WordChunker(4)
    assert chunker.push("slow model thin") == []
    assert chunker.flush() == "slow model"
    assert chunker.flush() is None
    assert chunker.push("king now ") == []
    assert chunker.finish() == ["thinking now"]


def test_size_one_gives_single_words():
    assert run(streamer_like("a b c"), size=1) == ["a", "b", "c"]


def test_newlines_inside_a_chunk_are_kept():
    assert run(["first line\nsecond ", "line here ", "and more "], size=4)[0] == "first line\nsecond line"


def test_the_end_of_the_stream_is_cut_by_the_same_rules():
    chunker = WordChunker(2)
    assert chunker.push("a b") == []
    assert chunker.push(" c d e") == ["a b"]
    assert chunker.finish() == ["c d", "e"]


def test_empty_stream_gives_nothing():
    assert run(["", "", ""]) == []


word = st.text(alphabet=st.characters(blacklist_categories=("Z", "C")), min_size=1, max_size=8)
punct = st.sampled_from(["", "", "", ",", ".", "!", "?", ";", ":"])


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.tuples(word, punct), min_size=0, max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=30),
    size=st.integers(min_value=1, max_value=8),
    flushes=st.lists(st.integers(min_value=0, max_value=30), max_size=5),
)
def test_any_token_stream_rejoins_to_the_text(words, cuts, size, flushes):
    text = " ".join(w + p for w, p in words)
    bounds = sorted({c for c in cuts if c < len(text)} | {0, len(text)})
    pieces = [text[a:b] for a, b in zip(bounds, bounds[1:])]
    chunker = WordChunker(size)
    chunks: list[str] = []
    for i, piece in enumerate(pieces):
        chunks += chunker.push(piece)
        if i in flushes and (f := chunker.flush()):
            chunks.append(f)
    chunks += chunker.finish()
    assert " ".join(chunks) == text
    assert all(c and c == c.strip() for c in chunks)
    # No chunk exceeds size + 1 words; words are never cut in half.
    assert all(len(c.split()) <= size + 1 for c in chunks)
    assert [w for c in chunks for w in c.split()] == text.split()
