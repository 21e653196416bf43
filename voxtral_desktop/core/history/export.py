"""A stored conversation rendered for export: Markdown for reading, JSON for other programs."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from voxtral_desktop.core.chunks import ReplyStatus

if TYPE_CHECKING:  # history imports this module; the types are only annotations here
    from voxtral_desktop.core.history.store import ConversationSummary, TurnRecord

FORMATS = ("md", "json")
_NOTE = {
    ReplyStatus.INTERRUPTED: " _(interrupted)_",
    ReplyStatus.STREAMING: " _(unfinished)_",
}


def check_format(fmt: str) -> None:
    """ValueError for a format we cannot write (raised before anything is looked up or written)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use md or json")


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(ts))


def as_json(summary: ConversationSummary, turns: Sequence[TurnRecord]) -> dict[str, Any]:
    return {
        "id": summary.id,
        "title": summary.title,
        "created_at": iso(summary.created_at),
        "updated_at": iso(summary.updated_at),
        "turns": [{k: v for k, v in {**asdict(t), "created_at": iso(t.created_at)}.items() if k != "id"} for t in turns],
    }


def as_markdown(summary: ConversationSummary, turns: Sequence[TurnRecord]) -> str:
    lines = [f"# {summary.title}", "", f"_Started {iso(summary.created_at)}_", ""]
    for t in turns:
        if t.role == "user":
            said = t.text or "(spoken)"
            length = f" ({t.duration_s:.1f} s)" if t.duration_s else ""
            lines += [f"**You**{length}: {said}", ""]
        else:
            note = f" _(error: {t.error})_" if t.status == ReplyStatus.ERROR else _NOTE.get(t.status, "")
            lines += [f"**Voxtral**: {t.text}{note}", ""]
    return "\n".join(lines)


def render(summary: ConversationSummary, turns: Sequence[TurnRecord], fmt: str) -> str:
    """The conversation as Markdown (``fmt`` "md") or JSON ("json") text."""
    check_format(fmt)
    if fmt == "md":
        return as_markdown(summary, turns)
    return json.dumps(as_json(summary, turns), indent=2, ensure_ascii=False)
