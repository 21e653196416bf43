"""Build (and cache) a small random-weight Voxtral as a GGUF pair (text model + audio mmproj) for llama.cpp tests."""

# Written with the `gguf` package (no torch, no network). The audio side keeps Voxtral Mini's encoder width
# (1280, 20 heads, 128 mel bins, 1500 positions, stack factor 4): llama.cpp's audio path checks token counts
# that a narrower encoder trips (see ../shared/notes/llama-cpp.md). Only the depth is cut (2 layers). The
# text side is a 2-layer llama, 256 wide, with a byte-level vocabulary whose first 100 ids are Voxtral's
# control tokens (bos 1, eos 2, [INST] 3, [/INST] 4, [AUDIO] 24, [BEGIN_AUDIO] 25). The output layer only
# scores lowercase letters (alone or after a space), so a reply is words of letters that never ends early.

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

TEXT_FILE = "tiny-voxtral-F16.gguf"
MMPROJ_FILE = "mmproj-tiny-voxtral-F16.gguf"
CACHE_ENV = "VOXTRAL_TINY_GGUF_CACHE"
BUILDER_VERSION = "1"  # bump when the files this writes change

N_SPECIAL = 100
CONTROL = {0: "<unk>", 1: "<s>", 2: "</s>", 3: "[INST]", 4: "[/INST]", 11: "<pad>", 24: "[AUDIO]", 25: "[BEGIN_AUDIO]"}
TEXT = {"hidden": 256, "layers": 2, "heads": 4, "kv_heads": 2, "head_dim": 64, "ffn": 512, "ctx": 8192}
AUDIO = {"hidden": 1280, "layers": 1, "heads": 20, "ffn": 1280, "mels": 128, "positions": 1500, "stack": 4}

# Mistral's chat layout; llama-server puts its media marker where an audio part was, as a text part.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}[INST]"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}[/INST]"
    "{% elif m['role'] == 'assistant' %}{{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}"
)


def _byte_tokens() -> list[str]:
    """GPT-2's printable stand-ins for the 256 bytes (byte-level BPE vocabularies store these)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def vocabulary() -> tuple[list[str], list[int], list[str]]:
    """Tokens, their types (1 normal, 3 control) and the merges list."""
    tokens = [CONTROL.get(i, f"<SPECIAL_{i}>") for i in range(N_SPECIAL)]
    types = [3] * N_SPECIAL
    tokens += _byte_tokens()
    types += [1] * 256
    # A space joined to each letter: half of what a reply can say starts a word (llama.cpp also wants a merge).
    tokens += [f"Ġ{chr(c)}" for c in range(ord("a"), ord("z") + 1)]
    types += [1] * 26
    return tokens, types, ["Ġ a"]


def _spoken_ids(tokens: list[str]) -> list[int]:
    """What a reply may contain: lowercase letters, alone or after a space."""
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    wanted = letters + [f"Ġ{c}" for c in letters]
    return [tokens.index(t) for t in wanted]


def _normal(rng: np.random.Generator, *shape: int, std: float = 0.02) -> np.ndarray:
    return (rng.standard_normal(shape, dtype=np.float32) * std).astype(np.float16)


def _add_tokenizer(w: Any, tokens: list[str], types: list[int], merges: list[str]) -> None:
    """Tekken's shape as llama.cpp reads it (a gpt2-style BPE, Voxtral's special ids and chat template)."""
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("tekken")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_pad_token_id(11)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)


def write_text_model(path: Path, seed: int = 0) -> None:
    import gguf

    rng = np.random.default_rng(seed)
    t = TEXT
    tokens, types, merges = vocabulary()
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-voxtral")
    w.add_context_length(t["ctx"])
    w.add_embedding_length(t["hidden"])
    w.add_block_count(t["layers"])
    w.add_feed_forward_length(t["ffn"])
    w.add_head_count(t["heads"])
    w.add_head_count_kv(t["kv_heads"])
    w.add_key_length(t["head_dim"])
    w.add_value_length(t["head_dim"])
    w.add_rope_dimension_count(t["head_dim"])
    w.add_rope_freq_base(1e8)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_vocab_size(len(tokens))
    _add_tokenizer(w, tokens, types, merges)

    n, hd, ff = t["hidden"], t["head_dim"], t["ffn"]
    w.add_tensor("token_embd.weight", _normal(rng, len(tokens), n, std=1.0))
    output = np.zeros((len(tokens), n), dtype=np.float16)
    spoken = _spoken_ids(tokens)
    # Logits of about unit spread over the spoken tokens (sampling varies the words); every other token scores
    # 0, below the best spoken one: greedy never ends a reply early or says a control token.
    output[spoken] = _normal(rng, len(spoken), n, std=n**-0.5)
    w.add_tensor("output.weight", output)
    w.add_tensor("output_norm.weight", np.ones(n, dtype=np.float32))
    for i in range(t["layers"]):
        b = f"blk.{i}"
        w.add_tensor(f"{b}.attn_norm.weight", np.ones(n, dtype=np.float32))
        w.add_tensor(f"{b}.attn_q.weight", _normal(rng, t["heads"] * hd, n))
        w.add_tensor(f"{b}.attn_k.weight", _normal(rng, t["kv_heads"] * hd, n))
        w.add_tensor(f"{b}.attn_v.weight", _normal(rng, t["kv_heads"] * hd, n))
        w.add_tensor(f"{b}.attn_output.weight", _normal(rng, n, t["heads"] * hd))
        w.add_tensor(f"{b}.ffn_norm.weight", np.ones(n, dtype=np.float32))
        w.add_tensor(f"{b}.ffn_gate.weight", _normal(rng, ff, n))
        w.add_tensor(f"{b}.ffn_up.weight", _normal(rng, ff, n))
        w.add_tensor(f"{b}.ffn_down.weight", _normal(rng, n, ff))
    _finish(w)


def write_mmproj(path: Path, seed: int = 1) -> None:
    import gguf

    rng = np.random.default_rng(seed)
    a, text_hidden = AUDIO, TEXT["hidden"]
    h, ff = a["hidden"], a["ffn"]
    w = gguf.GGUFWriter(str(path), "clip")
    w.add_name("tiny-voxtral-mmproj")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_clip_has_vision_encoder(False)
    w.add_clip_has_audio_encoder(True)
    w.add_clip_projector_type(gguf.VisionProjectorType.VOXTRAL)
    w.add_audio_projection_dim(text_hidden)
    w.add_audio_embedding_length(h)
    w.add_audio_feed_forward_length(ff)
    w.add_audio_block_count(a["layers"])
    w.add_audio_head_count(a["heads"])
    w.add_audio_num_mel_bins(a["mels"])
    w.add_audio_attention_layernorm_eps(1e-5)
    w.add_audio_stack_factor(a["stack"])

    def ones(*shape: int) -> np.ndarray:
        return np.ones(shape, dtype=np.float32)

    def zeros(*shape: int) -> np.ndarray:
        return np.zeros(shape, dtype=np.float32)

    w.add_tensor("a.conv1d.1.weight", _normal(rng, h, a["mels"], 3))
    w.add_tensor("a.conv1d.1.bias", zeros(h, 1))
    w.add_tensor("a.conv1d.2.weight", _normal(rng, h, h, 3))
    w.add_tensor("a.conv1d.2.bias", zeros(h, 1))
    w.add_tensor("a.position_embd.weight", (rng.standard_normal((a["positions"], h), dtype=np.float32) * 0.02))
    for i in range(a["layers"]):
        b = f"a.blk.{i}"
        w.add_tensor(f"{b}.ln1.weight", ones(h))
        w.add_tensor(f"{b}.ln1.bias", zeros(h))
        w.add_tensor(f"{b}.attn_q.weight", _normal(rng, h, h))
        w.add_tensor(f"{b}.attn_q.bias", zeros(h))
        w.add_tensor(f"{b}.attn_k.weight", _normal(rng, h, h))
        w.add_tensor(f"{b}.attn_v.weight", _normal(rng, h, h))
        w.add_tensor(f"{b}.attn_v.bias", zeros(h))
        w.add_tensor(f"{b}.attn_out.weight", _normal(rng, h, h))
        w.add_tensor(f"{b}.attn_out.bias", zeros(h))
        w.add_tensor(f"{b}.ln2.weight", ones(h))
        w.add_tensor(f"{b}.ln2.bias", zeros(h))
        w.add_tensor(f"{b}.ffn_up.weight", _normal(rng, ff, h))
        w.add_tensor(f"{b}.ffn_up.bias", zeros(ff))
        w.add_tensor(f"{b}.ffn_down.weight", _normal(rng, h, ff))
        w.add_tensor(f"{b}.ffn_down.bias", zeros(h))
    w.add_tensor("a.post_ln.weight", ones(h))
    w.add_tensor("a.post_ln.bias", zeros(h))
    w.add_tensor("mm.a.mlp.1.weight", _normal(rng, text_hidden, h * a["stack"]))
    w.add_tensor("mm.a.mlp.2.weight", _normal(rng, text_hidden, text_hidden))
    _finish(w)


def _finish(w: object) -> None:
    w.write_header_to_file()  # type: ignore[attr-defined]
    w.write_kv_data_to_file()  # type: ignore[attr-defined]
    w.write_tensors_to_file()  # type: ignore[attr-defined]
    w.close()  # type: ignore[attr-defined]


def build_tiny_gguf(out_dir: Path) -> Path:
    """Write the pair into ``out_dir`` (created); the folder."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_model(out_dir / TEXT_FILE)
    write_mmproj(out_dir / MMPROJ_FILE)
    return out_dir


# --------------------------------------------------------------------------- caching


def cache_key() -> str:
    from importlib import metadata

    import gguf  # noqa: F401 - its version decides the bytes written

    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(f"gguf={metadata.version('gguf')} v{BUILDER_VERSION}".encode())
    return digest.hexdigest()[:24]


def default_cache_root() -> Path:
    """$VOXTRAL_TINY_GGUF_CACHE, else <checkout>/.cache/tiny-gguf (beside the tiny transformers model)."""
    if env := os.environ.get(CACHE_ENV):
        return Path(env)
    from voxtral_desktop.testing.tiny_voxtral import default_cache_root as tiny_root

    return tiny_root().parent / "tiny-gguf"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # another process building the same key finishes first
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_tiny_gguf(cache_root: str | Path | None = None) -> Path:
    """The folder holding the tiny GGUF pair, written once per cache key."""
    root = Path(cache_root) if cache_root is not None else default_cache_root()
    final = root / cache_key()
    if (final / MMPROJ_FILE).exists() and (final / TEXT_FILE).exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"{final.name}.lock"):
        if (final / MMPROJ_FILE).exists():
            return final
        logger.info("building the tiny GGUF pair into %s", final)
        staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=root))
        try:
            build_tiny_gguf(staging)
            staging.chmod(0o755)
            if final.exists():
                shutil.rmtree(final)
            os.rename(staging, final)  # atomic: readers see no folder or a complete one
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return final


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voxtral_desktop.testing.tiny_gguf", description=__doc__)
    parser.add_argument("out_dir", type=Path, nargs="?", help="folder to write into (default: the test cache)")
    args = parser.parse_args(argv)
    out = build_tiny_gguf(args.out_dir) if args.out_dir else cached_tiny_gguf()
    print(out, file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# --------------------------------------------------------------------------- Voxtral Mini's shape (benchmarks)

MINI_TEXT = {"hidden": 3072, "layers": 30, "heads": 32, "kv_heads": 8, "head_dim": 128, "ffn": 8192, "ctx": 32768}
MINI_AUDIO = {"hidden": 1280, "layers": 32, "heads": 20, "ffn": 5120, "mels": 128, "positions": 1500, "stack": 4}
MINI_VOCAB = 131072
MINI_TEXT_FILE = "voxtral-mini-random-Q4_K_M.gguf"
MINI_MMPROJ_FILE = "mmproj-voxtral-mini-random-Q8_0.gguf"
# Bytes per 256 values (Q4_K, Q6_K) or 32 values (Q8_0), and where each block's f16 scale(s) sit.
_BLOCKS = {"Q4_K": (256, 144, (0, 2)), "Q6_K": (256, 210, (208,)), "Q8_0": (32, 34, (0,))}


def _random_blocks(rng: np.random.Generator, rows: int, cols: int, kind: str) -> np.ndarray:
    """Valid quantized blocks of random weights (random codes, small finite scales), written directly: the
    gguf package cannot quantize to the K-quants, and random weights need no real quantization."""
    values, size, scales = _BLOCKS[kind]
    blocks = rng.integers(0, 256, (rows, cols // values, size), dtype=np.uint8)
    for offset in scales:
        blocks[..., offset : offset + 2] = np.frombuffer(np.float16(0.002).tobytes(), dtype=np.uint8)
    if kind == "Q4_K":
        blocks[..., 2:4] = np.frombuffer(np.float16(0.001).tobytes(), dtype=np.uint8)  # dmin
    return blocks.reshape(rows, -1)


def build_mini_shaped(out_dir: Path, seed: int = 0) -> Path:
    """Voxtral Mini's exact shapes with random weights: the text model Q4_K_M-like (Q4_K, with Q6_K for the
    output and every other layer's attn_v and ffn_down, as Q4_K_M does) and the mmproj in Q8_0. ~3.2 GB."""
    import gguf

    text_file, mmproj_file = out_dir / MINI_TEXT_FILE, out_dir / MINI_MMPROJ_FILE
    if text_file.exists() and mmproj_file.exists():
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t, a = MINI_TEXT, MINI_AUDIO
    q = gguf.GGMLQuantizationType
    tokens, types, merges = vocabulary()
    tokens += [f"<filler_{i}>" for i in range(MINI_VOCAB - len(tokens))]
    types += [1] * (MINI_VOCAB - len(types))

    def add(w: object, name: str, rows: int, cols: int, kind: str) -> None:
        w.add_tensor(name, _random_blocks(rng, rows, cols, kind), raw_dtype=getattr(q, kind))  # type: ignore[attr-defined]

    w = gguf.GGUFWriter(str(text_file) + ".part", "llama")
    w.add_name("voxtral-mini-shaped-random")
    w.add_context_length(t["ctx"])
    w.add_embedding_length(t["hidden"])
    w.add_block_count(t["layers"])
    w.add_feed_forward_length(t["ffn"])
    w.add_head_count(t["heads"])
    w.add_head_count_kv(t["kv_heads"])
    w.add_key_length(t["head_dim"])
    w.add_value_length(t["head_dim"])
    w.add_rope_dimension_count(t["head_dim"])
    w.add_rope_freq_base(1e8)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    w.add_vocab_size(MINI_VOCAB)
    _add_tokenizer(w, tokens, types, merges)
    n, hd, ff = t["hidden"], t["head_dim"], t["ffn"]
    add(w, "token_embd.weight", MINI_VOCAB, n, "Q4_K")
    # Only the letters (alone or after a space) score, as in the small pair: a reply never ends early, and its
    # text tokenizes back to what was said, so the next turn finds it in the engine's cache.
    output = np.zeros((MINI_VOCAB, _BLOCKS["Q6_K"][1] * n // 256), dtype=np.uint8)
    spoken = _spoken_ids(tokens)
    output[spoken] = _random_blocks(rng, len(spoken), n, "Q6_K")
    w.add_tensor("output.weight", output, raw_dtype=q.Q6_K)
    w.add_tensor("output_norm.weight", np.ones(n, dtype=np.float32))
    for i in range(t["layers"]):
        b, more = f"blk.{i}", "Q6_K" if i % 2 == 0 else "Q4_K"
        w.add_tensor(f"{b}.attn_norm.weight", np.ones(n, dtype=np.float32))
        add(w, f"{b}.attn_q.weight", t["heads"] * hd, n, "Q4_K")
        add(w, f"{b}.attn_k.weight", t["kv_heads"] * hd, n, "Q4_K")
        add(w, f"{b}.attn_v.weight", t["kv_heads"] * hd, n, more)
        add(w, f"{b}.attn_output.weight", n, t["heads"] * hd, "Q4_K")
        w.add_tensor(f"{b}.ffn_norm.weight", np.ones(n, dtype=np.float32))
        add(w, f"{b}.ffn_gate.weight", ff, n, "Q4_K")
        add(w, f"{b}.ffn_up.weight", ff, n, "Q4_K")
        add(w, f"{b}.ffn_down.weight", n, ff, more)
    _finish(w)

    os.replace(str(text_file) + ".part", text_file)

    h, aff = a["hidden"], a["ffn"]
    w = gguf.GGUFWriter(str(mmproj_file) + ".part", "clip")
    w.add_name("voxtral-mini-shaped-random-mmproj")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    w.add_clip_has_vision_encoder(False)
    w.add_clip_has_audio_encoder(True)
    w.add_clip_projector_type(gguf.VisionProjectorType.VOXTRAL)
    w.add_audio_projection_dim(n)
    w.add_audio_embedding_length(h)
    w.add_audio_feed_forward_length(aff)
    w.add_audio_block_count(a["layers"])
    w.add_audio_head_count(a["heads"])
    w.add_audio_num_mel_bins(a["mels"])
    w.add_audio_attention_layernorm_eps(1e-5)
    w.add_audio_stack_factor(a["stack"])
    zeros = lambda *s: np.zeros(s, dtype=np.float32)
    ones = lambda *s: np.ones(s, dtype=np.float32)
    w.add_tensor("a.conv1d.1.weight", _normal(rng, h, a["mels"], 3))
    w.add_tensor("a.conv1d.1.bias", zeros(h, 1))
    w.add_tensor("a.conv1d.2.weight", _normal(rng, h, h, 3))
    w.add_tensor("a.conv1d.2.bias", zeros(h, 1))
    w.add_tensor("a.position_embd.weight", rng.standard_normal((a["positions"], h), dtype=np.float32) * 0.02)
    for i in range(a["layers"]):
        b = f"a.blk.{i}"
        for norm in ("ln1", "ln2"):
            w.add_tensor(f"{b}.{norm}.weight", ones(h))
            w.add_tensor(f"{b}.{norm}.bias", zeros(h))
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            add(w, f"{b}.{name}.weight", h, h, "Q8_0")
        for name in ("attn_q", "attn_v", "attn_out"):
            w.add_tensor(f"{b}.{name}.bias", zeros(h))
        add(w, f"{b}.ffn_up.weight", aff, h, "Q8_0")
        w.add_tensor(f"{b}.ffn_up.bias", zeros(aff))
        add(w, f"{b}.ffn_down.weight", h, aff, "Q8_0")
        w.add_tensor(f"{b}.ffn_down.bias", zeros(h))
    w.add_tensor("a.post_ln.weight", ones(h))
    w.add_tensor("a.post_ln.bias", zeros(h))
    add(w, "mm.a.mlp.1.weight", n, h * a["stack"], "Q8_0")
    add(w, "mm.a.mlp.2.weight", n, n, "Q8_0")
    _finish(w)
    os.replace(str(mmproj_file) + ".part", mmproj_file)
    return out_dir
