"""Checks a model folder's files before transformers reads them, so a damaged one is named, not a traceback."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from voxtral_desktop.core.errors import ModelLoadError

CONFIG = "config.json"
# Voxtral's tokenizer; a folder converted to Hugging Face's own format has tokenizer.json instead.
TOKENIZERS = ("tekken.json", "tokenizer.json")
WEIGHTS_INDEX = "model.safetensors.index.json"
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header


def check_model_folder(folder: Path, model_id: str) -> None:
    """Raise ModelLoadError naming the first missing, truncated or unreadable file, and what to do."""
    problem = _first_problem(folder)
    if problem is not None:
        raise ModelLoadError(damaged_folder_advice(folder, model_id, problem))


def damaged_folder_advice(folder: Path, model_id: str, problem: str) -> str:
    """One line (library errors can span many): what is wrong, and the way out."""
    problem = " ".join(problem.split())
    if len(problem) > 300:
        problem = problem[:299] + "…"
    if Path(model_id).expanduser().is_dir():
        fix = (
            f"copy a complete model folder there again, or download it with "
            f"`hf download mistralai/Voxtral-Mini-3B-2507 --local-dir {folder}`"
        )
    else:  # a damaged copy in the Hugging Face cache
        fix = f"download it again with `hf download {model_id} --force-download`"
    return (
        f"The model folder {folder} is incomplete or damaged: {problem}. To fix it, {fix}; "
        f"or point model.id at a complete copy (Settings, `--model /path/to/folder`, or config.yaml)."
    )


def _first_problem(folder: Path) -> str | None:
    config = folder / CONFIG
    if not config.is_file():
        return f"{CONFIG} is missing"
    problem = _json_problem(config, want_object=True)
    if problem:
        return problem
    if not any((folder / name).is_file() for name in TOKENIZERS):
        return f"{TOKENIZERS[0]} (the tokenizer) is missing"
    for name in TOKENIZERS:
        if (folder / name).is_file() and (problem := _json_problem(folder / name, want_object=True)):
            return problem
    if problem := _vocabulary_problem(folder):
        return problem
    index = folder / WEIGHTS_INDEX
    if index.is_file() and (problem := _json_problem(index, want_object=True)):
        return problem
    for weights in _weight_files(folder):
        if not weights.is_file():
            where = f"listed in {WEIGHTS_INDEX}" if index.is_file() else "the weights"
            return f"{weights.name} ({where}) is missing"
        if problem := _safetensors_problem(weights):
            return problem
    return None


def _json_problem(path: Path, *, want_object: bool) -> str | None:
    try:
        data = json.loads(path.read_bytes())
    except json.JSONDecodeError as e:
        return f"{path.name} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
    except (OSError, UnicodeDecodeError) as e:
        return f"{path.name} cannot be read ({e})"
    if want_object and not isinstance(data, dict):
        return f"{path.name} does not hold a JSON object"
    return None


def _vocabulary_problem(folder: Path) -> str | None:
    """tekken.json must cover the model's vocabulary exactly (both files already read as JSON objects).

    A smaller tokenizer loads fine and fails mid-reply on the first token it cannot decode; a larger one
    makes prompt tokens the model has no embedding for.
    """
    tekken = folder / TOKENIZERS[0]
    if not tekken.is_file():
        return None
    config = json.loads((folder / CONFIG).read_bytes())
    text_config = config.get("text_config")
    model_size = (text_config if isinstance(text_config, dict) else {}).get("vocab_size", config.get("vocab_size"))
    tokenizer = json.loads(tekken.read_bytes())
    settings = tokenizer.get("config") if isinstance(tokenizer.get("config"), dict) else {}
    tokenizer_size = settings.get("default_vocab_size")
    if tokenizer_size is None and isinstance(tokenizer.get("vocab"), list):
        specials = tokenizer.get("special_tokens")
        tokenizer_size = len(tokenizer["vocab"]) + (len(specials) if isinstance(specials, list) else 0)
    if not isinstance(model_size, int) or not isinstance(tokenizer_size, int) or model_size == tokenizer_size:
        return None  # nothing to compare (transformers judges the rest), or they agree
    return (
        f"{TOKENIZERS[0]} (the tokenizer) covers {tokenizer_size:,} tokens but the model's vocabulary "
        f"({CONFIG}, text_config.vocab_size) has {model_size:,}: the two files come from different models"
    )


def _weight_files(folder: Path) -> list[Path]:
    index = folder / WEIGHTS_INDEX
    if index.is_file():  # already checked to be a JSON object
        shards = json.loads(index.read_bytes()).get("weight_map", {})
        names = sorted(set(shards.values())) if isinstance(shards, dict) else []
        if names:
            return [folder / name for name in names]
    found = sorted(folder.glob("model*.safetensors"))
    return found or [folder / "model.safetensors"]


def _safetensors_problem(path: Path) -> str | None:
    """The header says where every tensor ends; a file shorter than that was cut off."""
    size = path.stat().st_size
    try:
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"{path.name} is truncated ({size} bytes)"
            (header_len,) = struct.unpack("<Q", head)
            if header_len > min(_MAX_HEADER, size - 8):
                return f"{path.name} is truncated or not a safetensors file (its header does not fit in it)"
            header = json.loads(f.read(header_len))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"{path.name} is not a readable safetensors file ({e})"
    if not isinstance(header, dict):
        return f"{path.name} is not a readable safetensors file"
    ends = [
        int(t["data_offsets"][1])
        for name, t in header.items()
        if name != "__metadata__" and isinstance(t, dict) and isinstance(t.get("data_offsets"), list)
    ]
    needed = 8 + header_len + max(ends, default=0)
    if size < needed:
        return f"{path.name} is truncated ({size:,} of {needed:,} bytes): the download or copy did not finish"
    return None
