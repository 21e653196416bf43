"""A real transformers Voxtral made slow on purpose: its layers take seconds, as a full model's do on a slow CPU.

In a test: ``with slow_layers(backend.model, seconds=0.6, part="audio"):``. As a program it runs the
`voxtral-desktop` command with every layer slowed, so a test can interrupt the CLI in the middle of a forward
pass: ``python -m voxtral_desktop.testing.slow_layers SECONDS -- respond ...``.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

_KEPT: list[Any] = []
# Which layers: the audio encoder's (listening), the text model's (thinking), or both.
PARTS = ("audio", "text", "all")


def layers(model: Any, part: str = "all") -> list[Any]:
    """The repeated blocks (children of a ModuleList) of a Voxtral model, of the audio tower or the rest."""
    import torch

    tower = model.get_submodule("model.audio_tower") if hasattr(model, "model") else model.audio_tower
    in_tower = {id(m) for m in tower.modules()}
    found = []
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList):
            for layer in module:
                audio = id(layer) in in_tower
                if part == "all" or (part == "audio") == audio:
                    found.append(layer)
    return found


def busy(seconds: float) -> None:
    """Native work (matrix products, the GIL released) for ``seconds``: what a real layer does, unlike sleep."""
    import torch

    a = torch.ones(256, 256)
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        torch.mm(a, a)


@contextlib.contextmanager
def slow_layers(
    model: Any, seconds: float, part: str = "all", *, only_first_forward: bool = False
) -> Iterator[threading.Event]:
    """Each chosen layer takes ``seconds`` longer; yields an event set once a slowed layer has run.

    ``only_first_forward``: slow only the first pass (the prefill), not the decoding steps after it.
    """
    chosen = layers(model, part)
    first = chosen[0] if chosen else None
    passes = 0
    ran = threading.Event()

    def hook(module: Any, args: Any, output: Any) -> None:
        nonlocal passes
        if module is first:
            passes += 1
        if only_first_forward and passes > 1:
            return
        ran.set()
        busy(seconds)

    handles = [layer.register_forward_hook(hook) for layer in chosen]
    try:
        yield ran
    finally:
        for handle in handles:
            handle.remove()


def main(argv: list[str]) -> int:
    """``SECONDS [PART] -- CLI ARGS``: the CLI with every newly built Voxtral's layers slowed."""
    split = argv.index("--")
    seconds, part = float(argv[0]), (argv[1] if split > 1 else "all")
    from transformers import VoxtralForConditionalGeneration

    from voxtral_desktop import cli

    real = VoxtralForConditionalGeneration.from_pretrained.__func__  # type: ignore[attr-defined]

    def from_pretrained(cls: Any, *args: Any, **kwargs: Any) -> Any:
        model = real(cls, *args, **kwargs)
        slowed = slow_layers(model, seconds, part)
        slowed.__enter__()
        _KEPT.append(slowed)  # for the rest of the process (collected, it would remove its hooks)
        print("slow-layers: installed", file=sys.stderr, flush=True)
        return model

    VoxtralForConditionalGeneration.from_pretrained = classmethod(from_pretrained)  # type: ignore[method-assign]
    return cli.main(argv[split + 1 :])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
