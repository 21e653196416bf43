"""Which GGUF pair the llama.cpp engine runs (hub repo, folder or file), fetched once; will it fit in memory."""

from __future__ import annotations

import fnmatch
import logging
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from voxtral_desktop.core import hub
from voxtral_desktop.core.backends import memory
from voxtral_desktop.core.errors import (
    HubUnreachable,
    ModelLoadError,
    ModelUnavailableOffline,
    NotEnoughMemory,
)

log = logging.getLogger(__name__)

DEFAULT_REPO = "ggml-org/Voxtral-Mini-3B-2507-GGUF"
QUANTIZATIONS = ("Q4_K_M", "Q8_0", "F16")
MMPROJ_QUANTIZATIONS = ("Q8_0", "F16")
# ggml-org/Voxtral-Mini-3B-2507-GGUF's files, in bytes, for "it is about 3 GB" before anything is downloaded.
# Q4_K_M and the Q8_0 mmproj as published; the others from the same model's other quantizations (about).
KNOWN_FILE_BYTES: dict[str, int] = {
    "Q4_K_M": 2_473_001_920,
    "Q8_0": 4_270_000_000,
    "F16": 8_030_000_000,
    "mmproj-Q8_0": 715_714_080,
    "mmproj-F16": 1_330_000_000,
}
# Beside the memory-mapped weights: the engine process, the audio encoder's work buffers and the compute
# graph (measured ~0.6 GB over the files for Mini's shape at 2 threads, rounded up).
ENGINE_OVERHEAD_BYTES = 768 * 2**20


@dataclass(frozen=True)
class GgufPair:
    """The language model and its audio projector (mmproj)."""

    model: Path
    mmproj: Path

    @property
    def file_bytes(self) -> int:
        return self.model.stat().st_size + self.mmproj.stat().st_size


def looks_like_path(model_id: str) -> bool:
    """Hub ids are ``name`` or ``org/name``; anything else with a slash (or ~, ., a drive) is meant as a path."""
    return (
        model_id.startswith((".", "~"))
        or os.path.isabs(model_id)
        or "\\" in model_id
        or model_id.count("/") > 1
    )


def names_gguf(model_id: str) -> bool:
    """Whether model.id names GGUF weights: a .gguf file, a folder holding them, or a hub repo named *GGUF*."""
    path = Path(model_id).expanduser()
    if model_id.lower().endswith(".gguf"):
        return True
    if path.is_dir():
        return any(path.glob("*.gguf"))
    return "gguf" in model_id.lower()


def download_bytes(quantization: str, mmproj_quantization: str) -> int | None:
    """What downloading the default repo at these quantizations weighs, or None when not known."""
    text = KNOWN_FILE_BYTES.get(quantization.upper())
    proj = KNOWN_FILE_BYTES.get(f"mmproj-{mmproj_quantization.upper()}")
    return None if text is None or proj is None else text + proj


def hub_patterns(quantization: str, mmproj_quantization: str) -> list[str]:
    # Repos spell quantizations in either case (Q8_0, f16): ask for both spellings.
    out: list[str] = []
    for q, prefix in ((quantization, "*"), (mmproj_quantization, "mmproj*")):
        out += [f"{prefix}{q.upper()}.gguf", f"{prefix}{q.lower()}.gguf"]
    return out


def find_pair(folder: Path, quantization: str = "", mmproj_quantization: str = "") -> GgufPair:
    """The folder's language-model .gguf and mmproj*.gguf; a quantization picks among several."""
    ggufs = sorted(p for p in folder.glob("*.gguf") if p.is_file())
    projectors = [p for p in ggufs if p.name.lower().startswith("mmproj")]
    models = [p for p in ggufs if p not in projectors]
    model = _pick(models, quantization, "language model", folder)
    mmproj = _pick(projectors, mmproj_quantization, "audio projector (mmproj-*.gguf)", folder)
    return GgufPair(model, mmproj)


def _pick(files: list[Path], quantization: str, what: str, folder: Path) -> Path:
    if not files:
        raise ModelLoadError(
            f"{folder} holds no {what} .gguf file. The llama.cpp engine needs a language-model .gguf and its "
            f"mmproj-*.gguf beside it (for example from {DEFAULT_REPO})."
        )
    if len(files) == 1:
        return files[0]
    wanted = [p for p in files if fnmatch.fnmatch(p.stem.upper(), f"*{quantization.upper()}")] if quantization else []
    if len(wanted) == 1:
        return wanted[0]
    names = ", ".join(p.name for p in files)
    raise ModelLoadError(
        f"{folder} holds several {what} files ({names}) and the quantization setting "
        f"({quantization or 'empty'}) does not pick one; set llamacpp.quantization, or point model.id at the file"
    )


def resolve(
    model_id: str,
    *,
    repo: str,
    quantization: str,
    mmproj_quantization: str,
    progress: Callable[[float | None], None] | None = None,
) -> GgufPair:
    """The GGUF pair model.id names; a hub repo comes from the cache, else downloads (``progress`` in [0, 1])."""
    path = Path(model_id).expanduser()
    if model_id.lower().endswith(".gguf"):
        if not path.is_file():
            raise ModelLoadError(f"the GGUF file {path} does not exist; point model.id at an existing .gguf")
        projectors = [p for p in sorted(path.parent.glob("mmproj*.gguf")) if p.is_file()]
        mmproj = _pick(projectors, mmproj_quantization, "audio projector (mmproj-*.gguf)", path.parent)
        return _checked(GgufPair(path, mmproj))
    if path.is_dir():
        return _checked(find_pair(path, quantization, mmproj_quantization))
    if looks_like_path(model_id):
        raise ModelLoadError(
            f"model folder {path} does not exist. Point model.id at a folder holding a Voxtral .gguf and its "
            f"mmproj-*.gguf, at a .gguf file, or at a GGUF hub repo such as {DEFAULT_REPO}."
        )
    source = model_id if names_gguf(model_id) else repo
    if source != model_id:
        log.info("model.id %s is not a GGUF repo; the llama.cpp engine uses %s", model_id, source)
    patterns = hub_patterns(quantization, mmproj_quantization)
    folder = hub.cached_snapshot(source, patterns)
    if folder is None:
        if progress is not None:
            progress(0.0)
        try:
            folder = hub.download_snapshot(source, patterns, progress or (lambda _f: None))
        except HubUnreachable as e:
            size = download_bytes(quantization, mmproj_quantization) if source == DEFAULT_REPO else None
            raise ModelUnavailableOffline(
                _offline_advice(source, quantization, mmproj_quantization, e, size),
                repo=source, cause=e.cause, size_bytes=size, offline_mode=e.offline_mode,
            ) from e
        except (OSError, ValueError) as e:  # unknown repo, no such quantization, disk full
            raise ModelLoadError(f"could not download the GGUF model {source} ({quantization}): {e}") from e
    return _checked(find_pair(Path(folder), quantization, mmproj_quantization))


def _offline_advice(repo: str, quant: str, mmquant: str, offline: HubUnreachable, size: int | None) -> str:
    weighs = f" ({hub.about(size)})" if size else ""
    return (
        f"{hub.why_unreachable(offline)}, and the llama.cpp model {repo} ({quant}, mmproj {mmquant}){weighs} is "
        f"not on this computer yet. On a computer that is online, run `hf download {repo} --include "
        f"'*{quant}.gguf' 'mmproj*{mmquant}.gguf' --local-dir voxtral-gguf`, copy that folder here and choose it "
        f"under Settings > Engine (or model.id, or --model FOLDER). {hub.try_again(offline)}: it downloads once."
    )


def _checked(pair: GgufPair) -> GgufPair:
    """Both files must be GGUF, the mmproj an audio projector: a wrong file is named here, not by the engine."""
    model_meta, proj_meta = read_metadata(pair.model), read_metadata(pair.mmproj)
    if model_meta.get("general.architecture") == "clip":
        raise ModelLoadError(f"{pair.model.name} is an mmproj (projector) file, not the language model")
    if proj_meta.get("general.architecture") != "clip" or not proj_meta.get("clip.has_audio_encoder"):
        raise ModelLoadError(
            f"{pair.mmproj.name} is not an audio projector: Voxtral's mmproj-*.gguf (with an audio encoder) is needed"
        )
    return pair


# -- memory ----------------------------------------------------------------------------------------


def kv_cache_bytes(model: Path, ctx: int) -> int:
    """The engine's KV cache for ``ctx`` tokens in f16, from the model's own header."""
    meta = read_metadata(model)
    arch = meta.get("general.architecture", "llama")
    layers = int(meta.get(f"{arch}.block_count", 30))
    heads = int(meta.get(f"{arch}.attention.head_count", 32))
    kv_heads = int(meta.get(f"{arch}.attention.head_count_kv", heads))
    head_dim = int(meta.get(f"{arch}.attention.key_length", int(meta.get(f"{arch}.embedding_length", 3072)) // heads))
    return ctx * layers * 2 * kv_heads * head_dim * 2


def needed_bytes(pair: GgufPair, ctx: int) -> int:
    return pair.file_bytes + kv_cache_bytes(pair.model, ctx) + ENGINE_OVERHEAD_BYTES


def check_fits(pair: GgufPair, ctx: int, available: int | None) -> None:
    """NotEnoughMemory when the engine would not fit in what the OS can give now (unknown: let it try)."""
    needed = needed_bytes(pair, ctx)
    if available is None:
        return
    log.info("llama.cpp engine: about %.1f GB needed, %.1f GB available", needed / 1e9, available / 1e9)
    if needed > available * memory.USABLE_FRACTION:
        raise NotEnoughMemory(
            f"the llama.cpp engine needs about {needed / 1e9:.1f} GB of memory for {pair.model.name} "
            f"(context {ctx} tokens) but only {available / 1e9:.1f} GB is free. Close other programs, pick a "
            f"smaller quantization (Settings > Engine), or lower llamacpp.context",
            needed=needed,
            available=available,
        )


# -- GGUF header -----------------------------------------------------------------------------------

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def read_metadata(path: Path) -> dict[str, Any]:
    """The key/value header of a GGUF file (arrays skipped); ModelLoadError naming a file that is not GGUF."""
    try:
        with path.open("rb") as f:
            if f.read(4) != b"GGUF":
                raise ModelLoadError(f"{path.name} is not a GGUF file (it does not start with GGUF)")
            version, _tensors, count = struct.unpack("<IQQ", f.read(20))
            if version < 2:
                raise ModelLoadError(f"{path.name} is a GGUF version {version} file; llama.cpp reads version 2 and up")
            return {_string(f): _value(f, _u32(f)) for _ in range(count)}
    except (OSError, struct.error, UnicodeDecodeError, ValueError) as e:
        raise ModelLoadError(f"{path.name} is truncated or not a readable GGUF file ({e})") from e


def _u32(f: BinaryIO) -> int:
    return int(struct.unpack("<I", f.read(4))[0])


def _string(f: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", f.read(8))
    return f.read(length).decode("utf-8")


def _value(f: BinaryIO, kind: int) -> Any:
    if kind in _SCALARS:
        fmt = _SCALARS[kind]
        return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]
    if kind == 8:
        return _string(f)
    if kind == 9:  # an array: skipped (the token list is megabytes)
        item, n = struct.unpack("<IQ", f.read(12))
        if item in _SCALARS:
            f.seek(struct.calcsize(_SCALARS[item]) * n, 1)
        else:
            for _ in range(n):
                _value(f, item)
        return None
    raise ValueError(f"unknown GGUF value type {kind}")
