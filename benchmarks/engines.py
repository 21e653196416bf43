"""Voxtral Mini's full shape on both local engines, side by side, through the app's own path (VoxtralModel).

transformers (`backend: local`, `model.dtype: auto`) against llama.cpp (`backend: llamacpp`, Q4_K_M text +
Q8_0 mmproj): load time, peak RSS of the whole app (with the engine's own process for llama.cpp), time to
first token for a 3 s spoken question, decode tokens/s, and turn N / turn 1 with memory on, at 1 and 2 threads.
Random weights in Mini's exact shapes, built offline (benchmarks/conversation.py and testing/tiny_gguf.py
build them once: ~18 GB float32 / ~9 GB bfloat16 under ~/.cache/voxtral-bench, ~3.2 GB of GGUF in /tmp).

Run: .venv/bin/python benchmarks/engines.py [--turns 4] [--threads 2 1] [--decode-tokens 24] [--cpu avx2]
Each configuration runs in a fresh process, one after the other (so one peak RSS is one engine's).
Figures, not pass/fail. --cpu avx2 limits torch to AVX2 (what most laptops have: dtype auto then picks
float32); llama.cpp's wheel is built for AVX2 anyway.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
HERE = Path(__file__).resolve().parent
QUESTION_S = 3.0
GGUF_DIR = Path("/tmp/voxtral-mini-random-gguf")


def peak_rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def question(text: str) -> Any:
    """A spoken question of exactly QUESTION_S seconds (espeak-ng speech, padded with silence or cut)."""
    import numpy as np

    from voxtral_desktop.testing.speech import synthesize

    audio = synthesize(text)
    n = int(QUESTION_S * 16000)
    return np.pad(audio, (0, max(0, n - len(audio))))[:n].astype(np.float32)


def model_folder(engine: str) -> Path:
    if engine == "llamacpp":
        if not GGUF_DIR.exists():
            from voxtral_desktop.testing.tiny_gguf import build_mini_shaped

            build_mini_shaped(GGUF_DIR)
        return GGUF_DIR
    sys.path.insert(0, str(HERE))
    import conversation  # benchmarks/conversation.py: builds Mini's full shape for transformers

    # Stored in bfloat16, as the real checkpoint is; `dtype: auto` then decides as it would for it.
    return conversation.build("mini-full", "bfloat16")


async def child(engine: str, threads: int, turns: int, decode_tokens: int) -> dict[str, Any]:
    from voxtral_desktop.core.backends import Turn
    from voxtral_desktop.core.config import Config
    from voxtral_desktop.core.model import VoxtralModel
    from voxtral_desktop.core.timings import Stage
    from voxtral_desktop.testing.speech import UTTERANCES

    if engine == "local":
        import torch

        torch.set_num_threads(threads)
    cfg = Config()
    cfg.backend = engine
    cfg.model.id = str(model_folder(engine))
    cfg.llamacpp.threads = threads
    cfg.streaming.max_new_tokens = decode_tokens
    cfg.streaming.temperature = 0.7
    cfg.streaming.timeout_ms = 600_000
    model = VoxtralModel(cfg)
    started = time.perf_counter()
    model.initialize()
    out: dict[str, Any] = {"engine": engine, "threads": threads, "load_s": time.perf_counter() - started}
    loaded = getattr(model.backend, "model", None)
    out["dtype"] = str(loaded.dtype).removeprefix("torch.") if loaded is not None else None
    history: list[Turn] = []
    out["first_token_s"], out["decode_tok_s"] = [], []
    try:
        for n in range(turns):
            audio = question(UTTERANCES[n % len(UTTERANCES)].spoken)
            chunks = [
                c async for c in model.process_realtime_chunk_streaming(
                    audio, f"t{n}", history=tuple(history), conversation_id="bench"
                )
            ]
            reply = " ".join(c["text"] for c in chunks if c["success"] and c["text"])
            t = model.last_timings
            first, last = t.ms(Stage.FIRST_TOKEN) or float("nan"), t.ms(Stage.LAST_CHUNK) or float("nan")
            out["first_token_s"].append(first / 1000)
            engine_timings = getattr(model.backend, "last_timings", None)
            if isinstance(engine_timings, dict) and engine_timings.get("predicted_per_second"):
                rate = float(engine_timings["predicted_per_second"])  # the engine's own count
            else:  # transformers: the reply's tokens over the time after the first one
                tokens = len(model.backend.processor.tokenizer.encode(reply)) if reply else 0
                rate = max(tokens - 1, 0) / max((last - first) / 1000, 1e-9)
            out["decode_tok_s"].append(rate)
            history.append(Turn(user_audio=audio, assistant_text=reply))
            print(f"  {engine} {threads}t turn {n + 1}: first token {first / 1000:.1f} s, {rate:.1f} tok/s",
                  file=sys.stderr, flush=True)
        engine_pid = getattr(getattr(model.backend, "engine", None), "pid", None)
        out["peak_rss_mb"] = peak_rss_mb() + (peak_rss_mb(engine_pid) if engine_pid else 0.0)
    finally:
        model.close()
    return out


def spawn(args: list[str], env: dict[str, str] | None) -> dict[str, Any]:
    # stderr passes through: each turn's figures show as they come
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        check=False, stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
    )
    if done.returncode or not done.stdout.strip():
        return {"error": f"{args[0]} at {args[1]} threads: exit {done.returncode} (its stderr is above)"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--turns", type=int, default=4, help="turns with memory at the first thread count")
    p.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    p.add_argument("--decode-tokens", type=int, default=24)
    p.add_argument("--engines", nargs="+", default=["local", "llamacpp"], choices=("local", "llamacpp"))
    p.add_argument("--cpu", choices=("native", "avx2"), default="native")
    p.add_argument("--child", nargs=4, metavar=("ENGINE", "THREADS", "TURNS", "TOKENS"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        engine, threads, turns, tokens = a.child[0], int(a.child[1]), int(a.child[2]), int(a.child[3])
        print(json.dumps(asyncio.run(child(engine, threads, turns, tokens))))
        return
    sys.path.insert(0, str(HERE))
    from conversation import AVX2_ONLY

    env = AVX2_ONLY if a.cpu == "avx2" else None
    print(f"# {platform.machine()}, {os.cpu_count()} CPUs, cpu={a.cpu}; Voxtral Mini's shape, random weights; "
          f"a {QUESTION_S:.0f} s spoken question; {a.decode_tokens} new tokens; memory on")
    rows = []
    for i, threads in enumerate(a.threads):
        turns = a.turns if i == 0 else 1  # turn N / turn 1 at the first thread count only (time)
        for engine in a.engines:
            rows.append(spawn([engine, str(threads), str(turns), str(a.decode_tokens)], env))
    print("| engine | threads | load | peak RSS (app + engine) | first token, turn 1 | decode | turn N / turn 1 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        if "error" in r:
            print(f"| failed: {r['error']} |")
            continue
        ft = r["first_token_s"]
        name = "transformers" + (f" ({r['dtype']})" if r.get("dtype") else "") if r["engine"] == "local" else "llama.cpp"
        ratio = f"{ft[-1] / ft[0]:.2f} (turn {len(ft)})" if len(ft) > 1 else ""
        print(f"| {name} | {r['threads']} | {r['load_s']:.1f} s | {r['peak_rss_mb'] / 1024:.1f} GB | {ft[0]:.1f} s | "
              f"{r['decode_tok_s'][0]:.1f} tok/s | {ratio} |")


if __name__ == "__main__":
    main()
