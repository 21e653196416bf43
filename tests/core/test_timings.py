"""ReplyTimings: stages in ms since the recording ended; the first mark of a stage stands."""

from __future__ import annotations

from voxtral_desktop.core.timings import STAGES, ReplyTimings, Stage


def test_stages_read_as_ms_since_the_origin_and_unmarked_ones_are_none():
    t = ReplyTimings(origin=100.0)
    t.mark(Stage.NORMALISED, at=100.004)
    t.mark("first_chunk", at=100.8125)
    d = t.to_dict()
    assert list(d) == [s.value for s in STAGES]
    assert d["recording_ended"] == 0.0 and d["normalised"] == 4.0 and d["first_chunk"] == 812.5
    assert d["first_token"] is None and d["first_sound"] is None
    assert t.first_words_ms == 812.5


def test_a_stage_keeps_its_first_mark():
    t = ReplyTimings(origin=0.0)
    t.mark(Stage.FIRST_TOKEN, at=1.0)
    t.mark(Stage.FIRST_TOKEN, at=2.0)
    assert t.ms(Stage.FIRST_TOKEN) == 1000.0


def test_round_trip_through_a_dict_as_history_stores_it():
    t = ReplyTimings(origin=5.0)
    t.mark(Stage.PROMPT_BUILT, at=5.02)
    t.mark(Stage.LAST_CHUNK, at=6.5)
    again = ReplyTimings.from_dict(t.to_dict())
    assert again.to_dict() == t.to_dict()
    assert "prompt_built 20" in again.summary() and "last_chunk 1500" in again.summary()
