"""What a reply will cost on this CPU, said at load: a short probe of the model's own weights, scaled up."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

WINDOW_S = 30  # Voxtral pads every question to 30 s windows: any question up to 30 s costs one window
ENCODER_FRAMES = 1500  # the audio encoder's positions per window (3000 mel frames, stride 2)
AUDIO_TOKENS = 375  # what one window becomes in the prompt (12.5 per second)
PROMPT_EXTRA_TOKENS = 40  # the chat template and a short instruction around the audio
WORDS_PER_TOKEN = 0.75  # English text, roughly
FIRST_CHUNK_TOKENS = 4  # the first chunk shown is 3-5 words
# The probe: PROBE_ROWS tokens through a PROBE_SIZE square weight (a full model's layer size; 64 MB in
# float32, more than the caches hold, so one row measures the memory-bound decoding): ~0.1 s, ~1 s emulated.
PROBE_ROWS, PROBE_SIZE = 512, 4096
PROBE_REPEATS = 1
EMULATED_BF16 = (
    "This CPU has no native bfloat16, so bfloat16 runs emulated: several times slower than float32."
)
SERVER_OPTION = "A faster option: run Voxtral on a server (backend: openai; see docs/remote.md)."


@dataclass(frozen=True)
class ReplyCost:
    """The estimated time of one question of up to 30 s: listening (encoder), thinking (prefill), then words."""

    encoder_s: float
    prefill_s: float
    tokens_per_s: float

    @property
    def first_words_s(self) -> float:
        return self.encoder_s + self.prefill_s + FIRST_CHUNK_TOKENS / max(self.tokens_per_s, 1e-9)

    def sentence(self, dtype: str) -> str:
        words = self.tokens_per_s * WORDS_PER_TOKEN
        then = "faster than speech" if words > 4 else f"at about {words:.1f} words per second"
        if self.first_words_s < 2:
            return f"On this CPU ({dtype}) a question should get its first words within a second or two."
        return (
            f"On this CPU ({dtype}) a question of up to {WINDOW_S} s should get its first words after "
            f"{_s(self.first_words_s)} ({_s(self.encoder_s)} listening, {_s(self.prefill_s)} thinking), "
            f"the rest {then}."
        )


def _s(seconds: float) -> str:
    return "less than a second" if seconds < 1 else f"about {seconds:.0f} s"


def notice(cost: ReplyCost | None, dtype: str, *, emulated_bf16: bool, float32_did_not_fit: bool) -> str:
    """What to tell the user at load on a CPU: the cost, and when bfloat16 is emulated, why and what is faster."""
    parts = [cost.sentence(dtype)] if cost is not None else []
    if emulated_bf16:
        parts.append(EMULATED_BF16)
        if float32_did_not_fit:
            parts.append("float32 does not fit in the memory available, so bfloat16 it is.")
        else:
            parts.append("float32 is faster where it fits (model.dtype: float32).")
        parts.append(SERVER_OPTION)
    return " ".join(parts)


def estimate(model: Any, flops_per_s: float, bytes_per_s: float) -> ReplyCost:
    """Scale measured speeds to the model: its linear layers' sizes give the work of each stage."""
    audio, text, text_bytes, audio_width, audio_layers = _sizes(model)
    encoder = 2 * audio * ENCODER_FRAMES + 4 * ENCODER_FRAMES**2 * audio_width * audio_layers  # + attention
    prefill = 2 * text * (AUDIO_TOKENS + PROMPT_EXTRA_TOKENS)
    return ReplyCost(
        encoder_s=encoder / flops_per_s,
        prefill_s=prefill / flops_per_s,
        # Decoding one token reads every text weight once: memory (or emulation) bound, not compute bound.
        tokens_per_s=bytes_per_s / max(text_bytes, 1),
    )


def probe(model: Any) -> ReplyCost | None:
    """Time a matrix product in the model's dtype, at the size of a full model's layers (about a second)."""
    import torch

    if not any(_linears(model)):
        log.info("no linear layers to probe: no cost estimate")
        return None
    dtype = next(model.parameters()).dtype
    started = time.perf_counter()
    speeds: list[float] = []
    failed: list[BaseException] = []

    def measure() -> None:
        try:
            with torch.inference_mode():
                weight = torch.ones(PROBE_SIZE, PROBE_SIZE, dtype=dtype)
                speeds.append(2 * PROBE_ROWS * weight.numel() / _seconds(weight, PROBE_ROWS))
                speeds.append(weight.numel() * weight.element_size() / _seconds(weight, 1))
        except Exception as e:  # noqa: BLE001 - handed to the loading thread below, which logs it
            failed.append(e)

    # In a thread of its own that then ends: the OpenMP workers a thread starts for its parallel ops live as
    # long as it does, and with more of them than cores libgomp stops spinning, which made every later reply
    # of the tiny model ~30% slower (benchmarks/streaming.py (d): 58 -> 77 ms per turn).
    worker = threading.Thread(target=measure, name="voxtral-cost-probe")
    worker.start()
    worker.join()
    if failed:  # an estimate is a courtesy: without one the model still loads
        log.warning("could not measure this CPU's speed: %r", failed[0])
        return None
    flops_per_s, bytes_per_s = speeds
    cost = estimate(model, flops_per_s, bytes_per_s)
    log.info(
        "cost probe (%.1f s): %.1f GFLOP/s, %.1f GB/s decoding -> %s",
        time.perf_counter() - started, flops_per_s / 1e9, bytes_per_s / 1e9, cost,
    )
    return cost


def _seconds(weight: Any, rows: int) -> float:
    """The best of a few runs of ``rows`` tokens through ``weight`` (the first also warms the kernels up)."""
    import torch

    x = torch.ones(rows, weight.shape[1], dtype=weight.dtype, device=weight.device)
    best = float("inf")
    for _ in range(PROBE_REPEATS + 1):
        t = time.perf_counter()
        torch.nn.functional.linear(x, weight)
        best = min(best, time.perf_counter() - t)
    return max(best, 1e-9)


def _linears(model: Any) -> tuple[list[Any], list[Any]]:
    """The weights of the audio tower's linear layers, and of all the others (the text model, lm_head)."""
    import torch

    tower = _audio_tower(model)
    in_tower = {id(m) for m in tower.modules()} if tower is not None else set()
    audio, text = [], []
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            (audio if id(module) in in_tower else text).append(module.weight)
    return audio, text


def _audio_tower(model: Any) -> Any:
    for name in ("model.audio_tower", "audio_tower"):
        try:
            return model.get_submodule(name)
        except AttributeError:
            continue
    return None


def _sizes(model: Any) -> tuple[int, int, int, int, int]:
    """Audio linear weights, text linear weights without lm_head (prefill computes logits for one position
    only), bytes read per decoded token, the encoder's width and its number of layers."""
    audio, text = _linears(model)
    lm_head = getattr(model, "lm_head", None)
    body = sum(w.numel() for w in text if lm_head is None or w is not lm_head.weight)
    read = sum(w.numel() * w.element_size() for w in text)
    tower = _audio_tower(model)
    config = getattr(tower, "config", None)
    width = int(getattr(config, "hidden_size", 0) or getattr(config, "d_model", 0) or 0)
    layers = int(getattr(config, "num_hidden_layers", 0) or getattr(config, "encoder_layers", 0) or 0)
    return sum(w.numel() for w in audio), body, read, width, layers
