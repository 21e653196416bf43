"""Will the model fit? Count its weights from safetensors headers (no weights read) and pick or refuse a dtype."""

from __future__ import annotations

import json
import logging
import os
import platform
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from voxtral_desktop.core.errors import NotEnoughMemory

log = logging.getLogger(__name__)

ITEM_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
_SAFETENSORS_BYTES = {"F64": 8, "F32": 4, "BF16": 2, "F16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
_SAFETENSORS_DTYPE = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}
# Python, torch, transformers, the processor and one reply's activations, measured with the benchmark's
# Mini-encoder model (see benchmarks/conversation.py --check-estimate): on top of the weights.
RUNTIME_BYTES = 1 * 2**30
# The share of the available memory the model may take: the window, the voice and the OS need the rest.
USABLE_FRACTION = 0.9


@dataclass(frozen=True)
class WeightCount:
    """How many weight values a checkpoint holds and the dtype they are stored in."""

    parameters: int
    stored_dtype: str | None  # float32, bfloat16, float16, or None when mixed/unknown


def count_weights(folder: str | os.PathLike[str]) -> WeightCount | None:
    """Read only the safetensors headers (a few KB each) of a transformers checkpoint folder."""
    files = sorted(Path(folder).glob("model*.safetensors"))  # not consolidated.safetensors, a second copy
    if not files:
        return None
    total, dtypes = 0, set()
    for path in files:
        with open(path, "rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(length))
        for name, info in header.items():
            if name == "__metadata__":
                continue
            numel = 1
            for dim in info["shape"]:
                numel *= int(dim)
            total += numel
            dtypes.add(info["dtype"])
    stored = _SAFETENSORS_DTYPE.get(dtypes.pop()) if len(dtypes) == 1 else None
    return WeightCount(total, stored)


def needed_bytes(parameters: int, dtype: str) -> int:
    return parameters * ITEM_BYTES[dtype] + RUNTIME_BYTES


def available_bytes() -> int | None:
    """Memory the OS can give us now without swapping (MemAvailable), or None when unknown."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def has_native_bf16() -> bool:
    """True when the CPU computes bfloat16 in hardware (AVX512-BF16 / AMX on x86, FEAT_BF16 on ARM)."""
    if sys.platform == "darwin" and platform.machine() == "arm64":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True, timeout=2
            )
            return out.stdout.strip() == "1"
        except (OSError, subprocess.SubprocessError):
            return False
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})
    except OSError:
        pass
    return False


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


def choose_dtype(
    requested: str,
    device: str,
    weights: WeightCount | None,
    available: int | None,
    native_bf16: bool,
) -> str:
    """The dtype to load as, or NotEnoughMemory with both figures and the ways out.

    auto: bfloat16 on CUDA, float16 on MPS; on a CPU float32 (exact, and fastest without bf16 hardware)
    unless the CPU has native bf16 and the checkpoint is stored in 16 bits, or float32 would not fit.
    Loading always passes through main memory, so the check is against RAM on every device.
    """
    if requested != "auto":
        candidates = [requested]
    elif device == "cuda":
        candidates = ["bfloat16"]
    elif device == "mps":
        candidates = ["float16"]
    elif native_bf16 and weights is not None and weights.stored_dtype in ("bfloat16", "float16"):
        candidates = ["bfloat16"]
    else:
        candidates = ["float32", "bfloat16"]
    if weights is None or available is None:
        return candidates[0]  # nothing to check against: load as before
    usable = int(available * USABLE_FRACTION)
    for dtype in candidates:
        if needed_bytes(weights.parameters, dtype) <= usable:
            if dtype != candidates[0]:
                log.warning("float32 would need %s, %s available: loading as %s", _gb(needed_bytes(
                    weights.parameters, candidates[0])), _gb(available), dtype)
            return dtype
    last = candidates[-1]
    need = needed_bytes(weights.parameters, last)
    smaller = "" if ITEM_BYTES[last] <= 2 else " choose a smaller dtype (model.dtype: bfloat16),"
    raise NotEnoughMemory(
        f"The model needs about {_gb(need)} of memory as {last} ({weights.parameters / 1e9:.2f} B parameters), "
        f"but only {_gb(available)} is available. Ways out: close other programs,{smaller} use a machine "
        f"with more memory or a GPU, or run Voxtral on a server (backend: openai, see docs/remote.md).",
        needed=need,
        available=available,
    )


def count_weights_from_config(folder: str | os.PathLike[str]) -> WeightCount | None:
    """When there are no safetensors headers: build the model on the meta device (no memory) and count."""
    try:
        import torch
        from transformers import AutoConfig, VoxtralForConditionalGeneration

        config = AutoConfig.from_pretrained(folder)
        with torch.device("meta"):
            model = VoxtralForConditionalGeneration(config)
        stored = str(getattr(config, "dtype", None) or "").removeprefix("torch.") or None
        return WeightCount(sum(p.numel() for p in model.parameters()), stored if stored in ITEM_BYTES else None)
    except Exception as e:  # noqa: BLE001 - an estimate is a courtesy: loading reports real problems itself
        log.debug("could not count the weights of %s from its config: %s", folder, e)
        return None
