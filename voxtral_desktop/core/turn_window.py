"""Which earlier exchanges a prompt carries: at most max_turns, the oldest dropped in blocks so prefixes last."""

from __future__ import annotations


def window_start(count: int, max_turns: int, block: int = 1) -> int:
    """Index of the oldest of ``count`` exchanges to send back: at most ``max_turns`` are kept.

    With ``block`` > 1 the oldest kept exchange moves forward ``block`` at a time instead of one per turn,
    so the prompt keeps the same beginning for several turns and the model can reuse its computation
    (between max_turns - block + 1 and max_turns exchanges are sent).
    """
    if max_turns <= 0:
        return count
    if count <= max_turns:
        return 0
    block = max(1, min(block, max_turns))
    return -(-(count - max_turns) // block) * block


def reuse_block(max_turns: int) -> int:
    """How many old exchanges are dropped at once: half the memory, so reuse survives trimming."""
    return max(1, (max_turns + 1) // 2)
