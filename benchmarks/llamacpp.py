"""llama.cpp back-end figures: engine load, time to first token, decode speed, and turn N / turn 1 with memory.

Run: .venv/bin/python benchmarks/llamacpp.py [--threads 2] [--turns 4] [--full]
Default: the tests' small random-weight GGUF pair (testing/tiny_gguf.py). --full writes Voxtral Mini's real
shapes (text Q4_K_M-like, mmproj Q8_0; ~3.2 GB, random weights, into /tmp) with the gguf package first.
Every turn is a new spoken question (espeak-ng, ~3 s) with the earlier turns sent back as memory, as the app
does; the engine's own timings say how much of the prompt came from its cache. Measurements, not pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def run(folder: Path, threads: int, turns: int, max_tokens: int) -> None:
    from voxtral_desktop.core.backends import Turn
    from voxtral_desktop.core.config import Config
    from voxtral_desktop.core.model import VoxtralModel
    from voxtral_desktop.core.timings import Stage
    from voxtral_desktop.testing.speech import UTTERANCES, synthesize

    cfg = Config()
    cfg.backend = "llamacpp"
    cfg.model.id = str(folder)
    cfg.llamacpp.threads = threads
    cfg.streaming.max_new_tokens = max_tokens
    cfg.streaming.temperature = 0.7
    model = VoxtralModel(cfg)
    started = time.perf_counter()
    model.initialize()
    load_s = time.perf_counter() - started
    backend = model.backend
    print(f"engine: {backend.pair.model.name} + {backend.pair.mmproj.name}, {threads} threads")
    print(f"load (engine start to serving): {load_s:.2f} s")
    questions = [synthesize(u.spoken) for u in UTTERANCES]
    history: list[Turn] = []
    first_token: list[float] = []
    try:
        for n in range(turns):
            audio = questions[n % len(questions)]
            chunks = [
                c
                async for c in model.process_realtime_chunk_streaming(
                    audio, f"t{n}", history=tuple(history), conversation_id="bench"
                )
            ]
            reply = " ".join(c["text"] for c in chunks if c["success"] and c["text"])
            t = model.last_timings
            ttft = (t.ms(Stage.FIRST_TOKEN) or float("nan")) / 1000
            first_token.append(ttft)
            e = backend.last_timings or {}
            print(
                f"turn {n + 1}: {len(audio) / 16000:.1f} s question, first token {ttft:.2f} s "
                f"(audio encoded {(t.ms(Stage.AUDIO_ENCODED) or 0) / 1000:.2f} s), prompt {e.get('prompt_n')} new + "
                f"{e.get('cache_n')} cached tokens, decode {e.get('predicted_per_second', 0):.1f} tok/s "
                f"({e.get('predicted_n')} tokens)"
            )
            history.append(Turn(user_audio=audio, assistant_text=reply))
        pid = backend.engine.pid
        print(f"peak RSS: engine {peak_rss_mb(pid):.0f} MB, app {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        if len(first_token) > 1:
            print(f"turn {turns} / turn 1 time to first token: {first_token[-1] / first_token[0]:.2f}")
    finally:
        model.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--full", action="store_true", help="Voxtral Mini's real shapes (~3.2 GB in /tmp)")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    if args.full:
        from voxtral_desktop.testing.tiny_gguf import build_mini_shaped

        folder = build_mini_shaped(Path("/tmp/voxtral-mini-random-gguf"))
    else:
        from voxtral_desktop.testing.tiny_gguf import cached_tiny_gguf

        folder = cached_tiny_gguf()
    asyncio.run(run(folder, args.threads, args.turns, args.max_tokens))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
