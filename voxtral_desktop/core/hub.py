"""Hugging Face hub downloads reported as a fraction of bytes, for the model and the voices alike."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def byte_progress_class(report: Callable[[float], None]) -> type:
    """A tqdm that forwards the hub's byte counts as a fraction instead of drawing a bar."""
    from tqdm.auto import tqdm

    class _Progress(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = False
            kwargs["file"] = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the bar
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            # Byte bars are what the user waits for; the file-count bar would jump in big steps.
            if self.total and self.unit == "B":
                report(min(self.n / self.total, 1.0))
            return shown

        def close(self) -> None:
            super().close()
            if not self.fp.closed:
                self.fp.close()

    return _Progress
