"""Conversations that stay fast: time to first chunk per turn with memory on, with and without prefix reuse.

  (a) --model tiny          the trained tiny Voxtral (tests' model)
  (b) --model mini-encoder  Voxtral Mini's real audio encoder (32 layers, d=1280, 20 heads, 128 mels) and a
                            small text model, random weights, built once into ~/.cache/voxtral-bench
  (c) --full                the full Voxtral Mini shape (random weights): load time, peak RSS, encoder time
                            per 30 s window, time to first token, decode tokens/s, per --dtype

Run: .venv/bin/python benchmarks/conversation.py --model mini-encoder --turns 8 --runs 3
     .venv/bin/python benchmarks/conversation.py --full --dtype bfloat16 [--device cuda --static-cache --compile]
     .venv/bin/python benchmarks/conversation.py --full --dtype bfloat16 --cpu avx2   (a CPU without native bf16)
Prints medians over --runs; figures, not pass/fail. Each measurement runs in a fresh process, so the peak
RSS printed is that of one model (and is compared with the load-time memory estimate).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

CACHE = Path(os.environ.get("VOXTRAL_BENCH_CACHE", Path.home() / ".cache" / "voxtral-bench"))
# --cpu avx2: what a CPU without bf16 hardware runs (AVX2 only), on a newer one. torch, MKL and oneDNN each
# pick their kernels from these at import; torch's oneDNN bf16 matmul is refused on such CPUs (see child()).
AVX2_ONLY = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
MINI_AUDIO = dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20)
MINI_TEXT = dict(
    vocab_size=131072, hidden_size=3072, intermediate_size=8192, num_hidden_layers=30, num_attention_heads=32,
    num_key_value_heads=8, head_dim=128, rope_theta=1e8, max_position_embeddings=32768,
)
SMALL_TEXT = dict(
    hidden_size=512, intermediate_size=1536, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=4,
    head_dim=64, max_position_embeddings=32768,
)


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def build(kind: str, dtype: str = "float32") -> Path:
    """Build (once) a random-weight Voxtral of the given shape with the tiny model's offline processor."""
    import torch
    from transformers import LlamaConfig, VoxtralConfig, VoxtralEncoderConfig, VoxtralForConditionalGeneration

    from voxtral_desktop.testing import tiny_voxtral as tv

    out = CACHE / f"{kind}-{dtype}-v3"
    if (out / "config.json").exists():
        _cover_vocabulary(out)
        return out
    text = MINI_TEXT if kind == "mini-full" else {**SMALL_TEXT, "vocab_size": tv.VOCAB_SIZE}
    config = VoxtralConfig(
        audio_config=VoxtralEncoderConfig(**MINI_AUDIO, num_mel_bins=128, max_source_positions=1500),
        text_config=LlamaConfig(
            **text, bos_token_id=tv.BOS_ID, eos_token_id=tv.EOS_ID, pad_token_id=tv.PAD_ID, tie_word_embeddings=False
        ),
        audio_token_id=tv.AUDIO_TOKEN_ID,
    )
    started = time.perf_counter()
    torch.manual_seed(0)
    model = VoxtralForConditionalGeneration._from_config(config, dtype=getattr(torch, dtype))
    CACHE.mkdir(parents=True, exist_ok=True)
    processor = tv.make_processor(tv.write_tekken_json(CACHE / "tekken.json"))
    # Random weights pick control tokens, bytes or a non-breaking space over and over: the reply would have
    # no words and, as in the app, an exchange without a reply is not sent back as memory. Only tokens that
    # are a space and a word keep their logits; the argmax over thousands of random logits is above 0.
    words = [i for i in range(tv.VOCAB_SIZE) if re.fullmatch(r" [A-Za-z]{2,}", processor.tokenizer.decode([i]))]
    keep = torch.zeros(model.lm_head.weight.shape[0], dtype=torch.bool)
    keep[words] = True
    with torch.no_grad():
        model.lm_head.weight[~keep] = 0
    tmp = Path(tempfile.mkdtemp(dir=CACHE))  # renamed into place once complete: a killed build leaves no half
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    _cover_vocabulary(tmp)
    tmp.rename(out)
    n = sum(p.numel() for p in model.parameters())
    print(f"built {out} ({n / 1e9:.2f} B parameters) in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return out


def _cover_vocabulary(folder: Path) -> None:
    """The tiny model's tekken.json, grown to the model's vocabulary (the app refuses a tokenizer that does not
    cover it). Its first tokens are the tiny one's, the same ids; the lm_head keeps only words among them."""
    import mistral_common

    config = json.loads((folder / "config.json").read_text())
    size = config["text_config"]["vocab_size"]
    tekken = json.loads((folder / "tekken.json").read_text())
    if tekken["config"]["default_vocab_size"] == size:
        return
    base = json.loads((Path(mistral_common.__file__).parent / "data" / "tekken_240911.json").read_text())
    specials = tekken["config"]["default_num_special_tokens"]
    tekken["vocab"] = base["vocab"][: size - specials]
    tekken["config"].update(num_vocab_tokens=size - specials, default_vocab_size=size)
    (folder / "tekken.json").write_text(json.dumps(tekken, ensure_ascii=False))


def questions(kind: str, turns: int, seconds: float) -> list[np.ndarray]:
    """One new recording per turn: espeak-ng speech, made a little different each turn (level), padded."""
    from voxtral_desktop.testing.speech import UTTERANCES, synthesize

    base = [synthesize(u.spoken) for u in UTTERANCES]
    out = []
    for i in range(turns):
        clip = base[i % len(base)] * (1.0 - 0.04 * i)
        if kind != "tiny" and len(clip) < seconds * 16000:  # the question's length, as the user would speak
            clip = np.concatenate([clip, np.zeros(int(seconds * 16000) - len(clip), np.float32)])
        out.append(clip.astype(np.float32))
    return out


async def conversation_turns(folder: Path, kind: str, turns: int, reuse: bool, args: argparse.Namespace) -> list[dict]:
    from voxtral_desktop import VoxtralModel, load_config
    from voxtral_desktop.core.conversation import ConversationSession
    from voxtral_desktop.core.history import HistoryStore

    overrides = {
        "model": {"id": str(folder), "reuse_prefix": reuse, "device": args.device, "dtype": args.dtype},
        # timeout_ms: without reuse a late turn encodes every window again, which on a loaded CPU can take
        # longer than the app's 60 s wait for the first words; the benchmark measures it instead.
        "streaming": {
            "temperature": 0.0,
            "max_new_tokens": 50 if kind == "tiny" else args.max_new_tokens,
            "timeout_ms": 1_800_000,
        },
    }
    model = VoxtralModel(load_config(overrides=overrides))
    t0 = time.perf_counter()
    model.initialize()
    load_s = time.perf_counter() - t0
    rows = []
    with tempfile.TemporaryDirectory() as tmp, HistoryStore(Path(tmp) / "h.sqlite3") as store:
        session = ConversationSession(model, store)
        for clip in questions(kind, turns, args.question_s):
            async for _ in session.respond(clip):
                pass
            t = session.last.timings
            stats = model.backend.last_reuse
            rows.append(
                {
                    "first_chunk_ms": t.ms("first_chunk") or t.ms("last_chunk"),
                    "first_token_ms": t.ms("first_token"),
                    "stages": t.to_dict(),
                    "prompt_tokens": stats.prompt_tokens if stats else None,
                    "reused_tokens": stats.reused_tokens if stats else 0,
                    "encoded_windows": stats.encoded_windows if stats else None,
                    "status": session.last.status,
                }
            )
    model.close()
    return [{"load_s": load_s, "peak_rss": peak_rss_bytes()}, *rows]


def full_shape(folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Load time, encoder time per window, time to first token and decode speed of the full Mini shape."""
    import torch

    from voxtral_desktop import load_config
    from voxtral_desktop.core import prompts
    from voxtral_desktop.core.backends.local import LocalBackend

    cfg = load_config(overrides={"model": {"id": str(folder), "device": args.device, "dtype": args.dtype}})
    backend = LocalBackend(cfg)
    t0 = time.perf_counter()
    backend.load()
    load_s = time.perf_counter() - t0
    model, sync = backend.model, (torch.cuda.synchronize if backend.device == "cuda" else (lambda: None))
    if args.compile:
        model.forward = torch.compile(model.forward, mode="reduce-overhead", fullgraph=False)
    clip = questions("full", 1, args.question_s)[0]
    inputs = prompts.conversation_inputs(backend.processor, clip).to(backend.device, dtype=model.dtype)
    extra = {"cache_implementation": "static"} if args.static_cache else {}
    with torch.inference_mode():
        enc = []
        for _ in range(args.runs):
            sync()
            t = time.perf_counter()
            model.get_audio_features(inputs["input_features"])
            sync()
            enc.append(time.perf_counter() - t)
        ttft, decode = [], []
        for _ in range(args.runs):
            sync()
            t = time.perf_counter()
            model.generate(**inputs, max_new_tokens=1, do_sample=False, **extra)
            sync()
            first = time.perf_counter() - t
            t = time.perf_counter()
            n = args.decode_tokens
            model.generate(**inputs, max_new_tokens=n, min_new_tokens=n, do_sample=False, **extra)
            sync()
            ttft.append(first)
            decode.append((n - 1) / max(time.perf_counter() - t - first, 1e-9))
    from voxtral_desktop.core.backends import memory

    weights = memory.count_weights(folder)
    return {
        "device": backend.device,
        "dtype": str(model.dtype).removeprefix("torch."),
        "load_s": round(load_s, 1),
        "encoder_s_per_window": round(statistics.median(enc), 3),
        "first_token_s": round(statistics.median(ttft), 3),
        "decode_tok_s": round(statistics.median(decode), 2),
        "peak_rss_gb": round(peak_rss_bytes() / 1e9, 2),
        "estimate_gb": round(memory.needed_bytes(weights.parameters, args.dtype) / 1e9, 2) if weights else None,
        # What the app said at load (core/backends/cost.py's probe), to compare with the measured figures.
        "said_at_load": backend.load_notice,
        "gpu": torch.cuda.get_device_name() if backend.device == "cuda" else None,
    }


def child(args: argparse.Namespace) -> None:
    """One measurement in this (fresh) process; prints one JSON line."""
    if args.full:
        if args.cpu == "avx2" and args.dtype == "bfloat16":
            import torch

            # torch takes oneDNN's bf16 matmul only where the CPU has AVX512-BF16/AMX; elsewhere its own
            # kernels convert to float32 and back: that emulation is what --cpu avx2 measures.
            torch.backends.mkldnn.enabled = False
        print(json.dumps({**full_shape(build("mini-full", args.dtype), args), "cpu": args.cpu}))
        return
    if args.model == "tiny":
        from voxtral_desktop.testing.tiny_voxtral import cached_tiny_voxtral

        folder = cached_tiny_voxtral()
    else:
        folder = build("mini-encoder")
    print(json.dumps(asyncio.run(conversation_turns(folder, args.model, args.turns, args.reuse == "on", args))))


def spawn(argv: list[str], env: dict[str, str] | None = None) -> Any:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *argv], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if out.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=("tiny", "mini-encoder"), default="tiny")
    p.add_argument("--turns", type=int, default=8)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--reuse", choices=("on", "off", "both"), default="both")
    p.add_argument("--question-s", type=float, default=2.6, help="length of each spoken question (padded)")
    p.add_argument("--max-new-tokens", type=int, default=4, help="(b): small, so the figure is encoder + prefill")
    p.add_argument("--full", action="store_true", help="(c) the full Voxtral Mini shape")
    p.add_argument("--device", default="auto")
    p.add_argument("--dtype", default="auto", help="(c) defaults to bfloat16")
    p.add_argument("--decode-tokens", type=int, default=32)
    p.add_argument("--static-cache", action="store_true", help='(c) generate(cache_implementation="static")')
    p.add_argument("--compile", action="store_true", help="(c) torch.compile the model's forward")
    p.add_argument(
        "--cpu", choices=("native", "avx2"), default="native", help="(c) avx2: as on a CPU without native bf16"
    )
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args, rest = p.parse_known_args()
    if args.child:
        child(args)
        return
    argv = sys.argv[1:]
    if args.full:
        args.dtype = "bfloat16" if args.dtype == "auto" else args.dtype
        build("mini-full", args.dtype)
        result = spawn([*argv, "--dtype", args.dtype], AVX2_ONLY if args.cpu == "avx2" else None)
        print(json.dumps(result, indent=1))
        return
    modes = ["off", "on"] if args.reuse == "both" else [args.reuse]
    table: dict[str, list[list[dict]]] = {m: [] for m in modes}
    for _ in range(args.runs):
        for m in modes:
            table[m].append(spawn([*argv, "--reuse", m]))
    print(f"model {args.model}; memory on (max_turns 6); medians of {args.runs} runs; time to first chunk (s)")
    header = "| turn | " + " | ".join(f"{m} first chunk | {m} / turn 1" for m in modes) + " | reused tokens (on) |"
    print(header)
    print("|" + " --- |" * (header.count("|") - 1))
    medians = {m: [statistics.median(run[i]["first_chunk_ms"] for run in table[m]) for i in range(1, args.turns + 1)]
               for m in modes}
    for i in range(args.turns):
        cells = [f"{medians[m][i] / 1000:.2f} | {medians[m][i] / medians[m][0]:.2f}" for m in modes]
        on = table.get("on", table[modes[0]])[0][i + 1]
        print(f"| {i + 1} | " + " | ".join(cells) + f" | {on['reused_tokens']} of {on['prompt_tokens']} |")
    print("\nstages of the first run, ms since the audio was handed over: prompt built / audio encoded / first token")
    for m in modes:
        cells = []
        for row in table[m][0][1:]:
            st = row["stages"]
            cells.append(f"{st['prompt_built']:.0f}/{st['audio_encoded'] or 0:.0f}/{st['first_token']:.0f}")
        print(f"reuse {m}: " + "  ".join(cells))
    for m in modes:
        rss = statistics.median(run[0]["peak_rss"] for run in table[m]) / 1e9
        load = statistics.median(run[0]["load_s"] for run in table[m])
        print(f"reuse {m}: load {load:.1f} s, peak RSS {rss:.2f} GB")
    if args.model == "mini-encoder":
        from voxtral_desktop.core.backends import memory

        weights = memory.count_weights(build("mini-encoder"))
        print(f"load-time estimate (float32): {memory.needed_bytes(weights.parameters, 'float32') / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
