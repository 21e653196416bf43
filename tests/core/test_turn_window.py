"""Old exchanges leave the prompt in blocks: never more than max_turns, and the prompt's start stays put."""

from __future__ import annotations

from voxtral_desktop.core.turn_window import reuse_block, window_start


def test_old_turns_are_dropped_in_blocks_and_never_more_than_max_turns_are_sent():
    block = reuse_block(6)
    starts = [window_start(n, 6, block) for n in range(1, 14)]
    kept = [n - s for n, s in zip(range(1, 14), starts, strict=True)]
    assert max(kept) == 6 and min(kept[6:]) >= 6 - block + 1
    # The oldest exchange sent moves only every `block` turns: the prompt's start stays put in between.
    assert starts == [0, 0, 0, 0, 0, 0, 3, 3, 3, 6, 6, 6, 9]
    assert window_start(5, 0, block) == 5  # memory off: nothing is sent
