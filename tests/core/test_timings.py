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


def test_progress_says_listening_then_thinking_then_nothing_once_words_come():
    t = ReplyTimings(origin=100.0)
    t.mark(Stage.NORMALISED, at=100.1)
    assert str(t.progress(audio_s=2.4, now=114.2)) == "listening to your 2 s question... 14 s"
    t.mark(Stage.AUDIO_ENCODED, at=115.0)
    assert str(t.progress(audio_s=2.4, now=118.0)) == "thinking... 3 s"
    assert str(t.progress(audio_s=2.4, now=115.5)) == "thinking..."  # under a second: no count yet
    t.mark(Stage.FIRST_CHUNK, at=120.0)
    assert t.progress(audio_s=2.4, now=121.0) is None


def test_a_typed_turn_only_thinks_from_the_start():
    t = ReplyTimings(origin=10.0)
    t.mark(Stage.NORMALISED, at=10.0)
    assert str(t.progress(audio_s=None, now=15.0)) == "thinking... 5 s"


def test_a_finished_layer_is_progress_as_much_as_a_stage_mark():
    import time

    t = ReplyTimings()
    t.mark(Stage.NORMALISED)
    before = t.last_worked
    time.sleep(0.01)
    t.touch()
    assert t.last_worked > before
