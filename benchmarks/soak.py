"""Soak: hundreds of exchanges through ConversationSession on the tiny Voxtral with the history on.

Mixes spoken, typed, cancelled and failed turns (no speech, a bad sample rate, an empty typed turn) and
prints RSS growth, database size per turn, thread counts and errors; then checks that every turn is
retrievable and every conversation exportable.

Run: VOXTRAL_TINY_CACHE=... .venv/bin/python benchmarks/soak.py [--exchanges 500] [--per-conversation 25]
Targets (issue 14): RSS growth <= 20 MB after warm-up, 0 errors, every turn retrievable and exportable.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

WARMUP = 20


def rss_mb() -> float:
    """Resident memory after a full collection, with freed heap handed back to the OS (glibc keeps it
    otherwise, and torch's varying tensor sizes leave plenty): what remains is memory still in use."""
    import ctypes
    import ctypes.util

    import psutil

    gc.collect()
    libc = ctypes.util.find_library("c")
    if libc and sys.platform.startswith("linux"):
        ctypes.CDLL(libc).malloc_trim(0)
    return psutil.Process().memory_info().rss / 1e6


def kind_of(i: int) -> str:
    # Mostly real exchanges, with every kind of trouble sprinkled in at a steady rate.
    pattern = ["spoken", "typed", "spoken", "cancelled", "typed", "no-speech", "spoken", "bad-rate",
               "typed", "empty-typed", "spoken", "transcribe"]
    return pattern[i % len(pattern)]


async def exchange(session, kind: str, audio: dict[str, np.ndarray], i: int) -> tuple[str, str]:
    """Run one exchange; returns (expected outcome, what happened)."""
    from voxtral_desktop.core import chunks as C

    if kind in ("spoken", "transcribe", "cancelled"):
        key = "a" if i % 2 else "b"
        mode = "transcribe" if kind == "transcribe" else "conversation"
        stream = session.respond(audio[key], mode=mode, chunk_id=f"soak-{i}")
    elif kind == "no-speech":
        stream = session.respond(np.zeros(16000, np.float32) + np.float32(0.2), chunk_id=f"soak-{i}")
    elif kind == "bad-rate":
        stream = session.respond(audio["a"], sample_rate=0, chunk_id=f"soak-{i}")
    elif kind == "empty-typed":
        stream = session.respond_text("   ", chunk_id=f"soak-{i}")
    else:
        stream = session.respond_text(f"Tell me something, turn {i}.", chunk_id=f"soak-{i}")
    final = None
    # One-word chunks for a turn to cancel: even a short reply then has a chunk to cancel after.
    session.model.config.streaming.chunk_size_words = 1 if kind == "cancelled" else 4
    async for chunk in stream:
        final = chunk
        if kind == "cancelled" and chunk["chunk_index"] == 0 and not chunk["is_final"]:
            session.model.cancel()
    assert final is not None and final["is_final"]
    if kind in ("spoken", "typed", "transcribe"):
        return "complete", "complete" if final["success"] else f"error: {final.get('error')}"
    if kind == "cancelled":
        return "interrupted", "interrupted" if C.is_cancelled(final) else f"not cancelled: {final}"
    return "error", "error" if not final["success"] else "accepted bad input"


async def soak(exchanges: int, per_conversation: int, workdir: Path) -> int:
    from voxtral_desktop import VoxtralModel, load_config
    from voxtral_desktop.core.conversation import ConversationSession
    from voxtral_desktop.core.history import HistoryStore
    from voxtral_desktop.testing.speech import UTTERANCES, synthesize
    from voxtral_desktop.testing.tiny_voxtral import cached_tiny_voxtral

    model_dir = cached_tiny_voxtral()
    audio = {u.key: synthesize(u.spoken) for u in UTTERANCES}
    cfg = load_config(
        overrides={
            "model": {"id": str(model_dir)},
            "streaming": {"temperature": 0.0},
            "conversation": {"keep_audio": True, "max_turns": 6},
        }
    )
    model = VoxtralModel(cfg)
    model.initialize()
    db_path = workdir / "history.sqlite3"
    store = HistoryStore(db_path)

    outcomes: Counter[str] = Counter()
    errors: list[str] = []
    conversations: list[str] = []
    expected_turns: dict[str, int] = {}
    session = None
    rss_start = threads_start = None
    db_start = 0
    latencies: list[float] = []
    started = time.perf_counter()
    for i in range(exchanges):
        if i % per_conversation == 0:
            session = ConversationSession(model, store)
            conversations.append(session.conversation_id)
            expected_turns[session.conversation_id] = 0
        assert session is not None
        kind = kind_of(i)
        t0 = time.perf_counter()
        try:
            want, got = await exchange(session, kind, audio, i)
            if want != got:
                errors.append(f"#{i} {kind}: expected {want}, got {got}")
            outcomes[kind] += 1
        except Exception as e:  # noqa: BLE001 - every failure is counted and shown
            errors.append(f"#{i} {kind}: {type(e).__name__}: {e}")
        latencies.append(time.perf_counter() - t0)
        if kind != "empty-typed":  # an empty typed turn is answered but not stored
            expected_turns[session.conversation_id] += 2
        if session.last is not None and not session.last.saved:
            errors.append(f"#{i} {kind}: not saved: {session.last.save_error}")
        if i + 1 == WARMUP:
            gc.collect()
            rss_start, threads_start, db_start = rss_mb(), threading.active_count(), db_path.stat().st_size
        if (i + 1) % 100 == 0:
            print(f"  {i + 1} exchanges, RSS {rss_mb():.1f} MB, {threading.active_count()} threads", flush=True)
    elapsed = time.perf_counter() - started
    gc.collect()
    rss_end, threads_end = rss_mb(), threading.active_count()

    # Everything retrievable and exportable afterwards, from a fresh connection.
    store.close()
    retrieval_errors: list[str] = []
    with HistoryStore(db_path) as again:
        for cid in conversations:
            turns = again.turns(cid)
            if len(turns) != expected_turns[cid]:
                retrieval_errors.append(f"{cid}: {len(turns)} turns stored, {expected_turns[cid]} expected")
            if any(t.status == "streaming" for t in turns):
                retrieval_errors.append(f"{cid}: a reply left unfinished")
            exported = json.loads(again.export(cid, "json"))
            if len(exported["turns"]) != len(turns) or not again.export(cid, "md").startswith("# "):
                retrieval_errors.append(f"{cid}: the export does not hold every turn")
    db_end = db_path.stat().st_size
    stored = sum(expected_turns.values())
    model.close()

    counted = exchanges - WARMUP
    print(f"soak: {exchanges} exchanges in {len(conversations)} conversations, {elapsed:.0f} s "
          f"(median {np.median(latencies) * 1000:.0f} ms per exchange) on {os.cpu_count()} cores")
    print(f"  kinds: {dict(outcomes)}")
    print(f"  RSS: {rss_start:.1f} MB after {WARMUP} warm-up exchanges -> {rss_end:.1f} MB "
          f"(growth {rss_end - rss_start:+.1f} MB over {counted}; target <= 20 MB)")
    print(f"  threads: {threads_start} -> {threads_end}")
    print(f"  database: {db_end / 1e6:.2f} MB for {stored} stored turns "
          f"({db_end / max(stored, 1) / 1e3:.1f} kB per turn; "
          f"{(db_end - db_start) / max(counted, 1) / 1e3:.1f} kB per exchange after warm-up, audio kept)")
    print(f"  errors: {len(errors)}; retrieval/export problems: {len(retrieval_errors)}")
    for line in (errors + retrieval_errors)[:20]:
        print(f"    {line}")
    ok = (
        not errors
        and not retrieval_errors
        and rss_end - rss_start <= 20
        and threads_end <= threads_start
    )
    print("  verdict:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exchanges", type=int, default=500)
    parser.add_argument("--per-conversation", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="voxtral-soak-") as tmp:
        from voxtral_desktop.core import paths

        os.environ[paths.HOME_ENV] = tmp  # the user's own settings and history stay out of it
        return asyncio.run(soak(args.exchanges, args.per_conversation, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
