"""Hugging Face hub downloads reported as a fraction of bytes (model and voices); an unreachable hub, typed."""

# The one module that calls huggingface_hub's downloads. Errors are mapped by type at this boundary (httpx's
# map_exceptions idea): the hub's offline and connection errors become HubUnreachable; anything else (a 404,
# a full disk, a bug) raises as it is, so that it never reads as "you are offline".

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from voxtral_desktop.core.errors import HubUnreachable

log = logging.getLogger(__name__)

# What a download of a known repo weighs, for "it is about 9 GB" when the hub cannot be asked. Voxtral Mini:
# 4.68 B parameters in bf16 safetensors (9.36 GB, counted on the meta device) plus its tokenizer and configs,
# without the duplicate Mistral-format consolidated.safetensors that the app skips. Voxtral Small: about 24 B
# parameters in bf16 (the model card's figure; not downloaded here).
KNOWN_SIZES: dict[str, int] = {
    "mistralai/Voxtral-Mini-3B-2507": 9_400_000_000,
    "mistralai/Voxtral-Small-24B-2507": 48_000_000_000,
}


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


def about(size_bytes: int) -> str:
    """9_400_000_000 -> "about 9 GB"; 63_000_000 -> "about 63 MB"."""
    if size_bytes >= 1e9:
        return f"about {size_bytes / 1e9:.0f} GB"
    return f"about {max(size_bytes / 1e6, 1):.0f} MB"


def why_unreachable(offline: HubUnreachable) -> str:
    """How every offline message starts: why the hub cannot be asked, in a person's words."""
    if offline.offline_mode:
        return "Hugging Face's offline mode is on (HF_HUB_OFFLINE=1)"
    return "This computer is offline (or the Hugging Face hub cannot be reached)"


def try_again(offline: HubUnreachable) -> str:
    """How every offline message ends: what to change before trying again."""
    return "Or unset HF_HUB_OFFLINE and try again" if offline.offline_mode else "Or connect and try again"


def unreachable_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean "the hub cannot be reached": HF_HUB_OFFLINE=1, no cached copy after a
    failed look-up, and the HTTP client's connection, timeout and proxy failures (httpx2 for huggingface_hub
    2.x, httpx for 1.x: whichever is installed)."""
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    types: list[type[BaseException]] = [LocalEntryNotFoundError, OfflineModeIsEnabled]
    for name in ("httpx2", "httpx"):
        try:
            client = importlib.import_module(name)
        except ImportError:
            continue
        types += [client.TimeoutException, client.NetworkError, client.RemoteProtocolError, client.ProxyError]
    return tuple(types)


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)


def _name(error: BaseException) -> str:
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def describe(error: BaseException) -> str:
    """The library's own words, for a Details disclosure: each exception of the chain as "module.Type: message"
    (httpx2's and httpcore2's ConnectError are two different links)."""
    return "\ncaused by ".join(f"{_name(e)}: {e}".strip() for e in _chain(error))


def _offline_mode(error: BaseException) -> bool:
    from huggingface_hub import constants
    from huggingface_hub.errors import OfflineModeIsEnabled

    return any(isinstance(e, OfflineModeIsEnabled) for e in _chain(error)) or bool(constants.HF_HUB_OFFLINE)


@contextmanager
def _unreachable_as_typed(repo: str, what: str) -> Iterator[None]:
    try:
        yield
    except unreachable_errors() as e:
        # INFO: the log file has the library's exception; a terminal shows it only with -v (the caller says
        # what it means in a person's words).
        log.info("the hub could not be reached for %s (%s)", repo, what, exc_info=True)
        raise HubUnreachable(
            f"the Hugging Face hub cannot be reached to download {what} from {repo}",
            repo=repo,
            cause=describe(e),
            size_bytes=KNOWN_SIZES.get(repo),
            offline_mode=_offline_mode(e),
        ) from e


def cached_snapshot(repo: str, patterns: list[str]) -> str | None:
    """The folder of ``repo``'s cached snapshot, or None when it is not (completely) in the cache."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return str(snapshot_download(repo, allow_patterns=patterns, local_files_only=True))
    except LocalEntryNotFoundError:  # not cached, or only in part (IncompleteSnapshotError is one)
        return None


def download_snapshot(repo: str, patterns: list[str], progress: Callable[[float], None]) -> str:
    """Download ``repo``'s files matching ``patterns`` into the hub cache; its folder. HubUnreachable offline."""
    from huggingface_hub import snapshot_download

    with _unreachable_as_typed(repo, "the model"):
        return str(snapshot_download(repo, allow_patterns=patterns, tqdm_class=byte_progress_class(progress)))


def download_file(repo: str, filename: str, local_dir: Path, progress: Callable[[float], None] | None = None) -> Path:
    """Download one file of ``repo`` into ``local_dir`` (the hub's layout); its path. HubUnreachable offline."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    kwargs: dict[str, Any] = {"local_dir": local_dir}
    if progress is not None:
        kwargs["tqdm_class"] = byte_progress_class(progress)
    with _unreachable_as_typed(repo, filename):
        # hf_hub_download retries an unreachable hub for ~23 s (5 back-offs) before it gives up; one look
        # first, which does not retry, tells an offline machine at once.
        get_hf_file_metadata(hf_hub_url(repo, filename))
        return Path(hf_hub_download(repo, filename, **kwargs))
