"""Build (and cache) a ~1M-parameter Voxtral that answers the test utterances, fully offline on CPU."""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voxtral_desktop.core import audio as core_audio
from voxtral_desktop.core import prompts
from voxtral_desktop.testing import speech

if TYPE_CHECKING:
    import torch
    from transformers import VoxtralForConditionalGeneration

logger = logging.getLogger(__name__)

# Tokenizer shape (see shared/notes/offline-voxtral.md): the first NUM_VOCAB_TOKENS BPE entries of
# mistral_common's shipped tekken_240911.json behind NUM_SPECIAL_TOKENS control tokens.
NUM_VOCAB_TOKENS = 8000
NUM_SPECIAL_TOKENS = 100
VOCAB_SIZE = NUM_VOCAB_TOKENS + NUM_SPECIAL_TOKENS
BOS_ID = 1
EOS_ID = 2
PAD_ID = 11
AUDIO_TOKEN_ID = 24  # VoxtralProcessor hard-codes this id
_NAMED_SPECIALS: dict[int, str] = {
    0: "<unk>",
    1: "<s>",
    2: "</s>",
    3: "[INST]",
    4: "[/INST]",
    5: "[AVAILABLE_TOOLS]",
    6: "[/AVAILABLE_TOOLS]",
    7: "[TOOL_RESULTS]",
    8: "[/TOOL_RESULTS]",
    9: "[TOOL_CALLS]",
    10: "[IMG]",
    11: "<pad>",
    12: "[IMG_BREAK]",
    13: "[IMG_END]",
    14: "[PREFIX]",
    15: "[MIDDLE]",
    16: "[SUFFIX]",
    17: "[SYSTEM_PROMPT]",
    18: "[/SYSTEM_PROMPT]",
    19: "[TOOL_CONTENT]",
    24: "[AUDIO]",
    25: "[BEGIN_AUDIO]",
    # Same ranks as the real Voxtral tekken.json, so tool-call encoding would not trip on missing tokens.
    32: "[ARGS]",
    33: "[CALL_ID]",
    34: "[TRANSCRIBE]",
}
_TEKKEN_VERSION = "v7"  # the first tekken version that encodes audio chunks

DEFAULT_MAX_STEPS = 1500
LEARNING_RATE = 3e-3
LOSS_THRESHOLD = 0.003  # mean per-token loss below which the greedy check is worth running
CHECK_EVERY = 10  # steps between greedy checks once the loss is under the threshold (a check is ~0.2 s)
LOG_EVERY = 25
MANIFEST_NAME = "tiny_voxtral.json"
CACHE_ENV = "VOXTRAL_TINY_CACHE"
THREADS_ENV = "VOXTRAL_TINY_THREADS"  # torch threads while training; unset picks a safe default

Log = Callable[[str], None]


class TinyVoxtralError(RuntimeError):
    """The tiny model could not be built or did not learn its utterances."""


@dataclass(frozen=True)
class PromptKind:
    """One way of prompting the model: a chat turn, or a transcription request with a language hint."""

    name: str
    transcription: bool
    language: str | None = None


PROMPT_KINDS: tuple[PromptKind, ...] = (
    PromptKind("conversation", transcription=False),
    PromptKind("transcription-en", transcription=True, language="en"),
    PromptKind("transcription-auto", transcription=True, language=None),
)


@dataclass(frozen=True)
class TrainingCase:
    """A fixed (prompt, expected answer) pair; tensors are precomputed once since the audio never changes."""

    utterance: str
    kind: str
    expected: str
    prompt_ids: torch.Tensor  # (prompt_len,)
    input_features: torch.Tensor  # (windows, mel bins, frames)
    target_ids: torch.Tensor  # (target_len,), ends with EOS so greedy decoding stops by itself


# --------------------------------------------------------------------------- tokenizer and processor


def write_tekken_json(path: Path) -> Path:
    """Derive a small Voxtral-capable tekken.json from the one mistral_common ships (no hub access)."""
    import mistral_common

    source = Path(mistral_common.__file__).parent / "data" / "tekken_240911.json"
    with open(source, encoding="utf-8") as f:
        base = json.load(f)
    tekken = {
        "config": {
            "pattern": base["config"]["pattern"],
            "num_vocab_tokens": NUM_VOCAB_TOKENS,
            "default_vocab_size": VOCAB_SIZE,
            "default_num_special_tokens": NUM_SPECIAL_TOKENS,
            "version": _TEKKEN_VERSION,
        },
        "vocab": base["vocab"][:NUM_VOCAB_TOKENS],
        "special_tokens": [
            {"rank": rank, "token_str": _NAMED_SPECIALS.get(rank, f"<SPECIAL_{rank}>"), "is_control": True}
            for rank in range(NUM_SPECIAL_TOKENS)
        ],
        "audio": {
            "sampling_rate": speech.SAMPLE_RATE,
            "frame_rate": 12.5,  # audio tokens per second
            "audio_encoding_config": {"num_mel_bins": 128, "hop_length": 160, "window_size": 400},
            # Without it mistral_common does not pad to 30 s and token and feature counts disagree.
            "chunk_length_s": 30.0,
        },
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tekken, f, ensure_ascii=False)
    return path


def make_processor(tekken_path: Path) -> Any:
    """Create a VoxtralProcessor around a tekken.json (128 mel bins, 16 kHz, 30 s windows)."""
    from transformers import VoxtralProcessor, WhisperFeatureExtractor
    from transformers.tokenization_mistral_common import MistralCommonBackend

    tokenizer = MistralCommonBackend(tekken_path)
    feature_extractor = WhisperFeatureExtractor(feature_size=128, sampling_rate=speech.SAMPLE_RATE)
    return VoxtralProcessor(feature_extractor=feature_extractor, tokenizer=tokenizer)


def make_config() -> Any:
    """Return a VoxtralConfig of about 1.2 M parameters that the real processor can drive."""
    from transformers import LlamaConfig, VoxtralConfig, VoxtralEncoderConfig

    audio_config = VoxtralEncoderConfig(
        hidden_size=32,
        intermediate_size=128,  # the projector reshapes by it: must be 4 x hidden_size
        num_hidden_layers=2,
        num_attention_heads=2,
        num_mel_bins=128,
        max_source_positions=1500,  # the encoder rejects any mel length but 3000 frames
    )
    text_config = LlamaConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=64,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=4096,  # one 30 s window is 375 audio tokens plus a short reply
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
        tie_word_embeddings=False,
    )
    return VoxtralConfig(audio_config=audio_config, text_config=text_config, audio_token_id=AUDIO_TOKEN_ID)


# --------------------------------------------------------------------------- training data


def _case_inputs(processor: Any, audio: Any, kind: PromptKind, model_id: str) -> Any:
    if kind.transcription:
        return prompts.transcription_inputs(processor, audio, language=kind.language, model_id=model_id)
    return prompts.conversation_inputs(processor, audio)


def build_cases(processor: Any, model_id: str, audio: dict[str, Any]) -> list[TrainingCase]:
    """Precompute every (utterance, prompt kind) case through the same prompt builders inference uses."""
    import torch

    cases: list[TrainingCase] = []
    for kind in PROMPT_KINDS:
        for utterance in speech.UTTERANCES:
            inputs = _case_inputs(processor, audio[utterance.key], kind, model_id)
            expected = utterance.spoken if kind.transcription else utterance.reply
            target = processor.tokenizer.encode(expected, add_special_tokens=False)
            cases.append(
                TrainingCase(
                    utterance=utterance.key,
                    kind=kind.name,
                    expected=expected,
                    prompt_ids=inputs["input_ids"][0],
                    input_features=inputs["input_features"],
                    target_ids=torch.tensor([*target, EOS_ID], dtype=torch.long),
                )
            )
    return cases


@dataclass(frozen=True)
class TrainingBatch:
    """Every case in one right-padded batch, with each utterance's mel features stored once."""

    input_ids: torch.Tensor  # (cases, length), PAD_ID after each sequence
    attention_mask: torch.Tensor  # (cases, length), 0 on padding
    labels: torch.Tensor  # (cases, length), -100 on prompt and padding
    features: torch.Tensor  # (windows of all distinct utterances, mel bins, frames)
    windows: tuple[int, ...]  # 30 s windows per distinct utterance, in `features` order
    row_utterance: tuple[int, ...]  # index of each row's utterance among the distinct ones
    logits_to_keep: int  # trailing positions whose logits any label needs


def collate(cases: Sequence[TrainingCase]) -> TrainingBatch:
    """Stack cases into one right-padded training batch.

    Right padding keeps every prompt at its inference positions (prompts start at 0), and pads only ever
    sit after real tokens, so causal attention never lets them change a real token's logits.
    """
    import torch

    sequences = [torch.cat([c.prompt_ids, c.target_ids]) for c in cases]
    length = max(len(s) for s in sequences)
    input_ids = torch.full((len(cases), length), PAD_ID, dtype=torch.long)
    attention_mask = torch.zeros((len(cases), length), dtype=torch.long)
    labels = torch.full((len(cases), length), -100, dtype=torch.long)
    for row, (case, seq) in enumerate(zip(cases, sequences)):
        input_ids[row, : len(seq)] = seq
        attention_mask[row, : len(seq)] = 1
        labels[row, len(case.prompt_ids) : len(seq)] = case.target_ids
    distinct = list(dict.fromkeys(c.utterance for c in cases))
    first_case = {key: next(c for c in cases if c.utterance == key) for key in distinct}
    # Position p's logits predict token p + 1, so the earliest label needs the logits one before it.
    first_label = min(len(c.prompt_ids) for c in cases)
    return TrainingBatch(
        input_ids=input_ids,
        attention_mask=attention_mask,
        labels=labels,
        features=torch.cat([first_case[key].input_features for key in distinct]),
        windows=tuple(first_case[key].input_features.shape[0] for key in distinct),
        row_utterance=tuple(distinct.index(c.utterance) for c in cases),
        logits_to_keep=length - first_label + 1,
    )


def training_loss(model: VoxtralForConditionalGeneration, batch: TrainingBatch) -> torch.Tensor:
    """Mean token loss of the batch; equal to `model(input_ids, input_features, labels).loss`, but cheaper.

    The plain forward runs the audio encoder once per row and the 8k-vocab head on every position; here
    the encoder runs once per distinct utterance (each appears under every prompt kind) and the head only
    on the trailing positions that have labels: 0.08 s a step instead of 0.29 s (2 idle cores). Gradients
    match the plain forward's to about 1e-6.
    """
    import torch

    audio = model.get_audio_features(batch.features).pooler_output  # (windows * tokens per window, hidden)
    per_utterance = audio.split([w * (audio.shape[0] // sum(batch.windows)) for w in batch.windows])
    row_audio = torch.cat([per_utterance[u] for u in batch.row_utterance])
    audio_mask = (batch.input_ids == model.config.audio_token_id).unsqueeze(-1)
    if int(audio_mask.sum()) != row_audio.shape[0]:
        # masked_scatter would silently take a prefix of a longer source.
        raise TinyVoxtralError(f"{int(audio_mask.sum())} audio tokens, {row_audio.shape[0]} audio embeddings")
    embeds = model.get_input_embeddings()(batch.input_ids)
    # masked_scatter fills placeholders in row-major order, matching the row order of row_audio.
    embeds = embeds.masked_scatter(audio_mask, row_audio)
    keep = batch.logits_to_keep
    logits = model(inputs_embeds=embeds, attention_mask=batch.attention_mask, logits_to_keep=keep).logits
    targets = batch.labels[:, batch.labels.shape[1] - keep + 1 :]
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=-100
    )


# --------------------------------------------------------------------------- checking


def greedy_answers(
    model: VoxtralForConditionalGeneration, processor: Any, cases: Sequence[TrainingCase]
) -> list[str]:
    """Greedy-decode each case with plain `generate` and return the stripped texts."""
    import torch

    answers: list[str] = []
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for case in cases:
                prompt = case.prompt_ids[None, :]
                output = model.generate(
                    input_ids=prompt,
                    attention_mask=torch.ones_like(prompt),
                    input_features=case.input_features,
                    max_new_tokens=len(case.target_ids) + 8,
                    do_sample=False,
                )
                text = processor.batch_decode(output[:, prompt.shape[1] :], skip_special_tokens=True)[0]
                answers.append(text.strip())
    finally:
        model.train(was_training)
    return answers


def mismatches(
    model: VoxtralForConditionalGeneration, processor: Any, cases: Sequence[TrainingCase]
) -> list[str]:
    """Describe each case whose greedy answer is not exactly its expected text (empty when all pass)."""
    answers = greedy_answers(model, processor, cases)
    return [
        f"{c.utterance}/{c.kind}: expected {c.expected!r}, got {a!r}"
        for c, a in zip(cases, answers)
        if a != c.expected
    ]


# --------------------------------------------------------------------------- training


def train_model(
    model: VoxtralForConditionalGeneration,
    processor: Any,
    cases: Sequence[TrainingCase],
    *,
    max_steps: int,
    log: Log,
) -> tuple[int, float]:
    """Teach the model every case; return (steps, final loss) or raise TinyVoxtralError if it never learns."""
    import torch

    # One batch holds both utterances of every prompt kind: the gradient then contrasts the utterances
    # directly. Alternating single examples was brittle (shared notes: one run still answered both
    # utterances alike after 1500 steps).
    batch = collate(cases)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.0)
    model.train()
    loss_value = float("nan")
    last_failures: list[str] = []
    for step in range(1, max_steps + 1):
        optimizer.zero_grad(set_to_none=True)
        loss = training_loss(model, batch)
        loss.backward()
        # A guard: from a random init at lr 3e-3, one outsized early gradient could derail training.
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        loss_value = float(loss.detach())
        if step % LOG_EVERY == 0 or step == 1:
            log(f"step {step}: loss {loss_value:.4f}")
        if loss_value < LOSS_THRESHOLD and step % CHECK_EVERY == 0:
            last_failures = mismatches(model, processor, cases)
            if not last_failures:
                log(f"converged after {step} steps (loss {loss_value:.5f}); greedy check passed")
                return step, loss_value
            log(f"step {step}: loss low but {len(last_failures)} greedy answers wrong")
    detail = "; ".join(last_failures) if last_failures else f"loss stayed at {loss_value:.4f}"
    raise TinyVoxtralError(f"tiny Voxtral did not learn its utterances in {max_steps} steps: {detail}")


# --------------------------------------------------------------------------- building


def _training_threads() -> int:
    if env := os.environ.get(THREADS_ENV):
        return max(1, int(env))
    # Half the cores, at most 2: the matrices are tiny, and when another process holds a core, OpenMP
    # threads wait on each other at every barrier. Measured on 2 busy cores: 2 threads took 2-30x
    # longer per step than 1 (0.13 s/step with 1 thread, idle or not; 0.08 s with 2 when idle).
    return max(1, min(2, (os.cpu_count() or 1) // 2))


def build_tiny_voxtral(
    out_dir: str | Path,
    *,
    train: bool = True,
    seed: int = 0,
    max_steps: int = DEFAULT_MAX_STEPS,
    log: Log = logger.info,
) -> Path:
    """Build the tiny model and its processor into `out_dir`, loadable offline by from_pretrained."""
    import torch
    from transformers import VoxtralForConditionalGeneration

    started = time.monotonic()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # Written apart from out/tekken.json: saving the processor copies it there, and transformers 5.0 fails
    # copying a file onto itself.
    source_dir = out / ".tekken-source"
    source_dir.mkdir(exist_ok=True)
    processor = make_processor(write_tekken_json(source_dir / "tekken.json"))
    torch.manual_seed(seed)
    model = VoxtralForConditionalGeneration(make_config())
    model.generation_config.bos_token_id = BOS_ID
    model.generation_config.eos_token_id = EOS_ID
    model.generation_config.pad_token_id = PAD_ID
    n_params = sum(p.numel() for p in model.parameters())
    log(f"tiny Voxtral: {n_params:,} parameters, vocab {VOCAB_SIZE}")

    steps = 0
    final_loss: float | None = None
    cases: list[TrainingCase] = []
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(_training_threads())
    try:
        if train:
            audio = {u.key: speech.synthesize(u.spoken) for u in speech.UTTERANCES}
            cases = build_cases(processor, str(out), audio)
            steps, final_loss = train_model(model, processor, cases, max_steps=max_steps, log=log)

        model.save_pretrained(out)
        # The processor must sit beside the voxtral config.json: only then does AutoProcessor pick the
        # Mistral tokenizer instead of silently loading a generic one.
        processor.save_pretrained(out)
        shutil.rmtree(source_dir)
        if train:
            _check_saved(out, cases)
    finally:
        torch.set_num_threads(previous_threads)
    seconds = time.monotonic() - started
    manifest = {
        "trained": train,
        "seed": seed,
        "steps": steps,
        "max_steps": max_steps,
        "final_loss": final_loss,
        "parameters": n_params,
        "build_seconds": round(seconds, 2),
        "learning_rate": LEARNING_RATE,
        "loss_threshold": LOSS_THRESHOLD,
        "utterances": [{"key": u.key, "spoken": u.spoken, "reply": u.reply} for u in speech.UTTERANCES]
        if train
        else [],
        "prompt_kinds": [k.name for k in PROMPT_KINDS] if train else [],
        "versions": _versions(),
    }
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log(f"built {out} in {seconds:.1f} s")
    return out


def _check_saved(out: Path, cases: Sequence[TrainingCase]) -> None:
    # What the tests load is the saved folder, not the object in memory: check it round-trips.
    from transformers import AutoProcessor, VoxtralForConditionalGeneration

    processor = AutoProcessor.from_pretrained(out, local_files_only=True)
    model = VoxtralForConditionalGeneration.from_pretrained(out, local_files_only=True)
    if failures := mismatches(model, processor, cases):
        raise TinyVoxtralError(f"the saved tiny Voxtral in {out} answers wrongly: {'; '.join(failures)}")


# --------------------------------------------------------------------------- caching


def _versions() -> dict[str, str]:
    versions = {name: metadata.version(name) for name in ("torch", "transformers", "mistral_common")}
    try:
        versions["espeak-ng"] = speech.espeak_version()
    except (RuntimeError, OSError) as e:
        versions["espeak-ng"] = f"unavailable: {e}"
    return versions


def cache_key() -> str:
    """Hash of what decides the built model: this builder's sources, library versions and espeak-ng."""
    digest = hashlib.sha256()
    # audio.py encodes the WAV the prompts carry: a change there changes what the model was trained on.
    for source in (Path(__file__), Path(speech.__file__), Path(prompts.__file__), Path(core_audio.__file__)):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    for name, version in sorted(_versions().items()):
        digest.update(f"{name}={version}\n".encode())
    return digest.hexdigest()


def default_cache_root() -> Path:
    """$VOXTRAL_TINY_CACHE, else <checkout>/.cache/tiny-voxtral, else the user cache dir."""
    if env := os.environ.get(CACHE_ENV):
        return Path(env)
    repo_root = Path(__file__).resolve().parents[2]
    if (repo_root / ".git").exists() or (repo_root / "pyproject.toml").exists():
        return repo_root / ".cache" / "tiny-voxtral"
    import platformdirs

    return Path(platformdirs.user_cache_dir("voxtral-desktop")) / "tiny-voxtral"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        # Blocks until another process building the same key has finished.
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_folder(cache_root: str | Path | None = None) -> Path:
    """Where the tiny model for the current cache key lives (or will); it is complete once it exists."""
    root = Path(cache_root) if cache_root is not None else default_cache_root()
    return root / cache_key()[:24]


def is_cached(cache_root: str | Path | None = None) -> bool:
    """Whether cached_tiny_voxtral would return at once instead of training (~40 s on 2 idle cores)."""
    return (cached_folder(cache_root) / MANIFEST_NAME).exists()


def cached_tiny_voxtral(cache_root: str | Path | None = None, *, log: Log = logger.info) -> Path:
    """Return the folder of a trained tiny Voxtral, building it once per cache key."""
    final = cached_folder(cache_root)
    root, key = final.parent, final.name
    if (final / MANIFEST_NAME).exists():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"{key}.lock"):
        if (final / MANIFEST_NAME).exists():  # another process built it while we waited
            return final
        log(f"building tiny Voxtral into cache {final}")
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
        try:
            build_tiny_voxtral(staging, log=log)
            staging.chmod(0o755)  # mkdtemp makes it owner-only; the cache may be shared (CI, other users)
            if final.exists():  # a half-written folder from a killed run without the manifest
                shutil.rmtree(final)
            # Rename is atomic on one filesystem: readers see no folder or a complete one.
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return final


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: build a tiny Voxtral into a folder."""
    parser = argparse.ArgumentParser(
        prog="python -m voxtral_desktop.testing.tiny_voxtral",
        description="Build a ~1M-parameter Voxtral (tokenizer, processor, weights) for offline tests.",
    )
    parser.add_argument("out_dir", type=Path, help="folder to write the model and processor into")
    parser.add_argument("--no-train", action="store_true", help="save random weights without training")
    parser.add_argument("--seed", type=int, default=0, help="torch seed for init (default 0)")
    parser.add_argument(
        "--max-steps",
        type=int,
        default=DEFAULT_MAX_STEPS,
        help=f"training step cap (default {DEFAULT_MAX_STEPS})",
    )
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.monotonic()
    try:
        out = build_tiny_voxtral(
            args.out_dir, train=not args.no_train, seed=args.seed, max_steps=args.max_steps, log=log
        )
    except TinyVoxtralError as e:
        log(f"error: {e}")
        return 1
    print(f"{out} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
