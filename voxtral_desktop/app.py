"""Composes the desktop app: logging, exception hook, settings, model, window, and the qasync loop."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from voxtral_desktop.core import paths

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_file() -> Path:
    return paths.user_log_dir() / "voxtral-desktop.log"


def setup_logging(*, verbose: bool = False, to_file: bool = False) -> None:
    """Logs go to stderr (stdout belongs to `respond`'s JSON lines) and, for the GUI, to a rotating file."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.DEBUG if verbose else logging.WARNING)
    stderr.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(stderr)
    if to_file:
        path = log_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    # Third-party chatter at INFO buries our own lines.
    for noisy in ("httpx", "urllib3", "filelock", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_gui(model: str | None = None, config: Path | None = None) -> int:
    raise NotImplementedError
