"""Planning prefix reuse: what may be reused, audio compared by recording, and memory bounded."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from voxtral_desktop.core.backends.prefix_cache import (
    MAX_CONVERSATIONS,
    WINDOW_TOKENS,
    PrefixCache,
    identities,
    plan_reuse,
)

AUDIO = 24
BOS, INST, END_INST, BEGIN_AUDIO, EOS = 1, 3, 4, 25, 2


def spoken_turn(reply: list[int]) -> list[int]:
    return [INST, BEGIN_AUDIO, *[AUDIO] * WINDOW_TOKENS, END_INST, *reply, EOS]


def prompt(*turns: list[int], new: bool = True) -> list[int]:
    ids = [BOS]
    for t in turns:
        ids += t
    if new:
        ids += [INST, BEGIN_AUDIO, *[AUDIO] * WINDOW_TOKENS, END_INST]
    return ids


def test_the_previous_exchange_is_reused_up_to_the_new_turn():
    first = identities(prompt(), ["rec1"], AUDIO) + [500, 501]  # its prompt and reply, as the cache holds them
    second = identities(prompt(spoken_turn([500, 501])), ["rec1", "rec2"], AUDIO)
    plan = plan_reuse(first, second, AUDIO)
    assert plan.reused_tokens == len(first)
    assert plan.skipped_windows == 1  # the first recording's window is inside the reused part


def test_a_different_recording_with_the_same_token_ids_is_not_reused():
    # After old turns are dropped, the prompt starts with another recording: same [AUDIO] ids, other sound.
    cached = identities(prompt(spoken_turn([500])), ["rec1", "rec2"], AUDIO)
    new = identities(prompt(spoken_turn([600])), ["rec3", "rec4"], AUDIO)
    plan = plan_reuse(cached, new, AUDIO)
    assert plan.reused_tokens == 3  # BOS [INST] [BEGIN_AUDIO], never into the audio
    assert plan.skipped_windows == 0


def test_a_cut_inside_an_audio_window_moves_back_to_its_start():
    ids = prompt(new=False) + [INST, BEGIN_AUDIO, *[AUDIO] * (2 * WINDOW_TOKENS), END_INST]  # one 60 s turn
    cached = identities(ids, ["w1", "w2"], AUDIO)
    new = identities(ids, ["w1", "w2-other"], AUDIO)
    plan = plan_reuse(cached, new, AUDIO)
    assert plan.reused_tokens == 3 + WINDOW_TOKENS and plan.skipped_windows == 1


def test_the_whole_prompt_is_never_reused_the_last_token_must_run():
    same = identities(prompt(), ["rec1"], AUDIO)
    plan = plan_reuse(same + [7, 8], same, AUDIO)
    assert plan.reused_tokens < len(same)
    # Stepping back one token lands in [/INST] after the window: the window stays reused.
    assert plan.reused_tokens == len(same) - 1 and plan.skipped_windows == 1


class FakeKv:
    """The shape of a transformers cache that kv_bytes measures: layers with keys and values."""

    def __init__(self, nbytes: int) -> None:
        half = np.zeros(nbytes // 2, np.uint8)
        self.layers = [SimpleNamespace(keys=half, values=half.copy())]


def test_kv_entries_stay_within_the_budget_oldest_out_first():
    cache = PrefixCache(budget_bytes=400)  # 300 for KV entries
    cache.keep("a", [1], FakeKv(100))
    cache.keep("b", [1], FakeKv(100))
    cache.keep("c", [1], FakeKv(100))
    cache.keep("d", [1], FakeKv(100))
    assert cache.kv.used_bytes <= 300
    assert cache.take("a") is None and cache.take("d") is not None


def test_an_entry_bigger_than_the_budget_is_not_kept_and_taking_removes():
    cache = PrefixCache(budget_bytes=400)
    cache.keep("big", [1], FakeKv(1000))
    assert cache.take("big") is None
    cache.keep("x", [1, 2], FakeKv(10))
    entry = cache.take("x")
    assert entry is not None and entry.tokens == [1, 2]
    assert cache.take("x") is None  # a reply owns it until it puts it back


def test_at_most_a_few_conversations_are_kept():
    cache = PrefixCache(budget_bytes=10**6)
    for i in range(MAX_CONVERSATIONS + 2):
        cache.keep(str(i), [1], FakeKv(10))
    assert len(cache.kv) == MAX_CONVERSATIONS
    assert cache.take("0") is None and cache.take(str(MAX_CONVERSATIONS + 1)) is not None
