"""Streaming figures on the trained tiny Voxtral: first-chunk overhead, audio prep, cancel latency, leaks.

Run: .venv/bin/python benchmarks/streaming.py [--runs 20] [--turns 200]
Prints medians; these are measurements, not pass/fail tests.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import threading
import time
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000.0


def generation_threads() -> int:
    return sum(t.name == "voxtral-generate" for t in threading.enumerate())


def plain_time_to_word(backend: Any, request: Any, word_count: int) -> float:
    """Plain transformers: build the same inputs, generate in a thread, iterate a TextIteratorStreamer."""
    import torch
    from transformers import TextIteratorStreamer

    def generate() -> None:
        # The same work our back-end does: inputs built and generate run on the thread, in inference mode.
        with torch.inference_mode():
            inputs = backend.build_inputs(request)
            backend.model.generate(**inputs, streamer=streamer, **backend.generate_kwargs(request))

    started = time.perf_counter()
    streamer = TextIteratorStreamer(backend.processor.tokenizer, skip_prompt=True, skip_special_tokens=True)
    thread = threading.Thread(target=generate)
    thread.start()
    text, reached = "", None
    for piece in streamer:
        text += piece
        if reached is None and len(text.split()) >= word_count and text.endswith((" ", "\n")):
            reached = time.perf_counter() - started
    thread.join()
    assert reached is not None, f"the reply never reached {word_count} words: {text!r}"
    return reached


async def ours_time_to_first_chunk(model: Any, audio: np.ndarray) -> tuple[float, str]:
    started = time.perf_counter()
    first: tuple[float, str] | None = None
    async for chunk in model.process_realtime_chunk_streaming(audio, "bench"):
        if first is None:
            first = (time.perf_counter() - started, chunk["text"])
    assert first is not None
    return first


def bench_first_chunk(model: Any, audio: np.ndarray, runs: int) -> None:
    from voxtral_desktop.core.audio import normalize_audio

    request = model.build_request(normalize_audio(audio))
    assert not isinstance(request, dict), request  # an error chunk: the benchmark audio was rejected
    _, first_text = asyncio.run(ours_time_to_first_chunk(model, audio))
    # The chunk is released when the word after it arrives (to decide a clause-boundary stretch), unless it
    # already ends a clause; compare with the plain streamer reaching that same word.
    words_needed = len(first_text.split()) + (0 if first_text.rstrip()[-1:] in ".,;:!?" else 1)
    ours, plain = [], []
    for _ in range(runs):  # interleaved so drift in machine load hits both alike
        ours.append(asyncio.run(ours_time_to_first_chunk(model, audio))[0])
        plain.append(plain_time_to_word(model.backend, request, words_needed))
    print(f"(a) first chunk {first_text!r} ({words_needed} words seen):")
    print(f"    process_realtime_chunk_streaming  median {median_ms(ours):7.2f} ms")
    print(f"    plain generate + TextIteratorStreamer median {median_ms(plain):7.2f} ms")
    print(f"    difference (target <= 5 ms)          {median_ms(ours) - median_ms(plain):+7.2f} ms")


def bench_audio_prep(runs: int) -> None:
    from voxtral_desktop.core.audio import detect_speech, normalize_audio

    rng = np.random.default_rng(0)
    cases = {
        "float32 mono 16 kHz": ((rng.standard_normal(160_000) * 0.1).astype(np.float32), 16000),
        "int16 stereo 16 kHz": ((rng.standard_normal((160_000, 2)) * 3000).astype(np.int16), 16000),
        "float32 mono 48 kHz (resampled)": ((rng.standard_normal(480_000) * 0.1).astype(np.float32), 48000),
    }
    print("(b) normalisation + speech detection per 10 s of audio (target <= 1 ms for 16 kHz input):")
    for name, (audio, rate) in cases.items():
        times = []
        for _ in range(max(runs, 50)):
            t0 = time.perf_counter()
            detect_speech(normalize_audio(audio, rate), 0.01, 200)
            times.append(time.perf_counter() - t0)
        print(f"    {name:32s} median {median_ms(times):6.3f} ms")


async def _cancel_once(model: Any, audio: np.ndarray) -> float:
    stream = model.process_realtime_chunk_streaming(audio, "cancel")
    async for chunk in stream:
        if chunk["chunk_index"] == 0:
            t0 = time.perf_counter()
            model.cancel()
            break
    await stream.aclose()
    while generation_threads():
        await asyncio.sleep(0.0005)
    return time.perf_counter() - t0


def bench_cancel(model: Any, audio: np.ndarray, runs: int) -> None:
    backend = model.backend
    original = backend.generate_kwargs

    def endless(request: Any) -> dict[str, Any]:
        # The trained model stops after its sentence; force a long reply so there is something to cancel.
        return {**original(request), "min_new_tokens": 400, "max_new_tokens": 400}

    backend.generate_kwargs = endless
    try:
        times = [asyncio.run(_cancel_once(model, audio)) for _ in range(runs)]
    finally:
        backend.generate_kwargs = original
    print(f"(c) cancel() to generation thread gone (target <= 100 ms): median {median_ms(times):6.2f} ms, "
          f"max {max(times) * 1000:6.2f} ms")


def bench_leaks(model: Any, audio: np.ndarray, turns: int) -> None:
    import psutil

    proc = psutil.Process()

    async def turns_of(n: int) -> None:
        for i in range(n):
            async for _ in model.process_realtime_chunk_streaming(audio, f"leak-{i}"):
                pass

    asyncio.run(turns_of(10))  # warm-up: allocator pools and caches settle
    gc.collect()
    rss0, threads0 = proc.memory_info().rss, threading.active_count()
    t0 = time.perf_counter()
    asyncio.run(turns_of(turns))
    elapsed = time.perf_counter() - t0
    gc.collect()
    rss1, threads1 = proc.memory_info().rss, threading.active_count()
    print(f"(d) over {turns} turns ({elapsed / turns * 1000:.0f} ms per turn): RSS {(rss1 - rss0) / 2**20:+.1f} MB "
          f"(target <= 10 MB), threads {threads1 - threads0:+d} (target 0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--turns", type=int, default=200)
    args = parser.parse_args()

    from voxtral_desktop import VoxtralModel, load_config
    from voxtral_desktop.testing.speech import UTTERANCES, synthesize
    from voxtral_desktop.testing.tiny_voxtral import cached_tiny_voxtral

    folder = cached_tiny_voxtral()
    cfg = load_config(overrides={"model": {"id": str(folder)}, "streaming": {"temperature": 0.0}})
    model = VoxtralModel(cfg)
    model.initialize()
    audio = synthesize(UTTERANCES[0].spoken)
    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; model: tiny Voxtral at {folder}")
    bench_first_chunk(model, audio, args.runs)
    bench_audio_prep(args.runs)
    bench_cancel(model, audio, args.runs)
    bench_leaks(model, audio, args.turns)


if __name__ == "__main__":
    main()
