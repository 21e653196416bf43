"""An unreachable Hugging Face hub for a child process: no network for the hub, without touching anyone else's."""

from __future__ import annotations

import os
from pathlib import Path

UNREACHABLE_ENDPOINT = "http://nonexistent.invalid"  # .invalid never resolves (RFC 2606): a DNS failure


def unreachable_hub_env(home: Path, *, offline_mode: bool = False) -> dict[str, str]:
    """The environment for a child process whose hub cannot be reached, with an empty hub cache in ``home``.

    ``offline_mode=False``: the network is "down" (the endpoint's name does not resolve); True: HF_HUB_OFFLINE=1
    forbids the network. huggingface_hub reads these when it is imported, hence a child process.
    """
    dropped = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_OFFLINE")  # they would override HF_HOME
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        HF_HOME=str(home / "hf"),
        HF_ENDPOINT=UNREACHABLE_ENDPOINT,
        HF_HUB_OFFLINE="1" if offline_mode else "0",
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    return env
